"""age v1 files: keys, round trips, the push and stream APIs, re-wrapping, passphrases."""

import hashlib
import io
import os
import tracemalloc
from typing import BinaryIO, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.age import (
    Decryptor,
    Encryptor,
    decrypt_bytes,
    decrypt_stream,
    decrypt_with_passphrase,
    encrypt_bytes,
    encrypt_stream,
    encrypt_with_passphrase,
    generate_identity,
    identity_from_bytes,
    parse_header,
    parse_identities,
    recipient_of,
    rewrap,
    rewrap_file,
)
from crypto.age_keys import ScryptRecipient
from crypto.age_stream import CHUNK_SIZE
from crypto.errors import DecryptionError, FormatError, NoIdentityError
from crypto.padding import padme_length

from .util import (
    ALICE,
    BOB,
    CAROL,
    CHEAP_SCRYPT,
    ENC_CHUNK,
    encrypt_to,
    header_lines,
    payload_start,
    replace_line,
    split_at,
    swap_b64_char,
)

SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 5]


# --- keys ----------------------------------------------------------------------------


def test_generated_keys_have_age_forms() -> None:
    identity, recipient = generate_identity()
    assert identity.startswith("AGE-SECRET-KEY-1")
    assert identity == identity.upper()
    assert recipient.startswith("age1")
    assert len(recipient) == 62
    assert recipient_of(identity) == recipient


def test_identity_from_bytes_is_deterministic() -> None:
    assert identity_from_bytes(b"\x07" * 32) == identity_from_bytes(b"\x07" * 32)
    with pytest.raises(FormatError):
        identity_from_bytes(b"short")


@pytest.mark.parametrize(
    "text",
    ["age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj", "AGE-SECRET-KEY-1", "x"],
)
def test_recipient_of_rejects_non_identities(text: str) -> None:
    with pytest.raises(FormatError):
        recipient_of(text)


def test_identity_is_case_sensitive_like_age() -> None:
    with pytest.raises(FormatError):
        recipient_of(ALICE[0].lower())


# The last character changed (its checksum breaks): a random key may already end in "q".
_BROKEN_CHECKSUM = ALICE[1][:-1] + ("p" if ALICE[1].endswith("q") else "q")


@pytest.mark.parametrize("bad", ["AGE-SECRET-KEY-1QQ", ALICE[0], _BROKEN_CHECKSUM, ""])
def test_malformed_recipients_are_format_errors(bad: str) -> None:
    with pytest.raises(FormatError):
        encrypt_bytes(b"x", [bad])


def test_encrypt_needs_recipients_as_a_list() -> None:
    with pytest.raises(ValueError, match="at least one"):
        encrypt_bytes(b"x", [])
    with pytest.raises(TypeError):
        encrypt_bytes(b"x", ALICE[1])


def test_parse_identities_skips_comments() -> None:
    text = f"# created: today\n# public key: {ALICE[1]}\n{ALICE[0]}\n\n"
    assert parse_identities(text) == [ALICE[0]]


def test_identity_repr_never_shows_the_secret() -> None:
    from crypto.age_keys import X25519Identity

    identity = X25519Identity.from_str(ALICE[0])
    assert ALICE[0] not in repr(identity)
    assert ALICE[1] in repr(identity)


# --- round trips ---------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_at_chunk_boundaries(size: int) -> None:
    plaintext = os.urandom(size)
    ciphertext = encrypt_bytes(plaintext, [ALICE[1]])
    chunks = max(1, -(-size // CHUNK_SIZE))
    assert len(ciphertext) == payload_start(ciphertext) + size + 16 * chunks
    assert decrypt_bytes(ciphertext, [ALICE[0]]) == plaintext


@settings(max_examples=25, deadline=None)
@given(
    data=st.binary(max_size=3 * CHUNK_SIZE),
    count=st.integers(min_value=1, max_value=5),
    which=st.integers(min_value=0, max_value=4),
)
def test_every_recipient_can_decrypt(data: bytes, count: int, which: int) -> None:
    pairs = [generate_identity() for _ in range(count)]
    ciphertext = encrypt_bytes(data, [r for _, r in pairs])
    assert len(parse_header(ciphertext)[0].stanzas) == count
    assert decrypt_bytes(ciphertext, [pairs[which % count][0]]) == data
    assert decrypt_bytes(ciphertext, [BOB[0], pairs[which % count][0]]) == data


@settings(max_examples=30, deadline=None)
@given(
    size=st.sampled_from([0, 1, 100, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE + 7]),
    cuts=st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=12),
    pad=st.booleans(),
    call_start=st.booleans(),
)
def test_push_api_with_arbitrary_pieces(
    size: int, cuts: list[int], pad: bool, call_start: bool
) -> None:
    plaintext = os.urandom(size)
    enc = Encryptor([ALICE[1]], pad=pad)
    out = [enc.start()] if call_start else []
    out += [enc.update(p) for p in split_at(plaintext, cuts)]
    ciphertext = b"".join([*out, enc.finish()])
    assert ciphertext.startswith(b"age-encryption.org/v1\n")
    dec = Decryptor([ALICE[0]], pad=pad)
    result = [dec.update(p) for p in split_at(ciphertext, cuts)]
    assert b"".join([*result, dec.finish()]) == plaintext


def test_encryptor_holds_back_exactly_the_last_full_chunk() -> None:
    enc = Encryptor([ALICE[1]])
    enc.start()
    assert enc.update(bytes(CHUNK_SIZE)) == b""  # might be the final chunk
    assert len(enc.update(b"x")) == ENC_CHUNK  # now it cannot be
    assert len(enc.finish()) == 1 + 16


def test_push_api_output_stays_bounded() -> None:
    enc = Encryptor([ALICE[1]])
    dec = Decryptor([ALICE[0]])
    dec.update(enc.start())
    piece = os.urandom(CHUNK_SIZE)
    for _ in range(40):
        out = enc.update(piece)
        assert len(out) <= ENC_CHUNK
        assert len(dec.update(out)) <= CHUNK_SIZE
    assert len(dec.update(enc.finish())) == CHUNK_SIZE
    assert len(dec.finish()) == CHUNK_SIZE


def test_decryptor_accepts_one_byte_at_a_time() -> None:
    plaintext, ciphertext = encrypt_to(ALICE, size=300)
    dec = Decryptor([ALICE[0]])
    out = b"".join(dec.update(ciphertext[i : i + 1]) for i in range(len(ciphertext)))
    assert out + dec.finish() == plaintext


def test_start_cannot_follow_output() -> None:
    enc = Encryptor([ALICE[1]])
    enc.update(b"x")
    with pytest.raises(RuntimeError):
        enc.start()


def test_finished_objects_refuse_more_work() -> None:
    enc = Encryptor([ALICE[1]])
    ciphertext = enc.update(b"x") + enc.finish()
    with pytest.raises(RuntimeError):
        enc.update(b"y")
    dec = Decryptor([ALICE[0]])
    dec.update(ciphertext)
    dec.finish()
    with pytest.raises(RuntimeError):
        dec.update(b"")


def test_decryptor_refuses_use_after_an_error() -> None:
    dec = Decryptor([BOB[0]])
    with pytest.raises(NoIdentityError):
        dec.update(encrypt_bytes(b"x", [ALICE[1]]))
    with pytest.raises(RuntimeError):
        dec.finish()


def test_decryptor_exposes_the_header() -> None:
    dec = Decryptor([ALICE[0]])
    assert dec.header is None
    ciphertext = encrypt_bytes(b"x", [ALICE[1]])
    dec.update(ciphertext)
    assert dec.header == parse_header(ciphertext)[0]


class HashSink(io.RawIOBase):
    """A write-only stream that keeps a digest, not the data, for memory measurements."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, b):
        self.hash.update(b)
        return len(b)


@pytest.mark.parametrize("pad", [False, True])
def test_streams_round_trip_in_bounded_memory(pad: bool) -> None:
    plaintext = os.urandom(5 * 1024 * 1024 + 3)
    ciphertext = io.BytesIO()
    tracemalloc.start()
    try:
        written = encrypt_stream(io.BytesIO(plaintext), ciphertext, [ALICE[1]], pad=pad)
        enc_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        sink = HashSink()
        count = decrypt_stream(
            io.BytesIO(ciphertext.getvalue()), cast(BinaryIO, sink), [ALICE[0]], pad=pad
        )
        # The BytesIO copy above is allocated inside the window, so allow for it.
        dec_peak = tracemalloc.get_traced_memory()[1] - written
    finally:
        tracemalloc.stop()
    assert written == len(ciphertext.getvalue())
    assert count == len(plaintext)
    assert sink.hash.digest() == hashlib.sha256(plaintext).digest()
    # Output BytesIO grows to the full ciphertext; beyond that, only a few chunks.
    assert enc_peak - written < 1 << 20
    assert dec_peak < 1 << 20
    if pad:
        assert written > len(plaintext) + 16 * 81 + 1


def test_padding_hides_the_exact_length() -> None:
    lengths = {len(encrypt_bytes(os.urandom(n), [ALICE[1]], pad=True)) for n in range(1000, 1010)}
    assert len(lengths) == 1
    ciphertext = encrypt_bytes(b"a" * 1000, [ALICE[1]], pad=True)
    assert len(ciphertext) - payload_start(ciphertext) - 16 == padme_length(1001)
    assert decrypt_bytes(ciphertext, [ALICE[0]], pad=True) == b"a" * 1000
    assert decrypt_bytes(ciphertext, [ALICE[0]]).startswith(b"a" * 1000 + b"\x80")


def test_unpadded_file_read_with_pad_is_a_format_error() -> None:
    with pytest.raises(FormatError):
        decrypt_bytes(encrypt_bytes(b"abc", [ALICE[1]]), [ALICE[0]], pad=True)


# --- rewrap --------------------------------------------------------------------------


def test_rewrap_changes_only_the_header() -> None:
    plaintext, ciphertext = encrypt_to(ALICE, BOB)
    new = rewrap_file(ciphertext, [BOB[0]], [BOB[1], CAROL[1]])
    old_end, new_end = parse_header(ciphertext)[1], parse_header(new)[1]
    assert new[new_end:] == ciphertext[old_end:]
    assert decrypt_bytes(new, [BOB[0]]) == plaintext
    assert decrypt_bytes(new, [CAROL[0]]) == plaintext
    with pytest.raises(NoIdentityError):
        decrypt_bytes(new, [ALICE[0]])


def test_rewrap_accepts_a_header_alone() -> None:
    plaintext, ciphertext = encrypt_to(ALICE)
    end = parse_header(ciphertext)[1]
    header = rewrap(ciphertext[:end], [ALICE[0]], [CAROL[1]])
    assert parse_header(header)[1] == len(header)
    assert decrypt_bytes(header + ciphertext[end:], [CAROL[0]]) == plaintext
    again = rewrap(header, [CAROL[0]], [BOB[1]])  # a rewrapped header rewraps again
    assert decrypt_bytes(again + ciphertext[end:], [BOB[0]]) == plaintext


def test_rewrap_needs_a_matching_identity_and_a_valid_mac() -> None:
    _, ciphertext = encrypt_to(ALICE)
    with pytest.raises(NoIdentityError):
        rewrap_file(ciphertext, [BOB[0]], [BOB[1]])
    lines = header_lines(ciphertext)
    bad_mac = replace_line(ciphertext, len(lines) - 1, swap_b64_char(lines[-1], 4))
    with pytest.raises(DecryptionError, match="MAC"):
        rewrap_file(bad_mac, [ALICE[0]], [BOB[1]])


def test_rewrap_to_a_passphrase() -> None:
    plaintext, ciphertext = encrypt_to(ALICE, size=10)
    new = rewrap_file(ciphertext, [ALICE[0]], [ScryptRecipient("pw", CHEAP_SCRYPT)])
    assert decrypt_with_passphrase(new, "pw") == plaintext


# --- passphrase ----------------------------------------------------------------------


def test_passphrase_round_trip() -> None:
    ciphertext = encrypt_with_passphrase(b"recovery", "correct horse", work_factor=CHEAP_SCRYPT)
    stanza = parse_header(ciphertext)[0].stanzas[0]
    assert stanza.type == "scrypt"
    assert stanza.args[2] == str(CHEAP_SCRYPT)
    assert decrypt_with_passphrase(ciphertext, "correct horse") == b"recovery"


def test_wrong_passphrase_is_rejected() -> None:
    ciphertext = encrypt_with_passphrase(b"x", "right", work_factor=CHEAP_SCRYPT)
    with pytest.raises(NoIdentityError, match="passphrase"):
        decrypt_with_passphrase(ciphertext, "wrong")


def test_passphrase_cannot_open_an_x25519_file_and_vice_versa() -> None:
    _, ciphertext = encrypt_to(ALICE, size=1)
    with pytest.raises(NoIdentityError):
        decrypt_with_passphrase(ciphertext, "pw")
    with pytest.raises(NoIdentityError):
        decrypt_bytes(encrypt_with_passphrase(b"x", "pw", work_factor=CHEAP_SCRYPT), [ALICE[0]])


def test_passphrase_recipient_must_be_alone() -> None:
    with pytest.raises(ValueError, match="only recipient"):
        encrypt_bytes(b"x", [ScryptRecipient("pw", CHEAP_SCRYPT), ALICE[1]])
    with pytest.raises(ValueError, match="empty"):
        encrypt_with_passphrase(b"x", "")
    with pytest.raises(ValueError, match="work factor"):
        encrypt_with_passphrase(b"x", "pw", work_factor=0)
