"""Offline verification of an audit-log export against signed checkpoints (no database).

Export format (JSON Lines, UTF-8), written by `probity audit export`:
    {"format": "probity-audit-export/2", "origin": "<log origin>", "size": N, "statements": k}
    {"statement": "<signed note>"}   ... k lines: the log's key rotations and restores, in order
    {"index": i, "entry": "<base64 canonical entry>", "leaf_hash": "<base64 stored leaf hash>"}
    ... one line per entry, in index order. The canonical entry is compact sorted-key JSON with
    at least "index": i; the rest is opaque here. Format /1 (no statements) is still read.

The key passed in is the auditor's pinned key; the statements lead from it to the key signing
the checkpoint, and may explain a trusted checkpoint lost in a restore (service.audit.verify_chain).

`verify_export` streams the lines (O(log n) memory), recomputes every leaf hash and the roots at
the checkpoints' sizes, and raises `VerificationError` naming the first bad index it can prove.
The stored leaf hashes are only hints: they pinpoint an edited entry, but nothing is trusted
until a root matches a signed checkpoint.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from crypto.checkpoint import Checkpoint
from crypto.errors import FormatError
from crypto.merkle import EMPTY_ROOT, TreeBuilder, leaf_hash
from crypto.note import Verifier, parse_verifier
from service.audit.verify_chain import (
    KeyChain,
    check_rotations,
    explain_loss,
    follow_chain,
    key_label,
    rotation_stops,
)
from service.errors import VerificationError

__all__ = [
    "EXPORT_FORMAT",
    "VerifyReport",
    "export_header",
    "export_line",
    "export_statement",
    "verify_export",
]

EXPORT_FORMAT = "probity-audit-export/2"
_FORMATS = frozenset({"probity-audit-export/1", EXPORT_FORMAT})
_MAX_STATEMENTS = 10_000
_LINE_KEYS = frozenset({"index", "entry", "leaf_hash"})
_PROGRESS_EVERY = 8192
_DECODER = json.JSONDecoder()
# Base64 has no characters JSON escapes, so this matches a subset of the JSON parser's lines.
_LINE = re.compile(
    rb'\{"index": (0|[1-9][0-9]*), "entry": "([A-Za-z0-9+/=]*)", '
    rb'"leaf_hash": "([A-Za-z0-9+/=]*)"\}\n?'
)


@dataclass(frozen=True)
class VerifyReport:
    origin: str
    size: int  # entries covered by the checkpoint, all verified
    root_hex: str
    trusted_size: int | None  # size of the older trusted checkpoint it is consistent with
    entries: int  # entry lines in the export (more than `size` if it outran the checkpoint)
    chain: tuple[str, ...] = ()  # the keys followed from the pinned one
    checkpoint_key: str = ""  # name+id of the key that signed the checkpoint
    warnings: tuple[str, ...] = ()  # e.g. entries lost in a restore


def export_header(origin: str, size: int, statements: int = 0) -> str:
    """The export's first line, newline included."""
    header = {"format": EXPORT_FORMAT, "origin": origin, "size": size, "statements": statements}
    return json.dumps(header) + "\n"


def export_statement(note: str) -> str:
    """One statement line (a signed note), newline included."""
    return json.dumps({"statement": note}) + "\n"


def export_line(index: int, entry: bytes, stored_leaf_hash: bytes) -> str:
    """One entry line, newline included."""
    record = {
        "index": index,
        "entry": binascii.b2a_base64(entry, newline=False).decode(),
        "leaf_hash": binascii.b2a_base64(stored_leaf_hash, newline=False).decode(),
    }
    return json.dumps(record) + "\n"


def _open(chain: KeyChain, note: str, what: str) -> tuple[Checkpoint, Verifier]:
    cp, key = chain.open(note, what)
    if cp.size == 0 and cp.root != EMPTY_ROOT:
        raise VerificationError(None, f"{what}: the empty log has another root")
    return cp, key


def _pinned(key: str) -> Verifier:
    try:
        return parse_verifier(key)
    except FormatError as exc:
        raise VerificationError(None, f"log key: {exc}") from None


def _json(line: bytes | str) -> Any:
    try:
        return json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None


def _read_header(lines: Iterator[bytes | str], origin: str) -> tuple[int, list[str]]:
    """The declared size and the statements of the export."""
    first = next(lines, None)
    header = None if first is None else _json(first)
    if not isinstance(header, dict) or header.get("format") not in _FORMATS:
        raise VerificationError(None, f"not a {EXPORT_FORMAT} file (bad first line)")
    size, count = header.get("size"), header.get("statements", 0)
    if header.get("origin") != origin:
        raise VerificationError(None, "the export is from another log than the checkpoint")
    if type(size) is not int or size < 0:
        raise VerificationError(None, "the export header has no valid size")
    if type(count) is not int or not 0 <= count <= _MAX_STATEMENTS:
        raise VerificationError(None, "the export header has no valid statement count")
    notes = []
    for number in range(1, count + 1):
        line = next(lines, None)
        record = None if line is None else _json(line)
        if not isinstance(record, dict) or record.keys() != {"statement"}:
            raise VerificationError(None, f"statement {number}: malformed line")
        if not isinstance(record["statement"], str):
            raise VerificationError(None, f"statement {number}: malformed line")
        notes.append(record["statement"])
    return size, notes


def _malformed(index: int, what: str) -> VerificationError:
    return VerificationError(index, f"entry {index}: {what}")


def _decode(text: object) -> bytes | None:
    if not isinstance(text, str | bytes):
        return None
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def _line_fields(raw: bytes) -> tuple[object, bytes, bytes] | None:
    """(index, entry, base64 stored hash) of one export line, or None if it is malformed."""
    match = _LINE.fullmatch(raw)
    try:
        if match is not None:  # The exact layout `export_line` writes: no JSON parse needed.
            return int(match[1]), binascii.a2b_base64(match[2], strict_mode=True), match[3]
        record = json.loads(raw)
        if record.keys() != _LINE_KEYS:
            return None
        entry = binascii.a2b_base64(record["entry"], strict_mode=True)
        return record["index"], entry, record["leaf_hash"].encode("ascii")
    except (ValueError, TypeError, KeyError, AttributeError):
        return None  # UnicodeError and binascii.Error are ValueErrors.


def _entry_hash(line: bytes | str, index: int) -> bytes:
    """The recomputed leaf hash of one export line at position `index`, checked against its
    position and the stored hash. This runs once per entry: keep it lean."""
    raw = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
    fields = _line_fields(raw)
    if fields is None:
        raise _malformed(index, "malformed line")
    line_index, entry, b64_hint = fields
    try:
        # raw_decode skips json.loads' wrappers (a third of the verifier's time); the entry is
        # canonical JSON, so nothing may follow the object.
        text = entry.decode()
        body, end = _DECODER.raw_decode(text)
        embedded = body["index"] if end == len(text) else None
    except (ValueError, TypeError, KeyError):
        embedded = None
    if type(embedded) is not int:
        raise _malformed(index, "the entry is not a JSON object with an index")
    if embedded != index or type(line_index) is not int or line_index != index:
        found = embedded if embedded != index else line_index
        raise _malformed(
            index, f"found entry {found!r} here: entries are missing, duplicated or reordered"
        )
    computed = leaf_hash(entry)
    if binascii.b2a_base64(computed, newline=False) != b64_hint:
        hint = _decode(b64_hint)  # Slow path: tell a malformed hint from a different one.
        if hint is None:
            raise _malformed(index, "malformed line (bad stored leaf hash)")
        if hint != computed:
            raise _malformed(index, "altered (its hash differs from the leaf hash the log stored)")
    return computed


def _stream(
    lines: Iterator[bytes | str], declared: int, stops: set[int], progress: Callable[[int], None]
) -> tuple[int, dict[int, bytes]]:
    """Check every entry line; return how many there were and the roots at the `stops` sizes."""
    builder = TreeBuilder()
    roots = {0: EMPTY_ROOT} if 0 in stops else {}
    count = 0
    for line in lines:
        try:
            if count >= declared:
                raise _malformed(count, "more entries than the export header declares")
            builder.add_hash(_entry_hash(line, count))
        except VerificationError:
            if not line.strip():
                continue  # A blank line carries nothing; tolerate editors that add one.
            raise
        count += 1
        if count in stops:
            roots[count] = builder.root()
        if count % _PROGRESS_EVERY == 0:
            progress(count)
    progress(count)
    return count, roots


def _judge(cp: Checkpoint, old: Checkpoint | None, roots: dict[int, bytes], count: int) -> None:
    """Turn the roots found into the first provable fault, or return if all checkpoints match."""
    old_bad = old is not None and old.size in roots and roots[old.size] != old.root
    if count < cp.size:
        if old is not None and old_bad:
            raise VerificationError(
                None,
                f"entries 0..{old.size - 1} do not match the trusted checkpoint",
                bad_range=(0, old.size),
            )
        raise _malformed(
            count, f"missing: the export stops at {count} entries, the checkpoint has {cp.size}"
        )
    cp_bad = roots[cp.size] != cp.root
    if old is not None and old_bad:
        if not cp_bad:
            message = "the checkpoints are inconsistent: the log rewrote its history"
        else:
            message = "entries were altered together with their stored leaf hashes"
        raise VerificationError(
            None, f"{message} somewhere in entries 0..{old.size - 1}", bad_range=(0, old.size)
        )
    if cp_bad:
        start = old.size if old is not None else 0
        raise VerificationError(
            None,
            "entries were altered together with their stored leaf hashes somewhere in entries "
            f"{start}..{cp.size - 1} (the root does not match the checkpoint)",
            bad_range=(start, cp.size),
        )


def _trusted(
    chain: KeyChain,
    signed: tuple[Checkpoint, Verifier],
    trusted: tuple[Checkpoint, Verifier] | None,
    roots: dict[int, bytes],
) -> tuple[Checkpoint | None, str | None]:
    """The trusted checkpoint left for `_judge`, or None and a warning when a restore statement
    explains why the new history no longer contains it."""
    if trusted is None:
        return None, None
    (cp, cp_key), (old, old_key) = signed, trusted
    diverged = (
        old.size > cp.size
        or (old.size == cp.size and old.root != cp.root)
        or (old.size in roots and roots[old.size] != old.root)
    )
    if not diverged:
        return old, None
    warning = explain_loss(chain, old, roots, ranks=(chain.rank(old_key), chain.rank(cp_key)))
    if warning is not None:
        return None, warning
    unexplained = "; no restore statement signed by the log key explains it"
    if chain.ignored_restores:
        unexplained += f" ({chain.ignored_restores} restore statement(s) not signed by it ignored)"
    if old.size > cp.size:
        raise VerificationError(
            None,
            "the trusted checkpoint is larger than the checkpoint: an older export, or the log "
            f"rewrote its history{unexplained}",
        )
    if old.size == cp.size:
        raise VerificationError(
            None,
            "two signed checkpoints of the same size differ: the log forked (it rewrote its "
            f"history){unexplained}",
        )
    return old, None


def verify_export(
    lines: Iterable[bytes | str],
    *,
    checkpoint: str,
    key: str,
    trusted: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify an export against a signed checkpoint (and an older trusted one); raise
    `VerificationError` on the first fault. `key` is the auditor's pinned key: the export's
    statements may lead from it to the key that signed `checkpoint`. `progress` gets the count
    of entries read so far."""
    pinned = _pinned(key)
    it = iter(lines)
    declared, notes = _read_header(it, pinned.name)
    chain = follow_chain(pinned, notes)
    cp, cp_key = _open(chain, checkpoint, "checkpoint")
    opened = _open(chain, trusted, "trusted checkpoint") if trusted is not None else None
    old = opened[0] if opened is not None else None
    stops = {cp.size} | rotation_stops(chain) | ({old.size} if old is not None else set())
    count, roots = _stream(it, declared, stops, progress or (lambda _: None))
    checked, warning = _trusted(chain, (cp, cp_key), opened, roots)
    _judge(cp, checked, roots, count)
    if count < declared:
        raise _malformed(count, f"missing: the export header declares {declared} entries")
    lost_rotations = check_rotations(chain, roots)
    warnings = ([warning] if warning is not None else []) + lost_rotations
    return VerifyReport(
        origin=cp.origin,
        size=cp.size,
        root_hex=cp.root_hex,
        trusted_size=checked.size if checked is not None else None,
        entries=count,
        chain=tuple(chain.steps()),
        checkpoint_key=key_label(cp_key),
        warnings=tuple(warnings),
    )
