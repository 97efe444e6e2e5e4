import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import CryptoError, DecryptionError, FormatError
from crypto.keys import (
    KdfParams,
    SealedKey,
    derive_password_keys,
    generate_signing_key,
    needs_rehash,
    new_session_key,
    open_sealed,
    seal,
    seal_under_password,
    unseal_with_password,
)

# Cheap parameters: tests must stay fast; production values come from settings.
CHEAP = KdfParams(time_cost=1, memory_kib=64, lanes=1)
AAD = b"staff_user:42:identity"
SALT = bytes(range(16))


def test_kdf_params_json_round_trip() -> None:
    assert KdfParams.from_json(CHEAP.to_json()) == CHEAP
    assert KdfParams.from_dict(CHEAP.to_dict()) == CHEAP
    assert CHEAP.to_json() == '{"lanes":1,"memory_kib":64,"time_cost":1}'


@pytest.mark.parametrize(
    "text",
    [
        "{",
        "[]",
        '{"time_cost":1,"memory_kib":64}',
        '{"time_cost":1,"memory_kib":64,"lanes":1,"x":1}',
        '{"time_cost":true,"memory_kib":64,"lanes":1}',
        '{"time_cost":1.0,"memory_kib":64,"lanes":1}',
        '{"time_cost":0,"memory_kib":64,"lanes":1}',
        '{"time_cost":1,"memory_kib":7,"lanes":1}',
        '{"time_cost":1,"memory_kib":64,"lanes":9}',
        '{"time_cost":1,"memory_kib":99999999999,"lanes":1}',
    ],
)
def test_bad_kdf_params_are_format_errors(text: str) -> None:
    with pytest.raises(FormatError):
        KdfParams.from_json(text)


def test_password_keys_are_split() -> None:
    keys = derive_password_keys("pw", SALT, CHEAP)
    assert len(keys.seal_key) == 32
    assert len(keys.verifier) == 32
    assert keys.seal_key != keys.verifier
    assert keys == derive_password_keys("pw", SALT, CHEAP)
    assert keys.verifier != derive_password_keys("pw", bytes(16), CHEAP).verifier
    assert keys.verifier != derive_password_keys("pW", SALT, CHEAP).verifier
    other = KdfParams(time_cost=2, memory_kib=64, lanes=1)
    assert keys.verifier != derive_password_keys("pw", SALT, other).verifier
    assert keys.seal_key.hex() not in repr(keys)


def test_equivalent_unicode_passwords_derive_the_same_keys() -> None:
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert derive_password_keys(composed, SALT, CHEAP) == derive_password_keys(
        decomposed, SALT, CHEAP
    )


def test_salt_length_is_checked() -> None:
    with pytest.raises(FormatError):
        derive_password_keys("pw", b"short", CHEAP)


@given(st.binary(max_size=200), st.binary(max_size=50))
def test_seal_round_trip(plaintext: bytes, aad: bytes) -> None:
    key = new_session_key()
    blob = seal(key, plaintext, aad=aad)
    assert blob[0] == 1
    assert len(blob) == 1 + 12 + len(plaintext) + 16
    assert open_sealed(key, blob, aad=aad) == plaintext


def test_seal_uses_fresh_nonces() -> None:
    key = new_session_key()
    assert seal(key, b"x", aad=AAD) != seal(key, b"x", aad=AAD)


def test_open_sealed_rejects_tampering_wrong_key_and_wrong_aad() -> None:
    key = new_session_key()
    blob = seal(key, b"secret", aad=AAD)
    with pytest.raises(DecryptionError):
        open_sealed(key, blob, aad=b"staff_user:43:identity")
    with pytest.raises(DecryptionError):
        open_sealed(new_session_key(), blob, aad=AAD)
    for pos in range(1, len(blob)):
        tampered = bytearray(blob)
        tampered[pos] ^= 1
        with pytest.raises(DecryptionError):
            open_sealed(key, bytes(tampered), aad=AAD)
    with pytest.raises(FormatError):
        open_sealed(key, b"\x02" + blob[1:], aad=AAD)
    with pytest.raises(DecryptionError):
        open_sealed(key, blob[:20], aad=AAD)
    with pytest.raises(FormatError):
        seal(b"short", b"x", aad=AAD)


def test_sealed_key_round_trip_through_bytes() -> None:
    secret = b"AGE-SECRET-KEY-1..."
    record = seal_under_password(secret, "correct horse", CHEAP, aad=AAD)
    restored = SealedKey.deserialize(record.serialize())
    assert restored == record
    assert restored.params == CHEAP
    assert unseal_with_password(restored, "correct horse", aad=AAD) == secret
    assert secret not in record.serialize()
    assert record.blob.hex() not in repr(record)


def test_wrong_password_is_rejected_by_the_verifier() -> None:
    record = seal_under_password(b"s", "right", CHEAP, aad=AAD)
    with pytest.raises(DecryptionError, match="wrong password"):
        unseal_with_password(record, "wrong", aad=AAD)


def test_verifier_is_not_the_sealing_key() -> None:
    record = seal_under_password(b"s", "pw", CHEAP, aad=AAD)
    keys = derive_password_keys("pw", record.salt, CHEAP)
    assert record.verifier == keys.verifier
    with pytest.raises(DecryptionError):
        open_sealed(record.verifier, record.blob, aad=AAD)
    assert open_sealed(keys.seal_key, record.blob, aad=AAD) == b"s"


def test_sealed_record_is_bound_to_its_aad() -> None:
    record = seal_under_password(b"s", "pw", CHEAP, aad=AAD)
    with pytest.raises(DecryptionError):
        unseal_with_password(record, "pw", aad=b"staff_user:43:identity")


def test_tampered_record_is_rejected() -> None:
    data = bytearray(seal_under_password(b"s", "pw", CHEAP, aad=AAD).serialize())
    data[-1] ^= 1
    with pytest.raises(DecryptionError):
        unseal_with_password(SealedKey.deserialize(bytes(data)), "pw", aad=AAD)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=120))
def test_deserialize_garbage_is_a_crypto_error(data: bytes) -> None:
    # Refused with our error, never another exception; what is accepted is exactly a record.
    try:
        record = SealedKey.deserialize(data)
    except CryptoError:
        return
    assert record.serialize() == data


@pytest.mark.parametrize("cut", [0, 1, 13, 14, 30, 62])
def test_truncated_records_are_format_errors(cut: int) -> None:
    data = seal_under_password(b"s", "pw", CHEAP, aad=AAD).serialize()
    with pytest.raises(FormatError):
        SealedKey.deserialize(data[:cut])


def test_needs_rehash_when_params_change() -> None:
    record = seal_under_password(b"s", "pw", CHEAP, aad=AAD)
    assert not needs_rehash(record, CHEAP)
    assert needs_rehash(record, KdfParams(time_cost=2, memory_kib=64, lanes=1))


def test_session_keys_are_random() -> None:
    assert len(new_session_key()) == 32
    assert new_session_key() != new_session_key()


def test_signing_key_pair_is_raw_ed25519() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private, public = generate_signing_key()
    assert len(private) == 32
    assert len(public) == 32
    key = Ed25519PrivateKey.from_private_bytes(private)
    assert key.public_key().public_bytes_raw() == public
