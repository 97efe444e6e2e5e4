"""Queue and tip-view benchmark: prints JSON.

Builds 10^4 and 10^5 realistic tips per backend (SQLite file; PostgreSQL at PROBITY_BENCH_PG,
default postgresql://postgres@127.0.0.1:5432) with bulk Core inserts: 4 compartments of 5 staff,
one reviewer in every compartment (so in every audience: the worst case for the queue), statuses,
urgent flags, priorities, acknowledgements and assignees spread like a live instance, 1-3 subject
indexes per tip from a shared pool (so related tips exist). The tips that get viewed carry real
envelopes, report, priority reasons, an attachment, two messages and a note, all really
encrypted. Then, in-process with a real session (no HTTP):
- the queue's first page (limit 50) for the all-audience viewer and for a one-compartment one;
- a deep page: the cursor after ~90% of the viewer's rows;
- the tip view (decrypt everything, append the audit entry, flush), and with its commit.

Usage: .venv/bin/python bench/queue.py [--sizes 10000,100000] [--backends sqlite,postgresql]
Targets (staff-workspace issue): queue page p95 <= 30 ms, tip view p95 <= 20 ms at 10^5 tips.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

# Run as a script, this file's folder leads sys.path and this module would shadow the standard
# library's `queue` (which psycopg imports): put the project root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench.scratch import scratch_database  # noqa: E402
from crypto.age import encrypt_bytes, generate_identity  # noqa: E402
from service.blobs.models import Blob, BlobChunk  # noqa: E402
from service.blobs.store import small_blob_rows  # noqa: E402
from service.compartments.service import add_compartment  # noqa: E402
from service.config import KdfSettings, Settings  # noqa: E402
from service.db import make_engine, make_session_factory, session_scope  # noqa: E402
from service.instance.setup import kdf_params  # noqa: E402
from service.migrations import upgrade  # noqa: E402
from service.retention.buckets import UNSEALED  # noqa: E402
from service.staff.models import Role  # noqa: E402
from service.staff.service import create_staff, unseal_secrets  # noqa: E402
from service.staff.sessions import Principal  # noqa: E402
from service.tips.models import (  # noqa: E402
    Attachment,
    Envelope,
    Message,
    Note,
    Status,
    SubjectIndex,
    Tip,
    TipAudience,
    next_deadline_of,
)
from service.tips.queue import QueueFilters, encode_cursor, queue_page  # noqa: E402
from service.tips.view import tip_view  # noqa: E402

PG_BASE = os.environ.get("PROBITY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
PASSWORD = "benchmark password"  # noqa: S105 (throwaway staff of a throwaway database)
CHEAP = KdfSettings(time_cost=1, memory_kib=64, lanes=1, recovery_work_factor=10)
TODAY = date(2026, 11, 29)
BATCH = 5000
VIEWED = 200  # tips with real encrypted content
STATUSES = [
    (Status.RECEIVED, 15),
    (Status.TRIAGE, 20),
    (Status.NEEDS_INFO, 5),
    (Status.INVESTIGATING, 25),
    (Status.DECISION_REVIEW, 5),
    (Status.CLOSED, 30),
]
REPORT = {
    "agency": "el-paso-pd",
    "allegations": ["bribery", "leaking"],
    "narrative": "The sergeant takes cash at the bridge every Friday. " * 40,
    "subjects": [{"name": "Juan Ramirez", "badge": "4471", "rank": "Sgt", "unit": "Bridge 3"}],
    "incident_date": "2026-10",
    "location": "Ysleta port of entry",
    "threat_to_life": False,
    "reporter_at_risk": False,
    "senior_official": False,
    "language": "en",
}


@contextmanager
def database(backend: str, tmp: Path) -> Iterator[Engine]:
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp / 'bench.db'}")
        yield engine
        engine.dispose()
        return
    with scratch_database(PG_BASE, "probity_bench") as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


class Staff:
    def __init__(self, engine: Engine, tmp: Path) -> None:
        settings = Settings(data_dir=tmp, database_url="", kdf=CHEAP)
        kdf = kdf_params(settings)
        self.compartments: dict[str, uuid.UUID] = {}
        self.members: dict[str, list[tuple[uuid.UUID, str]]] = {}  # (id, recipient)
        self.principals: dict[str, Principal] = {}
        with session_scope(make_session_factory(engine)) as session:
            for c in range(4):
                name = f"c{c}"
                self.compartments[name] = add_compartment(session, name).id
                self.members[name] = []
                for s in range(5):
                    role = Role.SUPERVISOR if s == 0 else Role.REVIEWER
                    new = create_staff(
                        session,
                        username=f"{name}-s{s}",
                        role=role,
                        password=PASSWORD,
                        kdf=kdf,
                        compartments=[name],
                    )
                    self.members[name].append((new.user.id, new.user.recipient))
                    if s == 1:
                        self.principals[name] = self._principal(new.user, role)
            viewer = create_staff(
                session,
                username="viewer",
                role=Role.REVIEWER,
                password=PASSWORD,
                kdf=kdf,
                compartments=list(self.compartments),
            )
            self.viewer = self._principal(viewer.user, Role.REVIEWER)
            self.viewer_recipient = viewer.user.recipient
            session.flush()

    @staticmethod
    def _principal(user: Any, role: Role) -> Principal:
        identity = unseal_secrets(user, PASSWORD).identity
        return Principal(
            staff_id=user.id,
            username=user.username,
            role=role,
            identity=identity,
            session_id=uuid.uuid4(),
        )


def _tip_row(rng: random.Random, staff: Staff, compartment: str) -> dict[str, Any]:
    status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
    received = TODAY - timedelta(days=rng.randint(0, 400))
    acknowledged = None
    if status != Status.RECEIVED:
        delay = timedelta(days=rng.randint(0, 12), hours=rng.randint(0, 23))
        acknowledged = datetime(received.year, received.month, received.day, tzinfo=UTC) + delay
    assignee = rng.choice(staff.members[compartment])[0] if rng.random() < 0.6 else None
    return {
        "id": uuid.uuid4(),
        "lookup_id": os.urandom(5).hex(),
        "reporter_salt": os.urandom(16),
        "reporter_recipient": "age1" + os.urandom(29).hex()[:58],
        "compartment_id": staff.compartments[compartment],
        "agency_id": None,
        "status": status.value,
        "urgent": rng.random() < 0.03,
        "legal_hold": False,
        "priority": rng.choice([0, 5, 10, 15, 20, 25, 30, 35, 40, 50, 60]),
        "conversation_recipient": "age1" + os.urandom(29).hex()[:58],
        "case_recipient": "age1" + os.urandom(29).hex()[:58],
        "identity_recipient": None,
        "received_on": received,
        "reporter_active_on": received,
        "acknowledged_at": acknowledged,
        "next_deadline": next_deadline_of(received, acknowledged, status.value),
        "assignee_id": assignee,
        "closure_reason": "spam" if status == Status.CLOSED else None,
        "closed_at": None,
        "purged": False,
        "report_blob_id": None,
        "priority_blob_id": None,
        "contact_blob_id": None,
    }


def _content(
    tip: dict[str, Any], readers: list[str], staff_id: uuid.UUID
) -> dict[type, list[dict[str, Any]]]:
    """Real keys, envelope and encrypted content for one tip (mutates its recipients)."""
    conversation, case = generate_identity(), generate_identity()
    tip["conversation_recipient"], tip["case_recipient"] = conversation[1], case[1]
    keys = json.dumps({"conversation": conversation[0], "case": case[0]}).encode()
    rows: dict[type, list[dict[str, Any]]] = {
        t: [] for t in (Envelope, Blob, BlobChunk, Attachment, Message, Note)
    }
    rows[Envelope].append(
        # Stored as the migration leaves older envelopes (opened as they are until the worker
        # seals them): the bench measures the queue and the view, not bucket sealing.
        {
            "tip_id": tip["id"],
            "kind": "staff",
            "data": encrypt_bytes(keys, readers),
            "bucket": UNSEALED,
        }
    )

    def blob(kind: str, payload: object, size: int = 0) -> uuid.UUID:
        data = json.dumps(payload).encode() if size == 0 else os.urandom(size)
        recipient = conversation[1] if kind == "conversation" else case[1]
        blob_id, blob_row, chunk = small_blob_rows(
            tip_id=tip["id"], key_kind=kind, recipients=[recipient], data=data
        )
        rows[Blob].append(blob_row)
        rows[BlobChunk].append(chunk)
        return blob_id

    tip["report_blob_id"] = blob("conversation", REPORT)
    tip["priority_blob_id"] = blob("case", {"reasons": ["named_subjects", "keyword:informant"]})
    info = {
        "name": "photo.jpg",
        "kind": "jpeg",
        "size": 200_000,
        "cleaned": True,
        "removed": ["exif", "xmp"],
        "reason": None,
    }
    rows[Attachment].append(
        {
            "id": uuid.uuid4(),
            "tip_id": tip["id"],
            "seq": 0,
            "blob_id": blob("conversation", None, 200_000),
            "info_blob_id": blob("conversation", info),
        }
    )
    for seq, author in enumerate([None, staff_id]):
        rows[Message].append(
            {
                "id": uuid.uuid4(),
                "tip_id": tip["id"],
                "author_id": author,
                "blob_id": blob("conversation", {"body": "When was this? " * 10}),
                "seq": seq,
                "sent_on": tip["received_on"],
            }
        )
    rows[Note].append(
        {
            "id": uuid.uuid4(),
            "tip_id": tip["id"],
            "author_id": staff_id,
            "kind": "note",
            "blob_id": blob("case", {"body": "Matches 2025. " * 5}),
            "created_at": datetime.now(UTC),
        }
    )
    return rows


def build(engine: Engine, staff: Staff, size: int, rng: random.Random) -> list[uuid.UUID]:
    """Insert `size` tips; returns the ids of those with real content."""
    recovery = generate_identity()[1]
    pool = [os.urandom(32) for _ in range(max(50, size // 5))]
    names = list(staff.compartments)
    viewed: list[uuid.UUID] = []
    order = (Tip, TipAudience, SubjectIndex, Envelope, Blob, BlobChunk, Attachment, Message, Note)
    with engine.begin() as conn:
        for start in range(0, size, BATCH):
            rows: dict[type, list[dict[str, Any]]] = {t: [] for t in order}
            for n in range(start, min(size, start + BATCH)):
                compartment = names[n % len(names)]
                tip = _tip_row(rng, staff, compartment)
                members = staff.members[compartment]
                audience = [m[0] for m in members] + [staff.viewer.staff_id]
                rows[TipAudience] += [
                    {"tip_id": tip["id"], "staff_id": s, "identity_custodian": s == members[0][0]}
                    for s in audience
                ]
                kinds = rng.sample(["name", "badge", "unit"], rng.randint(1, 3))
                rows[SubjectIndex] += [
                    {"tip_id": tip["id"], "kind": k, "value": rng.choice(pool)} for k in kinds
                ]
                if n % max(1, size // VIEWED) == 0 and len(viewed) < VIEWED:
                    readers = [m[1] for m in members] + [staff.viewer_recipient, recovery]
                    for table, extra in _content(tip, readers, members[1][0]).items():
                        rows[table] += extra
                    viewed.append(tip["id"])
                rows[Tip].append(tip)
            for table in order:
                if rows[table]:
                    conn.execute(insert(table), rows[table])
        conn.execute(text("ANALYZE"))
    return viewed


def timed(runs: int, work: Callable[[], object]) -> dict[str, float]:
    """Wall-clock p50/p95/max, and this process's CPU per run (steadier on a busy machine)."""
    samples, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        work()
        samples.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2),
        "max_ms": round(samples[-1], 2),
        "cpu_p50_ms": round(statistics.median(cpu), 2),
        "runs": runs,
    }


def deep_cursor(session: Session, staff_id: uuid.UUID, fraction: float) -> str:
    total = session.scalar(
        select(text("count(*)")).select_from(TipAudience).where(TipAudience.staff_id == staff_id)
    )
    key = session.execute(
        select(Tip.urgent, Tip.priority, Tip.next_deadline, Tip.id)
        .join(TipAudience, TipAudience.tip_id == Tip.id)
        .where(TipAudience.staff_id == staff_id)
        .order_by(Tip.urgent.desc(), Tip.priority.desc(), Tip.next_deadline, Tip.id)
        .offset(int(total * fraction))
        .limit(1)
    ).one()
    return encode_cursor((key[0], key[1], key[2], key[3]))


def measure(engine: Engine, staff: Staff, viewed: list[uuid.UUID], runs: int) -> dict[str, Any]:
    factory = make_session_factory(engine)
    out: dict[str, Any] = {}
    with factory() as session:
        cursor = deep_cursor(session, staff.viewer.staff_id, 0.9)

        def page(who: Principal, at: str | None, **filters: Any) -> Callable[[], object]:
            def one_page() -> object:
                return queue_page(
                    session,
                    who.staff_id,
                    filters=QueueFilters(**filters),
                    cursor=at,
                    limit=50,
                    today=TODAY,
                )

            return one_page

        page(staff.viewer, None)()  # warm-up
        out["queue_first_page"] = timed(runs, page(staff.viewer, None))
        out["queue_deep_page_90pct"] = timed(runs, page(staff.viewer, cursor))
        out["queue_first_page_one_compartment"] = timed(runs, page(staff.principals["c1"], None))
        out["queue_first_page_overdue_filter"] = timed(runs, page(staff.viewer, None, overdue=True))
        out["queue_first_page_assignee_me"] = timed(
            runs, page(staff.principals["c1"], None, assignee="me")
        )
        session.rollback()
    picks = iter([viewed[i % len(viewed)] for i in range(10 * runs)])

    def view_flushed() -> None:
        with factory() as session:
            tip_view(session, staff.viewer, next(picks))
            session.rollback()

    def view_committed() -> None:
        with factory() as session:
            tip_view(session, staff.viewer, next(picks))
            session.commit()

    view_flushed()
    out["tip_view_flushed"] = timed(runs, view_flushed)
    out["tip_view_committed"] = timed(runs, view_committed)
    return out


def run(backend: str, size: int, runs: int) -> dict[str, Any]:
    rng = random.Random(size)
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as engine:
        upgrade(engine)
        staff = Staff(engine, Path(tmp))
        started = time.perf_counter()
        viewed = build(engine, staff, size, rng)
        build_s = round(time.perf_counter() - started, 1)
        # What a server does after start-up: the build's garbage must not bill the measurements.
        gc.collect()
        gc.freeze()
        result = measure(engine, staff, viewed, runs)
        gc.unfreeze()
    return {
        "backend": backend,
        "tips": size,
        "build_seconds": build_s,
        "load_average_1min": round(os.getloadavg()[0], 2),
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    results = [
        run(b, int(n), args.runs) for b in args.backends.split(",") for n in args.sizes.split(",")
    ]
    json.dump(
        {
            "benchmark": "queue",
            "cores": os.cpu_count(),
            "load_average": os.getloadavg(),
            "results": results,
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
