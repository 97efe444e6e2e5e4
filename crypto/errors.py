"""Exceptions raised by the crypto package.

Every failure caused by the data being processed is a `CryptoError`; nothing from
`cryptography` (InvalidTag, ValueError) or `binascii` escapes. Misuse by the caller
(an empty recipient list, calling `update` after `finish`) raises `ValueError` or
`RuntimeError` as usual.

    CryptoError
    ├── FormatError           malformed input: bad encoding, bad header syntax, bad length
    │   └── CheckpointError   a signed note whose body is not a valid tlog checkpoint or proof
    ├── ProofError            a Merkle inclusion or consistency proof is invalid or out of range
    └── DecryptionError       authentication failed: tampered, truncated, wrong key or password
        └── NoIdentityError   none of the given identities could unwrap the file key

Messages never include keys, receipts, passphrases or content.
"""

__all__ = [
    "CheckpointError",
    "CryptoError",
    "DecryptionError",
    "FormatError",
    "NoIdentityError",
    "ProofError",
]


class CryptoError(Exception):
    """Base class for every error raised by `crypto`."""


class FormatError(CryptoError):
    """Input is malformed: bad encoding, syntax, length or parameters."""


class DecryptionError(CryptoError):
    """Authentication failed: the data was tampered with, truncated, or the key is wrong."""


class NoIdentityError(DecryptionError):
    """No identity (or passphrase) matched any recipient stanza of the file."""


class CheckpointError(FormatError):
    """A checkpoint (or tlog proof) body breaks the C2SP format or names another origin."""


class ProofError(CryptoError):
    """A Merkle proof does not verify, has a bad length, or asks for sizes out of range."""
