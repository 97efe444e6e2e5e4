"""Enrolment: an account an admin creates gets its keys from its owner, never from the admin.

The admin pages create an account with no password, no X25519 identity and no TOTP secret, only a
one-time enrolment token (its SHA-256 is stored; the token is shown to the admin once, as a link to
hand over out of band; it expires after `ENROLMENT_TTL` and works once). With the link the member:

1. chooses a password (`begin`): the identity and TOTP secret are generated now and sealed under
   it; the TOTP secret is shown to the member once;
2. confirms a current code with the password (`confirm`): the account becomes usable
   (`enrolled_at`), the token is spent, and the member is queued for the tips of their
   compartments (a supervisor applies the envelope rewrites, as for any new member).

After `probity staff recover` (service.staff.recovery) the same link re-enrols a member: the
identity is not generated at `begin` but opened from `recovered_identity` with a key derived from
the token (the envelopes already name it); the TOTP secret and password are new.

Until then the account cannot sign in (refused like a wrong password) and routing gives it no tip
keys. Steps are audited: staff.created, staff.enrolment_issued, staff.enrolment_started,
staff.enrolled. Imports `crypto`, `service.*`; never HTTP.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.age import generate_identity
from crypto.keys import KdfParams, open_sealed, seal, seal_under_password
from service.access.models import ChangeOp, ChangeReason, PendingAccessChange
from service.audit.log import record
from service.compartments.models import Membership
from service.errors import Conflict, NotFound, Unauthorized
from service.staff.credentials import matching_step, verify_password
from service.staff.models import Role, StaffUser
from service.staff.service import (
    TOTP_ISSUER,
    check_new_username,
    check_password,
    secrets_aad,
)
from service.tips.models import Envelope, EnvelopeKind, Tip, TipAudience
from service.tips.subjects import conflicted_tips

__all__ = [
    "ENROLMENT_TTL",
    "INVALID_LINK",
    "EnrolmentKeys",
    "begin",
    "confirm",
    "create_unenrolled",
    "find_enrolment",
    "issue_enrolment",
    "open_recovered_identity",
    "seal_recovered_identity",
    "token_hash",
]

ENROLMENT_TTL = timedelta(hours=72)
INVALID_LINK = "this enrolment link is not valid, was already used or has expired; ask an admin"
WRONG_CONFIRMATION = "the password or the code is not correct"
_MAX_TOKEN = 100


@dataclass(frozen=True)
class EnrolmentKeys:
    """What the member sees once after choosing a password (never the admin)."""

    username: str
    totp_secret: str
    totp_uri: str


def token_hash(token: str) -> bytes:
    return hashlib.sha256(b"probity/v1/enrolment/" + token.encode()).digest()


def _recovered_key(token: str) -> bytes:
    # The token has 256 random bits, so a hash is a sound key; its own label, so the stored
    # `token_hash` is not this key.
    return hashlib.sha256(b"probity/v1/recovered-identity/" + token.encode()).digest()


def _recovered_aad(staff_id: uuid.UUID) -> bytes:
    return b"probity/v1/recovered-identity/" + staff_id.bytes


def seal_recovered_identity(staff_id: uuid.UUID, token: str, identity: str) -> bytes:
    """The identity service.staff.recovery made, sealed so only the link's holder opens it."""
    return seal(_recovered_key(token), identity.encode(), aad=_recovered_aad(staff_id))


def open_recovered_identity(user: StaffUser, token: str) -> str:
    if user.recovered_identity is None:
        raise ValueError("this account is not being recovered")
    key = _recovered_key(token)
    return open_sealed(key, user.recovered_identity, aad=_recovered_aad(user.id)).decode()


def issue_enrolment(
    session: Session, user: StaffUser, *, actor: uuid.UUID | str, now: datetime
) -> str:
    """A fresh one-time token for an account that never enrolled (any earlier link stops
    working, and keys chosen with it are dropped)."""
    if user.enrolled_at is not None:
        raise Conflict(f"{user.username!r} has already enrolled; a new link is not possible")
    if not user.active:
        raise Conflict(f"{user.username!r} is deactivated")
    if user.recovered_identity is not None:  # a new link would strand the recovered identity
        raise Conflict(
            f"{user.username!r} is being recovered; only `probity staff recover` gives a new link"
        )
    token = secrets.token_urlsafe(32)
    user.enrolment_hash = token_hash(token)
    user.enrolment_expires_at = now + ENROLMENT_TTL
    user.sealed_secrets = None
    user.recipient = ""
    record(
        session,
        actor=actor,
        action="staff.enrolment_issued",
        objects={"staff": user.id},
        details={"hours": int(ENROLMENT_TTL.total_seconds() // 3600)},
    )
    session.flush()
    return token


def create_unenrolled(
    session: Session, *, username: str, role: Role, actor: uuid.UUID | str, now: datetime
) -> tuple[StaffUser, str]:
    """An account without password or keys, and its enrolment token (audited)."""
    check_new_username(session, username)
    user = StaffUser(id=uuid.uuid4(), username=username, role=role, recipient="", failed_logins=0)
    user.active = True
    session.add(user)
    session.flush()
    record(
        session,
        actor=actor,
        action="staff.created",
        objects={"staff": user.id},
        details={"role": role.value},
    )
    return user, issue_enrolment(session, user, actor=actor, now=now)


def find_enrolment(session: Session, token: str, *, now: datetime) -> StaffUser:
    """The account a live token belongs to; NotFound (one message for all cases) otherwise."""
    if not token or len(token) > _MAX_TOKEN:
        raise NotFound(INVALID_LINK)
    user = session.scalar(select(StaffUser).where(StaffUser.enrolment_hash == token_hash(token)))
    if (
        user is None
        or user.enrolled_at is not None
        or not user.active
        or user.enrolment_expires_at is None
        or user.enrolment_expires_at <= now
    ):
        raise NotFound(INVALID_LINK)
    return user


def begin(
    session: Session, token: str, *, password: str, kdf: KdfParams, now: datetime
) -> EnrolmentKeys:
    """Generate the member's identity and TOTP secret and seal them under their password.

    Choosing again before confirming replaces the keys (the earlier ones were never usable)."""
    user = find_enrolment(session, token, now=now)
    check_password(password, user_inputs=[user.username])
    if user.recovered_identity is not None:  # envelopes already name its recipient
        identity, recipient = open_recovered_identity(user, token), user.recipient
    else:
        identity, recipient = generate_identity()
    totp_secret = pyotp.random_base32()
    payload = json.dumps({"identity": identity, "totp": totp_secret}).encode()
    sealed = seal_under_password(payload, password, kdf, aad=secrets_aad(user.id))
    user.sealed_secrets = sealed.serialize()
    user.recipient = recipient
    user.totp_last_step = None
    details = {"recovery": True} if user.recovered_identity is not None else {}
    record(
        session,
        actor=user.id,
        action="staff.enrolment_started",
        objects={"staff": user.id},
        details=details,
    )
    session.flush()
    uri = pyotp.TOTP(totp_secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)
    return EnrolmentKeys(username=user.username, totp_secret=totp_secret, totp_uri=uri)


def confirm(
    session: Session, token: str, *, password: str, code: str, kdf: KdfParams, now: datetime
) -> StaffUser:
    """Check the password and a current code; the account becomes usable and the token is
    spent. Unauthorized (nothing changed) when either is wrong."""
    user = find_enrolment(session, token, now=now)
    if user.sealed_secrets is None:
        raise Conflict("choose a password first")
    unsealed = verify_password(user, password, kdf)
    step = matching_step(unsealed.totp_secret, code, now) if unsealed is not None else None
    if step is None:
        raise Unauthorized(WRONG_CONFIRMATION)
    user.enrolled_at = now
    user.enrolment_hash = None
    user.enrolment_expires_at = None
    user.totp_last_step = step
    details: dict[str, int | bool] = {"tips_queued": _queue_compartment_tips(session, user)}
    if user.recovered_identity is not None:  # re-enrolled after `probity staff recover`
        details["recovery"] = True
    user.recovered_identity = None
    record(
        session, actor=user.id, action="staff.enrolled", objects={"staff": user.id}, details=details
    )
    session.flush()
    return user


def _queue_compartment_tips(session: Session, user: StaffUser) -> int:
    """Queue an add on every live, non-conflicted tip of the member's compartments (routing
    skipped the account until now; any earlier queued add was dropped when applied)."""
    compartments = select(Membership.compartment_id).where(
        Membership.staff_id == user.id, Membership.approved_at.is_not(None)
    )
    conflicted = conflicted_tips(user.id)
    held = select(TipAudience.tip_id).where(TipAudience.staff_id == user.id)
    waiting = select(PendingAccessChange.tip_id).where(
        PendingAccessChange.staff_id == user.id, PendingAccessChange.op == ChangeOp.ADD.value
    )
    tips = session.scalars(
        select(Tip.id)
        .join(Envelope, (Envelope.tip_id == Tip.id) & (Envelope.kind == EnvelopeKind.STAFF))
        .where(
            Tip.compartment_id.in_(compartments),
            Tip.purged.is_(False),
            Tip.id.not_in(conflicted),
            Tip.id.not_in(held),
            Tip.id.not_in(waiting),
        )
    ).all()
    session.add_all(
        PendingAccessChange(
            tip_id=tip_id,
            staff_id=user.id,
            op=ChangeOp.ADD.value,
            reason=ChangeReason.MEMBER_ADDED.value,
        )
        for tip_id in tips
    )
    return len(tips)
