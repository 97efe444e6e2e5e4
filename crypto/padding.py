"""Padmé padding, so that a ciphertext's length says little about its plaintext.

Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
Communication with PURBs", PETS 2019) rounds a length L up so that only about
log2(log2(L)) of its low bits are free, costing at most ~12% overhead. The padding
itself is ISO/IEC 7816-4 style: one 0x80 byte, then zeros up to `padme_length(len + 1)`.

`unpad` accepts any 7816-4 padding (not only Padmé lengths) so the length policy can
change without breaking old data; integrity comes from the surrounding age file.
"""

from collections.abc import Iterator

from .errors import FormatError

__all__ = ["Padder", "Unpadder", "pad", "padme_length", "unpad"]

_MARKER = 0x80
_PIECE = 64 * 1024  # zero runs are produced in pieces of this size, never all at once


def padme_length(n: int) -> int:
    """The Padmé length for `n` bytes: the smallest allowed length >= n."""
    if n < 0:
        raise ValueError("length must be non-negative")
    if n < 2:
        return n
    exponent = n.bit_length() - 1  # floor(log2 n)
    free_bits = exponent - exponent.bit_length()  # E - (floor(log2 E) + 1)
    mask = (1 << free_bits) - 1
    return (n + mask) & ~mask


def _padding(length: int) -> int:
    """Number of bytes (marker included) appended to `length` bytes of data."""
    return padme_length(length + 1) - length


def _zeros(count: int) -> Iterator[bytes]:
    while count > 0:
        step = min(count, _PIECE)
        yield bytes(step)
        count -= step


def pad(data: bytes) -> bytes:
    """Append 0x80 and zeros up to the Padmé length of `len(data) + 1`."""
    return data + b"\x80" + bytes(_padding(len(data)) - 1)


def unpad(data: bytes) -> bytes:
    """Remove 7816-4 padding; raise FormatError if there is none."""
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != _MARKER:
        raise FormatError("invalid padding")
    return stripped[:-1]


class Padder:
    """Streaming `pad`: passes data through and counts it, then emits padding at the end."""

    def __init__(self) -> None:
        self._length = 0
        self._done = False

    def update(self, data: bytes) -> bytes:
        if self._done:
            raise RuntimeError("padder already finished")
        self._length += len(data)
        return data

    def finish(self) -> bytes:
        return b"".join(self.finish_pieces())

    def finish_pieces(self) -> Iterator[bytes]:
        """The padding in pieces of at most 64 KiB, for bounded memory."""
        if self._done:
            raise RuntimeError("padder already finished")
        self._done = True
        yield b"\x80"
        yield from _zeros(_padding(self._length) - 1)


class Unpadder:
    """Streaming `unpad` with O(1) state.

    A trailing 0x80 followed only by zeros may be the padding, so it is held back; the
    zeros after it are counted, never buffered. If more non-zero data arrives, the
    held bytes were data after all and are released.
    """

    def __init__(self) -> None:
        self._marker = False  # a candidate 0x80 is held back
        self._zeros = 0  # zeros seen after the candidate marker
        self._done = False

    def update(self, data: bytes) -> bytes:
        return b"".join(self.update_pieces(data))

    def update_pieces(self, data: bytes) -> Iterator[bytes]:
        """Like `update`, yielding released zero runs in bounded pieces."""
        if self._done:
            raise RuntimeError("unpadder already finished")
        if not data:
            return
        stripped = data.rstrip(b"\x00")
        trailing = len(data) - len(stripped)
        if not stripped:
            if self._marker:
                self._zeros += trailing
            else:
                yield data
            return
        yield from self._release()
        if stripped[-1] == _MARKER:
            if len(stripped) > 1:
                yield stripped[:-1]
            self._marker, self._zeros = True, trailing
        else:
            yield data

    def _release(self) -> Iterator[bytes]:
        if self._marker:
            yield b"\x80"
            yield from _zeros(self._zeros)
        self._marker, self._zeros = False, 0

    def finish(self) -> bytes:
        """Check that the stream ended with padding; raise FormatError if not."""
        if self._done:
            raise RuntimeError("unpadder already finished")
        self._done = True
        if not self._marker:
            raise FormatError("invalid padding")
        return b""
