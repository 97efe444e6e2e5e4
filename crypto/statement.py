"""The log's signed statements: a key rotation and a restore from backup, as C2SP signed notes.

A key rotation (`probity-log-key-rotation/1`) names the origin, the old and the new verifier key
and the tree head (size, root) at which the new key takes over; it is signed by BOTH keys, so
neither a thief of the old key alone nor a new key alone can make one. A restore
(`probity-log-restore/1`) names the tree head the restored log continues from (`backup`), the
newest tree head signed before the loss (`last`, or `none`) and the date; the log key signs it.

    probity-log-key-rotation/1        probity-log-restore/1
    origin <origin>                   origin <origin>
    old <verifier key>                backup <size> <base64 root>
    new <verifier key>                last <size> <base64 root> | last none
    size <size>                       date <YYYY-MM-DD>
    root <base64 root>

Parsing is strict (one text per statement) and reuses the checkpoint's number and hash rules.
Errors: `FormatError` (a malformed statement or a missing or bad signature).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from crypto.checkpoint import _decimal, _hash
from crypto.errors import CheckpointError, FormatError
from crypto.merkle import HASH_SIZE
from crypto.note import Signer, Verifier, add_signature, parse_verifier, sign_note, verify_note

__all__ = [
    "RESTORE_FORMAT",
    "ROTATION_FORMAT",
    "Restore",
    "Rotation",
    "TreeHead",
    "format_restore",
    "format_rotation",
    "open_restore",
    "open_rotation",
    "parse_statement",
    "sign_restore",
    "sign_rotation",
    "statement_kind",
]

ROTATION_FORMAT = "probity-log-key-rotation/1"
RESTORE_FORMAT = "probity-log-restore/1"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


@dataclass(frozen=True)
class TreeHead:
    size: int
    root: bytes

    def __post_init__(self) -> None:
        if self.size < 0 or len(self.root) != HASH_SIZE:
            raise FormatError("a tree head needs a size >= 0 and a 32-byte root")

    def text(self) -> str:
        return f"{self.size} {base64.b64encode(self.root).decode()}"


@dataclass(frozen=True)
class Rotation:
    origin: str
    old: Verifier
    new: Verifier
    head: TreeHead  # the switch: checkpoints up to this size by `old`, after it by `new`


@dataclass(frozen=True)
class Restore:
    origin: str
    backup: TreeHead  # the restored log, all of which the new history keeps
    last: TreeHead | None  # the newest tree head signed before the loss, if known
    date: str  # YYYY-MM-DD, the day of the restore


def _check_rotation(r: Rotation) -> None:
    if not r.origin or r.old.name != r.origin or r.new.name != r.origin:
        raise FormatError("both keys of a rotation must be named after the log origin")
    if r.old.id == r.new.id or r.old.public == r.new.public:
        raise FormatError("a rotation needs a new key")


def format_rotation(r: Rotation) -> str:
    _check_rotation(r)
    root = base64.b64encode(r.head.root).decode()
    return (
        f"{ROTATION_FORMAT}\norigin {r.origin}\nold {r.old.encode()}\nnew {r.new.encode()}\n"
        f"size {r.head.size}\nroot {root}\n"
    )


def format_restore(r: Restore) -> str:
    if not r.origin or any(c.isspace() for c in r.origin) or not _DATE.fullmatch(r.date):
        raise FormatError("a restore needs a one-word origin and a YYYY-MM-DD date")
    last = r.last.text() if r.last is not None else "none"
    return (
        f"{RESTORE_FORMAT}\norigin {r.origin}\nbackup {r.backup.text()}\nlast {last}\n"
        f"date {r.date}\n"
    )


def _fields(text: str, names: tuple[str, ...]) -> list[str]:
    lines = text[:-1].split("\n") if text.endswith("\n") else []
    if len(lines) != len(names) + 1:
        raise FormatError("statement has the wrong number of lines")
    values = []
    for line, name in zip(lines[1:], names, strict=True):
        key, sep, value = line.partition(" ")
        if key != name or not sep or not value:
            raise FormatError(f"statement line {name!r} is missing or malformed")
        values.append(value)
    return values


def _head(value: str, what: str) -> TreeHead:
    size, sep, root = value.partition(" ")
    if not sep:
        raise FormatError(f"{what} must be '<size> <base64 root>'")
    try:
        return TreeHead(_decimal(size, f"{what} size"), _hash(root, f"{what} root"))
    except CheckpointError as exc:
        raise FormatError(str(exc)) from None


def statement_kind(text: str) -> str:
    """The format line of a statement (or of a note's text); FormatError if unknown."""
    kind = text.split("\n", 1)[0]
    if kind not in (ROTATION_FORMAT, RESTORE_FORMAT):
        raise FormatError("not a probity log statement")
    return kind


def parse_statement(text: str) -> Rotation | Restore:
    """Parse a statement's text (unverified); the output formats it back to exactly `text`."""
    kind = statement_kind(text)
    result: Rotation | Restore
    if kind == ROTATION_FORMAT:
        origin, old, new, size, root = _fields(text, ("origin", "old", "new", "size", "root"))
        head = _head(f"{size} {root}", "rotation point")
        result = Rotation(origin, parse_verifier(old), parse_verifier(new), head)
        canonical = format_rotation(result)
    else:
        origin, backup, last, day = _fields(text, ("origin", "backup", "last", "date"))
        last_head = None if last == "none" else _head(last, "last")
        result = Restore(origin, _head(backup, "backup"), last_head, day)
        canonical = format_restore(result)
    if canonical != text:
        raise FormatError("statement is not in its canonical form")
    return result


def _text_of(note: str) -> str:
    head, sep, _ = note.rpartition("\n\n")
    if not sep:
        raise FormatError("note has no signature block")
    return head + "\n"


def sign_rotation(r: Rotation, old: Signer, new: Signer) -> str:
    if old.verifier != r.old or new.verifier != r.new:
        raise ValueError("the signers must be the rotation's old and new keys")
    return add_signature(sign_note(format_rotation(r), old), new)


def open_rotation(note: str) -> Rotation:
    """Parse a rotation note and check that BOTH keys it names signed it."""
    r = parse_statement(_text_of(note))
    if not isinstance(r, Rotation):
        raise FormatError("not a key rotation statement")
    for key in (r.old, r.new):
        verify_note(note, key)
    return r


def sign_restore(r: Restore, signer: Signer) -> str:
    if signer.name != r.origin:
        raise ValueError("the log key's name must equal the origin")
    return sign_note(format_restore(r), signer)


def open_restore(note: str, verifier: Verifier) -> Restore:
    """Check `verifier` signed a restore note, then parse it; its origin must be the key's name."""
    r = parse_statement(verify_note(note, verifier))
    if not isinstance(r, Restore):
        raise FormatError("not a restore statement")
    if r.origin != verifier.name:
        raise FormatError("restore statement is for another log origin")
    return r
