"""Staff users. Each holds an X25519 identity sealed under their password, never in clear."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    String,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime, new_id, utcnow

__all__ = [
    "ConflictToken",
    "LoginThrottle",
    "Role",
    "StaffConflict",
    "StaffSession",
    "StaffUser",
]


class Role(StrEnum):
    REVIEWER = "reviewer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    AUDITOR = "auditor"


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    # age recipient (public half); envelopes are addressed to it. Empty ("": no recipient) until
    # the member chose a password at enrolment (the keys are generated then, never by an admin);
    # routing ignores accounts whose `enrolled_at` is not set.
    recipient: Mapped[str] = mapped_column(String(100), default="")
    # crypto.keys.SealedKey bytes: Argon2id parameters, salt, verifier and the sealed
    # {identity, TOTP secret}. Useless without the password. None before enrolment.
    sealed_secrets: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # Set when the member confirmed a code at enrolment (or at once for `probity staff add`):
    # before that the account cannot sign in and is no tip's reader.
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # SHA-256 of the one-time enrolment token (the token itself is shown once, never stored).
    enrolment_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True, default=None)
    enrolment_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # After `probity staff recover`: the member's new identity sealed under a key derived from
    # the re-enrolment token (service.staff.recovery); opened and cleared when they re-enrol.
    recovered_identity: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, default=None)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StaffConflict(Base):
    """A declared conflict: the staff member never receives keys of tips naming this subject."""

    __tablename__ = "staff_conflicts"

    staff_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # name, badge or unit
    value: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True, index=True)
    # When it was registered (None: before this was kept); service.approvals.oversight.
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=utcnow)


class ConflictToken(Base):
    """One token index of a conflict (crypto.blind.tokens): the conflict matches a tip holding
    all `size` of them. Conflicts registered before token sets have none until registered again."""

    __tablename__ = "staff_conflict_tokens"
    __table_args__ = (
        ForeignKeyConstraint(
            ["staff_id", "kind", "conflict"],
            ["staff_conflicts.staff_id", "staff_conflicts.kind", "staff_conflicts.value"],
            ondelete="CASCADE",
        ),
    )

    staff_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    conflict: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)  # its `value`
    token: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True, index=True)
    size: Mapped[int] = mapped_column(Integer)  # how many tokens the conflict has


class StaffSession(Base):
    """A signed-in browser or API client.

    `sealed_identity` is the user's X25519 identity sealed (crypto.keys.seal) under a random
    per-session key that only the client holds, inside its token: a dump of this table opens
    nothing, and any app instance can serve the session.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    staff_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    sealed_identity: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # absolute end
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class LoginThrottle(Base):
    """Failed sign-ins for usernames that have no account, keyed by an HMAC of the name.

    Counted and paused exactly like a real account's `failed_logins`/`locked_until`, so the
    answers to a run of attempts are the same whether the name exists or not. The name itself is
    not stored.
    """

    __tablename__ = "login_throttles"

    name_hmac: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
