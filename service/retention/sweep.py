"""The worker's retention jobs (service.worker): the sweep and the execution of approved purges.

`sweep`: keeps this and next month's intake bucket keys ready (so intake never has to create
one), re-seals closed tips into the bucket of the month their retention ends (a held tip whose
retention ended into next month's instead), files a purge request by "system" for every expired
tip not under legal hold, and deletes the keys of buckets left empty.

`run_approved_purges`: purges run here, not in the request that approved them - destroying a
bucket key re-seals every other envelope of the bucket and rewrites the key table, which is
no work for a web request. A legal hold set after the approval still stops it (the request is
cancelled, audited `retention.purge_blocked`).

`retention_job` / `purge_job`: each one transaction, then - after the commit - the key table is
compacted when a key was destroyed and the keyring escrow rewritten (service.retention.keyring).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from service.approvals.models import Approval, ApprovalKind, ApprovalStatus
from service.audit.log import record
from service.config import Settings
from service.db import lock_for_write, lock_rows, session_scope, utcnow
from service.logging import get_logger
from service.retention.buckets import (
    expiry_bucket,
    next_month,
    reseal_tip,
    seal_unsealed,
    writable,
)
from service.retention.keyring import write_keyring_escrow
from service.retention.repository import bucket_names, tip_buckets
from service.retention.service import closed_tips
from service.retention.shred import compact_key_table, destroy_bucket_key, live_open_buckets
from service.tips.models import Envelope, Status, Tip
from service.tips.purge import contest_keeps, shred_tip

__all__ = [
    "REQUEST_AGAIN_DAYS",
    "PurgeResult",
    "SweepResult",
    "purge_job",
    "retention_job",
    "run_approved_purges",
    "sweep",
]

_log = get_logger("probity.retention")

# A supervisor who rejects a retention purge defers it this long; legal hold keeps a tip for good.
REQUEST_AGAIN_DAYS = 30


@dataclass(frozen=True)
class SweepResult:
    moved: int  # envelopes sealed or re-sealed into another bucket
    requested: int  # purge requests filed
    destroyed: int  # empty buckets' keys deleted


@dataclass(frozen=True)
class PurgeResult:
    purged: list[uuid.UUID]
    blocked: int
    destroyed: int


def sweep(session: Session, settings: Settings, *, now: datetime) -> SweepResult:
    today = now.date()
    lock_for_write(session)
    moved = seal_unsealed(session)
    for bucket in sorted(live_open_buckets(today)):
        writable(session, bucket)
    tips = closed_tips(session, settings)
    closed = (
        select(Envelope.tip_id, Envelope.bucket)
        .join(Tip, Tip.id == Envelope.tip_id)
        .where(Tip.status == Status.CLOSED.value, Tip.purged.is_(False))
    )
    current: dict[uuid.UUID, set[str]] = {}
    for tip_id, bucket in session.execute(closed):
        current.setdefault(tip_id, set()).add(bucket)
    for tip in tips:
        held_past = tip.kept and tip.expires_on <= today
        target = expiry_bucket(next_month(today) if held_past else tip.expires_on)
        if current.get(tip.tip_id, {target}) != {target}:
            moved += reseal_tip(session, tip.tip_id, target)
    expired = [t.tip_id for t in tips if t.expires_on <= today and not t.kept]
    requested = _request_purges(session, expired, now=now)
    return SweepResult(moved, requested, _drop_empty_buckets(session, today))


def _request_purges(session: Session, tip_ids: list[uuid.UUID], *, now: datetime) -> int:
    """A purge request by "system" for each tip without one waiting, approved, or rejected
    within REQUEST_AGAIN_DAYS."""
    recent = now - timedelta(days=REQUEST_AGAIN_DAYS)
    live = (ApprovalStatus.PENDING.value, ApprovalStatus.APPROVED.value)
    asked = set(
        session.scalars(
            select(Approval.tip_id)
            .join(Tip, Tip.id == Approval.tip_id)
            .where(
                Tip.purged.is_(False),
                Approval.kind == ApprovalKind.PURGE.value,
                Approval.status.in_(live) | (Approval.requested_at >= recent),
            )
        )
    )
    filed = 0
    for tip_id in tip_ids:
        if tip_id in asked:
            continue
        approval = Approval(
            tip_id=tip_id,
            kind=ApprovalKind.PURGE.value,
            requested_by=None,
            requested_at=now,
            payload={"retention": True},
            status=ApprovalStatus.PENDING.value,
        )
        session.add(approval)
        session.flush()
        details: dict[str, str | int | bool | None] = {"kind": ApprovalKind.PURGE.value}
        details["retention"] = True
        objects = {"approval": approval.id}
        record(
            session,
            actor="system",
            action="approval.requested",
            tip_id=tip_id,
            objects=objects,
            details=details,
        )
        filed += 1
    return filed


def _drop_empty_buckets(session: Session, today: date) -> int:
    used = set(session.scalars(select(Envelope.bucket).distinct()))
    empty = set(bucket_names(session)) - used - live_open_buckets(today)
    return sum(destroy_bucket_key(session, bucket, today=today) for bucket in sorted(empty))


def run_approved_purges(session: Session, *, now: datetime) -> PurgeResult:
    """Carry out every approved purge not done yet, then destroy the keys of their buckets."""
    lock_for_write(session)
    waiting = session.scalars(
        select(Approval)
        .join(Tip, Tip.id == Approval.tip_id)
        .where(
            Approval.kind == ApprovalKind.PURGE.value,
            Approval.status == ApprovalStatus.APPROVED.value,
            Tip.purged.is_(False),
        )
        .order_by(Approval.decided_at, Approval.id)
    ).all()
    purged: list[uuid.UUID] = []
    blocked = 0
    buckets: set[str] = set()
    for approval in waiting:
        tip = lock_rows(session, select(Tip).where(Tip.id == approval.tip_id)).scalar()
        if tip is None or tip.purged:  # another worker got there first
            continue
        if tip.legal_hold or contest_keeps(session, tip):
            approval.status = ApprovalStatus.CANCELLED.value
            objects = {"approval": approval.id}
            record(
                session,
                actor="system",
                action="retention.purge_blocked",
                tip_id=tip.id,
                objects=objects,
            )
            blocked += 1
            continue
        buckets |= tip_buckets(session, tip.id)
        _purge(session, tip, approval, now=now)
        purged.append(tip.id)
    today = now.date()
    destroyed = sum(destroy_bucket_key(session, b, today=today) for b in sorted(buckets))
    return PurgeResult(purged, blocked, destroyed)


def _purge(session: Session, tip: Tip, approval: Approval, *, now: datetime) -> None:
    shred_tip(session, tip)
    others = session.scalars(
        select(Approval).where(
            Approval.tip_id == tip.id, Approval.status == ApprovalStatus.PENDING.value
        )
    ).all()
    for other in others:  # nothing else can be done to a purged tip; audited as any cancel
        other.status = ApprovalStatus.CANCELLED.value
        other.decided_at = now
        record(
            session,
            actor="system",
            action="approval.cancelled",
            tip_id=tip.id,
            objects={"approval": other.id},
            details={"kind": other.kind},
        )
    session.flush()
    actor: uuid.UUID | str = approval.decided_by or "system"
    record(
        session, actor=actor, action="tip.purged", tip_id=tip.id, objects={"approval": approval.id}
    )


def _after_commit(factory: sessionmaker[Session], settings: Settings) -> None:
    """Rewrite the escrow first (it must lose a destroyed key whatever happens next), then
    compact the key table - at every run, since one held up by a reader or a writer (the
    destroyed key still in the files) must be finished by a later one."""
    engine = factory.kw["bind"]
    if not isinstance(engine, Engine):
        raise TypeError("the session factory is not bound to an engine")
    with session_scope(factory) as session:
        write_keyring_escrow(session, settings)
    if not compact_key_table(engine):
        _log.warning("key table compaction held up; the next worker run retries")


def retention_job(factory: sessionmaker[Session], settings: Settings) -> int:
    """The sweep (one transaction), then the escrow (always: a key intake created is in it)."""
    with session_scope(factory) as session:
        result = sweep(session, settings, now=utcnow())
    _after_commit(factory, settings)
    return result.moved + result.requested + result.destroyed


def purge_job(factory: sessionmaker[Session], settings: Settings) -> int:
    with session_scope(factory) as session:
        result = run_approved_purges(session, now=utcnow())
    if result.purged or result.destroyed:
        _after_commit(factory, settings)
    return len(result.purged)
