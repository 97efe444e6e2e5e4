"""Recovering a staff member who lost their password (or TOTP device), with the offline key.

Nobody can open a member's sealed identity without their password, so the tips they read would
be lost to them. Recovery gives them a new identity instead, with exactly the access they had:

1. An admin (admin pages) or the operator (`probity staff recover USERNAME --request`) files a
   `staff_recovery` change request (service.access.changes); a supervisor of oversight decides it
   (service.access.deciders: never the requester, never the member).
2. The operator brings the recovery key file and runs `probity staff recover USERNAME
   --recovery-file F` (`recover_staff`): a new X25519 identity is generated, every envelope the
   member is in is re-addressed to it with the recovery identity (service.staff.rotation), the
   old password stops working (the sealed record is dropped), every session ends, and a one-time
   re-enrolment token is returned. The new private key is stored only sealed under a key derived
   from that token (`recovered_identity`); the token itself is never stored (only its hash).
   The approved request is spent: a second run is refused.
3. The member opens `/staff/enrol?token=...`, chooses a password and a new TOTP secret
   (service.staff.enrolment, which opens the recovered identity with the token) and confirms.

Admins and auditors hold no tip keys: recovering them is the same procedure and re-addresses no
envelope (a new identity, password and TOTP, after the same approval). Audited:
admin_request.filed / approved / rejected, staff.recovered (tips re-addressed, sessions ended),
then staff.enrolment_started and staff.enrolled with `recovery`.

Imports `crypto`, `service.*`; never HTTP.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crypto.age import generate_identity, recipient_of
from crypto.errors import CryptoError
from service.access.changes import file_request
from service.access.envelopes import recovery_recipient
from service.access.models import AdminRequest, RequestKind, RequestStatus
from service.audit.log import record
from service.compartments.repository import oversight_compartment
from service.db import lock_for_write, lock_rows
from service.errors import Conflict, InvalidInput, NotInitialised, NotPermitted
from service.staff.enrolment import seal_recovered_identity, token_hash
from service.staff.models import StaffSession, StaffUser
from service.staff.repository import get_staff
from service.staff.rotation import Progress, readdress

__all__ = [
    "APPROVAL_TTL",
    "RECOVERY_TTL",
    "Recovered",
    "recover_staff",
    "request_recovery",
]

RECOVERY_TTL = timedelta(hours=72)  # the re-enrolment link, as an enrolment link
APPROVAL_TTL = timedelta(days=7)  # an approval not carried out by then must be asked again


@dataclass(frozen=True)
class Recovered:
    username: str
    token: str  # shown once to the operator, to hand to the member in person
    tips: int  # tips whose envelopes were re-addressed
    expires_at: datetime


def _check_recoverable(user: StaffUser) -> None:
    if not user.active:
        raise Conflict(f"{user.username!r} is deactivated; recovery is not possible")
    if user.enrolled_at is None and user.recovered_identity is None:
        raise Conflict(
            f"{user.username!r} never enrolled: issue a new enrolment link instead of a recovery"
        )


def request_recovery(session: Session, *, username: str, actor: uuid.UUID | str) -> AdminRequest:
    """File a `staff_recovery` request that a supervisor of oversight decides (audited)."""
    lock_for_write(session)
    user = get_staff(session, username)
    _check_recoverable(user)
    oversight = oversight_compartment(session)
    if oversight is None:
        raise NotInitialised("no oversight compartment; run `probity init`")
    return file_request(
        session,
        kind=RequestKind.STAFF_RECOVERY,
        compartment_id=oversight.id,
        actor=actor,
        staff_id=user.id,
    )


def _approved_request(session: Session, user: StaffUser, now: datetime) -> AdminRequest:
    query = (
        select(AdminRequest)
        .where(
            AdminRequest.kind == RequestKind.STAFF_RECOVERY.value,
            AdminRequest.staff_id == user.id,
            AdminRequest.status == RequestStatus.APPROVED.value,
            AdminRequest.decided_at > now - APPROVAL_TTL,
        )
        .order_by(AdminRequest.decided_at.desc())
        .limit(1)
    )
    row = lock_rows(session, query).scalar()
    if row is None:
        raise NotPermitted(
            f"no approved recovery request for {user.username!r}: file one with "
            f"`probity staff recover {user.username} --request` (or in the admin pages) and have "
            "a supervisor approve it at /staff/access; each approval is good for one recovery"
        )
    return row


def _check_recovery_key(session: Session, identity: str) -> None:
    try:
        mine = recipient_of(identity)
    except (CryptoError, ValueError):
        mine = ""
    if mine != recovery_recipient(session):
        raise InvalidInput("this is not this instance's recovery key")


def recover_staff(
    session: Session,
    *,
    username: str,
    recovery_identity: str,
    now: datetime,
    progress: Progress | None = None,
) -> Recovered:
    """Carry out an approved recovery (see the module docstring); one transaction."""
    lock_for_write(session)
    _check_recovery_key(session, recovery_identity)
    user = get_staff(session, username)
    _check_recoverable(user)
    request = _approved_request(session, user, now)
    identity, recipient = generate_identity()
    token = secrets.token_urlsafe(32)
    user.recipient = recipient
    session.flush()
    tips = readdress(session, user.id, recovery_identity, progress=progress)
    _await_reenrolment(user, token, identity, now)
    ended = session.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == user.id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    request.status = RequestStatus.USED.value
    record(
        session,
        actor="system",
        action="staff.recovered",
        objects={"staff": user.id, "request": request.id},
        details={"tips": tips, "sessions_ended": int(getattr(ended, "rowcount", 0) or 0)},
    )
    session.flush()
    expires = now + RECOVERY_TTL
    return Recovered(username=username, token=token, tips=tips, expires_at=expires)


def _await_reenrolment(user: StaffUser, token: str, identity: str, now: datetime) -> None:
    """The old password and TOTP stop working; the account waits for its owner at the link."""
    user.recovered_identity = seal_recovered_identity(user.id, token, identity)
    user.sealed_secrets = None
    user.enrolled_at = None
    user.enrolment_hash = token_hash(token)
    user.enrolment_expires_at = now + RECOVERY_TTL  # as `recover_staff` reports it
    user.totp_last_step = None
    user.failed_logins = 0
    user.locked_until = None
