"""The bundle stream's ending, on SQLite and PostgreSQL: a stream abandoned before its end uses
nothing up, and of two streams of one approval only the first to seal finishes; the other stops
before age's final chunk, so the stock `age` refuses what it sent."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from crypto.age import generate_identity
from service.approvals import service as approvals
from service.approvals.models import Approval
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.errors import Conflict
from service.export.bundle import BundleStream
from service.export.models import TipExport
from service.export.service import Exporter, begin_export, seal_export
from service.staff.models import Role
from service.staff.sessions import Principal
from tests.factories import Border, in_tx, principal, submit


def _approved(engine: Engine, settings: Settings, border: Border, recipient: str) -> Approval:
    tip_id, _ = submit(engine, settings)
    ana = principal(border.reviewer_us)
    sam = principal(border.supervisor_us, Role.SUPERVISOR)
    asked = in_tx(
        engine,
        lambda s: approvals.request(
            s, ana, tip_id, kind="export", recipient=recipient, now=utcnow()
        ),
    )
    in_tx(engine, lambda s: approvals.decide(s, sam, asked.id, approve=True, now=utcnow()))
    return asked


def _stream(engine: Engine, settings: Settings, who: Principal, approval: Approval) -> BundleStream:
    plan = in_tx(
        engine,
        lambda s: begin_export(
            s,
            tip_id=approval.tip_id,
            approval_id=approval.id,
            exporter=Exporter.staff(who),
            settings=settings,
            principal=who,
        ),
    )

    @contextmanager
    def reader() -> Iterator[Session]:
        with make_session_factory(engine)() as session:
            yield session

    def seal(manifest: bytes, at: object) -> object:
        return in_tx(engine, lambda s: seal_export(s, settings, plan, manifest, at))  # type: ignore[arg-type]

    return BundleStream(plan, "probity.local/audit", reader=reader, seal=seal)  # type: ignore[arg-type]


def _used(engine: Engine) -> int:
    with make_session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(TipExport)) or 0


def _age_reads(data: bytes, identity: str, tmp: Path) -> bool:
    key = tmp / "key"
    key.write_text(identity + "\n")
    done = subprocess.run(["/usr/bin/age", "-d", "-i", str(key)], input=data, capture_output=True)
    return done.returncode == 0


def _drain(stream: BundleStream, into: bytearray) -> None:
    for chunk in stream.chunks():
        into += chunk


def test_an_abandoned_or_raced_stream_never_finishes(
    engine: Engine, settings: Settings, border: Border, tmp_path: Path
) -> None:
    identity, recipient = generate_identity()
    approval = _approved(engine, settings, border, recipient)
    ana = principal(border.reviewer_us)
    sam = principal(border.supervisor_us, Role.SUPERVISOR)
    abandoned = _stream(engine, settings, ana, approval).chunks()
    next(abandoned)
    abandoned.close()  # the client went away
    assert _used(engine) == 0
    first, second = (
        _stream(engine, settings, ana, approval),
        _stream(engine, settings, sam, approval),
    )
    done = b"".join(first.chunks())
    sent = bytearray()
    with pytest.raises(Conflict):
        _drain(second, sent)
    assert _used(engine) == 1
    assert _age_reads(done, identity, tmp_path)
    assert not _age_reads(bytes(sent), identity, tmp_path)
