"""The reporter's receipt: a stored lookup id plus a never-stored secret.

Sizes: lookup id 40 bits (5 bytes) + secret 120 bits (15 bytes) = 160 bits, which is
exactly 32 Crockford base32 characters, shown as 8 groups of four. Both parts are
whole bytes and whole 5-bit symbols, and the lookup id is the first two groups.
40 bits keeps lookups collision-free in practice (the service retries on the rare
unique-constraint clash) while the secret's 120 bits carry the security.

No check character: a mistyped lookup id finds nothing, and a mistyped secret derives
a public key that differs from the stored one, so every typo is already detected; a
Crockford mod-37 check symbol would add the awkward symbols `*~$=U` to the alphabet.

The reporter's X25519 key comes from HKDF(secret, per-tip salt). The secret has 120
bits of entropy, so no password stretching is needed: strength comes from entropy,
and a cheap KDF keeps intake fast and removes a denial-of-service lever.
"""

import os
import unicodedata
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .age import identity_from_bytes, recipient_from_bytes
from .errors import FormatError

__all__ = [
    "LOOKUP_BYTES",
    "SALT_BYTES",
    "SECRET_BYTES",
    "Receipt",
    "lookup_key",
    "new_receipt",
    "new_salt",
    "parse_receipt",
    "reporter_identity",
    "reporter_recipient",
]

LOOKUP_BYTES = 5
SECRET_BYTES = 15
SALT_BYTES = 16
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(_ALPHABET)} | {"O": 0, "I": 1, "L": 1}
_CHARS = (LOOKUP_BYTES + SECRET_BYTES) * 8 // 5
_GROUP = 4
_MAX_INPUT = 256
_IGNORED = str.maketrans("", "", "- \t\r\n")
_REPORTER_INFO = b"probity/v1/reporter-x25519"


@dataclass(frozen=True)
class Receipt:
    """A receipt; `repr` never shows the secret."""

    lookup_id: bytes
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.lookup_id) != LOOKUP_BYTES or len(self.secret) != SECRET_BYTES:
            raise FormatError("receipt parts have the wrong length")

    def format(self) -> str:
        """Crockford base32 in hyphen-separated groups of four, e.g. `ABCD-EFGH-...`."""
        value = int.from_bytes(self.lookup_id + self.secret, "big")
        chars = [_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(_CHARS))]
        text = "".join(chars)
        return "-".join(text[i : i + _GROUP] for i in range(0, _CHARS, _GROUP))


def new_receipt() -> Receipt:
    """A fresh random receipt."""
    return Receipt(os.urandom(LOOKUP_BYTES), os.urandom(SECRET_BYTES))


def parse_receipt(text: str) -> Receipt:
    """Parse a receipt ignoring case, spaces and hyphens; O reads as 0, I and L as 1.

    Raises FormatError for a wrong length or a character outside Crockford base32.
    """
    if len(text) > _MAX_INPUT:  # bound the work done on untrusted input
        raise FormatError("receipt has the wrong length")
    # NFKC turns full-width forms from East Asian input methods into ASCII.
    compact = unicodedata.normalize("NFKC", text).translate(_IGNORED)
    if not compact.isascii():  # before upper(): "\u0131".upper() == "I"
        raise FormatError("receipt has an invalid character")
    compact = compact.upper()
    if len(compact) != _CHARS:
        raise FormatError("receipt has the wrong length")
    value = 0
    for char in compact:
        digit = _DECODE.get(char)
        if digit is None:
            raise FormatError("receipt has an invalid character")  # never echo the receipt
        value = value << 5 | digit
    raw = value.to_bytes(LOOKUP_BYTES + SECRET_BYTES, "big")
    return Receipt(raw[:LOOKUP_BYTES], raw[LOOKUP_BYTES:])


def lookup_key(receipt: Receipt) -> str:
    """The stored form of the lookup id: 10 lowercase hex characters."""
    return receipt.lookup_id.hex()


def new_salt() -> bytes:
    """A per-tip salt for `reporter_identity` (stored with the tip)."""
    return os.urandom(SALT_BYTES)


def reporter_identity(secret: bytes, salt: bytes) -> tuple[str, str]:
    """The reporter's age key pair (identity, recipient) from the receipt secret.

    HKDF-SHA256(ikm=secret, salt=per-tip salt, info="probity/v1/reporter-x25519")
    gives the X25519 scalar. A cheap KDF is enough because the secret has 120 bits
    of entropy; only the recipient and the salt are stored.
    """
    return identity_from_bytes(_reporter_scalar(secret, salt))


def reporter_recipient(secret: bytes, salt: bytes) -> str:
    """Only the recipient of `reporter_identity` (what intake stores)."""
    return recipient_from_bytes(_reporter_scalar(secret, salt))


def _reporter_scalar(secret: bytes, salt: bytes) -> bytes:
    if len(secret) != SECRET_BYTES or len(salt) != SALT_BYTES:
        raise FormatError("receipt secret or salt has the wrong length")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_REPORTER_INFO)
    return hkdf.derive(secret)
