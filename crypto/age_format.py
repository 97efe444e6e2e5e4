"""The age v1 header: canonical base64, stanzas, parsing and the header MAC.

Parsing is strict (C2SP age spec): canonical unpadded base64, bodies wrapped at 64
columns ending with a short line, LF only, and bounded in size and stanza count so
hostile input cannot exhaust memory. Recipient-specific rules live in `age_keys`.
"""

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import DecryptionError, FormatError

__all__ = [
    "MAX_HEADER_SIZE",
    "MAX_STANZAS",
    "VERSION_LINE",
    "Header",
    "Stanza",
    "b64decode",
    "b64encode",
    "build_header",
    "check_header_prefix",
    "find_header_end",
    "hkdf_sha256",
    "parse_header",
    "verify_header_mac",
]

VERSION_LINE = b"age-encryption.org/v1\n"
MAX_HEADER_SIZE = 1 << 20
MAX_STANZAS = 1024
_COLUMNS = 64
_MAC_LEN = 32
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA-256 with a 32-byte output, as every age derivation uses."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def b64encode(data: bytes) -> str:
    """Unpadded standard base64."""
    return base64.b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str | bytes) -> bytes:
    """Decode unpadded standard base64, rejecting '=' and non-canonical encodings."""
    try:
        raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
    except UnicodeEncodeError:
        raise FormatError("invalid base64") from None
    if raw.translate(None, _B64_ALPHABET) or len(raw) % 4 == 1:
        raise FormatError("invalid base64")
    try:
        out = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    except binascii.Error:
        raise FormatError("invalid base64") from None
    # Non-zero trailing bits decode fine but would make the header malleable.
    if base64.b64encode(out).rstrip(b"=") != raw:
        raise FormatError("non-canonical base64")
    return out


def _check_arg(arg: str) -> None:
    # Visible ASCII (0x21-0x7E): printable ASCII without the space.
    if not arg or not (arg.isascii() and arg.isprintable()) or " " in arg:
        raise FormatError("invalid stanza argument")


@dataclass(frozen=True)
class Stanza:
    """One recipient stanza; `args[0]` is the stanza type."""

    args: tuple[str, ...]
    body: bytes

    def __post_init__(self) -> None:
        if not self.args:
            raise FormatError("stanza without arguments")
        for arg in self.args:
            _check_arg(arg)

    @property
    def type(self) -> str:
        return self.args[0]

    def encode(self) -> bytes:
        text = b64encode(self.body)
        lines = [text[i : i + _COLUMNS] for i in range(0, len(text), _COLUMNS)]
        if len(text) % _COLUMNS == 0:
            lines.append("")  # a body always ends with a short, possibly empty, line
        return ("-> " + " ".join(self.args) + "\n" + "".join(ln + "\n" for ln in lines)).encode()


@dataclass(frozen=True)
class Header:
    """A parsed or freshly built v1 header."""

    stanzas: tuple[Stanza, ...]
    mac: bytes

    def mac_input(self) -> bytes:
        """The bytes the MAC covers: everything up to and including '---'."""
        return VERSION_LINE + b"".join(s.encode() for s in self.stanzas) + b"---"

    def encode(self) -> bytes:
        return self.mac_input() + b" " + b64encode(self.mac).encode() + b"\n"


def _mac(file_key: bytes, header: Header) -> bytes:
    key = hkdf_sha256(file_key, b"", b"header")
    return hmac.new(key, header.mac_input(), hashlib.sha256).digest()


def build_header(stanzas: Sequence[Stanza], file_key: bytes) -> Header:
    """Return a header over `stanzas` with its MAC computed under `file_key`."""
    if not stanzas:
        raise ValueError("a header needs at least one stanza")
    unsigned = Header(tuple(stanzas), b"")
    return Header(unsigned.stanzas, _mac(file_key, unsigned))


def verify_header_mac(header: Header, file_key: bytes) -> None:
    """Raise DecryptionError unless the header MAC matches `file_key`."""
    if not hmac.compare_digest(_mac(file_key, header), header.mac):
        raise DecryptionError("header MAC mismatch")


def find_header_end(data: bytes | bytearray, start: int = 0) -> int | None:
    """Offset just past the MAC line, or None if it is not (yet) in `data`.

    A line starting with '---' can only be the MAC line, so the first one ends the header.
    """
    limit = MAX_HEADER_SIZE + 1
    mark = data.find(b"\n---", start, limit)
    if mark < 0:
        return None
    eol = data.find(b"\n", mark + 1, limit)
    return None if eol < 0 else eol + 1


def check_header_prefix(data: bytes | bytearray) -> None:
    """Fail fast on input that cannot be an age v1 file."""
    head = bytes(data[: len(VERSION_LINE)])
    if not VERSION_LINE.startswith(head):
        raise FormatError("not an age v1 file")


def parse_header(data: bytes) -> tuple[Header, int]:
    """Parse the header at the start of `data` (a header or a whole file).

    Returns the header and the offset where the payload (its nonce) begins.
    """
    check_header_prefix(data)
    end = find_header_end(data)
    if end is None or end > MAX_HEADER_SIZE:
        too_big = len(data) > MAX_HEADER_SIZE
        raise FormatError("header too large" if too_big else "incomplete header")
    raw = bytes(data[:end])
    header = _parse_lines(raw.split(b"\n")[:-1])
    # Strict parsing means the encoding is unique; this catches anything missed.
    if header.encode() != raw:
        raise FormatError("non-canonical header")
    return header, end


def _parse_lines(lines: list[bytes]) -> Header:
    if lines[0] + b"\n" != VERSION_LINE:
        raise FormatError("unsupported age version")
    i = 1
    stanzas: list[Stanza] = []
    while i < len(lines) and lines[i].startswith(b"-> "):
        if len(stanzas) >= MAX_STANZAS:
            raise FormatError("too many stanzas")
        try:
            args = tuple(lines[i][3:].decode("ascii").split(" "))
        except UnicodeDecodeError:
            raise FormatError("invalid stanza argument") from None
        i += 1
        body: list[bytes] = []
        while True:
            if i >= len(lines) - 1:
                raise FormatError("unterminated stanza body")
            line = lines[i]
            i += 1
            if len(line) > _COLUMNS:
                raise FormatError("stanza body line too long")
            body.append(line)
            if len(line) < _COLUMNS:
                break
        stanzas.append(Stanza(args, b64decode(b"".join(body))))
    if not stanzas:
        raise FormatError("header has no stanzas")
    if i != len(lines) - 1 or not lines[i].startswith(b"--- "):
        raise FormatError("malformed header end")
    mac = b64decode(lines[i][4:])
    if len(mac) != _MAC_LEN:
        raise FormatError("malformed header MAC")
    return Header(tuple(stanzas), mac)
