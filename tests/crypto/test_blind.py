import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.blind import INDEX_SIZE, blind_index, new_index_key, normalise
from crypto.errors import FormatError

KEY = bytes(range(32))


@pytest.mark.parametrize(
    "variants",
    [
        ["José  Pérez", "jose perez", "JOSE-PEREZ", " Jose\tPerez ", "JOSÉ PÉREZ", "José.Pérez"],
        ["O'Brien", "OBrien", "o\u2019brien", "O\u02bcBRIEN"],
        ["PC-1234", "pc 1234", "PC 1234", "\uff30\uff23\uff0d\uff11\uff12\uff13\uff14"],
        ["Søren Ørsted", "Soren Orsted", "SØREN ØRSTED"],
        ["Straße", "STRASSE", "strasse"],
        ["İlker", "ilker", "Ilker"],
        ["Unit #7", "unit 7", "Unit (7)"],
        ["Zoë Ångström", "zoe angstrom"],
        ["Łukasz", "Lukasz"],
    ],
)
def test_equivalent_spellings_share_an_index(variants: list[str]) -> None:
    assert len({normalise(v) for v in variants}) == 1
    assert len({blind_index(KEY, "name", v) for v in variants}) == 1


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Jose Perez", "Jose Peres"),
        ("PC1234", "PC 1234"),  # word boundaries are kept (documented)
        ("Ann Ewing", "Anne Wing"),
        ("Unit 7", "Unit 17"),
    ],
)
def test_different_values_stay_different(a: str, b: str) -> None:
    assert blind_index(KEY, "name", a) != blind_index(KEY, "name", b)


def test_kind_separates_domains() -> None:
    assert blind_index(KEY, "name", "Central") != blind_index(KEY, "unit", "Central")


def test_index_depends_on_the_key() -> None:
    assert blind_index(KEY, "badge", "1234") != blind_index(new_index_key(), "badge", "1234")


def test_index_is_truncated_hmac_sha256() -> None:
    import hashlib
    import hmac

    expected = hmac.new(KEY, b"badge\x00pc 1234", hashlib.sha256).digest()[:16]
    assert blind_index(KEY, "badge", "PC-1234") == expected
    assert len(expected) == INDEX_SIZE


@pytest.mark.parametrize("value", ["", "   ", "-'.", "\u0301"])
def test_blank_values_are_rejected(value: str) -> None:
    with pytest.raises(FormatError):
        blind_index(KEY, "name", value)


@pytest.mark.parametrize("kind", ["", "Name", "na\x00me", "name ", "nämé"])
def test_bad_kinds_are_rejected(kind: str) -> None:
    with pytest.raises(FormatError):
        blind_index(KEY, kind, "x")


def test_key_length_is_checked() -> None:
    with pytest.raises(FormatError):
        blind_index(b"short", "name", "x")
    assert len(new_index_key()) == 32


@given(st.text(max_size=60))
def test_normalise_is_idempotent_and_clean(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert once == once.strip()
    assert "  " not in once
    assert all(c.isalnum() or c == " " for c in once)


@given(st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=30))
def test_case_never_matters(text: str) -> None:
    if normalise(text):
        assert normalise(text.upper()) == normalise(text.lower()) == normalise(text)
