"""age v1 files (c2sp.org/age): X25519 and passphrase recipients, streaming, re-wrapping.

Output is a standard binary age file (no ASCII armor) that the `age` CLI and other
implementations read and write. With `pad=True` the plaintext is Padmé-padded inside
the encryption (see `crypto.padding`); the reader must then also pass `pad=True`.

Streaming decryption releases plaintext before the final chunk is verified; callers
must discard everything written if `finish` (or `decrypt_stream`) raises.
"""

import os
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from .age_format import (
    MAX_HEADER_SIZE,
    Header,
    Stanza,
    build_header,
    check_header_prefix,
    find_header_end,
    parse_header,
    verify_header_mac,
)
from .age_keys import (
    FILE_KEY_SIZE,
    Identity,
    Recipient,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    X25519Recipient,
    parse_identities,
)
from .age_stream import CHUNK_SIZE, NONCE_SIZE, PayloadDecryptor, PayloadEncryptor, payload_key
from .errors import CryptoError, DecryptionError, FormatError, NoIdentityError
from .padding import Padder, Unpadder

__all__ = [
    "Decryptor",
    "Encryptor",
    "Header",
    "Identity",
    "Recipient",
    "ScryptIdentity",
    "ScryptRecipient",
    "Stanza",
    "decrypt_bytes",
    "decrypt_stream",
    "decrypt_with_passphrase",
    "encrypt_bytes",
    "encrypt_stream",
    "encrypt_with_passphrase",
    "generate_identity",
    "identity_from_bytes",
    "parse_header",
    "parse_identities",
    "recipient_from_bytes",
    "recipient_of",
    "rewrap",
    "rewrap_file",
]


def generate_identity() -> tuple[str, str]:
    """A new X25519 key pair as (`AGE-SECRET-KEY-1...`, `age1...`)."""
    identity = X25519Identity.generate()
    return identity.to_str(), str(identity.recipient())


def identity_from_bytes(scalar: bytes) -> tuple[str, str]:
    """The key pair for a given 32-byte X25519 scalar (e.g. derived by a KDF)."""
    identity = X25519Identity(scalar)
    return identity.to_str(), str(identity.recipient())


def recipient_from_bytes(scalar: bytes) -> str:
    """The `age1...` recipient for a 32-byte X25519 scalar."""
    return str(X25519Identity(scalar).recipient())


def recipient_of(identity: str) -> str:
    """The `age1...` recipient of an `AGE-SECRET-KEY-1...` identity."""
    return str(X25519Identity.from_str(identity).recipient())


def _recipients(recipients: Sequence[str | Recipient]) -> list[Recipient]:
    if isinstance(recipients, str):
        raise TypeError("recipients must be a sequence of recipients, not a string")
    if not recipients:
        raise ValueError("at least one recipient is required")
    parsed = [X25519Recipient.from_str(r) if isinstance(r, str) else r for r in recipients]
    if len(parsed) > 1 and any(isinstance(r, ScryptRecipient) for r in parsed):
        raise ValueError("a passphrase recipient must be the only recipient")
    return parsed


def _identities(identities: Sequence[str | Identity]) -> list[Identity]:
    if isinstance(identities, str):
        raise TypeError("identities must be a sequence of identities, not a string")
    if not identities:
        raise ValueError("at least one identity is required")
    return [X25519Identity.from_str(i) if isinstance(i, str) else i for i in identities]


def _new_header(file_key: bytes, recipients: Sequence[str | Recipient]) -> bytes:
    stanzas = [r.wrap(file_key) for r in _recipients(recipients)]
    return build_header(stanzas, file_key).encode()


def _unwrap_file_key(header: Header, identities: Sequence[Identity]) -> bytes:
    """Find the file key and check the header MAC with it before anything else."""
    if len(header.stanzas) > 1 and any(s.type == "scrypt" for s in header.stanzas):
        raise FormatError("an scrypt stanza must be the only stanza")
    for identity in identities:
        file_key = identity.unwrap(header.stanzas)
        if file_key is not None:
            if len(file_key) != FILE_KEY_SIZE:
                raise FormatError("file key has the wrong size")
            verify_header_mac(header, file_key)
            return file_key
    raise NoIdentityError("no identity matched any recipient stanza")


class Encryptor:
    """Push-style encryption: `start()`, then `update()` per piece, then `finish()`.

    `start()` returns the header and payload nonce; if it was not called, the first
    `update()` or `finish()` output includes them, so output is never headerless.
    `update()` holds back up to one full chunk, since only `finish` marks the final one.
    """

    def __init__(self, recipients: Sequence[str | Recipient], *, pad: bool = False) -> None:
        file_key = os.urandom(FILE_KEY_SIZE)
        nonce = os.urandom(NONCE_SIZE)
        self._prefix: bytes | None = _new_header(file_key, recipients) + nonce
        self._payload = PayloadEncryptor(payload_key(file_key, nonce))
        self._padder = Padder() if pad else None

    def start(self) -> bytes:
        """The header and payload nonce: the first bytes of the file."""
        if self._prefix is None:
            raise RuntimeError("start() called after output began")
        prefix, self._prefix = self._prefix, None
        return prefix

    def _take_prefix(self) -> bytes:
        prefix, self._prefix = self._prefix or b"", None
        return prefix

    def update(self, data: bytes) -> bytes:
        """Encrypt a piece; returns the chunks that are known not to be final."""
        if self._padder is not None:
            data = self._padder.update(data)
        return self._take_prefix() + self._payload.update(data)

    def finish(self) -> bytes:
        """The rest of the file: any padding and the final chunk."""
        return b"".join(self.finish_pieces())

    def finish_pieces(self) -> Iterator[bytes]:
        """Like `finish`, yielding output in bounded pieces (padding can be large)."""
        yield self._take_prefix()
        if self._padder is not None:
            for piece in self._padder.finish_pieces():
                yield self._payload.update(piece)
        yield self._payload.finish()


class Decryptor:
    """Push-style decryption: `update()` per piece of ciphertext, then `finish()`.

    The header is buffered (up to 1 MiB) and its MAC verified before any payload is
    decrypted. `finish()` raises DecryptionError if no valid final chunk was seen.
    After any error the decryptor refuses further use.
    """

    def __init__(self, identities: Sequence[str | Identity], *, pad: bool = False) -> None:
        self._identities = _identities(identities)
        self._buf = bytearray()
        self._scan = 0
        self._file_key: bytes | None = None
        self._payload: PayloadDecryptor | None = None
        self._unpadder = Unpadder() if pad else None
        self._failed = False
        self.header: Header | None = None

    def update(self, data: bytes) -> bytes:
        """Feed ciphertext; returns plaintext of the chunks verified so far."""
        return b"".join(self.update_pieces(data))

    def finish(self) -> bytes:
        """Verify the final chunk and return the rest of the plaintext."""
        return b"".join(self.finish_pieces())

    def update_pieces(self, data: bytes) -> Iterator[bytes]:
        """Like `update`, yielding output in bounded pieces."""
        yield from self._guard(self._update(data))

    def finish_pieces(self) -> Iterator[bytes]:
        """Like `finish`, yielding output in bounded pieces."""
        yield from self._guard(self._finish())

    def _guard(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        if self._failed:
            raise RuntimeError("decryptor already failed")
        try:
            yield from pieces
        except CryptoError:
            self._failed = True
            raise

    def _update(self, data: bytes) -> Iterator[bytes]:
        if self._payload is None:
            self._buf += data
            if not self._read_preamble():
                return
            data, self._buf = bytes(self._buf), bytearray()
        yield from self._unpad(self._payload_decryptor().update(data))

    def _finish(self) -> Iterator[bytes]:
        if self._payload is None:
            raise DecryptionError("truncated: incomplete header or missing payload nonce")
        yield from self._unpad(self._payload.finish())
        if self._unpadder is not None:
            self._unpadder.finish()

    def _payload_decryptor(self) -> PayloadDecryptor:
        assert self._payload is not None  # noqa: S101 - set by _read_preamble
        return self._payload

    def _read_preamble(self) -> bool:
        """Consume header and nonce from the buffer once both are there."""
        if self.header is None:
            check_header_prefix(self._buf)
            end = find_header_end(self._buf, self._scan)
            if end is None:
                if len(self._buf) > MAX_HEADER_SIZE:
                    raise FormatError("header too large")
                # Resume at the MAC line if seen, else where '\n---' could straddle pieces.
                mark = self._buf.find(b"\n---", self._scan)
                self._scan = mark if mark >= 0 else max(0, len(self._buf) - 3)
                return False
            header, end = parse_header(bytes(self._buf[:end]))
            self._file_key = _unwrap_file_key(header, self._identities)
            self.header = header
            del self._buf[:end]
        if len(self._buf) < NONCE_SIZE or self._file_key is None:
            return False
        nonce = bytes(self._buf[:NONCE_SIZE])
        del self._buf[:NONCE_SIZE]
        self._payload = PayloadDecryptor(payload_key(self._file_key, nonce))
        return True

    def _unpad(self, plaintext: bytes) -> Iterator[bytes]:
        if self._unpadder is None:
            yield plaintext
        else:
            yield from self._unpadder.update_pieces(plaintext)


def encrypt_bytes(
    plaintext: bytes, recipients: Sequence[str | Recipient], *, pad: bool = False
) -> bytes:
    """Encrypt `plaintext` to every recipient (`age1...` strings)."""
    enc = Encryptor(recipients, pad=pad)
    return enc.start() + enc.update(plaintext) + enc.finish()


def decrypt_bytes(
    ciphertext: bytes, identities: Sequence[str | Identity], *, pad: bool = False
) -> bytes:
    """Decrypt an age file with any of the identities (`AGE-SECRET-KEY-1...` strings)."""
    dec = Decryptor(identities, pad=pad)
    return dec.update(ciphertext) + dec.finish()


def encrypt_stream(
    src: BinaryIO, dst: BinaryIO, recipients: Sequence[str | Recipient], *, pad: bool = False
) -> int:
    """Encrypt `src` to `dst` one chunk at a time; returns the number of bytes written."""
    enc = Encryptor(recipients, pad=pad)
    written = dst.write(enc.start())
    while piece := src.read(CHUNK_SIZE):
        written += dst.write(enc.update(piece))
    for out in enc.finish_pieces():
        written += dst.write(out)
    return written


def decrypt_stream(
    src: BinaryIO, dst: BinaryIO, identities: Sequence[str | Identity], *, pad: bool = False
) -> int:
    """Decrypt `src` to `dst` one chunk at a time; returns the plaintext bytes written.

    On error, `dst` holds unauthenticated partial output which the caller must discard.
    """
    dec = Decryptor(identities, pad=pad)
    written = 0
    while piece := src.read(CHUNK_SIZE):
        for out in dec.update_pieces(piece):
            written += dst.write(out)
    for out in dec.finish_pieces():
        written += dst.write(out)
    return written


def rewrap(
    ciphertext_or_header: bytes,
    identities: Sequence[str | Identity],
    recipients: Sequence[str | Recipient],
) -> bytes:
    """A new header giving exactly `recipients` the file key that `identities` can unwrap.

    The payload is untouched, so anyone who ever held the file key keeps it: revoking
    someone who may have read the file also needs re-encryption under a new key.
    """
    header, _ = parse_header(ciphertext_or_header)
    file_key = _unwrap_file_key(header, _identities(identities))
    return _new_header(file_key, recipients)


def rewrap_file(
    ciphertext: bytes,
    identities: Sequence[str | Identity],
    recipients: Sequence[str | Recipient],
) -> bytes:
    """`ciphertext` with its header replaced by `rewrap(...)`: new header + old payload."""
    _, offset = parse_header(ciphertext)
    return rewrap(ciphertext[:offset], identities, recipients) + ciphertext[offset:]


def encrypt_with_passphrase(plaintext: bytes, passphrase: str, *, work_factor: int = 18) -> bytes:
    """Encrypt to a passphrase (age scrypt stanza, N = 2**work_factor)."""
    return encrypt_bytes(plaintext, [ScryptRecipient(passphrase, work_factor)])


def decrypt_with_passphrase(
    ciphertext: bytes, passphrase: str, *, max_work_factor: int = 22
) -> bytes:
    """Decrypt a passphrase-encrypted file; refuses work factors above `max_work_factor`.

    The default cap of 22 (age's own) still lets a hostile file cost ~4 GiB and tens of
    seconds of scrypt, so only use this on files from a trusted place (the recovery key).
    """
    try:
        return decrypt_bytes(ciphertext, [ScryptIdentity(passphrase, max_work_factor)])
    except NoIdentityError:
        raise NoIdentityError("wrong passphrase or not a passphrase-encrypted file") from None
