"""What the harness checks after the faults: the database's own view (tips, chunk rows, SQLite's
integrity check, WAL size) and the clients' view (every receipt logs in; every stored file
decrypts to the bytes sent, exactly once).
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from bench.durability.client import Submission, receipt_files, staff_tip, staff_token
from bench.durability.instance import STAFF, Instance
from bench.durability.load import Load

__all__ = [
    "half_stored_blobs",
    "integrity_check",
    "tip_ids",
    "verify_outcome",
    "verify_receipts",
    "verify_tips",
    "wal_bytes",
]

# A blob is whole when its chunk rows are 0..chunks-1 and their bytes add up to its size.
_HALF_STORED = text(
    """
    SELECT count(*) FROM blobs b
    LEFT JOIN (
        SELECT blob_id, count(*) AS n, sum(length(data)) AS bytes, max(seq) AS last
        FROM blob_chunks GROUP BY blob_id
    ) c ON c.blob_id = b.id
    WHERE coalesce(c.n, 0) != b.chunks OR coalesce(c.bytes, 0) != b.size
       OR coalesce(c.last, -1) != b.chunks - 1
    """
)


def tip_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {str(row[0]) for row in conn.execute(text("SELECT id FROM tips"))}


def half_stored_blobs(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(_HALF_STORED).scalar_one())


def integrity_check(inst: Instance) -> str | None:
    """SQLite's `PRAGMA integrity_check` ("ok" when whole); None on PostgreSQL."""
    path = inst.sqlite_path()
    if path is None:
        return None
    with sqlite3.connect(path, timeout=30) as conn:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    conn.close()
    return "; ".join(str(r[0]) for r in rows)[:500]


def wal_bytes(db_path: Path) -> int:
    try:
        return (db_path.parent / (db_path.name + "-wal")).stat().st_size
    except FileNotFoundError:
        return 0


def verify_receipts(port: int, receipts: dict[str, str], sent: dict[str, Submission]) -> int:
    """How many receipts a client received fail to log in or to show the files it sent."""
    lost = 0
    for key, receipt in receipts.items():
        for attempt in range(3):  # a busy server's 503 is not a lost tip
            names = receipt_files(port, receipt)
            if names is not None and sorted(names) == sorted(sent[key].files):
                break
            time.sleep(attempt + 1)
        else:
            lost += 1
    return lost


def verify_tips(
    port: int, inst: Instance, new_tips: set[str], sent: dict[str, Submission]
) -> tuple[dict[str, Any], set[str]]:
    """Open every new tip as staff: unreadable ones, files whose bytes differ from what was sent,
    and keys stored more than once (a retry that made a second tip); also the keys found."""
    token = staff_token(port, STAFF, inst.staff_password, inst.staff_totp)
    per_key: Counter[str] = Counter()
    unreadable = mismatched = 0
    for tip_id in sorted(new_tips):
        opened = staff_tip(port, token, tip_id)
        if opened is None:
            unreadable += 1
            continue
        key, files = opened
        per_key[key] += 1
        sub = sent.get(key)
        if sub is None or sub.files != files:
            mismatched += 1
    found = {
        "tips_checked": len(new_tips),
        "unreadable": unreadable,
        "mismatched": mismatched,
        "duplicated": sum(n - 1 for n in per_key.values() if n > 1),
    }
    return found, set(per_key)


def verify_outcome(
    port: int,
    inst: Instance,
    before: set[str],
    load: Load,
    *,
    open_tips: bool = True,
    receipt_sample: int | None = None,
) -> dict[str, Any]:
    """After the faults, with the server up: lost receipts, duplicated and half-stored tips.

    lost: a receipt a client received that does not log in, show its files or open for staff.
    With `open_tips` off (floods of thousands), or when staff cannot sign in (`verify_error`),
    opening tips is replaced by counting rows; `receipt_sample` receipts (chosen at random) are
    tried rather than all.
    """
    new = tip_ids(inst.engine) - before
    acknowledged = set(load.receipts)
    result: dict[str, Any] = {"tips_stored": len(new), "acknowledged": len(acknowledged)}
    receipts = load.receipts
    if receipt_sample is not None and len(receipts) > receipt_sample:
        chosen = random.sample(sorted(receipts), receipt_sample)
        receipts = {key: receipts[key] for key in chosen}
        result["receipts_checked"] = receipt_sample
    lost = verify_receipts(port, receipts, load.sent)
    try:
        found, keys = verify_tips(port, inst, new, load.sent) if open_tips else ({}, None)
    except RuntimeError as exc:  # staff could not sign in: count rows instead
        found, keys = {"verify_error": str(exc)[:300]}, None
    result.update(found)
    if keys is not None:
        lost += len(acknowledged - keys)
        result["stored_unacknowledged"] = len(keys - acknowledged)
    else:
        # Every stored tip is one key's: more rows than keys sent means a retry stored twice.
        result["duplicated"] = max(0, len(new) - len(load.sent))
    result["lost"] = lost
    result["half_stored_blobs"] = half_stored_blobs(inst.engine)
    return result
