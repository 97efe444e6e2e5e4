import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.age import decrypt_bytes, encrypt_bytes, recipient_of
from crypto.errors import FormatError
from crypto.receipt import (
    Receipt,
    lookup_key,
    new_receipt,
    new_salt,
    parse_receipt,
    reporter_identity,
    reporter_recipient,
)

receipts = st.builds(
    Receipt, st.binary(min_size=5, max_size=5), st.binary(min_size=15, max_size=15)
)


def test_format_is_eight_groups_of_four_crockford_characters() -> None:
    text = new_receipt().format()
    assert re.fullmatch(r"([0-9A-HJKMNP-TV-Z]{4}-){7}[0-9A-HJKMNP-TV-Z]{4}", text)


def test_known_value() -> None:
    receipt = Receipt(bytes(5), bytes(14) + b"\x1f")
    assert receipt.format() == "0000-0000-0000-0000-0000-0000-0000-000Z"
    assert Receipt(b"\xff" * 5, b"\xff" * 15).format() == "-".join(["ZZZZ"] * 8)


def test_lookup_id_is_the_first_two_groups() -> None:
    receipt = new_receipt()
    prefix = receipt.format()[:9]
    other = Receipt(receipt.lookup_id, bytes(15))
    assert other.format()[:9] == prefix


@given(receipts)
def test_format_parse_round_trip(receipt: Receipt) -> None:
    assert parse_receipt(receipt.format()) == receipt


@given(receipts, st.data())
def test_parse_tolerates_case_spacing_and_lookalikes(receipt: Receipt, data: st.DataObject) -> None:
    out = []
    for char in receipt.format().replace("-", ""):
        if char == "0":
            char = data.draw(st.sampled_from("0Oo"))
        elif char == "1":
            char = data.draw(st.sampled_from("1IiLl"))
        elif data.draw(st.booleans()):
            char = char.lower()
        out.append(char + data.draw(st.sampled_from(["", "", "-", " ", "  ", "\t"])))
    assert parse_receipt(" " + "".join(out) + "\n") == receipt


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0000-0000-0000-0000-0000-0000-0000-000",  # 31 characters
        "0000-0000-0000-0000-0000-0000-0000-00000",  # 33 characters
        "0000-0000-0000-0000-0000-0000-0000-000U",  # U is not a Crockford digit
        "0000-0000-0000-0000-0000-0000-0000-000*",
        "0000-0000-0000-0000-0000-0000-0000-000\u0661",  # Arabic-Indic digit one
        "0000_0000_0000_0000_0000_0000_0000_0000",
    ],
)
def test_parse_rejects_bad_receipts(text: str) -> None:
    with pytest.raises(FormatError):
        parse_receipt(text)


def test_full_width_input_is_accepted() -> None:
    receipt = new_receipt()
    full_width = "".join(chr(ord(c) + 0xFEE0) if c != "-" else c for c in receipt.format())
    assert parse_receipt(full_width) == receipt


def test_non_ascii_lookalikes_are_rejected() -> None:
    text = new_receipt().format()
    with pytest.raises(FormatError):
        parse_receipt(text[:-1] + "\u0131")  # dotless i upper-cases to I


def test_errors_never_echo_the_receipt() -> None:
    text = new_receipt().format()[:-1] + "U"
    with pytest.raises(FormatError) as info:
        parse_receipt(text)
    assert text not in str(info.value)
    assert text.replace("-", "")[:8] not in str(info.value)


def test_repr_hides_the_secret() -> None:
    receipt = new_receipt()
    assert receipt.secret.hex() not in repr(receipt)
    assert str(receipt.secret) not in repr(receipt)
    assert receipt.format() not in repr(receipt)


def test_receipt_part_lengths_are_checked() -> None:
    with pytest.raises(FormatError):
        Receipt(bytes(4), bytes(15))
    with pytest.raises(FormatError):
        Receipt(bytes(5), bytes(16))


def test_lookup_key_is_stable_hex() -> None:
    receipt = Receipt(bytes.fromhex("0123456789"), bytes(15))
    assert lookup_key(receipt) == "0123456789"
    assert lookup_key(parse_receipt(receipt.format().lower())) == "0123456789"


def test_new_receipts_and_salts_are_random() -> None:
    assert new_receipt() != new_receipt()
    assert len(new_salt()) == 16
    assert new_salt() != new_salt()


def test_reporter_identity_is_deterministic_per_secret_and_salt() -> None:
    receipt, salt = new_receipt(), new_salt()
    identity, recipient = reporter_identity(receipt.secret, salt)
    assert recipient_of(identity) == recipient
    assert reporter_identity(receipt.secret, salt) == (identity, recipient)
    assert reporter_recipient(receipt.secret, salt) == recipient
    # The receipt typed back in by the reporter opens what was sent to the stored recipient.
    again = parse_receipt(receipt.format().lower().replace("-", " "))
    ciphertext = encrypt_bytes(b"reply", [recipient])
    assert decrypt_bytes(ciphertext, [reporter_identity(again.secret, salt)[0]]) == b"reply"
    assert reporter_identity(receipt.secret, new_salt())[1] != recipient
    assert reporter_identity(new_receipt().secret, salt)[1] != recipient


def test_reporter_identity_checks_lengths() -> None:
    with pytest.raises(FormatError):
        reporter_identity(bytes(14), new_salt())
    with pytest.raises(FormatError):
        reporter_identity(bytes(15), bytes(8))
