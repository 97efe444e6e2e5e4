import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import bech32
from crypto.errors import FormatError

# BIP173 valid test vectors.
VALID = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11" + "q" * 82 + "c8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]

# BIP173 invalid test vectors (except the over-length one, which age allows).
INVALID = [
    "\x201nwldj5",
    "\x7f1axkwrx",
    "\x801eym55h",
    "pzry9x0s0muk",
    "1pzry9x0s0muk",
    "x1b4n0q5v",
    "li1dgmt3",
    "de1lg7wt\xff",
    "A1G7SGD8",
    "10a06t8",
    "1qzzfhee",
    "A12uEL5L",
]


@pytest.mark.parametrize("text", VALID)
def test_bip173_valid_vectors_decode_and_reencode(text: str) -> None:
    hrp, data = bech32.decode(text)
    assert bech32.encode(hrp, data) == text


@pytest.mark.parametrize("text", INVALID)
def test_bip173_invalid_vectors_are_rejected(text: str) -> None:
    with pytest.raises(FormatError):
        bech32.decode(text)


def test_no_length_limit() -> None:
    long = (
        "an84characterslonghumanreadablepartthatcontainsthenumber1"
        "andtheexcludedcharactersbio1569pvx"
    )
    assert bech32.decode(long) == (long[: long.rfind("1")], b"")
    hrp, data = bech32.decode(bech32.encode("age", bytes(range(200))))
    assert (hrp, data) == ("age", bytes(range(200)))


def test_age_spec_examples_decode_to_32_byte_keys() -> None:
    hrp, data = bech32.decode("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj")
    assert hrp == "age"
    assert len(data) == 32
    hrp, data = bech32.decode(
        "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
    )
    assert hrp == "AGE-SECRET-KEY-"
    assert data == b"B" * 32


def test_nonzero_padding_bits_are_rejected() -> None:
    # One byte is 8 bits -> two 5-bit groups with 2 padding bits; set one of them.
    values = [0, 1]
    checksum = bech32._create_checksum("a", values)
    text = "a1" + "".join(bech32._CHARSET[v] for v in values + checksum)
    with pytest.raises(FormatError):
        bech32.decode(text)


def test_excess_padding_is_rejected() -> None:
    values = [0, 0, 0]  # 15 bits: one byte plus 7 bits of padding
    checksum = bech32._create_checksum("a", values)
    with pytest.raises(FormatError):
        bech32.decode("a1" + "".join(bech32._CHARSET[v] for v in values + checksum))


def test_encode_rejects_bad_hrp() -> None:
    for hrp in ["", "Ab", "a b"]:
        with pytest.raises(FormatError):
            bech32.encode(hrp, b"x")


@given(
    hrp=st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20),
    data=st.binary(max_size=100),
    upper=st.booleans(),
)
def test_round_trip(hrp: str, data: bytes, upper: bool) -> None:
    hrp = ("x" + hrp).upper() if upper else "x" + hrp
    text = bech32.encode(hrp, data)
    assert text == (text.upper() if upper else text.lower())
    assert bech32.decode(text) == (hrp, data)
    # The other case decodes to the same data: checksums are over the lowercase form.
    assert bech32.decode(text.swapcase())[1] == data
