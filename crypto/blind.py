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
This rule is frozen: stored indexes were computed with it.

Token sets (`tokens`) go further, so that "Bridge Unit 03", "Bridge Unit No. 3" and "Unit 3
Bridge" become the same set {3, bridge, unit}. From the normalised text: "º"/"ª" are dropped,
ordinals lose their suffix ("3rd", "3ra", "1era" = 3, 1), letters and digits are split ("Unit3"
= "Unit 3"), numbers lose leading zeros, number markers ("no", "nº", "num", "número", ...)
before a number are dropped, filler words ("the", "of", "and", "de", "del", "la", "las", "el",
"los") are dropped everywhere and titles ("sgt", "officer", "agente", "comandante", ...) from
names; the rest is sorted and deduplicated. Words that say what a subject *is* stay: "unit",
"unidad", "squad", "sector" tell units apart ("Bridge Unit 3" is not "Bridge Squad 3"); single
letters stay ("Squad A", initials, Spanish "y"). Each token gets its own index (`token_index`,
a domain apart from whole values), and the sorted set joined by spaces gets a whole-value index
of its own (the *canonical* index), so equal sets link with one equality.
"""

import functools
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Protocol

from .errors import FormatError

__all__ = [
    "FILLER_WORDS",
    "INDEX_SIZE",
    "NAME_TITLES",
    "NUMBER_MARKERS",
    "SubjectIndexes",
    "blind_index",
    "new_index_key",
    "normalise",
    "subject_indexes",
    "token_index",
    "tokens",
]

INDEX_SIZE = 16
_KEY_SIZE = 32
_KIND = re.compile(r"[a-z][a-z0-9_]*")
_APOSTROPHES = frozenset("'\u2019\u02bc\u2018`\u00b4")
# Letters NFKD does not decompose, folded like their base letter.
_FOLD = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "\u0131": "i"}
)


_ASCII_APOSTROPHES = str.maketrans("", "", "'`")
_ASCII_OTHER = re.compile(r"[^a-z0-9]+")


def normalise(text: str) -> str:
    """Canonical form of a name, badge or unit for blind indexing (see module docstring)."""
    if text.isascii():  # the common case, several times faster; same result (tested)
        bare = text.lower().translate(_ASCII_APOSTROPHES)
        return _ASCII_OTHER.sub(" ", bare).strip()
    return _normalise_unicode(text)


def _normalise_unicode(text: str) -> str:
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
    _check(key, kind)
    normal = normalise(value)
    if not normal:
        raise FormatError("nothing to index after normalisation")
    return _mac(key, kind, _WHOLE, normal)


_WHOLE, _TOKEN = b"\x00", b"\x01"  # domain separators: whole values, single tokens


def _check(key: bytes, kind: str) -> None:
    if len(key) != _KEY_SIZE:
        raise FormatError("blind index key must be 32 bytes")
    if not _KIND.fullmatch(kind):
        raise FormatError("blind index kind must be lowercase ASCII")


class _Hash(Protocol):
    def copy(self) -> "_Hash": ...
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


@functools.lru_cache(maxsize=4)
def _pads(key: bytes) -> tuple[_Hash, _Hash]:
    """HMAC-SHA256's inner and outer hash states after the key block (RFC 2104): copying them
    costs half of keying HMAC afresh, which dominates for messages this short."""
    block = key.ljust(64, b"\x00")  # a 32-byte key is shorter than SHA-256's block
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    return inner, outer


def _mac(key: bytes, kind: str, separator: bytes, text: str) -> bytes:
    """HMAC-SHA256(key, kind || separator || text), truncated (equal to `hmac.digest`: tested)."""
    inner_pad, outer_pad = _pads(key)
    inner = inner_pad.copy()
    inner.update(kind.encode("ascii") + separator + text.encode("utf-8"))
    outer = outer_pad.copy()
    outer.update(inner.digest())
    return outer.digest()[:INDEX_SIZE]


# Accent-free and lower case, as `normalise` leaves them. English and (Mexican) Spanish.
FILLER_WORDS = frozenset({"the", "of", "and", "de", "del", "la", "las", "el", "los"})
NUMBER_MARKERS = frozenset({"n", "no", "nos", "nr", "nro", "num", "number", "numero"})
NAME_TITLES = frozenset(
    (
        "officer ofc ofcr agent deputy trooper patrolman detective det sergeant sgt corporal cpl"
        " lieutenant lt captain capt cpt commander cmdr inspector insp chief mr mrs ms dr"
        " agente oficial policia patrullero sargento sgto cabo teniente tte capitan comandante"
        " cmdte cte comisario jefe sr sra srta lic licenciado licenciada ing"
    ).split()
)
_ORDINAL = re.compile(
    r"(\d+)(?:st|nd|rd|th|er|era|ero|ro|ra|do|da|to|ta|mo|ma|vo|va|no|na)", re.ASCII
)
_RUNS = re.compile(r"\d+|[^\W\d_]+")  # digit runs and letter runs of a normalised word
_ORDINAL_MARKS = str.maketrans({"\u00ba": " ", "\u00aa": " "})  # º ª (NFKD makes them o, a)


def tokens(kind: str, text: str) -> tuple[str, ...]:
    """The sorted token set of a name, badge or unit (see module docstring)."""
    return _tokens(kind, normalise(text.translate(_ORDINAL_MARKS)))


def _tokens(kind: str, normal: str) -> tuple[str, ...]:
    runs: list[str] = []
    for word in normal.split():
        ordinal = _ORDINAL.fullmatch(word)
        runs += [ordinal.group(1)] if ordinal else _RUNS.findall(word)
    kept: set[str] = set()
    for i, run in enumerate(runs):
        if run.isdecimal():
            kept.add(str(int(run)))
        elif run in NUMBER_MARKERS and i + 1 < len(runs) and runs[i + 1].isdecimal():
            continue
        elif run not in FILLER_WORDS and not (kind == "name" and run in NAME_TITLES):
            kept.add(run)
    return tuple(sorted(kept))


@dataclass(frozen=True)
class SubjectIndexes:
    """What is stored for one name, badge or unit."""

    whole: bytes  # `blind_index` of the value as written (the rule before token sets)
    canonical: bytes  # `blind_index` of the sorted token set; == whole when they coincide
    tokens: tuple[bytes, ...]  # `token_index` of each token, sorted; () if all filler


def subject_indexes(key: bytes, kind: str, value: str) -> SubjectIndexes:
    """Whole, canonical and token indexes of `value`; FormatError if it is blank."""
    _check(key, kind)
    normal = normalise(value)
    if not normal:
        raise FormatError("nothing to index after normalisation")
    whole = _mac(key, kind, _WHOLE, normal)
    marks = normal if value.isascii() else normalise(value.translate(_ORDINAL_MARKS))
    found = _tokens(kind, marks)
    canonical = " ".join(found)
    return SubjectIndexes(
        whole=whole,
        canonical=whole if canonical in ("", normal) else _mac(key, kind, _WHOLE, canonical),
        tokens=tuple(sorted(_mac(key, kind, _TOKEN, t) for t in found)),
    )


def token_index(key: bytes, kind: str, token: str) -> bytes:
    """16-byte keyed index of one token (a domain apart from whole values)."""
    _check(key, kind)
    return _mac(key, kind, _TOKEN, token)


def new_index_key() -> bytes:
    """A new 32-byte blind index key."""
    return secrets.token_bytes(_KEY_SIZE)
