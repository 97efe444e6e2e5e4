"""The log's signed statements: a key rotation needs both keys, a restore the log key; any edit
or a missing signature is refused."""

from __future__ import annotations

import hashlib

import pytest

from crypto.errors import FormatError
from crypto.note import add_signature, generate_signer, sign_note, signature_keys, verify_note
from crypto.statement import (
    Restore,
    Rotation,
    TreeHead,
    format_restore,
    format_rotation,
    open_restore,
    open_rotation,
    parse_statement,
    sign_restore,
    sign_rotation,
)

ORIGIN = "probity.example/audit"
OLD = generate_signer(ORIGIN)
NEW = generate_signer(ORIGIN)
ROOT = hashlib.sha256(b"root").digest()
ROTATION = Rotation(ORIGIN, OLD.verifier, NEW.verifier, TreeHead(42, ROOT))
RESTORE = Restore(
    ORIGIN, TreeHead(120, ROOT), TreeHead(158, hashlib.sha256(b"x").digest()), "2026-12-03"
)


def test_a_rotation_is_signed_by_both_keys_and_reads_back() -> None:
    note = sign_rotation(ROTATION, OLD, NEW)
    assert note.startswith("probity-log-key-rotation/1\norigin probity.example/audit\nold ")
    assert signature_keys(note) == [(ORIGIN, OLD.verifier.id), (ORIGIN, NEW.verifier.id)]
    assert open_rotation(note) == ROTATION
    verify_note(note, OLD.verifier)
    verify_note(note, NEW.verifier)


def test_a_rotation_with_one_signature_is_refused() -> None:
    text = format_rotation(ROTATION)
    for signer in (OLD, NEW):
        with pytest.raises(FormatError):
            open_rotation(sign_note(text, signer))


def test_a_rotation_cosigned_by_another_key_is_refused() -> None:
    other = generate_signer(ORIGIN)
    with pytest.raises(FormatError):
        open_rotation(add_signature(sign_note(format_rotation(ROTATION), OLD), other))
    with pytest.raises(ValueError, match="signers"):
        sign_rotation(ROTATION, OLD, other)


@pytest.mark.parametrize(
    ("old", "new"),
    [("size 42\n", "size 43\n"), ("\nroot ", "\nroot  "), ("origin ", "origin x")],
)
def test_an_edited_rotation_is_refused(old: str, new: str) -> None:
    note = sign_rotation(ROTATION, OLD, NEW)
    with pytest.raises(FormatError):
        open_rotation(note.replace(old, new, 1))


def test_a_rotation_must_change_the_key_and_keep_the_name() -> None:
    with pytest.raises(FormatError):
        format_rotation(Rotation(ORIGIN, OLD.verifier, OLD.verifier, TreeHead(1, ROOT)))
    other = generate_signer("other.example/log")
    with pytest.raises(FormatError):
        format_rotation(Rotation(ORIGIN, OLD.verifier, other.verifier, TreeHead(1, ROOT)))


def test_a_restore_is_signed_by_the_log_key_and_reads_back() -> None:
    note = sign_restore(RESTORE, OLD)
    assert "\nbackup 120 " in note
    assert "\nlast 158 " in note
    assert "\ndate 2026-12-03\n" in note
    assert open_restore(note, OLD.verifier) == RESTORE
    unknown = Restore(ORIGIN, TreeHead(0, ROOT), None, "2026-12-03")
    assert "\nlast none\n" in format_restore(unknown)
    assert open_restore(sign_restore(unknown, OLD), OLD.verifier) == unknown


def test_a_restore_signed_by_another_key_or_edited_is_refused() -> None:
    note = sign_restore(RESTORE, NEW)
    with pytest.raises(FormatError):
        open_restore(note, OLD.verifier)
    good = sign_restore(RESTORE, OLD)
    with pytest.raises(FormatError):
        open_restore(good.replace("backup 120 ", "backup 121 "), OLD.verifier)


@pytest.mark.parametrize(
    "text",
    [
        "probity-log-restore/1\norigin a/b\nbackup 01 AAAA\nlast none\ndate 2026-12-03\n",
        "probity-log-restore/1\norigin a/b\nbackup 1 AAAA\nlast none\ndate 2026-12-03\n",
        "probity-log-restore/1\norigin a/b\nlast none\ndate 2026-12-03\n",
        "probity-log-restore/2\norigin a/b\n",
        "probity-log-key-rotation/1\norigin a/b\nold x\nnew y\nsize 1\nroot AAAA\n",
        "",
    ],
)
def test_malformed_statements_are_refused(text: str) -> None:
    with pytest.raises(FormatError):
        parse_statement(text)


def test_a_statement_parses_only_in_its_canonical_form() -> None:
    text = format_restore(RESTORE)
    assert parse_statement(text) == RESTORE
    with pytest.raises(FormatError):
        parse_statement(text.replace("date 2026-12-03", "date 2026-12-3"))
    with pytest.raises(FormatError):
        parse_statement(text + "extra line\n")
