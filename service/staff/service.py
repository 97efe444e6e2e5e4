"""Creating staff accounts: a fresh X25519 identity and TOTP secret, sealed under the password."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn

from crypto.age import generate_identity
from crypto.keys import KdfParams, SealedKey, seal_under_password, unseal_with_password
from service.compartments.service import add_member
from service.db import utcnow
from service.errors import Conflict, InvalidInput
from service.staff.models import Role, StaffUser

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "TOTP_ISSUER",
    "NewStaff",
    "StaffSecrets",
    "check_new_username",
    "check_password",
    "create_staff",
    "parse_role",
    "secrets_aad",
    "unseal_secrets",
]

MIN_PASSWORD_LENGTH = 12
_MAX_PASSWORD_LENGTH = 1024
_ESTIMATED_LENGTH = 72
_MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable", at least 10^8 guesses
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
TOTP_ISSUER = "Probity"


@dataclass(frozen=True)
class NewStaff:
    user: StaffUser
    totp_secret: str
    totp_uri: str


@dataclass(frozen=True)
class StaffSecrets:
    identity: str
    totp_secret: str


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {value!r}; choose one of {roles}") from None


def check_password(password: str, *, user_inputs: Sequence[str] = ()) -> None:
    """Long enough and not easy to guess: zxcvbn (Dropbox's estimator, with its lists of common
    passwords, names and words) must estimate at least 10^8 guesses, which refuses repeats
    ("aaaaaaaaaaaa"), sequences, keyboard rows and common passwords; the username counts as a
    known word."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters",
            fields={"password": "too_short"},
        )
    if len(password) > _MAX_PASSWORD_LENGTH:
        raise InvalidInput("password is too long", fields={"password": "too_long"})
    # zxcvbn takes at most 72 characters; what lies beyond only adds to the strength.
    estimate = zxcvbn(password[:_ESTIMATED_LENGTH], user_inputs=[*user_inputs, "probity"])
    if estimate["score"] < _MIN_SCORE:
        raise InvalidInput(
            "password is too easy to guess (a common password, a repeat or a sequence); "
            "a few unrelated words make a strong one",
            fields={"password": "guessable"},
        )


def secrets_aad(user_id: uuid.UUID) -> bytes:
    # Binds the sealed blob to its row: swapping blobs between accounts fails to open.
    return b"probity/staff-secrets/" + user_id.bytes


def check_new_username(session: Session, username: str) -> None:
    """InvalidInput for a malformed name, Conflict for one already taken."""
    if not _USERNAME.fullmatch(username):
        raise InvalidInput(
            "username must be 2-64 characters: lowercase letters, digits, '.', '_' or '-'"
        )
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise Conflict(f"staff user {username!r} already exists")


def create_staff(
    session: Session,
    *,
    username: str,
    role: Role,
    password: str,
    kdf: KdfParams,
    compartments: Sequence[str] = (),
) -> NewStaff:
    """An account usable at once, with keys sealed under `password` (the CLI and `probity init`:
    the operator at the server's shell is trusted with the first password). The admin pages use
    `service.staff.enrolment` instead, so no admin ever sees a member's secrets."""
    check_new_username(session, username)
    check_password(password, user_inputs=[username])
    identity, recipient = generate_identity()
    totp_secret = pyotp.random_base32()
    user_id = uuid.uuid4()
    payload = json.dumps({"identity": identity, "totp": totp_secret}).encode()
    sealed = seal_under_password(payload, password, kdf, aad=secrets_aad(user_id))
    user = StaffUser(
        id=user_id,
        username=username,
        role=role,
        recipient=recipient,
        sealed_secrets=sealed.serialize(),
        failed_logins=0,
        active=True,
        enrolled_at=utcnow(),
    )
    session.add(user)
    session.flush()
    for name in compartments:
        add_member(session, compartment=name, staff=user)
    uri = pyotp.TOTP(totp_secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)
    return NewStaff(user=user, totp_secret=totp_secret, totp_uri=uri)


def unseal_secrets(user: StaffUser, password: str) -> StaffSecrets:
    """Open a user's sealed identity and TOTP secret; crypto.errors.DecryptionError if wrong."""
    if user.sealed_secrets is None:  # never enrolled: nothing to open
        raise ValueError("this account has no keys yet")
    record = SealedKey.deserialize(user.sealed_secrets)
    data = json.loads(unseal_with_password(record, password, aad=secrets_aad(user.id)))
    return StaffSecrets(identity=data["identity"], totp_secret=data["totp"])
