"""Disk full: a SQLite instance whose data dir is a small tmpfs. A filler file takes the rest of
the space; submissions and /readyz are then answered (507 with a clear message is the target,
and not ready); the filler goes and service must come back without a restart. Skipped, with the
reason, where mounting is not allowed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.durability.checks import integrity_check, verify_receipts
from bench.durability.client import (
    Submission,
    json_submission,
    multipart_submission,
    request,
    submit,
)
from bench.durability.instance import Instance, Proc, instance
from bench.durability.load import status_label

__all__ = ["disk_full", "tmpfs"]


@contextlib.contextmanager
def tmpfs(path: Path, size_mib: int) -> Iterator[str | None]:
    """Mount a tmpfs at `path`; yields None, or why it could not be mounted. Always unmounted."""
    path.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0700", "tmpfs", str(path)]
    try:
        done = subprocess.run(mount, capture_output=True, text=True, check=False, timeout=30)
    except OSError as exc:
        yield f"mount not possible: {exc}"
        return
    if done.returncode != 0:
        yield f"mount not allowed: {done.stderr.strip()[:200]}"
        return
    try:
        yield None
    finally:
        umount = ["umount", str(path)]
        if subprocess.run(umount, capture_output=True, check=False, timeout=30).returncode:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill(path: Path) -> int:
    """Write until the filesystem is full; returns the bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for block in (b"\0" * (1 << 20), b"\0" * 4096, b"\0"):
            while True:
                try:
                    written += os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return written


def _while_full(port: int) -> dict[str, Any]:
    subs: list[Submission] = [json_submission() for _ in range(3)]
    subs.append(multipart_submission([512 << 10]))
    statuses: Counter[str] = Counter()
    details: set[str] = set()
    for sub in subs:
        answer = submit(port, sub, timeout=30)
        statuses[status_label(answer)] += 1
        body = answer.json()
        if isinstance(body, dict):
            details.add(f"{body.get('error')}: {str(body.get('detail'))[:120]}")
    ready = request(port, "GET", "/readyz", timeout=30)
    return {
        "answers": dict(statuses),
        "messages": sorted(details),
        "readyz": status_label(ready),
        "readyz_says": ready.body[:200].decode(errors="replace"),
    }


def _scenario(inst: Instance, mount: Path) -> dict[str, Any]:
    server = Proc(inst)
    server.start()
    port = server.port
    try:
        first = json_submission()
        stored = submit(port, first)
        receipts = {first.key: str(stored.json()["receipt"])} if stored.status == 201 else {}
        filler = mount / "filler"
        result: dict[str, Any] = {"filled_bytes": fill(filler)}
        result["while_full"] = _while_full(port)
        filler.unlink()
        began, after = time.monotonic(), json_submission()
        while time.monotonic() - began < 30:
            answer = submit(port, after, timeout=30)
            if answer.status == 201:
                receipts[after.key] = str(answer.json()["receipt"])
                break
            time.sleep(0.5)
        result["recovered_after_s"] = (
            round(time.monotonic() - began, 2) if after.key in receipts else None
        )
        result["same_process"] = server.proc is not None and server.proc.poll() is None
        result["readyz_after"] = status_label(request(port, "GET", "/readyz", timeout=30))
        result["lost"] = verify_receipts(port, receipts, {first.key: first, after.key: after})
    finally:
        server.stop()
    result["integrity_check"] = integrity_check(inst)
    return result


def disk_full(root: Path, *, size_mib: int) -> dict[str, Any]:
    mount = root / "tmpfs"
    with tmpfs(mount, size_mib) as refused:
        if refused is not None:
            return {"skipped": refused}
        with instance("sqlite", root, None, data_dir=mount / "data") as inst:
            return {"tmpfs_mib": size_mib, **_scenario(inst, mount)}
