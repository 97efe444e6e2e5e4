"""A staff member's new X25519 identity: every envelope they are in re-addressed to it.

Two callers: a password change with `new_identity` (`rotate_identity`: the member unwraps with
their old identity, opened by their old password) and `probity staff recover`
(service.staff.recovery: the offline recovery key unwraps). Either way each envelope the member
is in - the staff envelope of every tip in their audience, the identity envelope where they are a
custodian or hold an approved reveal - is rewritten for the tip's current holders, the member
listed under their new recipient (service.access.envelopes.plan_rewrites); every unwrap happens
before anything is written, and all of it in the caller's transaction. The old identity opens
none of the rewritten headers.

Imports `crypto`, `service.*`; never HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crypto.age import generate_identity
from crypto.keys import KdfParams
from service.access.envelopes import current_holders, lock_tips, plan_rewrites, write_rewrites
from service.access.models import IdentityGrant
from service.audit.log import record
from service.db import lock_for_write
from service.errors import Unauthorized
from service.staff.credentials import seal_secrets, verify_password
from service.staff.models import StaffUser
from service.staff.service import StaffSecrets
from service.staff.service import check_password as check_new_password
from service.staff.sessions import (
    Principal,
    commit_refusals,
    count_failure,
    parse_token,
    raise_if_locked,
    reseal_session,
    revoke_other_sessions,
    user_for_update,
)
from service.tips.models import EnvelopeKind, Tip, TipAudience

__all__ = ["Progress", "readdress", "rotate_identity", "rotate_identity_in_transaction"]

# Called once per tip re-addressed, with (done, total): the CLI draws a rich progress bar.
Progress = Callable[[int, int], None]


def _held(session: Session, staff_id: uuid.UUID) -> list[tuple[uuid.UUID, bool]]:
    """(tip, also in the identity envelope) for every live tip in the member's audience."""
    granted = select(IdentityGrant.tip_id).where(IdentityGrant.staff_id == staff_id)
    rows = session.execute(
        select(TipAudience.tip_id, TipAudience.identity_custodian, TipAudience.tip_id.in_(granted))
        .join(Tip, Tip.id == TipAudience.tip_id)
        .where(TipAudience.staff_id == staff_id, Tip.purged.is_(False))
        .order_by(TipAudience.tip_id)
    )
    return [(tip_id, bool(custodian or grant)) for tip_id, custodian, grant in rows]


def readdress(
    session: Session, staff_id: uuid.UUID, identity: str, *, progress: Progress | None = None
) -> int:
    """Rewrite every envelope `staff_id` is in for the tips' current holders, unwrapping with
    `identity` (the member's old one, or the recovery key); `StaffUser.recipient` must already
    be the new one. Returns how many tips. Conflict (nothing written) if one cannot be opened."""
    lock_for_write(session)
    held = _held(session, staff_id)
    lock_tips(session, [tip_id for tip_id, _ in held])
    plans = []
    for done, (tip_id, in_identity) in enumerate(held, start=1):
        kinds = [EnvelopeKind.STAFF, EnvelopeKind.IDENTITY] if in_identity else [EnvelopeKind.STAFF]
        holders = current_holders(session, tip_id)
        plans.append(plan_rewrites(session, tip_id, identity, holders, kinds=kinds))
        if progress is not None:
            progress(done, len(held))
    for rewrites in plans:
        write_rewrites(session, rewrites)
    return len(held)


def rotate_identity(
    session: Session,
    principal: Principal,
    *,
    token: str,
    old: str,
    new: str,
    kdf: KdfParams,
    now: datetime,
) -> int:
    """Password change with a new identity: seal a fresh identity (and the same TOTP secret)
    under `new`, re-address every envelope the member is in from the old identity to it, keep
    this session (`token`, re-sealed with the new identity) and revoke every other one.
    Returns how many tips were re-addressed. A wrong `old` counts as a failed sign-in (commit
    on Unauthorized, as for `change_password`)."""
    user = session.get(StaffUser, principal.staff_id)
    if user is None or parse_token(token)[0] != principal.session_id:
        raise Unauthorized("sign in again")
    check_new_password(new, user_inputs=[user.username])
    raise_if_locked(user, now)
    secrets = verify_password(user, old, kdf)  # the slow part, before the write lock
    identity, recipient = generate_identity()
    resealed = None
    if secrets is not None:
        fresh = StaffSecrets(identity=identity, totp_secret=secrets.totp_secret)
        resealed = seal_secrets(user, fresh, new, kdf)
    lock_for_write(session)
    user = user_for_update(session, user.id)
    if secrets is None or resealed is None:
        count_failure(session, user, "password_change", now)
        raise Unauthorized("the current password is not correct")
    user.recipient = recipient
    session.flush()
    tips = readdress(session, user.id, secrets.identity)
    user.sealed_secrets = resealed
    user.failed_logins = 0
    user.locked_until = None
    revoked = revoke_other_sessions(session, user.id, keep=principal.session_id, now=now)
    reseal_session(session, token, principal, identity)
    record(
        session,
        actor=user.id,
        action="staff.identity_rotated",
        objects={"staff": user.id},
        details={"tips": tips, "sessions_revoked": revoked},
    )
    session.flush()
    return tips


def rotate_identity_in_transaction(
    factory: sessionmaker[Session],
    principal: Principal,
    *,
    token: str,
    old: str,
    new: str,
    kdf: KdfParams,
    now: datetime,
) -> int:
    """`rotate_identity`, committed also when the old password is refused (it counts)."""
    work = partial(rotate_identity, token=token, old=old, new=new, kdf=kdf, now=now)
    return commit_refusals(factory, work, principal)
