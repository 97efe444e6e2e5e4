"""Staff key sealing under passwords, session keys, and Ed25519 key generation.

Signing and verification of audit-log notes live in `crypto.note`.

A password goes through Argon2id (parameters stored with each record) to a master
key, which HKDF splits into a sealing key (never stored) and a verifier (stored, for
password checks). Secrets are sealed with ChaCha20-Poly1305 in a versioned format
whose associated data binds the record (e.g. user id and field name).
"""

import hmac
import json
import os
import secrets
import struct
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import DecryptionError, FormatError

__all__ = [
    "KdfParams",
    "PasswordKeys",
    "SealedKey",
    "derive_password_keys",
    "generate_signing_key",
    "needs_rehash",
    "new_session_key",
    "open_sealed",
    "seal",
    "seal_under_password",
    "unseal_with_password",
]

KEY_SIZE = 32
SALT_SIZE = 16
_SEAL_VERSION = 1
_RECORD_VERSION = 1
_NONCE_SIZE = 12
_TAG_SIZE = 16
_PARAMS = struct.Struct(">III")  # time_cost, memory_kib, lanes
# Upper bounds so a corrupt or hostile record cannot demand absurd work or memory.
_MAX_TIME_COST = 64
_MAX_MEMORY_KIB = 4 * 1024 * 1024
_MAX_LANES = 64


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost parameters, stored with each sealed record."""

    time_cost: int
    memory_kib: int
    lanes: int

    def __post_init__(self) -> None:
        values = (self.time_cost, self.memory_kib, self.lanes)
        if any(type(v) is not int for v in values):
            raise FormatError("KDF parameters must be integers")
        if not (
            1 <= self.time_cost <= _MAX_TIME_COST
            and 1 <= self.lanes <= _MAX_LANES
            and 8 * self.lanes <= self.memory_kib <= _MAX_MEMORY_KIB
        ):
            raise FormatError("KDF parameters out of range")

    def to_dict(self) -> dict[str, int]:
        return {"time_cost": self.time_cost, "memory_kib": self.memory_kib, "lanes": self.lanes}

    @classmethod
    def from_dict(cls, data: Any) -> "KdfParams":
        if not isinstance(data, dict) or set(data) != {"time_cost", "memory_kib", "lanes"}:
            raise FormatError("KDF parameters must have exactly time_cost, memory_kib, lanes")
        return cls(data["time_cost"], data["memory_kib"], data["lanes"])

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "KdfParams":
        try:
            data = json.loads(text)
        except ValueError:
            raise FormatError("KDF parameters are not valid JSON") from None
        return cls.from_dict(data)


@dataclass(frozen=True)
class PasswordKeys:
    """The two halves of a password derivation; only `verifier` may be stored."""

    seal_key: bytes = field(repr=False)
    verifier: bytes = field(repr=False)


def _hkdf(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=info).derive(master)


def derive_password_keys(password: str, salt: bytes, params: KdfParams) -> PasswordKeys:
    """Argon2id(password, salt) split by HKDF into a sealing key and a verifier.

    The password is NFKC-normalised first (NIST SP 800-63B), so the same password typed
    on different keyboards or platforms derives the same keys.
    """
    if not SALT_SIZE <= len(salt) <= 64:
        raise FormatError("salt must be 16 to 64 bytes")
    kdf = Argon2id(
        salt=salt,
        length=KEY_SIZE,
        iterations=params.time_cost,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    )
    master = kdf.derive(unicodedata.normalize("NFKC", password).encode("utf-8"))
    return PasswordKeys(_hkdf(master, b"probity/v1/seal"), _hkdf(master, b"probity/v1/verifier"))


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise FormatError("key must be 32 bytes")


def seal(key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    """ChaCha20-Poly1305: version byte || random 12-byte nonce || ciphertext and tag."""
    _check_key(key)
    version = bytes([_SEAL_VERSION])
    nonce = os.urandom(_NONCE_SIZE)
    # The version byte is authenticated too, so it cannot be swapped later.
    return version + nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, version + aad)


def open_sealed(key: bytes, blob: bytes, *, aad: bytes) -> bytes:
    """Open a `seal` blob; DecryptionError on a wrong key, wrong aad or tampering."""
    _check_key(key)
    if len(blob) < 1 + _NONCE_SIZE + _TAG_SIZE:
        raise DecryptionError("sealed blob truncated")
    if blob[0] != _SEAL_VERSION:
        raise FormatError("unknown sealed blob version")
    nonce, body = blob[1 : 1 + _NONCE_SIZE], blob[1 + _NONCE_SIZE :]
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, body, blob[:1] + aad)
    except InvalidTag:
        raise DecryptionError("sealed blob failed authentication") from None


@dataclass(frozen=True)
class SealedKey:
    """A secret sealed under a password, with everything needed to open it but the password."""

    params: KdfParams
    salt: bytes
    verifier: bytes = field(repr=False)
    blob: bytes = field(repr=False)

    def serialize(self) -> bytes:
        """version(1) || params(3 x u32) || salt_len(1) || salt || verifier(32) || blob."""
        p = self.params
        return b"".join(
            [
                bytes([_RECORD_VERSION]),
                _PARAMS.pack(p.time_cost, p.memory_kib, p.lanes),
                bytes([len(self.salt)]),
                self.salt,
                self.verifier,
                self.blob,
            ]
        )

    @classmethod
    def deserialize(cls, data: bytes) -> "SealedKey":
        head = 1 + _PARAMS.size + 1
        if len(data) < head or data[0] != _RECORD_VERSION:
            raise FormatError("unknown or truncated sealed key record")
        params = KdfParams(*_PARAMS.unpack_from(data, 1))
        salt_end = head + data[head - 1]
        salt = data[head:salt_end]
        verifier = data[salt_end : salt_end + KEY_SIZE]
        blob = data[salt_end + KEY_SIZE :]
        if not SALT_SIZE <= len(salt) <= 64 or len(verifier) != KEY_SIZE or not blob:
            raise FormatError("truncated sealed key record")
        return cls(params, bytes(salt), bytes(verifier), bytes(blob))


def seal_under_password(
    secret: bytes, password: str, params: KdfParams, *, aad: bytes
) -> SealedKey:
    """Seal `secret` under a key derived from `password` with a fresh random salt."""
    salt = os.urandom(SALT_SIZE)
    keys = derive_password_keys(password, salt, params)
    return SealedKey(params, salt, keys.verifier, seal(keys.seal_key, secret, aad=aad))


def unseal_with_password(record: SealedKey, password: str, *, aad: bytes) -> bytes:
    """Check the password against the stored verifier, then open the sealed secret."""
    keys = derive_password_keys(password, record.salt, record.params)
    if not hmac.compare_digest(keys.verifier, record.verifier):
        raise DecryptionError("wrong password")
    return open_sealed(keys.seal_key, record.blob, aad=aad)


def needs_rehash(record: SealedKey, params: KdfParams) -> bool:
    """True when the record was sealed with other parameters than the current ones."""
    return record.params != params


def new_session_key() -> bytes:
    """32 random bytes: lives only in the session cookie, seals the session's keys."""
    return secrets.token_bytes(KEY_SIZE)


def generate_signing_key() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair as raw (private 32 bytes, public 32 bytes)."""
    private = Ed25519PrivateKey.generate()
    return private.private_bytes_raw(), private.public_key().public_bytes_raw()
