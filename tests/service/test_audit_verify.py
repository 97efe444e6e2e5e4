"""Offline verification of audit exports: every kind of tampering is caught and located."""

import json
import tracemalloc
from collections.abc import Iterator

import pytest

from crypto.checkpoint import Checkpoint, format_body, sign_checkpoint
from crypto.merkle import TreeBuilder, leaf_hash
from crypto.note import generate_signer, sign_note
from service.audit.verify import EXPORT_FORMAT, export_header, export_line, verify_export
from service.errors import ProbityError, VerificationError

ORIGIN = "probity.example/audit"
SIGNER = generate_signer(ORIGIN)
KEY = SIGNER.verifier.encode()
N = 40


def entry(index: int, action: str = "tip.viewed") -> bytes:
    body = {"action": action, "actor": "system", "details": {}, "index": index, "v": 1}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


ENTRIES = [entry(i) for i in range(N)]


def root(entries: list[bytes]) -> bytes:
    builder = TreeBuilder()
    for e in entries:
        builder.append(e)
    return builder.root()


def signed(entries: list[bytes], size: int | None = None) -> str:
    size = len(entries) if size is None else size
    return sign_checkpoint(Checkpoint(ORIGIN, size, root(entries[:size])), SIGNER)


def export(entries: list[bytes], *, size: int | None = None, hints: list[bytes] | None = None):
    """Lines of an export; `hints` are the stored leaf hashes (by default, the true ones)."""
    hints = hints if hints is not None else [leaf_hash(e) for e in entries]
    size = len(entries) if size is None else size
    header = export_header(ORIGIN, size)
    return [header] + [
        export_line(i, e, h) for i, (e, h) in enumerate(zip(entries, hints, strict=True))
    ]


def fails(lines, *, checkpoint: str | None = None, trusted: str | None = None, key: str = KEY):
    with pytest.raises(VerificationError) as caught:
        verify_export(lines, checkpoint=checkpoint or signed(ENTRIES), key=key, trusted=trusted)
    return caught.value


# --- what verifies ------------------------------------------------------------------------------


def test_intact_export_verifies_and_reports_the_tree() -> None:
    seen: list[int] = []
    report = verify_export(
        export(ENTRIES), checkpoint=signed(ENTRIES), key=KEY, progress=seen.append
    )
    assert report.origin == ORIGIN
    assert report.size == report.entries == N
    assert report.root_hex == root(ENTRIES).hex()
    assert report.trusted_size is None
    assert seen[-1] == N


def test_export_verifies_as_bytes_lines_as_read_from_a_binary_file(tmp_path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("".join(export(ENTRIES)), encoding="utf-8")
    with path.open("rb") as lines:
        assert verify_export(lines, checkpoint=signed(ENTRIES), key=KEY).size == N
    with path.open("r", encoding="utf-8") as text_lines:
        assert verify_export(text_lines, checkpoint=signed(ENTRIES), key=KEY).size == N


def test_older_trusted_checkpoint_consistent_with_the_new_one_verifies() -> None:
    for old_size in (0, 1, 17, 32, N):
        report = verify_export(
            export(ENTRIES),
            checkpoint=signed(ENTRIES),
            key=KEY,
            trusted=signed(ENTRIES, old_size),
        )
        assert report.trusted_size == old_size


def test_export_longer_than_its_checkpoint_verifies_the_covered_prefix() -> None:
    report = verify_export(export(ENTRIES), checkpoint=signed(ENTRIES, 25), key=KEY)
    assert (report.size, report.entries) == (25, N)


def test_empty_log_verifies() -> None:
    report = verify_export(export([]), checkpoint=signed([]), key=KEY)
    assert (report.size, report.entries) == (0, 0)


def test_signed_empty_checkpoint_with_a_wrong_root_is_rejected() -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 0, leaf_hash(b"")), SIGNER)
    assert "empty log" in fails(export([]), checkpoint=note).detail


def test_a_trailing_blank_line_is_tolerated() -> None:
    assert verify_export([*export(ENTRIES), "\n"], checkpoint=signed(ENTRIES), key=KEY)


# --- tampering with entries ---------------------------------------------------------------------


def test_edited_entry_is_named_by_its_index() -> None:
    edited = list(ENTRIES)
    edited[17] = entry(17, action="tip.exported")
    lines = export(edited, hints=[leaf_hash(e) for e in ENTRIES])
    error = fails(lines)
    assert error.index == 17
    assert "entry 17: altered" in error.detail
    assert isinstance(error, ProbityError)


def test_edited_entry_with_rewritten_stored_hash_is_reported_as_a_range() -> None:
    edited = list(ENTRIES)
    edited[17] = entry(17, action="tip.exported")
    error = fails(export(edited))
    assert error.index is None
    assert error.bad_range == (0, N)
    # An older trusted checkpoint that still matches narrows the range.
    error = fails(export(edited), trusted=signed(ENTRIES, 10))
    assert error.bad_range == (10, N)
    assert "10..39" in error.detail


def test_deleted_entry_is_named_by_its_index() -> None:
    lines = export(ENTRIES)
    del lines[1 + 12]
    error = fails(lines)
    assert error.index == 12
    assert "missing, duplicated or reordered" in error.detail


def test_duplicated_entry_is_named_where_the_copy_sits() -> None:
    lines = export(ENTRIES)
    lines.insert(1 + 13, lines[1 + 12])
    assert fails(lines).index == 13


def test_reordered_entries_are_named_at_the_first_swap() -> None:
    lines = export(ENTRIES)
    lines[1 + 20], lines[1 + 21] = lines[1 + 21], lines[1 + 20]
    assert fails(lines).index == 20


def test_reordered_entries_with_renumbered_lines_are_caught_by_the_embedded_index() -> None:
    swapped = list(ENTRIES)
    swapped[20], swapped[21] = swapped[21], swapped[20]
    error = fails(export(swapped))  # line indices and stored hashes follow the new order
    assert error.index == 20
    assert "found entry 21 here" in error.detail


def test_truncated_export_names_the_first_missing_index() -> None:
    lines = export(ENTRIES)[: 1 + 30]  # header still declares N
    assert fails(lines).index == 30
    rewritten = export(ENTRIES[:30])  # header rewritten to match
    error = fails(rewritten)
    assert error.index == 30
    assert "the checkpoint has 40" in error.detail


def test_export_cut_short_of_its_own_header_is_truncated() -> None:
    lines = export(ENTRIES)[: 1 + 35]
    error = fails(lines, checkpoint=signed(ENTRIES, 30))
    assert error.index == 35


def test_more_entries_than_declared_are_refused() -> None:
    lines = export(ENTRIES, size=30)
    assert fails(lines, checkpoint=signed(ENTRIES, 30)).index == 30


@pytest.mark.parametrize(
    "bad",
    [
        "not json\n",
        "[]\n",
        '{"index": 9, "entry": "", "leaf_hash": ""}\n',
        '{"index": 9}\n',
        json.dumps({"index": 9, "entry": "!!", "leaf_hash": "AAAA"}) + "\n",
        json.dumps({"index": True, "entry": "", "leaf_hash": ""}) + "\n",
        export_line(9, b"not json", leaf_hash(b"not json")),
        export_line(9, b'{"v":1}', leaf_hash(b'{"v":1}')),
        export_line(9, b'{"index":"9"}', leaf_hash(b'{"index":"9"}')),
        export_line(9, b'{"index":9}{}', leaf_hash(b'{"index":9}{}')),
        export_line(9, b'[{"index":9}]', leaf_hash(b'[{"index":9}]')),
        export_line(9, ENTRIES[9], b"short"),
        export_line(9, ENTRIES[9], leaf_hash(ENTRIES[9])).replace('"}', '", "extra": 1}'),
        export_line(9, ENTRIES[9], leaf_hash(ENTRIES[9])).replace("\n", "").replace("=", "") + "\n",
        '{"index": 9, "entry": 5, "leaf_hash": null}\n',
        b"\xff\xfe\n",
    ],
)
def test_malformed_lines_are_named_by_their_position(bad) -> None:
    lines: list[str | bytes] = list(export(ENTRIES))
    lines[1 + 9] = bad
    error = fails(lines)
    assert error.index == 9
    assert error.detail.startswith("entry 9: ")


# --- checkpoints and keys -----------------------------------------------------------------------


def test_forged_checkpoint_signature_is_rejected() -> None:
    note = signed(ENTRIES)
    body = format_body(Checkpoint(ORIGIN, N, root(ENTRIES)))
    forged = note.replace(body, format_body(Checkpoint(ORIGIN, N, root([*ENTRIES[:-1], b"x"]))))
    error = fails(export(ENTRIES), checkpoint=forged)
    assert error.index is None
    assert error.detail.startswith("checkpoint: signature does not verify")


def test_checkpoint_from_another_key_is_rejected() -> None:
    other = generate_signer(ORIGIN)
    note = sign_checkpoint(Checkpoint(ORIGIN, N, root(ENTRIES)), other)
    error = fails(export(ENTRIES), checkpoint=note)
    assert "no signature from the trusted key" in error.detail
    # ...and the right checkpoint checked against the wrong key fails the same way.
    assert "no signature" in fails(export(ENTRIES), key=other.verifier.encode()).detail


@pytest.mark.parametrize("key", ["", "garbage", KEY[:-4], KEY.replace("+", "-", 1)])
def test_malformed_key_is_rejected(key: str) -> None:
    assert fails(export(ENTRIES), key=key).detail.startswith("log key: ")


def test_checkpoint_naming_another_origin_is_rejected() -> None:
    other = Checkpoint("other.example/log", N, root(ENTRIES))
    note = sign_note(format_body(other), SIGNER)
    assert "another log origin" in fails(export(ENTRIES), checkpoint=note).detail


def test_export_from_another_log_is_rejected() -> None:
    lines = export(ENTRIES)
    lines[0] = export_header("other.example/log", N)
    assert "another log" in fails(lines).detail


@pytest.mark.parametrize(
    "header",
    [None, "\n", "{}\n", json.dumps({"format": "x", "origin": ORIGIN, "size": N}) + "\n"]
    + [
        json.dumps({"format": EXPORT_FORMAT, "origin": ORIGIN, "size": s}) + "\n" for s in (-1, "4")
    ],
)
def test_missing_or_bad_header_is_rejected(header: str | None) -> None:
    lines = export(ENTRIES)[1:]
    error = fails(lines if header is None else [header, *lines])
    assert error.index is None


# --- consistency with an older trusted checkpoint ----------------------------------------------


def test_trusted_checkpoint_of_a_different_history_is_inconsistent() -> None:
    rewritten = list(ENTRIES)
    rewritten[3] = entry(3, action="tip.purged")
    trusted = signed(rewritten, 20)  # what the auditor saw before the log rewrote entry 3
    error = fails(export(ENTRIES), trusted=trusted)
    assert error.index is None
    assert error.bad_range == (0, 20)
    assert "inconsistent" in error.detail


def test_export_altered_before_the_trusted_size_matches_neither_checkpoint() -> None:
    edited = list(ENTRIES)
    edited[3] = entry(3, action="tip.purged")
    error = fails(export(edited), trusted=signed(ENTRIES, 20))
    assert error.bad_range == (0, 20)
    assert "altered together with their stored leaf hashes" in error.detail


def test_trusted_checkpoint_larger_than_the_checkpoint_is_rejected() -> None:
    error = fails(export(ENTRIES), checkpoint=signed(ENTRIES, 20), trusted=signed(ENTRIES, 30))
    assert "larger" in error.detail


def test_two_checkpoints_of_the_same_size_with_different_roots_show_a_fork() -> None:
    other = list(ENTRIES)
    other[0] = entry(0, action="tip.purged")
    error = fails(export(ENTRIES), trusted=signed(other))
    assert "forked" in error.detail


def test_trusted_checkpoint_signed_by_another_key_is_rejected() -> None:
    trusted = sign_checkpoint(Checkpoint(ORIGIN, 10, root(ENTRIES[:10])), generate_signer(ORIGIN))
    assert fails(export(ENTRIES), trusted=trusted).detail.startswith("trusted checkpoint: ")


def test_truncation_below_the_trusted_size_is_named() -> None:
    error = fails(export(ENTRIES)[: 1 + 5], trusted=signed(ENTRIES, 10))
    assert error.index == 5


# --- streaming ------------------------------------------------------------------------------------


def test_memory_stays_flat_while_streaming_a_large_export() -> None:
    size = 5_000
    builder = TreeBuilder()

    def lines() -> Iterator[str]:
        yield export_header(ORIGIN, size)
        for i in range(size):
            e = entry(i)
            yield export_line(i, e, builder.append(e)[0][2])

    # The checkpoint is computed by a first pass; the second pass is the one measured.
    for _ in lines():
        pass
    note = sign_checkpoint(Checkpoint(ORIGIN, size, builder.root()), SIGNER)
    builder = TreeBuilder()
    tracemalloc.start()
    try:
        report = verify_export(lines(), checkpoint=note, key=KEY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.size == size
    assert peak < 256 * 1024  # a few hashes and one line at a time, not the log


# --- statements (issue 13) ------------------------------------------------------------------------


def test_an_export_in_the_first_format_still_verifies() -> None:
    lines = export(ENTRIES)
    lines[0] = json.dumps({"format": "probity-audit-export/1", "origin": ORIGIN, "size": N}) + "\n"
    report = verify_export(lines, checkpoint=signed(ENTRIES), key=KEY)
    assert report.size == N
    assert report.chain == (f"pinned key {ORIGIN}+{SIGNER.verifier.id:08x}",)


@pytest.mark.parametrize("count", [-1, "1", 10_001, None])
def test_a_bad_statement_count_is_refused(count: object) -> None:
    lines = export(ENTRIES)
    header = {"format": EXPORT_FORMAT, "origin": ORIGIN, "size": N, "statements": count}
    lines[0] = json.dumps(header) + "\n"
    assert "statement count" in fails(lines).detail


@pytest.mark.parametrize(
    "line",
    [
        '{"statement": 7}\n',
        '{"statement": "x", "more": 1}\n',
        "not json\n",
        json.dumps({"statement": "hello\n\n\u2014 probity.example/audit AAAA\n"}) + "\n",
    ],
)
def test_malformed_statement_lines_are_refused(line: str) -> None:
    lines = export(ENTRIES)
    lines[0] = export_header(ORIGIN, N, 1)
    assert fails([lines[0], line, *lines[1:]]).detail.startswith("statement 1: malformed")


def test_a_declared_statement_that_is_missing_is_refused() -> None:
    lines = export(ENTRIES)
    lines[0] = export_header(ORIGIN, N, 1)
    assert fails(lines).detail.startswith("statement 1: malformed")
