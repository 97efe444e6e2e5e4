"""Checking what a staff member types: password (Argon2id, through the sealed record) and TOTP.

Unknown usernames are checked against a decoy record with the current parameters, so they cost
the same derivation as a known one. Imports `crypto`, `pyotp` and `service.staff`.
"""

from __future__ import annotations

import base64
import hmac
import json
from datetime import datetime
from functools import cache

import pyotp

from crypto.errors import CryptoError
from crypto.keys import (
    KdfParams,
    SealedKey,
    new_session_key,
    seal_under_password,
    unseal_with_password,
)
from service.staff.models import StaffUser
from service.staff.service import StaffSecrets, secrets_aad, unseal_secrets

__all__ = [
    "TOTP_PERIOD",
    "decoy_derivation",
    "matching_step",
    "seal_secrets",
    "totp_step",
    "verify_password",
]

TOTP_PERIOD = 30
DECOY_AAD = b"probity/decoy"


def totp_step(now: datetime) -> int:
    return int(now.timestamp()) // TOTP_PERIOD


@cache
def _decoy(params: KdfParams) -> SealedKey:
    """A record no password opens: unknown users cost one derivation like everyone else."""
    secret = json.dumps({"identity": "", "totp": ""}).encode()
    return seal_under_password(
        secret, base64.urlsafe_b64encode(new_session_key()).decode(), params, aad=DECOY_AAD
    )


def verify_password(user: StaffUser | None, password: str, kdf: KdfParams) -> StaffSecrets | None:
    """The user's secrets, or None. No user, or one with no keys yet (not enrolled), costs one
    derivation against the decoy, like a wrong password."""
    if user is None or user.sealed_secrets is None:
        try:
            unseal_with_password(_decoy(kdf), password, aad=DECOY_AAD)
        except CryptoError:
            pass
        return None
    try:
        return unseal_secrets(user, password)
    except (CryptoError, ValueError, KeyError):
        return None


def decoy_derivation(password: str, kdf: KdfParams) -> None:
    """The work of a password check that can never succeed (a paused name is answered after it)."""
    verify_password(None, password, kdf)


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The TOTP step (now, or one either side) whose code is `code`."""
    code = code.strip().replace(" ", "")
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    step = totp_step(now)
    found = None
    for candidate in (step - 1, step, step + 1):  # all three compared: no early exit
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            found = candidate
    return found


def seal_secrets(user: StaffUser, secrets: StaffSecrets, password: str, kdf: KdfParams) -> bytes:
    payload = json.dumps({"identity": secrets.identity, "totp": secrets.totp_secret}).encode()
    return seal_under_password(payload, password, kdf, aad=secrets_aad(user.id)).serialize()
