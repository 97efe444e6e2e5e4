"""Key operations done at once by an approver who holds the keys: revealing a reporter's contact
details to a requester, and rerouting a tip to another compartment (both four-eyes actions: the
approval flow in service.approvals calls these after a different supervisor approved).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.envelopes import (
    KeyHolder,
    current_holders,
    lock_tips,
    plan_rewrites,
    write_rewrites,
)
from service.access.models import IdentityGrant
from service.access.rewrite import move_tip
from service.audit.log import record
from service.compartments.repository import get_compartment
from service.db import lock_for_write
from service.errors import Conflict
from service.tips.models import Envelope, EnvelopeKind, TipAudience
from service.tips.repository import get_readable_tip

__all__ = ["reroute_tip", "reveal_identity"]


def _holder_row(session: Session, tip_id: uuid.UUID, staff_id: uuid.UUID) -> TipAudience | None:
    return session.get(TipAudience, (tip_id, staff_id))


def reveal_identity(
    session: Session, *, tip_id: uuid.UUID, approver: KeyHolder, requester_id: uuid.UUID
) -> None:
    """Add the requester to the identity envelope, unwrapped by the approver (a custodian).

    404 when the approver is not in the tip's audience; 409 when the tip has no contact details,
    the approver is not a custodian or cannot open the envelope, or the requester is not in the
    audience or already holds the identity key.
    """
    lock_for_write(session)
    get_readable_tip(session, approver.staff_id, tip_id)
    lock_tips(session, [tip_id])
    if session.get(Envelope, (tip_id, EnvelopeKind.IDENTITY.value)) is None:
        raise Conflict("this tip has no confidential contact details to reveal")
    approver_row = _holder_row(session, tip_id, approver.staff_id)
    if approver_row is None or not approver_row.identity_custodian:
        raise Conflict("only an identity custodian of this tip can reveal the contact details")
    requester = _holder_row(session, tip_id, requester_id)
    if requester is None:
        raise Conflict("the requester is not in this tip's audience")
    granted = set(
        session.scalars(select(IdentityGrant.staff_id).where(IdentityGrant.tip_id == tip_id))
    )
    if requester.identity_custodian or requester_id in granted:
        raise Conflict("the requester already holds the contact details key")
    holders = current_holders(session, tip_id)
    rewrites = plan_rewrites(
        session, tip_id, approver.identity, holders, granted={*granted, requester_id}
    )
    write_rewrites(session, (r for r in rewrites if r.kind == EnvelopeKind.IDENTITY.value))
    session.add(IdentityGrant(tip_id=tip_id, staff_id=requester_id, approved_by=approver.staff_id))
    session.flush()
    record(
        session,
        actor=approver.staff_id,
        action="tip.identity_revealed",
        tip_id=tip_id,
        objects={"requester": requester_id},
    )


def reroute_tip(
    session: Session, *, tip_id: uuid.UUID, compartment: str, approver: KeyHolder
) -> int:
    """Move the tip to `compartment`: its audience becomes that compartment's eligible members
    (conflicts apply, as at intake), and the approver rewrites both envelopes for them now.
    Returns the size of the new audience. Identity reveals and pending changes of the old
    audience end with it.
    """
    lock_for_write(session)
    tip = get_readable_tip(session, approver.staff_id, tip_id)
    lock_tips(session, [tip_id])
    target = get_compartment(session, compartment)
    if target.id == tip.compartment_id:
        raise Conflict(f"the tip is already in {compartment!r}")
    return move_tip(session, tip, target, approver.identity, actor=approver.staff_id)
