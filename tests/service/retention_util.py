"""Helpers for the retention tests: closing a tip as of a given day, running the worker's
retention jobs, and the raw envelope rows (what a backup or an old tuple would hold)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.config import Settings
from service.db import make_session_factory
from service.retention.models import RetentionKey
from service.retention.sweep import SweepResult, sweep
from service.tips.models import Envelope, Status, Tip
from tests.factories import in_tx

__all__ = ["RawEnvelope", "close_as_of", "key_table", "raw_envelopes", "run_sweep"]


@dataclass(frozen=True)
class RawEnvelope:
    tip_id: uuid.UUID
    kind: str
    bucket: str
    data: bytes


def close_as_of(engine: Engine, tip_id: uuid.UUID, closed_at: datetime) -> None:
    """Set up a tip closed at `closed_at` (the closure itself is tested in test_workflow)."""

    def close(session: Session) -> None:
        tip = session.get_one(Tip, tip_id)
        tip.status = Status.CLOSED.value
        tip.closure_reason = "spam"
        tip.closed_at = closed_at

    in_tx(engine, close)


def raw_envelopes(engine: Engine, tip_id: uuid.UUID) -> list[RawEnvelope]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(Envelope.tip_id, Envelope.kind, Envelope.bucket, Envelope.data).where(
                Envelope.tip_id == tip_id
            )
        )
        return [RawEnvelope(t, k, b, bytes(d)) for t, k, b, d in rows]


def key_table(engine: Engine) -> dict[str, bytes]:
    with engine.connect() as connection:
        rows = connection.execute(select(RetentionKey.bucket, RetentionKey.key))
        return {bucket: bytes(key) for bucket, key in rows}


def run_sweep(engine: Engine, settings: Settings, now: datetime) -> SweepResult:
    with make_session_factory(engine)() as session, session.begin():
        return sweep(session, settings, now=now)
