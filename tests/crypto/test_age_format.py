import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.age_format import (
    MAX_HEADER_SIZE,
    MAX_STANZAS,
    Header,
    Stanza,
    b64decode,
    b64encode,
    build_header,
    parse_header,
    verify_header_mac,
)
from crypto.errors import DecryptionError, FormatError

V1 = b"age-encryption.org/v1\n"
MAC_LINE = b"--- " + b64encode(bytes(32)).encode() + b"\n"


def test_b64_is_unpadded() -> None:
    assert b64encode(b"a") == "YQ"
    assert b64decode("YQ") == b"a"
    assert b64decode("") == b""


@pytest.mark.parametrize(
    "text",
    ["YQ==", "YQ=", "YR", "Y", "YQ\n", "Y Q", "YQ-_", "é"],
    ids=["padded", "half-padded", "trailing-bits", "one-char", "lf", "space", "url", "non-ascii"],
)
def test_b64_rejects_non_canonical_and_invalid(text: str) -> None:
    with pytest.raises(FormatError):
        b64decode(text)


@given(st.binary(max_size=300))
def test_b64_round_trip(data: bytes) -> None:
    assert b64decode(b64encode(data)) == data


@pytest.mark.parametrize("size", [0, 1, 47, 48, 49, 96, 200])
def test_stanza_body_wraps_at_64_columns_and_ends_with_a_short_line(size: int) -> None:
    lines = Stanza(("t", "a"), os.urandom(size)).encode().split(b"\n")[1:-1]
    assert all(len(line) == 64 for line in lines[:-1])
    assert len(lines[-1]) < 64


stanzas = st.lists(
    st.builds(
        Stanza,
        st.lists(
            st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
            min_size=1,
            max_size=4,
        ).map(tuple),
        st.binary(max_size=200),
    ),
    min_size=1,
    max_size=5,
)


@given(stanzas, st.binary(min_size=16, max_size=16))
def test_header_round_trip(stanza_list: list[Stanza], file_key: bytes) -> None:
    header = build_header(stanza_list, file_key)
    raw = header.encode()
    parsed, end = parse_header(raw + b"payload")
    assert parsed == header
    assert end == len(raw)
    verify_header_mac(parsed, file_key)


def test_mac_is_bound_to_the_file_key() -> None:
    header = build_header([Stanza(("x",), b"")], bytes(16))
    with pytest.raises(DecryptionError):
        verify_header_mac(header, b"\x01" * 16)


def test_parse_spec_example() -> None:
    raw = (
        b"age-encryption.org/v1\n"
        b"-> X25519 XEl0dJ6y3C7KZkgmgWUicg63EyXJiwBJW8PdYJ/cYBE\n"
        b"qRS0AMjdjPvZ/WT08U2KL4G+PIooA3hy38SvLpvaC1E\n"
        b"--- HK2NmOBN9Dpq0Gw6xMCuhFcQlQLvZ/wQUi/2scLG75s\n"
    )
    header, end = parse_header(raw)
    assert end == len(raw)
    assert header.stanzas[0].args == ("X25519", "XEl0dJ6y3C7KZkgmgWUicg63EyXJiwBJW8PdYJ/cYBE")
    assert len(header.stanzas[0].body) == 32
    assert header.encode() == raw


BODY = b"qRS0AMjdjPvZ/WT08U2KL4G+PIooA3hy38SvLpvaC1E\n"


@pytest.mark.parametrize(
    "raw",
    [
        V1 + MAC_LINE,  # no stanzas
        b"age-encryption.org/v2\n-> a\n\n" + MAC_LINE,
        V1 + b"-> a\n" + b"A" * 64 + b"\n" + MAC_LINE,  # full line without a short one
        V1 + b"-> a\n" + b"A" * 68 + b"\n\n" + MAC_LINE,  # body line too long
        V1 + b"->  a\n\n" + MAC_LINE,  # empty argument
        V1 + b"-> a b \n\n" + MAC_LINE,  # trailing space
        V1 + b"-> a\xc3\xa9\n\n" + MAC_LINE,  # non-ASCII argument
        V1 + b"-> a\tb\n\n" + MAC_LINE,  # control character
        V1 + b"-> a\n" + BODY.replace(b"\n", b"=\n") + MAC_LINE,  # padded body
        V1 + b"-> a\n\n" + MAC_LINE.replace(b"\n", b"=\n"),  # padded MAC
        V1 + b"-> a\n\n" + b"--- " + b64encode(bytes(31)).encode() + b"\n",  # short MAC
        V1 + b"-> a\n\n" + b"---" + b64encode(bytes(32)).encode() + b"\n",  # no space
        V1 + b"-> a\n\n" + b"--- " + b64encode(bytes(32)).encode() + b" x\n",
        V1 + b"-> a\n\nextra\n" + MAC_LINE,  # stray line
        V1.replace(b"\n", b"\r\n") + b"-> a\r\n\r\n" + MAC_LINE,  # CRLF
        V1 + b"-> a\r\n\n" + MAC_LINE,
        b"age-encryption.org/v1 \n-> a\n\n" + MAC_LINE,
        b"not age at all\n---\n",
        V1 + b"-> a\n",  # incomplete
        b"",
    ],
)
def test_malformed_headers_are_rejected(raw: bytes) -> None:
    with pytest.raises(FormatError):
        parse_header(raw)


def test_oversized_header_is_rejected_without_reading_it_all() -> None:
    raw = V1 + b"-> X25519 " + b"A" * (2 * MAX_HEADER_SIZE)
    with pytest.raises(FormatError, match="too large"):
        parse_header(raw + b"\n\n" + MAC_LINE)


def test_header_just_under_the_cap_is_accepted() -> None:
    # Bodies of many full lines are fine as long as the whole header fits.
    body = os.urandom(700_000)
    header = build_header([Stanza(("big",), body)], bytes(16))
    parsed, _ = parse_header(header.encode())
    assert parsed.stanzas[0].body == body


def test_too_many_stanzas_are_rejected() -> None:
    stanza = Stanza(("x",), b"")
    raw = Header((stanza,) * (MAX_STANZAS + 1), bytes(32)).encode()
    assert len(raw) < MAX_HEADER_SIZE
    with pytest.raises(FormatError, match="too many"):
        parse_header(raw)
    ok = Header((stanza,) * MAX_STANZAS, bytes(32)).encode()
    assert len(parse_header(ok)[0].stanzas) == MAX_STANZAS


def test_stanza_arguments_are_validated_on_construction() -> None:
    for args in [(), ("",), ("a b",), ("a\n",)]:
        with pytest.raises(FormatError):
            Stanza(args, b"")


def test_payload_bytes_that_look_like_a_header_end_are_not_header() -> None:
    header = build_header([Stanza(("x",), b"")], bytes(16)).encode()
    raw = header + b"\n--- fake\n"
    assert parse_header(raw)[1] == len(header)


def test_base64_module_agrees_with_stdlib() -> None:
    data = os.urandom(100)
    assert b64encode(data) == base64.b64encode(data).decode().rstrip("=")
