"""Offline verification of an unpacked referral bundle (`probity export verify`): no database,
only the bundle, the log's public key and a checkpoint the verifier trusts.

Checks, in order, and stops at the first failure with a VerificationError naming it (anyone can
encrypt a tar to the recipient, so every file is hostile until checked: the manifest and the tail
files must be regular files of a sane size, read without following links):
1. every file the manifest lists is there with its SHA-256 and size, and no other file is;
2. `manifest.sig` is the log key's signature over the manifest's SHA-256;
3. the audit entry is `tip.exported` of this tip, at `exported_at`, naming the manifest's hash;
4. the entry is included in the bundle's checkpoint (signed by the log key);
5. the trusted checkpoint and the bundle's one are the same tree, or a consistency proof links
   them (whichever is older comes first).
"""

from __future__ import annotations

import binascii
import hashlib
import json
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crypto.checkpoint import Checkpoint, open_checkpoint, open_inclusion_proof
from crypto.errors import CryptoError
from crypto.merkle import leaf_hash, verify_consistency
from crypto.note import Verifier, verify_note
from service.errors import VerificationError
from service.export.schemas import (
    BUNDLE_FORMAT,
    CHECKPOINT_FILE,
    ENTRY_FILE,
    MANIFEST_FILE,
    PROOF_FILE,
    SIGNATURE_FILE,
    TAIL_FILES,
    manifest_note_text,
)

__all__ = ["BundleReport", "verify_bundle"]

_READ = 1 << 20
# Far above any real one (a manifest lists at most a few dozen files; the rest are a few KiB).
_MANIFEST_MAX = 4 << 20
_TAIL_MAX = 1 << 20


@dataclass(frozen=True)
class BundleReport:
    tip: str
    variant: str
    recipient: str
    exported_at: str
    requested_by: str
    approved_by: str
    exported_by: str
    files: int
    entry_index: int
    checkpoint_size: int
    trusted_size: int


def _fail(message: str) -> VerificationError:
    return VerificationError(None, message)


def _read_bytes(root: Path, name: str) -> bytes:
    """A tail file's bytes. Anyone can encrypt a tar to the recipient: refuse a link (here or
    on the way), a FIFO or a device (a blocked or endless read) and a file larger than any real
    one, before reading it."""
    path = root
    for part in Path(name).parts:
        path = path / part
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            raise _fail(f"{name}: missing") from None
        if stat.S_ISLNK(mode):
            raise _fail(f"{name}: not a regular file (a link)")
    if not stat.S_ISREG(mode):
        raise _fail(f"{name}: not a regular file")
    limit = _MANIFEST_MAX if name == MANIFEST_FILE else _TAIL_MAX
    if path.lstat().st_size > limit:
        raise _fail(f"{name}: too large for a bundle's {name}")
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:  # grew meanwhile
        raise _fail(f"{name}: too large for a bundle's {name}")
    return data


def _read_text(root: Path, name: str) -> str:
    try:
        return _read_bytes(root, name).decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(f"{name}: not UTF-8 text") from None


def _manifest(root: Path) -> tuple[dict[str, Any], str]:
    raw = _read_bytes(root, MANIFEST_FILE)
    try:
        manifest = json.loads(raw)
        if manifest.get("format") != BUNDLE_FORMAT or not isinstance(manifest.get("files"), list):
            raise ValueError
    except (ValueError, AttributeError):
        raise _fail(f"{MANIFEST_FILE}: not a {BUNDLE_FORMAT} manifest") from None
    return manifest, hashlib.sha256(raw).hexdigest()


def _sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while piece := handle.read(_READ):
            digest.update(piece)
            size += len(piece)
    return digest.hexdigest(), size


def _check_files(root: Path, manifest: dict[str, Any]) -> None:
    try:
        listed = {str(f["path"]): f for f in manifest["files"]}
    except (TypeError, KeyError):
        raise _fail(f"{MANIFEST_FILE}: a file entry without a path") from None
    for path in listed:
        parts = Path(path).parts
        if Path(path).is_absolute() or ".." in parts or not parts:
            raise _fail(f"{MANIFEST_FILE}: {path!r} points outside the bundle")
    present = {  # anything but a directory: a link, FIFO or device added is a file added
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_symlink() or not p.is_dir()
    }
    for path in sorted(set(listed) - present):
        raise _fail(f"{path}: missing (the manifest lists it)")
    for path in sorted(present - set(listed) - set(TAIL_FILES)):
        raise _fail(f"{path}: not in the manifest (a file was added)")
    for path, item in sorted(listed.items()):
        target = root / path
        if target.is_symlink() or not target.is_file():
            raise _fail(f"{path}: not a regular file")
        digest, size = _sha256(target)
        if size != item.get("size") or digest != item.get("sha256"):
            raise _fail(f"{path}: altered (its SHA-256 or size differs from the manifest)")


def _check_entry(root: Path, manifest: dict[str, Any], digest: str) -> tuple[bytes, int]:
    entry_bytes = _read_bytes(root, ENTRY_FILE)
    try:
        entry = json.loads(entry_bytes)
    except ValueError:
        raise _fail(f"{ENTRY_FILE}: not an audit entry") from None
    details = entry.get("details") if isinstance(entry, dict) else None
    if not isinstance(details, dict):
        raise _fail(f"{ENTRY_FILE}: not an audit entry (no details)")
    expected = {
        "action": "tip.exported",
        "tip": manifest.get("tip"),
        "time": manifest.get("exported_at"),
    }
    for key, value in expected.items():
        if not isinstance(entry, dict) or entry.get(key) != value:
            raise _fail(f"{ENTRY_FILE}: its {key} is not the manifest's ({value})")
    if details.get("manifest_sha256") != digest:
        raise _fail(f"{ENTRY_FILE}: it names another manifest (the manifest was changed)")
    if details.get("variant") != manifest.get("variant"):
        raise _fail(f"{ENTRY_FILE}: it names another variant")
    if details.get("recipient") != manifest.get("recipient"):
        raise _fail(f"{ENTRY_FILE}: it names another recipient")
    index = entry.get("index")
    if not isinstance(index, int):
        raise _fail(f"{ENTRY_FILE}: no index")
    return entry_bytes, index


def _consistency(proof_file: Path | None, older: Checkpoint, newer: Checkpoint) -> None:
    if proof_file is None:
        raise _fail(
            f"the checkpoints differ in size ({older.size} and {newer.size}): give "
            "--consistency-proof (GET /api/v1/audit/proofs/consistency"
            f"?first={older.size}&second={newer.size})"
        )
    try:
        body = json.loads(proof_file.read_text(encoding="utf-8"))
        hashes = [binascii.a2b_base64(h) for h in body["hashes"]]
        sizes = (int(body["first"]), int(body["second"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _fail("consistency proof: not a JSON proof with first, second and hashes") from None
    if sizes != (older.size, newer.size):
        raise _fail(f"consistency proof: it is for sizes {sizes}, not ({older.size}, {newer.size})")
    try:
        verify_consistency(older.size, newer.size, hashes, older.root, newer.root)
    except CryptoError as exc:
        raise _fail(f"consistency proof: {exc}: the log rewrote its history") from None


def _check_log(
    root: Path,
    entry_bytes: bytes,
    index: int,
    verifier: Verifier,
    trusted_note: str,
    proof_file: Path | None,
) -> tuple[Checkpoint, Checkpoint]:
    proof_text = _read_text(root, PROOF_FILE)
    try:
        bundle_cp, proof = open_inclusion_proof(proof_text, leaf_hash(entry_bytes), verifier)
    except CryptoError as exc:
        raise _fail(f"{PROOF_FILE}: {exc}: the entry is not in the signed log") from None
    if proof.index != index:
        raise _fail(f"{PROOF_FILE}: it proves entry {proof.index}, not {index}")
    if _read_text(root, CHECKPOINT_FILE) != proof.checkpoint:
        raise _fail(f"{CHECKPOINT_FILE}: differs from the one in the inclusion proof")
    try:
        trusted = open_checkpoint(trusted_note, verifier)
    except CryptoError as exc:
        raise _fail(f"trusted checkpoint: {exc}") from None
    if trusted.size == bundle_cp.size:
        if trusted.root != bundle_cp.root:
            raise _fail("the trusted checkpoint and the bundle's have the same size, other roots")
    elif trusted.size > bundle_cp.size:
        _consistency(proof_file, bundle_cp, trusted)
    else:
        _consistency(proof_file, trusted, bundle_cp)
    return bundle_cp, trusted


def _who(person: Any) -> str:
    if isinstance(person, dict):
        return f"{person.get('username') or '-'} ({person.get('id') or 'operator'})"
    return "-"


def verify_bundle(
    root: Path, verifier: Verifier, trusted_note: str, *, consistency_proof: Path | None = None
) -> BundleReport:
    """Verify an unpacked bundle; VerificationError (naming what failed) on any tampering."""
    if not root.is_dir():
        raise _fail(f"{root}: not a directory (decrypt and unpack the bundle first)")
    manifest, digest = _manifest(root)
    _check_files(root, manifest)
    signature = _read_text(root, SIGNATURE_FILE)
    try:
        signed = verify_note(signature, verifier)
    except CryptoError as exc:
        raise _fail(f"{SIGNATURE_FILE}: {exc}") from None
    if signed != manifest_note_text(digest):
        raise _fail(f"{SIGNATURE_FILE}: it signs another manifest (the manifest was changed)")
    entry_bytes, index = _check_entry(root, manifest, digest)
    bundle_cp, trusted = _check_log(
        root, entry_bytes, index, verifier, trusted_note, consistency_proof
    )
    return BundleReport(
        tip=str(manifest.get("tip")),
        variant=str(manifest.get("variant")),
        recipient=str(manifest.get("recipient")),
        exported_at=str(manifest.get("exported_at")),
        requested_by=_who(manifest.get("requested_by")),
        approved_by=_who(manifest.get("approved_by")),
        exported_by=_who(manifest.get("exported_by")),
        files=len(manifest["files"]),
        entry_index=index,
        checkpoint_size=bundle_cp.size,
        trusted_size=trusted.size,
    )
