"""Keyed blind indexes: link records about the same officer, badge or unit without plaintext.

`blind_index` is HMAC-SHA256(key, kind || 0x00 || normalise(value)), truncated to 16
bytes: 128 bits make accidental collisions negligible (birthday bound ~2**64 values)
and halve the index size, while security rests on the key, not the output length.
`kind` ("name", "badge", "unit", ...) separates domains, so equal text in different
fields never links.

Normalisation rule: compatibility-decompose, drop accents, casefold, fold a few
letters NFKD leaves alone (ø, æ, ł, ...), delete apostrophes ("O'Brien" = "OBrien"),
turn any other punctuation or symbol into a space ("Jean-Luc" = "Jean Luc",
"PC-1234" = "PC 1234"), and collapse whitespace. Word boundaries are kept, so
"PC1234" and "PC 1234" differ; callers wanting that folded should remove spaces first.
"""

import hashlib
import hmac
import re
import secrets
import unicodedata

from .errors import FormatError

__all__ = ["INDEX_SIZE", "blind_index", "new_index_key", "normalise"]

INDEX_SIZE = 16
_KEY_SIZE = 32
_KIND = re.compile(r"[a-z][a-z0-9_]*")
_APOSTROPHES = frozenset("'\u2019\u02bc\u2018`\u00b4")
# Letters NFKD does not decompose, folded like their base letter.
_FOLD = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "\u0131": "i"}
)


def normalise(text: str) -> str:
    """Canonical form of a name, badge or unit for blind indexing (see module docstring)."""
    # Unicode compatibility caseless matching (D146); one casefold pass is not enough.
    nfd = unicodedata.normalize("NFD", text)
    once = unicodedata.normalize("NFKD", nfd.casefold())
    decomposed = unicodedata.normalize("NFKD", once.casefold())
    out: list[str] = []
    for char in decomposed.translate(_FOLD):
        if unicodedata.category(char) == "Mn":
            continue  # combining accent
        if char in _APOSTROPHES:
            continue
        out.append(char if char.isalnum() else " ")
    return " ".join("".join(out).split())


def blind_index(key: bytes, kind: str, value: str) -> bytes:
    """16-byte keyed index of `value` in the domain `kind`; FormatError if `value` is blank."""
    if len(key) != _KEY_SIZE:
        raise FormatError("blind index key must be 32 bytes")
    if not _KIND.fullmatch(kind):
        raise FormatError("blind index kind must be lowercase ASCII")
    normal = normalise(value)
    if not normal:
        raise FormatError("nothing to index after normalisation")
    message = kind.encode("ascii") + b"\x00" + normal.encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).digest()[:INDEX_SIZE]


def new_index_key() -> bytes:
    """A new 32-byte blind index key."""
    return secrets.token_bytes(_KEY_SIZE)
