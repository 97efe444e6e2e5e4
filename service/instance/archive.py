"""The backup file's format: one age file (to the recovery key and any extra recipients) whose
plaintext is a tar stream: `manifest.json` first, then the database snapshot under `database/`,
then the keys directory's files under `keys/`.

Both directions stream in 64 KiB pieces, so neither a backup nor a restore holds the database in
memory. Decryption releases plaintext before age has authenticated the end of the file: the
reader (`open_archive`) authenticates the whole file when the tar stream ends, and callers keep
what they extracted in a staging area until then.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from crypto.age import Decryptor, Encryptor
from crypto.errors import CryptoError, FormatError, NoIdentityError
from service.errors import InvalidInput

__all__ = [
    "BACKUP_FORMAT",
    "BACKUP_VERSION",
    "Manifest",
    "NoProgress",
    "Progress",
    "member_name_ok",
    "open_archive",
    "write_archive",
]

BACKUP_FORMAT = "probity-backup"
BACKUP_VERSION = 1
_PIECE = 64 * 1024
_MEMBER_NAME = re.compile(r"(database|keys)/[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MANIFEST = "manifest.json"


class Progress(Protocol):
    """Where long work reports how far it got (the CLI draws a rich progress bar)."""

    def begin(self, description: str, total: int) -> None: ...

    def advance(self, amount: int) -> None: ...


class NoProgress:
    def begin(self, description: str, total: int) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


@dataclass(frozen=True)
class Manifest:
    format: str
    version: int
    backend: str  # "sqlite" or "postgresql"
    schema_revision: str | None
    created_at: str  # UTC, to the second
    checkpoint: str | None  # the newest signed audit checkpoint inside the snapshot
    log_vkey: str  # identifies the instance: its audit log's public key
    recovery_recipient: str
    database: str  # the database member's name
    keys: list[str]  # the keys directory's members

    def _well_typed(self) -> bool:
        texts = (self.format, self.backend, self.created_at, self.log_vkey)
        optional = (self.schema_revision, self.checkpoint)
        return (
            all(isinstance(t, str) for t in (*texts, self.recovery_recipient, self.database))
            and all(t is None or isinstance(t, str) for t in optional)
            and isinstance(self.version, int)
            and isinstance(self.keys, list)
            and all(isinstance(k, str) and member_name_ok(k) for k in self.keys)
            and member_name_ok(self.database)
        )

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data)
            manifest = cls(**raw)
        except (ValueError, TypeError):
            raise InvalidInput("not a Probity backup: its manifest is unreadable") from None
        if not manifest._well_typed():
            raise InvalidInput("not a Probity backup: its manifest is malformed")
        if manifest.format != BACKUP_FORMAT:
            raise InvalidInput("not a Probity backup")
        if manifest.version != BACKUP_VERSION:
            raise InvalidInput(f"backup format version {manifest.version} is not supported")
        return manifest


def member_name_ok(name: str) -> bool:
    """Whether `name` may be a database or keys member (no paths, no odd characters)."""
    return _MEMBER_NAME.fullmatch(name) is not None


class _EncryptingWriter(io.RawIOBase):
    """A write-only file: what tarfile writes goes out as age ciphertext."""

    def __init__(self, dst: BinaryIO, recipients: list[str], progress: Progress) -> None:
        self._dst = dst
        self._enc = Encryptor(recipients)
        self._dst.write(self._enc.start())
        self._progress = progress

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        piece = bytes(data)
        self._dst.write(self._enc.update(piece))
        self._progress.advance(len(piece))
        return len(piece)

    def finish(self) -> None:
        for piece in self._enc.finish_pieces():
            self._dst.write(piece)


def write_archive(
    dst: BinaryIO,
    recipients: list[str],
    manifest: Manifest,
    members: list[tuple[str, Path | bytes]],
    progress: Progress,
) -> None:
    """Write the encrypted archive: the manifest, then each (member name, file or bytes)."""
    writer = _EncryptingWriter(dst, recipients, progress)
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        data = manifest.to_json()
        info = tarfile.TarInfo(_MANIFEST)
        info.size, info.mode = len(data), 0o600
        tar.addfile(info, io.BytesIO(data))
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o600
            if isinstance(content, bytes):
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
                continue
            with content.open("rb") as file:
                info.size = os.fstat(file.fileno()).st_size
                tar.addfile(info, file)
    writer.finish()


class _DecryptingReader(io.RawIOBase):
    """A read-only file over age ciphertext; authenticates the end when the source ends."""

    def __init__(self, src: BinaryIO, identity: str, progress: Progress) -> None:
        self._src = src
        self._dec = Decryptor([identity])
        self._buf = bytearray()
        self._ended = False
        self._progress = progress

    def readable(self) -> bool:
        return True

    def _fill(self, wanted: int) -> None:
        while len(self._buf) < wanted and not self._ended:
            piece = self._src.read(_PIECE)
            if piece:
                self._progress.advance(len(piece))
                for out in self._dec.update_pieces(piece):
                    self._buf += out
            else:
                for out in self._dec.finish_pieces():
                    self._buf += out
                self._ended = True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        self._fill(len(target))
        count = min(len(target), len(self._buf))
        target[:count] = self._buf[:count]
        del self._buf[:count]
        return count

    def drain(self) -> None:
        """Read to the end of the file, so its last chunk is authenticated."""
        while not self._ended:
            self._fill(len(self._buf) + _PIECE)
            if self._buf.strip(b"\0"):
                raise InvalidInput("not a Probity backup: data after the archive's end")
            self._buf.clear()


@contextmanager
def open_archive(
    src: BinaryIO, identity: str, progress: Progress
) -> Iterator[Iterator[tuple[str, IO[bytes]]]]:
    """The archive's members in order, as (name, file object), starting with the manifest.

    Names other than the manifest, `database/NAME` and `keys/NAME` are refused. When the
    iteration ends the whole file has been authenticated; an edited, truncated or foreign file
    raises InvalidInput (at once, or at the latest then).
    """
    reader = _DecryptingReader(src, identity, progress)
    try:
        with tarfile.open(fileobj=io.BufferedReader(reader, _PIECE), mode="r|") as tar:
            yield _members(tar, reader)
    except CryptoError as exc:
        raise InvalidInput(_crypto_reason(exc)) from None
    except tarfile.TarError:
        raise InvalidInput("not a Probity backup: the archive inside is damaged") from None


def _members(tar: tarfile.TarFile, reader: _DecryptingReader) -> Iterator[tuple[str, IO[bytes]]]:
    first = True
    for info in tar:
        if first and info.name != _MANIFEST:
            raise InvalidInput("not a Probity backup: no manifest")
        if not first and not (info.isfile() and member_name_ok(info.name)):
            raise InvalidInput("not a Probity backup: unexpected member in the archive")
        if not info.isfile():
            raise InvalidInput("not a Probity backup: unexpected member in the archive")
        file = tar.extractfile(info)
        if file is None:  # pragma: no cover - isfile() above
            raise InvalidInput("not a Probity backup")
        first = False
        yield info.name, file
    if first:
        raise InvalidInput("not a Probity backup: empty archive")
    reader.drain()


def _crypto_reason(exc: CryptoError) -> str:
    if isinstance(exc, NoIdentityError):
        return (
            "this backup is not encrypted to this recovery key "
            "(another instance's backup, or another recovery file)"
        )
    if isinstance(exc, FormatError):
        return "not a Probity backup (not an age file)"
    return "the backup file is damaged or was altered (age authentication failed)"
