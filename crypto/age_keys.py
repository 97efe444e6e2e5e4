"""age recipient types: X25519 (keys as Bech32 strings) and scrypt (passphrases).

A recipient wraps the file key into a stanza; an identity finds and unwraps a stanza
addressed to it. Stanzas of unknown types are ignored, per the spec.
"""

import functools
import os
import re
from collections.abc import Sequence
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from . import bech32
from .age_format import Stanza, b64decode, b64encode, hkdf_sha256
from .errors import DecryptionError, FormatError

__all__ = [
    "IDENTITY_HRP",
    "RECIPIENT_HRP",
    "Identity",
    "Recipient",
    "ScryptIdentity",
    "ScryptRecipient",
    "X25519Identity",
    "X25519Recipient",
    "parse_identities",
]

IDENTITY_HRP = "AGE-SECRET-KEY-"
RECIPIENT_HRP = "age"
FILE_KEY_SIZE = 16
_X25519_INFO = b"age-encryption.org/v1/X25519"
_SCRYPT_LABEL = b"age-encryption.org/v1/scrypt"
_ZERO_NONCE = bytes(12)
_WRAPPED_SIZE = FILE_KEY_SIZE + 16
_WORK_FACTOR = re.compile(r"[1-9][0-9]?")


class Recipient(Protocol):
    """Something that can wrap a file key into a stanza."""

    def wrap(self, file_key: bytes) -> Stanza: ...


class Identity(Protocol):
    """Something that can unwrap a file key; returns None if no stanza is addressed to it."""

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None: ...


def _seal_file_key(wrap_key: bytes, file_key: bytes) -> bytes:
    return ChaCha20Poly1305(wrap_key).encrypt(_ZERO_NONCE, file_key, None)


def _open_file_key(wrap_key: bytes, body: bytes) -> bytes | None:
    try:
        return ChaCha20Poly1305(wrap_key).decrypt(_ZERO_NONCE, body, None)
    except InvalidTag:
        return None


@functools.lru_cache(maxsize=4096)
def _decode_recipient(text: str) -> bytes:
    # Public keys only: the same staff recipients are parsed for every envelope.
    hrp, data = bech32.decode(text)
    if hrp != RECIPIENT_HRP:
        raise FormatError("not an age X25519 recipient")
    return data


class X25519Recipient:
    """An `age1...` public key."""

    def __init__(self, public_key: bytes) -> None:
        if len(public_key) != 32:
            raise FormatError("X25519 recipient must be 32 bytes")
        self.public_key = public_key

    @classmethod
    def from_str(cls, text: str) -> "X25519Recipient":
        return cls(_decode_recipient(text))

    def __str__(self) -> str:
        return bech32.encode(RECIPIENT_HRP, self.public_key)

    def wrap(self, file_key: bytes) -> Stanza:
        ephemeral = X25519PrivateKey.generate()
        share = ephemeral.public_key().public_bytes_raw()
        try:
            shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(self.public_key))
        except ValueError:
            raise FormatError("X25519 recipient is a low-order point") from None
        wrap_key = hkdf_sha256(shared, share + self.public_key, _X25519_INFO)
        return Stanza(("X25519", b64encode(share)), _seal_file_key(wrap_key, file_key))


class X25519Identity:
    """An `AGE-SECRET-KEY-1...` private key."""

    def __init__(self, private_key: bytes | X25519PrivateKey) -> None:
        if isinstance(private_key, bytes):
            if len(private_key) != 32:
                raise FormatError("X25519 identity must be 32 bytes")
            private_key = X25519PrivateKey.from_private_bytes(private_key)
        self._key = private_key
        self._public = private_key.public_key().public_bytes_raw()

    @classmethod
    def generate(cls) -> "X25519Identity":
        # The generated key object itself: going through its bytes would redo the public key.
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_str(cls, text: str) -> "X25519Identity":
        hrp, data = bech32.decode(text)
        if hrp != IDENTITY_HRP:
            raise FormatError("not an age X25519 identity")
        return cls(data)

    def __repr__(self) -> str:
        return f"X25519Identity(recipient={self.recipient()})"  # never the secret

    def to_str(self) -> str:
        return bech32.encode(IDENTITY_HRP, self._key.private_bytes_raw())

    def recipient(self) -> X25519Recipient:
        return X25519Recipient(self._public)

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        for stanza in stanzas:
            if stanza.type != "X25519":
                continue
            if len(stanza.args) != 2:
                raise FormatError("X25519 stanza must have two arguments")
            share = b64decode(stanza.args[1])
            if len(share) != 32:
                raise FormatError("X25519 share must be 32 bytes")
            if len(stanza.body) != _WRAPPED_SIZE:
                raise FormatError("X25519 stanza body must be 32 bytes")
            try:
                shared = self._key.exchange(X25519PublicKey.from_public_bytes(share))
            except ValueError:  # OpenSSL refuses an all-zero shared secret
                raise DecryptionError("X25519 shared secret is all zeros") from None
            if shared == bytes(32):
                raise DecryptionError("X25519 shared secret is all zeros")
            wrap_key = hkdf_sha256(shared, share + self._public, _X25519_INFO)
            file_key = _open_file_key(wrap_key, stanza.body)
            if file_key is not None:
                return file_key
        return None


def _scrypt_key(passphrase: str, salt: bytes, work_factor: int) -> bytes:
    kdf = Scrypt(salt=_SCRYPT_LABEL + salt, length=32, n=1 << work_factor, r=8, p=1)
    return kdf.derive(passphrase.encode("utf-8"))


class ScryptRecipient:
    """A passphrase; its stanza must be the only one in the header."""

    def __init__(self, passphrase: str, work_factor: int = 18) -> None:
        if not passphrase:
            raise ValueError("empty passphrase")
        if not 1 <= work_factor <= 30:
            raise ValueError("scrypt work factor must be between 1 and 30")
        self._passphrase = passphrase
        self.work_factor = work_factor

    def __repr__(self) -> str:
        return f"ScryptRecipient(work_factor={self.work_factor})"

    def wrap(self, file_key: bytes) -> Stanza:
        salt = os.urandom(16)
        wrap_key = _scrypt_key(self._passphrase, salt, self.work_factor)
        args = ("scrypt", b64encode(salt), str(self.work_factor))
        return Stanza(args, _seal_file_key(wrap_key, file_key))


class ScryptIdentity:
    """A passphrase, with an upper bound on the work factor we are willing to spend."""

    def __init__(self, passphrase: str, max_work_factor: int = 22) -> None:
        if not 1 <= max_work_factor <= 30:
            raise ValueError("scrypt work factor limit must be between 1 and 30")
        self._passphrase = passphrase
        self.max_work_factor = max_work_factor

    def __repr__(self) -> str:
        return f"ScryptIdentity(max_work_factor={self.max_work_factor})"

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        for stanza in stanzas:
            if stanza.type != "scrypt":
                continue
            if len(stanzas) != 1:
                raise FormatError("an scrypt stanza must be the only stanza")
            if len(stanza.args) != 3:
                raise FormatError("scrypt stanza must have three arguments")
            salt = b64decode(stanza.args[1])
            if len(salt) != 16:
                raise FormatError("scrypt salt must be 16 bytes")
            if not re.fullmatch(r"[1-9][0-9]*", stanza.args[2]):
                raise FormatError("malformed scrypt work factor")
            # Checked as text first: int() on a huge digit string is itself a DoS.
            if not _WORK_FACTOR.fullmatch(stanza.args[2]):
                raise DecryptionError("scrypt work factor above the limit")
            work_factor = int(stanza.args[2])
            if work_factor > self.max_work_factor:
                raise DecryptionError("scrypt work factor above the limit")
            if len(stanza.body) != _WRAPPED_SIZE:
                raise FormatError("scrypt stanza body must be 32 bytes")
            wrap_key = _scrypt_key(self._passphrase, salt, work_factor)
            return _open_file_key(wrap_key, stanza.body)
        return None


def parse_identities(text: str) -> list[str]:
    """Identity strings from an `age-keygen` key file (comments and blank lines skipped)."""
    keys = [ln.strip() for ln in text.splitlines()]
    keys = [k for k in keys if k and not k.startswith("#")]
    for key in keys:
        X25519Identity.from_str(key)  # validate early
    return keys
