from crypto.errors import CryptoError, DecryptionError, FormatError, NoIdentityError


def test_hierarchy_matches_the_documented_tree() -> None:
    assert issubclass(FormatError, CryptoError)
    assert issubclass(DecryptionError, CryptoError)
    assert issubclass(NoIdentityError, DecryptionError)
    assert not issubclass(FormatError, DecryptionError)
    assert not issubclass(CryptoError, ValueError)
