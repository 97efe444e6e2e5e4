"""age v1 rejections: every tampering, truncation or spec violation is a CryptoError."""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.age import (
    Decryptor,
    decrypt_bytes,
    decrypt_with_passphrase,
    encrypt_bytes,
    parse_header,
)
from crypto.age_format import Stanza, b64encode, build_header
from crypto.age_keys import ScryptRecipient
from crypto.age_stream import CHUNK_SIZE
from crypto.errors import CryptoError, DecryptionError, FormatError, NoIdentityError

from .util import (
    ALICE,
    BOB,
    CAROL,
    CHEAP_SCRYPT,
    ENC_CHUNK,
    craft_file,
    encrypt_to,
    header_lines,
    payload_start,
    replace_line,
    split_chunks,
    swap_b64_char,
)

# --- scrypt stanza rules -------------------------------------------------------------


def _scrypt_file(args: tuple[str, ...], body: bytes = bytes(32)) -> bytes:
    return build_header([Stanza(args, body)], bytes(16)).encode() + bytes(32)


SALT = b64encode(bytes(16))


@pytest.mark.parametrize(
    ("args", "body"),
    [
        (("scrypt", SALT), bytes(32)),
        (("scrypt", SALT, "10", "x"), bytes(32)),
        (("scrypt", b64encode(bytes(15)), "10"), bytes(32)),
        (("scrypt", SALT, "010"), bytes(32)),
        (("scrypt", SALT, "0"), bytes(32)),
        (("scrypt", SALT, "1e1"), bytes(32)),
        (("scrypt", SALT, "10"), bytes(31)),
        (("scrypt", SALT, "10"), bytes(33)),
        (("scrypt", SALT + "=", "10"), bytes(32)),
    ],
)
def test_malformed_scrypt_stanzas_are_format_errors(args: tuple[str, ...], body: bytes) -> None:
    with pytest.raises(FormatError):
        decrypt_with_passphrase(_scrypt_file(args, body), "pw")


@pytest.mark.parametrize("work_factor", ["23", "64", "9" * 5000])
def test_scrypt_work_factor_is_capped(work_factor: str) -> None:
    with pytest.raises(DecryptionError, match="limit"):
        decrypt_with_passphrase(_scrypt_file(("scrypt", SALT, work_factor)), "pw")
    with pytest.raises(DecryptionError, match="limit"):
        decrypt_with_passphrase(_scrypt_file(("scrypt", SALT, "12")), "pw", max_work_factor=11)


def test_scrypt_mixed_with_x25519_is_rejected_on_both_paths() -> None:
    scrypt = ScryptRecipient("pw", CHEAP_SCRYPT).wrap(bytes(16))
    ciphertext = craft_file(ALICE[1], [(b"x", True)], extra_stanzas=[scrypt])
    with pytest.raises(FormatError, match="only stanza"):
        decrypt_with_passphrase(ciphertext, "pw")
    with pytest.raises(FormatError, match="only stanza"):
        decrypt_bytes(ciphertext, [ALICE[0]])


# --- rejections: header --------------------------------------------------------------


def test_wrong_identity_is_no_identity_error() -> None:
    _, ciphertext = encrypt_to(ALICE)
    with pytest.raises(NoIdentityError):
        decrypt_bytes(ciphertext, [BOB[0], CAROL[0]])


def test_tampered_stanza_body_matches_no_identity() -> None:
    _, ciphertext = encrypt_to(ALICE)
    with pytest.raises(NoIdentityError):
        decrypt_bytes(
            replace_line(ciphertext, 2, swap_b64_char(header_lines(ciphertext)[2], 0)), [ALICE[0]]
        )


def test_tampered_ephemeral_share_matches_no_identity() -> None:
    _, ciphertext = encrypt_to(ALICE)
    line = header_lines(ciphertext)[1]
    with pytest.raises(NoIdentityError):
        decrypt_bytes(replace_line(ciphertext, 1, swap_b64_char(line, 10)), [ALICE[0]])


def test_tampered_mac_fails_before_the_payload() -> None:
    _, ciphertext = encrypt_to(ALICE)
    lines = header_lines(ciphertext)
    tampered = replace_line(ciphertext, len(lines) - 1, swap_b64_char(lines[-1], 4))
    end = parse_header(tampered)[1]
    dec = Decryptor([ALICE[0]])
    with pytest.raises(DecryptionError, match="MAC") as info:
        dec.update(tampered[:end])  # no payload needed to fail
    assert info.type is DecryptionError


def test_added_stanza_breaks_the_mac() -> None:
    _, ciphertext = encrypt_to(ALICE)
    end = parse_header(ciphertext)[1]
    lines = ciphertext[:end].split(b"\n")
    extra = Stanza(("example.com/enigma", "x"), b"body").encode().rstrip(b"\n").split(b"\n")
    tampered = b"\n".join([lines[0], *extra, *lines[1:]]) + ciphertext[end:]
    with pytest.raises(DecryptionError, match="MAC"):
        decrypt_bytes(tampered, [ALICE[0]])


def test_unknown_stanza_types_are_ignored() -> None:
    unknown = Stanza(("example.com/enigma", "42"), os.urandom(50))
    odd_x25519 = Stanza(("X25519-like",), b"")
    ciphertext = craft_file(ALICE[1], [(b"hello", True)], extra_stanzas=[unknown, odd_x25519])
    assert decrypt_bytes(ciphertext, [ALICE[0]]) == b"hello"


def test_non_canonical_base64_in_the_share_is_rejected() -> None:
    _, ciphertext = encrypt_to(ALICE)
    line = header_lines(ciphertext)[1]
    # 32 bytes -> 43 chars; the last one carries 2 zero bits: setting one is non-canonical.
    last = line[-1:]
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    bumped = alphabet[alphabet.index(last) ^ 1 : (alphabet.index(last) ^ 1) + 1]
    with pytest.raises(FormatError, match="non-canonical"):
        decrypt_bytes(replace_line(ciphertext, 1, line[:-1] + bumped), [ALICE[0]])


def test_padded_base64_is_rejected() -> None:
    _, ciphertext = encrypt_to(ALICE)
    lines = header_lines(ciphertext)
    with pytest.raises(FormatError):
        decrypt_bytes(replace_line(ciphertext, 1, lines[1] + b"="), [ALICE[0]])
    with pytest.raises(FormatError):
        decrypt_bytes(replace_line(ciphertext, len(lines) - 1, lines[-1] + b"="), [ALICE[0]])


X_SHARE = b64encode(bytes(range(32)))


@pytest.mark.parametrize(
    ("args", "body"),
    [
        (("X25519",), bytes(32)),
        (("X25519", X_SHARE, "extra"), bytes(32)),
        (("X25519", b64encode(bytes(31))), bytes(32)),
        (("X25519", b64encode(bytes(33))), bytes(32)),
        (("X25519", X_SHARE), bytes(31)),
        (("X25519", X_SHARE), bytes(48)),
    ],
)
def test_malformed_x25519_stanzas_are_format_errors(args: tuple[str, ...], body: bytes) -> None:
    ciphertext = build_header([Stanza(args, body)], bytes(16)).encode() + bytes(32)
    with pytest.raises(FormatError):
        decrypt_bytes(ciphertext, [ALICE[0]])


@pytest.mark.parametrize("share", [bytes(32), b"\x01" + bytes(31)])
def test_low_order_share_aborts(share: bytes) -> None:
    stanza = Stanza(("X25519", b64encode(share)), bytes(32))
    ciphertext = build_header([stanza], bytes(16)).encode() + bytes(32)
    with pytest.raises(DecryptionError, match="all zeros"):
        decrypt_bytes(ciphertext, [ALICE[0]])


def test_low_order_recipient_is_refused_when_encrypting() -> None:
    from crypto import bech32

    with pytest.raises(FormatError):
        encrypt_bytes(b"x", [bech32.encode("age", bytes(32))])


def test_oversized_header_is_rejected_when_streaming() -> None:
    dec = Decryptor([ALICE[0]])
    dec.update(b"age-encryption.org/v1\n-> X25519 ")
    for _ in range(15):
        dec.update(b"A" * 65536)  # under 1 MiB buffered: still waiting for the header end
    with pytest.raises(FormatError, match="too large"):
        dec.update(b"A" * 65536)


def test_not_an_age_file_fails_fast() -> None:
    with pytest.raises(FormatError):
        Decryptor([ALICE[0]]).update(b"PK\x03\x04")


@pytest.mark.parametrize("cut", [0, 10, 40, -1])
def test_truncated_header_is_a_decryption_error(cut: int) -> None:
    _, ciphertext = encrypt_to(ALICE)
    end = parse_header(ciphertext)[1]
    with pytest.raises(DecryptionError, match="truncated"):
        decrypt_bytes(ciphertext[: cut % end], [ALICE[0]])


@pytest.mark.parametrize("extra", [0, 8, 15, 16])
def test_missing_nonce_or_payload_is_truncation(extra: int) -> None:
    _, ciphertext = encrypt_to(ALICE)
    end = parse_header(ciphertext)[1]
    with pytest.raises(DecryptionError, match="truncated"):
        decrypt_bytes(ciphertext[: end + extra], [ALICE[0]])


# --- rejections: payload -------------------------------------------------------------


def test_tampered_chunk_is_rejected() -> None:
    _, ciphertext = encrypt_to(ALICE)
    for pos in [payload_start(ciphertext) - 1, payload_start(ciphertext) + 5, len(ciphertext) - 1]:
        tampered = bytearray(ciphertext)
        tampered[pos] ^= 0x01
        with pytest.raises(DecryptionError):
            decrypt_bytes(bytes(tampered), [ALICE[0]])


def test_dropping_the_last_chunk_is_truncation() -> None:
    _, ciphertext = encrypt_to(ALICE)  # 4 chunks, the last one short
    head, chunks = split_chunks(ciphertext)
    with pytest.raises(DecryptionError, match="truncated"):
        decrypt_bytes(head + b"".join(chunks[:-1]), [ALICE[0]])


@pytest.mark.parametrize("cut", [1, 17, ENC_CHUNK // 2, ENC_CHUNK - 1])
def test_cut_mid_chunk_is_rejected(cut: int) -> None:
    _, ciphertext = encrypt_to(ALICE)
    with pytest.raises(DecryptionError):
        decrypt_bytes(ciphertext[: payload_start(ciphertext) + ENC_CHUNK + cut], [ALICE[0]])


def test_cut_at_a_chunk_boundary_has_no_final_chunk() -> None:
    _, ciphertext = encrypt_to(ALICE, size=2 * CHUNK_SIZE)  # two full chunks, second final
    with pytest.raises(DecryptionError, match="truncated"):
        decrypt_bytes(ciphertext[: payload_start(ciphertext) + ENC_CHUNK], [ALICE[0]])


def test_reordered_chunks_are_rejected() -> None:
    _, ciphertext = encrypt_to(ALICE)
    head, chunks = split_chunks(ciphertext)
    chunks[0], chunks[1] = chunks[1], chunks[0]
    with pytest.raises(DecryptionError):
        decrypt_bytes(head + b"".join(chunks), [ALICE[0]])


@pytest.mark.parametrize("size", [10, CHUNK_SIZE, 2 * CHUNK_SIZE + 10])
def test_data_after_the_final_chunk_is_rejected(size: int) -> None:
    _, ciphertext = encrypt_to(ALICE, size=size)
    _, chunks = split_chunks(ciphertext)
    for extra in [b"\x00", chunks[-1], os.urandom(ENC_CHUNK)]:
        with pytest.raises(DecryptionError):
            decrypt_bytes(ciphertext + extra, [ALICE[0]])


def test_full_final_chunk_followed_by_data_says_so() -> None:
    _, ciphertext = encrypt_to(ALICE, size=CHUNK_SIZE)
    with pytest.raises(DecryptionError, match="after the final chunk"):
        decrypt_bytes(ciphertext + b"x", [ALICE[0]])


def test_empty_final_chunk_after_data_is_rejected() -> None:
    ciphertext = craft_file(ALICE[1], [(bytes(CHUNK_SIZE), False), (b"", True)])
    with pytest.raises(DecryptionError, match="empty final chunk"):
        decrypt_bytes(ciphertext, [ALICE[0]])


def test_crafted_valid_files_are_accepted() -> None:
    # The builder used for the rejection tests does produce valid files.
    assert decrypt_bytes(craft_file(ALICE[1], [(b"", True)]), [ALICE[0]]) == b""
    full = craft_file(ALICE[1], [(b"a" * CHUNK_SIZE, False), (b"b" * CHUNK_SIZE, True)])
    assert decrypt_bytes(full, [ALICE[0]]) == b"a" * CHUNK_SIZE + b"b" * CHUNK_SIZE


def test_short_non_final_chunk_is_rejected() -> None:
    ciphertext = craft_file(ALICE[1], [(b"short", False), (b"x", True)])
    with pytest.raises(DecryptionError):
        decrypt_bytes(ciphertext, [ALICE[0]])


def test_final_flag_on_a_middle_chunk_is_rejected() -> None:
    ciphertext = craft_file(ALICE[1], [(bytes(CHUNK_SIZE), True), (b"x", True)])
    with pytest.raises(DecryptionError, match="after the final chunk"):
        decrypt_bytes(ciphertext, [ALICE[0]])


# --- only CryptoError escapes --------------------------------------------------------

SMALL_PLAIN = os.urandom(2 * CHUNK_SIZE + 33)
SMALL_FILE = encrypt_bytes(SMALL_PLAIN, [ALICE[1], BOB[1]])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pos=st.integers(min_value=0), delta=st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_is_rejected_with_a_crypto_error(pos: int, delta: int) -> None:
    tampered = bytearray(SMALL_FILE)
    tampered[pos % len(tampered)] = (tampered[pos % len(tampered)] + delta) % 256
    with pytest.raises(CryptoError):
        decrypt_bytes(bytes(tampered), [ALICE[0]])


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0))
def test_any_truncation_is_rejected_with_a_crypto_error(cut: int) -> None:
    with pytest.raises(CryptoError):
        decrypt_bytes(SMALL_FILE[: cut % len(SMALL_FILE)], [ALICE[0]])


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_after_the_version_line_is_a_crypto_error(junk: bytes) -> None:
    with pytest.raises(CryptoError):
        decrypt_bytes(b"age-encryption.org/v1\n" + junk, [ALICE[0]])


def test_untouched_file_still_decrypts() -> None:
    assert decrypt_bytes(SMALL_FILE, [ALICE[0]]) == SMALL_PLAIN
