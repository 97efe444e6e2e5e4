"""C2SP tlog-checkpoint bodies and c2sp.org/tlog-proof@v1 inclusion proofs, signed as C2SP notes.

A checkpoint body is `origin\\nsize\\nbase64(root)\\n` plus optional non-empty extension lines.
Parsing is strict (decimal size without leading zeros, canonical base64 of exactly 32 bytes, one
final newline), so one tree head has exactly one text. Our log signs with a key whose name is the
origin; `open_checkpoint` insists on that unless told another origin.

Errors: `CheckpointError` (a `FormatError`) for a malformed body or proof or a wrong origin;
the note module's `FormatError` for a bad or missing signature; `ProofError` for a proof that
does not verify.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from crypto.errors import CheckpointError, FormatError
from crypto.merkle import HASH_SIZE, verify_inclusion
from crypto.note import Signer, Verifier, sign_note, signature_keys, verify_note

__all__ = [
    "PROOF_HEADER",
    "Checkpoint",
    "CheckpointError",
    "InclusionProof",
    "format_body",
    "format_inclusion_proof",
    "open_checkpoint",
    "open_checkpoint_by_any",
    "open_inclusion_proof",
    "parse_body",
    "parse_inclusion_proof",
    "sign_checkpoint",
]

PROOF_HEADER = "c2sp.org/tlog-proof@v1"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}", re.ASCII)
_MAX_SIZE = 2**64 - 1  # Sizes and indices are uint64 in every tlog implementation.
_MAX_PROOF = 64  # An inclusion proof in a tree of < 2**64 leaves has at most 64 hashes.


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError("checkpoint origin must be one non-empty line")
        if not 0 <= self.size <= _MAX_SIZE:
            raise CheckpointError("checkpoint size out of range")
        if len(self.root) != HASH_SIZE:
            raise CheckpointError("checkpoint root must be 32 bytes")
        if any(not line or "\n" in line for line in self.extensions):
            raise CheckpointError("checkpoint extension lines must be non-empty single lines")

    @property
    def root_hex(self) -> str:
        return self.root.hex()


def format_body(cp: Checkpoint) -> str:
    lines = [cp.origin, str(cp.size), base64.b64encode(cp.root).decode(), *cp.extensions]
    return "".join(line + "\n" for line in lines)


def _decimal(text: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text) or int(text) > _MAX_SIZE:
        raise CheckpointError(f"{what} must be a decimal number without leading zeros")
    return int(text)


def _hash(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CheckpointError(f"{what} is not base64") from exc
    # Re-encoding rejects non-canonical forms (stray padding bits), so each hash has one text.
    if len(raw) != HASH_SIZE or base64.b64encode(raw).decode() != text:
        raise CheckpointError(f"{what} must be the base64 of 32 bytes")
    return raw


def parse_body(text: str) -> Checkpoint:
    """Parse a checkpoint body (the note text, final newline included)."""
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise CheckpointError("checkpoint must not contain control characters")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("checkpoint needs origin, size and root lines")
    if any(not line for line in lines):
        raise CheckpointError("checkpoint lines must not be empty")
    origin, size, root, *extensions = lines
    return Checkpoint(
        origin, _decimal(size, "tree size"), _hash(root, "root hash"), tuple(extensions)
    )


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> str:
    """The checkpoint as a signed note; the key's name must be the origin."""
    if signer.name != cp.origin:
        raise ValueError("the log key's name must equal the checkpoint origin")
    return sign_note(format_body(cp), signer)


def open_checkpoint(note: str, verifier: Verifier, *, origin: str | None = None) -> Checkpoint:
    """Verify `note` was signed by `verifier`, then parse it; its origin must be `origin`
    (by default the key's name)."""
    cp = parse_body(verify_note(note, verifier))
    expected = verifier.name if origin is None else origin
    if cp.origin != expected:
        raise CheckpointError("checkpoint is for another log origin")
    return cp


def open_checkpoint_by_any(note: str, verifiers: Sequence[Verifier]) -> tuple[Checkpoint, Verifier]:
    """Open `note` with the first of `verifiers` whose signature is on it (a log whose key was
    rotated has several); returns the checkpoint and that key. FormatError if none signed it."""
    signed = set(signature_keys(note))
    for verifier in verifiers:
        if (verifier.name, verifier.id) in signed:
            return open_checkpoint(note, verifier), verifier
    raise FormatError("no signature from the trusted key")


@dataclass(frozen=True)
class InclusionProof:
    """A parsed c2sp.org/tlog-proof@v1: index, inclusion hashes, the signed checkpoint verbatim."""

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None


def format_inclusion_proof(
    index: int, hashes: Sequence[bytes], checkpoint: str, *, extra: bytes | None = None
) -> str:
    """Build a tlog proof from an inclusion proof (leaf side first) and a signed checkpoint note."""
    if not 0 <= index <= _MAX_SIZE or len(hashes) > _MAX_PROOF:
        raise ValueError("index or proof length out of range")
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ValueError("proof hashes must be 32 bytes")
    lines = [PROOF_HEADER]
    if extra is not None:
        lines.append("extra " + base64.b64encode(extra).decode())
    lines.append(f"index {index}")
    lines += [base64.b64encode(h).decode() for h in hashes]
    return "".join(line + "\n" for line in lines) + "\n" + checkpoint


def parse_inclusion_proof(text: str) -> InclusionProof:
    """Parse a tlog proof; the checkpoint note is returned verbatim, unverified."""
    head, sep, checkpoint = text.partition("\n\n")
    if not sep or not checkpoint:
        raise CheckpointError("tlog proof has no checkpoint")
    lines = head.split("\n")
    if lines[0] != PROOF_HEADER:
        raise CheckpointError("not a c2sp.org/tlog-proof@v1 proof")
    pos, extra = 1, None
    if pos < len(lines) and lines[pos].startswith("extra "):
        try:
            extra = base64.b64decode(lines[pos][6:], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CheckpointError("tlog proof extra data is not base64") from exc
        pos += 1
    if pos >= len(lines) or not lines[pos].startswith("index "):
        raise CheckpointError("tlog proof has no index line")
    index = _decimal(lines[pos][6:], "index")
    hashes = tuple(_hash(line, "proof hash") for line in lines[pos + 1 :])
    if len(hashes) > _MAX_PROOF:
        raise CheckpointError("tlog proof has too many hashes")
    return InclusionProof(index, hashes, checkpoint, extra)


def open_inclusion_proof(
    text: str, leaf_hash: bytes, verifier: Verifier, *, origin: str | None = None
) -> tuple[Checkpoint, InclusionProof]:
    """Verify a tlog proof for `leaf_hash`: the checkpoint signature, then the inclusion proof."""
    proof = parse_inclusion_proof(text)
    cp = open_checkpoint(proof.checkpoint, verifier, origin=origin)
    verify_inclusion(leaf_hash, proof.index, cp.size, proof.hashes, cp.root)
    return cp, proof
