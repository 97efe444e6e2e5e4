"""Interoperability with the reference `age` CLI and with pyrage (rage), both directions."""

import hashlib
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from crypto.age import (
    decrypt_bytes,
    decrypt_stream,
    decrypt_with_passphrase,
    encrypt_bytes,
    encrypt_stream,
    encrypt_with_passphrase,
    generate_identity,
    parse_identities,
    recipient_of,
    rewrap_file,
)
from crypto.age_stream import CHUNK_SIZE
from crypto.errors import DecryptionError
from crypto.padding import unpad

from .util import ENC_CHUNK, craft_file, payload_start

pyrage = pytest.importorskip("pyrage")

SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1]
BIG = 5 * 1024 * 1024 + 123
AGE = shutil.which("age")
AGE_KEYGEN = shutil.which("age-keygen")
needs_age_cli = pytest.mark.skipif(
    AGE is None or AGE_KEYGEN is None,
    reason="age CLI not installed: apt-get install age (CI installs it)",
)


def age_cli(*args: str | Path, stdin: bytes = b"") -> bytes:
    assert AGE is not None
    return subprocess.run(
        [AGE, *map(str, args)], input=stdin, capture_output=True, check=True, timeout=60
    ).stdout


def age_keygen(path: Path) -> tuple[str, str]:
    """A CLI-generated key file; returns (identity, recipient) as the CLI reports them."""
    assert AGE_KEYGEN is not None
    subprocess.run([AGE_KEYGEN, "-o", str(path)], capture_output=True, check=True, timeout=60)
    recipient = subprocess.run(
        [AGE_KEYGEN, "-y", str(path)], capture_output=True, check=True, text=True, timeout=60
    ).stdout.strip()
    return parse_identities(path.read_text())[0], recipient


def write_key(path: Path, identity: str) -> Path:
    path.write_text(f"# test key\n{identity}\n")
    return path


# --- age CLI -------------------------------------------------------------------------


@needs_age_cli
@pytest.mark.parametrize("size", SIZES)
def test_age_cli_decrypts_our_files(tmp_path: Path, size: int) -> None:
    identity, recipient = generate_identity()
    plaintext = os.urandom(size)
    (tmp_path / "f.age").write_bytes(encrypt_bytes(plaintext, [recipient]))
    key = write_key(tmp_path / "key.txt", identity)
    assert age_cli("-d", "-i", key, tmp_path / "f.age") == plaintext


@needs_age_cli
@pytest.mark.parametrize("size", SIZES)
def test_we_decrypt_age_cli_files(tmp_path: Path, size: int) -> None:
    identity, recipient = age_keygen(tmp_path / "key.txt")
    plaintext = os.urandom(size)
    (tmp_path / "plain").write_bytes(plaintext)
    age_cli("-r", recipient, "-o", tmp_path / "f.age", tmp_path / "plain")
    assert decrypt_bytes((tmp_path / "f.age").read_bytes(), [identity]) == plaintext


@needs_age_cli
def test_key_derivation_matches_age_keygen(tmp_path: Path) -> None:
    identity, recipient = age_keygen(tmp_path / "theirs.txt")
    assert recipient_of(identity) == recipient
    ours, our_recipient = generate_identity()
    assert AGE_KEYGEN is not None
    shown = subprocess.run(
        [AGE_KEYGEN, "-y", str(write_key(tmp_path / "ours.txt", ours))],
        capture_output=True,
        check=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    assert shown == our_recipient


@needs_age_cli
def test_multi_mib_streams_both_ways(tmp_path: Path) -> None:
    identity, recipient = age_keygen(tmp_path / "key.txt")
    plaintext = os.urandom(BIG)
    (tmp_path / "plain").write_bytes(plaintext)
    with (tmp_path / "plain").open("rb") as src, (tmp_path / "ours.age").open("wb") as dst:
        written = encrypt_stream(src, dst, [recipient])
    assert written == (tmp_path / "ours.age").stat().st_size
    out = age_cli("-d", "-i", tmp_path / "key.txt", tmp_path / "ours.age")
    assert hashlib.sha256(out).digest() == hashlib.sha256(plaintext).digest()

    age_cli("-r", recipient, "-o", tmp_path / "theirs.age", tmp_path / "plain")
    with (tmp_path / "theirs.age").open("rb") as src, (tmp_path / "out").open("wb") as dst:
        assert decrypt_stream(src, dst, [identity]) == BIG
    assert (tmp_path / "out").read_bytes() == plaintext


@needs_age_cli
def test_rewrapped_header_decrypts_with_age_cli(tmp_path: Path) -> None:
    old_identity, old_recipient = age_keygen(tmp_path / "old.txt")
    new_identity, new_recipient = generate_identity()
    plaintext = os.urandom(3 * CHUNK_SIZE + 9)
    (tmp_path / "plain").write_bytes(plaintext)
    age_cli("-r", old_recipient, "-o", tmp_path / "f.age", tmp_path / "plain")
    rewrapped = rewrap_file((tmp_path / "f.age").read_bytes(), [old_identity], [new_recipient])
    (tmp_path / "g.age").write_bytes(rewrapped)
    key = write_key(tmp_path / "new.txt", new_identity)
    assert age_cli("-d", "-i", key, tmp_path / "g.age") == plaintext
    assert AGE is not None
    revoked = subprocess.run(
        [AGE, "-d", "-i", str(tmp_path / "old.txt"), str(tmp_path / "g.age")],
        capture_output=True,
        timeout=60,
    )
    assert revoked.returncode != 0


@needs_age_cli
def test_padded_files_are_plain_age_files(tmp_path: Path) -> None:
    identity, recipient = generate_identity()
    (tmp_path / "f.age").write_bytes(encrypt_bytes(b"short secret", [recipient], pad=True))
    out = age_cli("-d", "-i", write_key(tmp_path / "k", identity), tmp_path / "f.age")
    assert unpad(out) == b"short secret"


@needs_age_cli
@pytest.mark.parametrize(
    "mangle", ["drop-final", "cut-at-boundary", "empty-final", "extended", "final-in-middle"]
)
def test_age_cli_agrees_with_our_rejections(tmp_path: Path, mangle: str) -> None:
    identity, recipient = generate_identity()
    full = bytes(CHUNK_SIZE)
    if mangle == "drop-final":
        bad = encrypt_bytes(os.urandom(2 * CHUNK_SIZE + 1), [recipient])
        bad = bad[: payload_start(bad) + 2 * ENC_CHUNK]
    elif mangle == "cut-at-boundary":
        bad = craft_file(recipient, [(full, False), (full, False)])
    elif mangle == "empty-final":
        bad = craft_file(recipient, [(full, False), (b"", True)])
    elif mangle == "extended":
        bad = craft_file(recipient, [(b"x", True)]) + b"more"
    else:
        bad = craft_file(recipient, [(full, True), (b"x", True)])
    (tmp_path / "bad.age").write_bytes(bad)
    assert AGE is not None
    result = subprocess.run(
        [AGE, "-d", "-i", str(write_key(tmp_path / "k", identity)), str(tmp_path / "bad.age")],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode != 0
    with pytest.raises(DecryptionError, match=r"chunk|truncated"):
        decrypt_bytes(bad, [identity])


# --- pyrage --------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_pyrage_decrypts_our_files(size: int) -> None:
    theirs = pyrage.x25519.Identity.generate()
    plaintext = os.urandom(size)
    _, other = generate_identity()
    ciphertext = encrypt_bytes(plaintext, [other, str(theirs.to_public())])
    assert pyrage.decrypt(ciphertext, [theirs]) == plaintext


@pytest.mark.parametrize("size", SIZES)
def test_we_decrypt_pyrage_files(size: int) -> None:
    identity, recipient = generate_identity()
    plaintext = os.urandom(size)
    extra = pyrage.x25519.Identity.generate().to_public()
    recipients = [extra, pyrage.x25519.Recipient.from_str(recipient)]
    assert decrypt_bytes(pyrage.encrypt(plaintext, recipients), [identity]) == plaintext


def test_keys_agree_with_pyrage() -> None:
    identity, recipient = generate_identity()
    assert str(pyrage.x25519.Identity.from_str(identity).to_public()) == recipient
    theirs = pyrage.x25519.Identity.generate()
    assert recipient_of(str(theirs)) == str(theirs.to_public())


def test_multi_mib_stream_with_pyrage() -> None:
    theirs = pyrage.x25519.Identity.generate()
    plaintext = os.urandom(BIG)
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), out, [str(theirs.to_public())])
    assert pyrage.decrypt(out.getvalue(), [theirs]) == plaintext
    back = io.BytesIO()
    decrypt_stream(io.BytesIO(pyrage.encrypt(plaintext, [theirs.to_public()])), back, [str(theirs)])
    assert back.getvalue() == plaintext


def test_rewrapped_header_decrypts_with_pyrage() -> None:
    identity, recipient = generate_identity()
    theirs = pyrage.x25519.Identity.generate()
    plaintext = os.urandom(CHUNK_SIZE + 1)
    rewrapped = rewrap_file(
        encrypt_bytes(plaintext, [recipient]), [identity], [str(theirs.to_public())]
    )
    assert pyrage.decrypt(rewrapped, [theirs]) == plaintext


def test_pyrage_decrypts_our_passphrase_files() -> None:
    ours = encrypt_with_passphrase(b"recovery key", "hunter2 hunter2", work_factor=10)
    assert pyrage.passphrase.decrypt(ours, "hunter2 hunter2") == b"recovery key"


def test_we_decrypt_pyrage_passphrase_files() -> None:
    # Slowest test (a few seconds): pyrage calibrates its scrypt work factor to ~1 s
    # on its side, and the default cap of 22 must admit what it picks.
    theirs = pyrage.passphrase.encrypt(b"recovery key", "hunter2 hunter2")
    assert decrypt_with_passphrase(theirs, "hunter2 hunter2") == b"recovery key"
