"""The referral bundle as a stream: one age file (X25519, unpadded, so the stock `age` CLI reads
it) holding a tar (POSIX pax) of the contents, then the manifest and its proofs at the end.

Nothing is written to disk and no evidence file is held whole: each is decrypted row by row from
the database, hashed and re-encrypted to the recipient as it passes. The manifest lists every
content file with its SHA-256 and size; it can only be written once they have passed, and the
audit entry can only be appended once the manifest exists, so the tail (manifest, signature,
entry, checkpoint, inclusion proof) comes last. The final age chunk is produced only after the
seal has committed (service.export.service.seal_export): if it fails, the file is truncated and
age refuses it.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from crypto.age import Encryptor
from crypto.errors import DecryptionError
from service.blobs.store import iter_blob
from service.export.schemas import (
    BUNDLE_FORMAT,
    CHECKPOINT_FILE,
    ENTRY_FILE,
    MANIFEST_FILE,
    PROOF_FILE,
    SIGNATURE_FILE,
    manifest_bytes,
)
from service.export.service import ExportPlan, Seal

__all__ = ["BundleStream", "bundle_size_hint"]

_BLOCK = 512
_FLUSH = 256 * 1024  # ciphertext handed out in pieces of about this size


def bundle_size_hint(plan: ExportPlan) -> int:
    """Plaintext bytes of the content files (for a progress bar)."""
    return sum(len(d) for _, d in plan.contents.documents) + sum(
        f.size for f in plan.contents.evidence
    )


def _header(path: str, size: int) -> bytes:
    info = tarfile.TarInfo(path)
    info.size = size
    info.mode = 0o644
    info.mtime = 0  # no dates in the archive's metadata
    info.uname = info.gname = ""
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


@dataclass
class BundleStream:
    """Iterate `chunks()` for the age file. `reader()` gives a session to read evidence with;
    `seal(manifest, exported_at)` runs (and commits) the export's last transaction."""

    plan: ExportPlan
    origin: str  # the log's origin, named in the manifest
    reader: Callable[[], AbstractContextManager[Session]]
    seal: Callable[[bytes, datetime], Seal]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    progress: Callable[[int], None] | None = None
    files: list[dict[str, Any]] = field(default_factory=list)

    def chunks(self) -> Generator[bytes, None, None]:
        encryptor = Encryptor([self.plan.order.recipient])
        yield encryptor.start()
        out = bytearray()

        def put(data: bytes) -> Iterator[bytes]:
            out.extend(encryptor.update(data))
            if len(out) >= _FLUSH:
                yield bytes(out)
                out.clear()

        for path, data in self.plan.contents.documents:
            yield from put(self._whole(path, data, listed=True))
            self._tick(len(data))
        with self.reader() as session:
            for item in self.plan.contents.evidence:
                yield from self._evidence(session, item.path, item.blob_id, item.size, put)
                session.rollback()  # release the read snapshot between files
        tail = self._tail()
        yield from put(tail)
        yield bytes(out)
        yield from encryptor.finish_pieces()

    def _tick(self, count: int) -> None:
        if self.progress is not None:
            self.progress(count)

    def _whole(self, path: str, data: bytes, *, listed: bool) -> bytes:
        if listed:
            self._list(path, hashlib.sha256(data).hexdigest(), len(data))
        return _header(path, len(data)) + data + _padding(len(data))

    def _list(self, path: str, digest: str, size: int) -> None:
        self.files.append({"path": path, "sha256": digest, "size": size})

    def _evidence(
        self,
        session: Session,
        path: str,
        blob_id: Any,
        size: int,
        put: Callable[[bytes], Iterator[bytes]],
    ) -> Iterator[bytes]:
        yield from put(_header(path, size))
        digest, seen = hashlib.sha256(), 0
        for piece in iter_blob(session, blob_id, [self.plan.contents.identity]):
            seen += len(piece)
            if seen > size:
                raise DecryptionError(f"{path}: longer than its recorded size")
            digest.update(piece)
            yield from put(piece)
            self._tick(len(piece))
        if seen != size:
            raise DecryptionError(f"{path}: shorter than its recorded size")
        yield from put(_padding(size))
        self._list(path, digest.hexdigest(), size)

    def manifest(self, exported_at: datetime) -> dict[str, Any]:
        plan = self.plan
        return {
            "format": BUNDLE_FORMAT,
            "tip": str(plan.tip_id),
            "approval": str(plan.approval_id),
            "variant": plan.order.variant.value,
            "recipient": plan.order.recipient,
            "exported_at": exported_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "log_origin": self.origin,
            **plan.people,
            "notes": [str(n) for n in plan.order.notes],
            "files": sorted(self.files, key=lambda f: f["path"]),
        }

    def _tail(self) -> bytes:
        exported_at = self.clock().astimezone(UTC).replace(microsecond=0)
        manifest = manifest_bytes(self.manifest(exported_at))
        seal = self.seal(manifest, exported_at)  # commits: from here the export is on record
        parts = [
            (MANIFEST_FILE, manifest),
            (SIGNATURE_FILE, seal.signature.encode()),
            (ENTRY_FILE, seal.entry),
            (CHECKPOINT_FILE, seal.checkpoint.encode()),
            (PROOF_FILE, seal.proof.encode()),
        ]
        body = b"".join(self._whole(path, data, listed=False) for path, data in parts)
        return body + b"\0" * (2 * _BLOCK)
