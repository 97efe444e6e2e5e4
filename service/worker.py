"""`probity worker`: periodic jobs run outside requests.

Jobs: append reporter-caused audit events (shuffled, dated by day) every `audit_flush_seconds`,
in batches of `audit_flush_batch`, each committed on its own (a killed worker loses one batch),
sign a new audit checkpoint every `checkpoint_seconds` when the log grew, and delete staff
session rows that ended (logged out, idle or expired) and stale sign-in failure counters every
ten minutes, and idempotency rows whose replay window closed (`tips.idempotency`). Each job runs in
its own transaction (the flush, one per batch); several workers may run at once (the audit append
lock serialises them). Retention (service.retention.sweep): approved purges are carried out
every minute, and every ten minutes the sweep re-buckets closed tips, files purge requests for
expired ones and rewrites the keyring escrow.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.audit.checkpoints import sign_new_checkpoint
from service.audit.log import flush_batch, pending_count
from service.config import Settings
from service.db import make_engine, make_session_factory, session_scope, utcnow
from service.logging import get_logger
from service.retention.sweep import purge_job, retention_job
from service.staff.sessions import purge_ended_sessions
from service.staff.throttle import purge_login_throttles
from service.tips.idempotency import purge_expired

__all__ = ["Job", "jobs", "run_forever", "run_once", "worker_engine"]

_log = get_logger("probity.worker")
_rng = random.SystemRandom()
SESSION_PURGE_SECONDS = 600.0
RETENTION_PURGE_SECONDS = 60.0
RETENTION_SWEEP_SECONDS = 600.0


@dataclass(frozen=True)
class Job:
    name: str
    interval: float
    # Gets the session factory: most jobs are one transaction (`_one_transaction`); the flush
    # commits batch by batch.
    run: Callable[[sessionmaker[Session], Settings], int]


def _one_transaction(work: Callable[[Session, Settings], int]) -> Callable[..., int]:
    def run(factory: sessionmaker[Session], settings: Settings) -> int:
        with session_scope(factory) as session:
            return work(session, settings)

    return run


def _flush(factory: sessionmaker[Session], settings: Settings) -> int:
    """Commit the backlog batch by batch. Stops after the backlog seen at the start (plus one
    batch), so a steady stream of new events cannot keep the job running forever."""
    limit = settings.audit_flush_batch
    moved = 0
    with session_scope(factory) as session:
        backlog = pending_count(session)
    while moved <= backlog:
        with session_scope(factory) as session:
            count = flush_batch(session, rng=_rng, limit=limit)
        moved += count
        if count < limit:
            break
    return moved


def _checkpoint(session: Session, settings: Settings) -> int:
    signed = sign_new_checkpoint(session, settings)
    return 0 if signed is None else 1


def _sessions(session: Session, settings: Settings) -> int:
    now = utcnow()
    return purge_ended_sessions(session, now=now) + purge_login_throttles(session, now=now)


def _idempotency(session: Session, settings: Settings) -> int:
    return purge_expired(session, now=utcnow())


def jobs(settings: Settings) -> list[Job]:
    # Flush before checkpointing, so a checkpoint taken right after covers the flushed events.
    return [
        Job("audit.flush", settings.audit_flush_seconds, _flush),
        Job("audit.checkpoint", settings.checkpoint_seconds, _one_transaction(_checkpoint)),
        Job("staff.sessions", SESSION_PURGE_SECONDS, _one_transaction(_sessions)),
        Job("tips.idempotency", SESSION_PURGE_SECONDS, _one_transaction(_idempotency)),
        # Approved purges before the sweep, so the sweep's escrow already lacks their keys.
        Job("retention.purge", RETENTION_PURGE_SECONDS, purge_job),
        Job("retention.sweep", RETENTION_SWEEP_SECONDS, retention_job),
    ]


def worker_engine(settings: Settings) -> Engine:
    """The worker's engine: on PostgreSQL every wait is bounded (`DatabaseSettings.for_worker`),
    so a stalled network fails a job, which is retried, instead of hanging the worker."""
    return make_engine(settings.effective_database_url, limits=settings.db.for_worker())


def _run(engine: Engine, settings: Settings, job: Job) -> int:
    count = job.run(make_session_factory(engine), settings)
    _log.info("job done", job=job.name, count=count)
    return count


def run_once(engine: Engine, settings: Settings) -> dict[str, int]:
    """Every job once, in order; returns what each did (rows moved, checkpoints signed)."""
    return {job.name: _run(engine, settings, job) for job in jobs(settings)}


def run_forever(engine: Engine, settings: Settings, stop: threading.Event) -> None:
    """Run each job at its interval until `stop` is set; a failing job is logged and retried."""
    due = {job.name: 0.0 for job in jobs(settings)}
    while not stop.is_set():
        now = time.monotonic()
        for job in jobs(settings):
            if due[job.name] <= now:
                try:
                    _run(engine, settings, job)
                except Exception as exc:  # keep the worker alive; retry at the next interval
                    _log.warning("job failed", job=job.name, error=type(exc).__name__)
                due[job.name] = now + job.interval
        stop.wait(max(0.0, min(due.values()) - time.monotonic()))
