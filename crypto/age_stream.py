"""The age v1 payload: STREAM over ChaCha20-Poly1305 in 64 KiB chunks.

Each chunk nonce is an 11-byte big-endian counter plus a final-flag byte, so
reordering, truncation and extension are all detected. Both directions hold back
the last chunk until `finish`, because only the end of input tells which chunk is final.
"""

from collections.abc import Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .age_format import hkdf_sha256
from .errors import DecryptionError

__all__ = [
    "CHUNK_SIZE",
    "NONCE_SIZE",
    "TAG_SIZE",
    "PayloadDecryptor",
    "PayloadEncryptor",
    "payload_key",
]

CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
NONCE_SIZE = 16
_ENC_CHUNK = CHUNK_SIZE + TAG_SIZE
_MAX_COUNTER = 1 << 88


def payload_key(file_key: bytes, nonce: bytes) -> bytes:
    """Derive the payload key from the file key and the 16-byte payload nonce."""
    return hkdf_sha256(file_key, nonce, b"payload")


def _chunk_nonce(counter: int, *, final: bool) -> bytes:
    if counter >= _MAX_COUNTER:
        raise DecryptionError("payload too long")
    return counter.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


class _Stream:
    """What both directions hold: the cipher, the chunk counter and the input not yet chunked."""

    _role = "stream"

    def __init__(self, key: bytes) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._buf = bytearray()
        self._counter = 0
        self._done = False

    def _check_open(self) -> None:
        if self._done:
            raise RuntimeError(f"{self._role} already finished")

    def _leading_chunks(self, data: bytes, size: int) -> Iterator[bytes]:
        """Buffer `data`, then yield each chunk of `size` that more input follows. Strictly more
        than a chunk: a full chunk may turn out to be the final one. The yielded chunks leave the
        buffer only once all were taken, so a chunk that fails stays where it was."""
        self._check_open()
        self._buf += data
        pos = 0
        while len(self._buf) - pos > size:
            yield bytes(self._buf[pos : pos + size])
            pos += size
        del self._buf[:pos]


class PayloadEncryptor(_Stream):
    """Encrypt plaintext pieces into STREAM chunks (payload nonce not included)."""

    _role = "encryptor"

    def _seal(self, chunk: bytes, *, final: bool) -> bytes:
        nonce = _chunk_nonce(self._counter, final=final)
        self._counter += 1
        return self._aead.encrypt(nonce, chunk, None)

    def update(self, data: bytes) -> bytes:
        """Return the chunks known not to be final; at most one full chunk stays buffered."""
        chunks = self._leading_chunks(data, CHUNK_SIZE)
        return b"".join([self._seal(chunk, final=False) for chunk in chunks])

    def finish(self) -> bytes:
        """Return the final chunk (empty only if the whole payload is empty)."""
        self._check_open()
        self._done = True
        out = self._seal(bytes(self._buf), final=True)
        self._buf.clear()
        return out


class PayloadDecryptor(_Stream):
    """Decrypt STREAM chunks arriving in arbitrary pieces (payload nonce already consumed)."""

    _role = "decryptor"

    def _open(self, chunk: bytes, *, final: bool) -> bytes:
        try:
            out = self._aead.decrypt(_chunk_nonce(self._counter, final=final), chunk, None)
        except InvalidTag:
            raise DecryptionError("payload chunk failed authentication") from None
        self._counter += 1
        return out

    def update(self, data: bytes) -> bytes:
        """Return plaintext of chunks that are followed by more data.

        The output is unauthenticated as a whole until `finish` succeeds: callers must
        discard it if `finish` raises.
        """
        out: list[bytes] = []
        for chunk in self._leading_chunks(data, _ENC_CHUNK):
            try:
                out.append(self._open(chunk, final=False))
            except DecryptionError:
                self._reject_early_final(chunk)
                raise
        return b"".join(out)

    def _reject_early_final(self, chunk: bytes) -> None:
        # Only to give a precise message: a valid final chunk with data after it.
        try:
            self._aead.decrypt(_chunk_nonce(self._counter, final=True), chunk, None)
        except InvalidTag:
            return
        raise DecryptionError("data after the final chunk")

    def finish(self) -> bytes:
        """Verify and return the final chunk; raise DecryptionError if it is missing."""
        self._check_open()
        self._done = True
        chunk = bytes(self._buf)
        self._buf.clear()
        if len(chunk) < TAG_SIZE:
            raise DecryptionError("payload truncated: no final chunk")
        try:
            out = self._open(chunk, final=True)
        except DecryptionError:
            raise DecryptionError("payload truncated or tampered: no valid final chunk") from None
        if not out and self._counter > 1:
            raise DecryptionError("empty final chunk after non-empty payload")
        return out
