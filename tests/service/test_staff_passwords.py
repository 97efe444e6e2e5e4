"""Staff passwords: long enough is not enough; common, repeated and sequential ones are refused."""

from __future__ import annotations

import pytest

from service.errors import InvalidInput
from service.staff.service import check_password
from tests.factories import STAFF_PASSWORD

GUESSABLE = [
    "aaaaaaaaaaaa",
    "abcabcabcabc",
    "123456789012",
    "qwertyuiopas",
    "Password1234",
    "passwordpassword",
    "iloveyou2026",
]


@pytest.mark.parametrize("password", GUESSABLE)
def test_common_repeated_and_sequential_passwords_are_refused(password: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_password(password, user_inputs=["rosa"])
    assert refused.value.fields == {"password": "guessable"}


@pytest.mark.parametrize(
    "password",
    [STAFF_PASSWORD, "correct horse battery", "my very own passphrase", "Tj7#qv9!Lm2@"],
)
def test_passphrases_and_random_passwords_pass(password: str) -> None:
    check_password(password, user_inputs=["rosa"])


def test_short_and_overlong_passwords_are_refused_with_their_own_codes() -> None:
    with pytest.raises(InvalidInput) as short:
        check_password("Tj7#qv9!")
    assert short.value.fields == {"password": "too_short"}
    with pytest.raises(InvalidInput) as long:
        check_password("x" * 2000)
    assert long.value.fields == {"password": "too_long"}


def test_a_very_long_strong_password_is_estimated_quickly_and_accepted() -> None:
    check_password("Tj7#qv9!Lm2@ a sentence only I know, " * 20)
