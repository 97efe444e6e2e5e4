"""C2SP signed notes with Ed25519 (signature type 0x01): keys, signing, verification.

Key text forms follow the Go `note` package, which the spec's ecosystem uses:
verifier `NAME+KEYID+base64(0x01 || public)`,
signer `PRIVATE+KEY+NAME+KEYID+base64(0x01 || private)`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crypto.errors import FormatError

__all__ = [
    "Signer",
    "Verifier",
    "add_signature",
    "generate_signer",
    "key_id",
    "parse_signer",
    "parse_verifier",
    "sign_note",
    "signature_keys",
    "verify_note",
]

_ED25519 = b"\x01"
_MAX_SIGNATURES = 16


def key_id(name: str, public: bytes) -> int:
    digest = hashlib.sha256(name.encode() + b"\n" + _ED25519 + public).digest()
    return int.from_bytes(digest[:4], "big")


def _join_key(name: str, kid: int, raw: bytes) -> str:
    """NAME+KEYID+base64(0x01 || key), the part both key forms share (`_split_key` reads it)."""
    return f"{name}+{kid:08x}+{base64.b64encode(_ED25519 + raw).decode()}"


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise FormatError("key name must be non-empty, without spaces or '+'")


@dataclass(frozen=True)
class Verifier:
    name: str
    public: bytes

    @property
    def id(self) -> int:
        return key_id(self.name, self.public)

    def encode(self) -> str:
        return _join_key(self.name, self.id, self.public)


@dataclass(frozen=True)
class Signer:
    name: str
    private: bytes

    @property
    def verifier(self) -> Verifier:
        public = Ed25519PrivateKey.from_private_bytes(self.private).public_key().public_bytes_raw()
        return Verifier(self.name, public)

    def encode(self) -> str:
        return "PRIVATE+KEY+" + _join_key(self.name, self.verifier.id, self.private)


def generate_signer(name: str) -> Signer:
    _check_name(name)
    return Signer(name, Ed25519PrivateKey.generate().private_bytes_raw())


def _split_key(name: str, hex_id: str, b64: str) -> tuple[str, int, bytes]:
    _check_name(name)
    try:
        raw = base64.b64decode(b64, validate=True)
        kid = int(hex_id, 16)
    except (binascii.Error, ValueError) as exc:
        raise FormatError("malformed key encoding") from exc
    if len(hex_id) != 8 or len(raw) != 33 or raw[:1] != _ED25519:
        raise FormatError("not an Ed25519 note key")
    return name, kid, raw[1:]


def parse_verifier(text: str) -> Verifier:
    # base64 may itself contain "+": split only as often as the format has fields.
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise FormatError("verifier key must be NAME+KEYID+KEY")
    name, kid, public = _split_key(*parts)
    verifier = Verifier(name, public)
    if verifier.id != kid:
        raise FormatError("verifier key id does not match the key")
    return verifier


def parse_signer(text: str) -> Signer:
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise FormatError("signer key must be PRIVATE+KEY+NAME+KEYID+KEY")
    name, kid, private = _split_key(*parts[2:])
    signer = Signer(name, private)
    if signer.verifier.id != kid:
        raise FormatError("signer key id does not match the key")
    return signer


def _signature_line(text: str, signer: Signer) -> str:
    signature = Ed25519PrivateKey.from_private_bytes(signer.private).sign(text.encode())
    blob = signer.verifier.id.to_bytes(4, "big") + signature
    return f"\u2014 {signer.name} {base64.b64encode(blob).decode()}\n"


def sign_note(text: str, signer: Signer) -> str:
    """Return `text` followed by a blank line and one signature line."""
    if not text.endswith("\n"):
        raise FormatError("note text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise FormatError("note text must not contain control characters")
    return f"{text}\n{_signature_line(text, signer)}"


def _split_note(note: str) -> tuple[str, list[str]]:
    """(text, signature lines) of a note; FormatError if it has no signature block."""
    head, sep, sigs = note.rpartition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise FormatError("note has no signature block")
    lines = sigs[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise FormatError("too many signatures")
    return head + "\n", lines


def add_signature(note: str, signer: Signer) -> str:
    """`note` with one more signature line, by `signer`, over the same text (a cosignature)."""
    text, lines = _split_note(note)
    if len(lines) >= _MAX_SIGNATURES:
        raise FormatError("too many signatures")
    return note + _signature_line(text, signer)


def _parse_line(line: str) -> tuple[str, bytes]:
    prefix, _, rest = line.partition(" ")
    name, _, b64 = rest.partition(" ")
    if prefix != "\u2014" or not name or not b64:
        raise FormatError("malformed signature line")
    try:
        return name, base64.b64decode(b64, validate=True)
    except binascii.Error as exc:
        raise FormatError("malformed signature encoding") from exc


def signature_keys(note: str) -> list[tuple[str, int]]:
    """(key name, key id) of every signature line, unverified: which keys claim to have signed."""
    _, lines = _split_note(note)
    keys = []
    for line in lines:
        name, blob = _parse_line(line)
        if len(blob) < 4:
            raise FormatError("malformed signature encoding")
        keys.append((name, int.from_bytes(blob[:4], "big")))
    return keys


def verify_note(note: str, verifier: Verifier) -> str:
    """Return the note's text if `verifier` signed it; FormatError otherwise."""
    text, lines = _split_note(note)
    for line in lines:
        name, blob = _parse_line(line)
        if name != verifier.name or blob[:4] != verifier.id.to_bytes(4, "big"):
            continue  # Unknown keys are ignored, as the spec requires.
        try:
            Ed25519PublicKey.from_public_bytes(verifier.public).verify(blob[4:], text.encode())
        except InvalidSignature as exc:
            raise FormatError("signature does not verify") from exc
        return text
    raise FormatError("no signature from the trusted key")
