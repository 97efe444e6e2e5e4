"""The shapes of a referral export: what a request names, the bundle's file names, the manifest
and the text its signature covers. Shared by the exporting service and the offline verifier."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from crypto.age_keys import X25519Recipient
from crypto.errors import CryptoError
from service.errors import InvalidInput

__all__ = [
    "BUNDLE_FORMAT",
    "CHECKPOINT_FILE",
    "ENTRY_FILE",
    "MANIFEST_FILE",
    "PROOF_FILE",
    "SIGNATURE_FILE",
    "TAIL_FILES",
    "ExportOrder",
    "Variant",
    "manifest_bytes",
    "manifest_note_text",
    "parse_recipient",
]

BUNDLE_FORMAT = "probity-referral/1"
MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"
ENTRY_FILE = "audit/entry.json"
CHECKPOINT_FILE = "audit/checkpoint"
PROOF_FILE = "audit/inclusion-proof"
# Written after the manifest (they depend on it), so the manifest cannot list them.
TAIL_FILES = (MANIFEST_FILE, SIGNATURE_FILE, ENTRY_FILE, CHECKPOINT_FILE, PROOF_FILE)
_NOTE_HEADER = "probity-referral-manifest/1"
_MAX_NOTES = 200


class Variant(StrEnum):
    FULL = "full"
    REDACTED = "redacted"


def parse_recipient(text: str) -> str:
    """A valid X25519 age recipient (`age1...`), or 422."""
    value = text.strip()
    if not value.startswith("age1"):
        raise InvalidInput("recipient: an age recipient (age1...)", fields={"recipient": "format"})
    try:
        return str(X25519Recipient.from_str(value))
    except (CryptoError, ValueError):
        raise InvalidInput(
            "recipient: not a valid age recipient", fields={"recipient": "format"}
        ) from None


@dataclass(frozen=True)
class ExportOrder:
    """What the requester asked for and the approver saw: ids and codes, never content."""

    recipient: str
    variant: Variant
    notes: tuple[uuid.UUID, ...]

    @classmethod
    def parse(cls, recipient: str, *, redacted: bool, notes: Sequence[str]) -> ExportOrder:
        if len(notes) > _MAX_NOTES:
            raise InvalidInput("notes: too many", fields={"notes": "length"})
        try:
            ids = tuple(dict.fromkeys(uuid.UUID(str(n)) for n in notes))
        except ValueError:
            raise InvalidInput("notes: note ids", fields={"notes": "format"}) from None
        variant = Variant.REDACTED if redacted else Variant.FULL
        return cls(parse_recipient(recipient), variant, ids)

    def payload(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "variant": self.variant.value,
            "notes": [str(n) for n in self.notes],
        }

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> ExportOrder:
        """The order stored in an approval's payload (written by `payload`)."""
        return cls(
            str(payload["recipient"]),
            Variant(payload["variant"]),
            tuple(uuid.UUID(n) for n in payload.get("notes", [])),
        )


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The manifest's one text: sorted keys, two-space indent, a final newline."""
    return (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=True) + "\n").encode()


def manifest_note_text(manifest_sha256: str) -> str:
    """The text the log key signs (a C2SP signed note) for a manifest with this SHA-256."""
    return f"{_NOTE_HEADER}\nsha256 {manifest_sha256}\n"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
