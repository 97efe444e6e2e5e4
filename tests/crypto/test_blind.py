import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.blind import (
    FILLER_WORDS,
    INDEX_SIZE,
    _normalise_unicode,
    blind_index,
    new_index_key,
    normalise,
    subject_indexes,
    token_index,
    tokens,
)
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


# Token sets: variants of one subject share them; subset matching is done by the service.

BRIDGE_UNIT_3 = ("3", "bridge", "unit")


@pytest.mark.parametrize(
    "variant",
    [
        "Bridge Unit 3",
        "Bridge Unit 03",
        "Bridge Unit No. 3",
        "Bridge Unit No.003",
        "bridge unit #3",
        "Unit 3 Bridge",
        "Unit 3rd, Bridge",
        "The Bridge Unit Nº 3",
        "Bridge Unit n.º 03",
        "Bridge Unit Número 3",
        "Bridge Unit3",
        "BRIDGE-UNIT-3",
        "Bridge Unit Num 3",
    ],
)
def test_unit_variants_share_a_token_set(variant: str) -> None:
    assert tokens("unit", variant) == BRIDGE_UNIT_3


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("unit", "Unidad de Puentes 3ra", ("3", "puentes", "unidad")),
        ("unit", "1era Compañía del Sector 07", ("1", "7", "compania", "sector")),
        ("name", "Juan de la Cruz", ("cruz", "juan")),
        ("name", "Sgt. Juan Pérez", ("juan", "perez")),
        ("name", "Comandante Pérez", ("perez",)),
        ("name", "Agente José Luis Ramírez", ("jose", "luis", "ramirez")),
        ("badge", "PC-01234", ("1234", "pc")),
        ("unit", "Squad A", ("a", "squad")),
        ("unit", "Robos y Asaltos", ("asaltos", "robos", "y")),
        ("unit", "Unit No", ("no", "unit")),  # a marker counts only before a number
        ("unit", "the", ()),
        ("badge", "0", ("0",)),
        ("unit", "Unit 000", ("0", "unit")),
    ],
)
def test_tokens_drop_filler_fold_numbers_and_keep_meaning(
    kind: str, value: str, expected: tuple[str, ...]
) -> None:
    assert tokens(kind, value) == expected


def test_titles_are_dropped_from_names_only() -> None:
    assert tokens("name", "Sergeant Major Soto") == ("major", "soto")
    assert tokens("unit", "Sergeant Major Soto") == ("major", "sergeant", "soto")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Bridge Unit 3", "Bridge Unit 4"),
        ("Bridge Unit 3", "Bridge Unit 31"),
        ("Bridge Unit 3", "Bridge Unit 30"),
        ("Unit 3A", "Unit 3B"),
        ("Squad A", "Squad B"),
    ],
)
def test_different_subjects_keep_different_token_sets(a: str, b: str) -> None:
    assert tokens("unit", a) != tokens("unit", b)
    assert not set(tokens("unit", a)) <= set(tokens("unit", b))


def test_subject_indexes_keep_the_whole_value_index_and_add_canonical_and_tokens() -> None:
    found = subject_indexes(KEY, "unit", "Unit No. 03 Bridge")
    # The whole-value index is unchanged, so tips and conflicts stored before still match.
    assert found.whole == blind_index(KEY, "unit", "Unit No. 03 Bridge")
    assert found.canonical == blind_index(KEY, "unit", "3 bridge unit")
    assert found.canonical == subject_indexes(KEY, "unit", "Bridge Unit 3").canonical
    assert found.tokens == tuple(sorted(token_index(KEY, "unit", t) for t in BRIDGE_UNIT_3))
    assert all(len(t) == INDEX_SIZE for t in found.tokens)


def test_token_indexes_are_separate_from_whole_value_indexes() -> None:
    assert token_index(KEY, "unit", "bridge") != blind_index(KEY, "unit", "bridge")
    assert token_index(KEY, "unit", "bridge") != token_index(KEY, "name", "bridge")
    expected = hmac.new(KEY, b"unit\x01bridge", hashlib.sha256).digest()[:16]
    assert token_index(KEY, "unit", "bridge") == expected


def test_subject_indexes_of_blank_values_are_refused() -> None:
    with pytest.raises(FormatError):
        subject_indexes(KEY, "unit", " -. ")
    only_filler = subject_indexes(KEY, "unit", "The")
    assert (only_filler.tokens, only_filler.canonical) == ((), only_filler.whole)


@given(st.text(max_size=80), st.sampled_from(["name", "badge", "unit"]))
def test_token_sets_are_canonical_and_stable(text: str, kind: str) -> None:
    found = tokens(kind, text)
    assert list(found) == sorted(set(found))
    assert tokens(kind, " ".join(found)) == found
    for token in found:
        assert token == normalise(token)
        assert token
        assert " " not in token
        assert not (token.isdigit() and len(token) > 1 and token.startswith("0"))
        assert token not in FILLER_WORDS


@given(st.permutations(["bridge", "unit", "03", "the", "de", "x7"]))
def test_word_order_never_matters(words: list[str]) -> None:
    assert tokens("unit", " ".join(words)) == ("3", "7", "bridge", "unit", "x")


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_the_ascii_fast_path_agrees_with_the_unicode_rule(text: str) -> None:
    assert normalise(text) == _normalise_unicode(text)


@given(st.binary(min_size=32, max_size=32), st.text(max_size=40))
def test_indexes_are_hmac_sha256_for_any_key_and_text(key: bytes, text: str) -> None:
    normal = normalise(text)
    if normal:
        message = b"name\x00" + normal.encode()
        assert blind_index(key, "name", text) == hmac.digest(key, message, "sha256")[:16]
