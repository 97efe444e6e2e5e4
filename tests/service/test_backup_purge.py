"""Issue 13's "done when": a purged tip opens with no key, also from a backup taken before the
purge. `probity backup`, a purge approved and carried out by the worker, the instance destroyed,
then the pre-purge backup restored with the keyring escrow as it is after the purge: the purged
tip's envelopes are in the restored database, and nothing opens them, not even the recovery key;
a tip of another bucket still opens for its reviewer and its receipt. Both backends."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, select

from crypto.age import decrypt_bytes
from service.approvals import service as approvals
from service.config import Settings
from service.db import make_engine, make_session_factory, session_scope, utcnow
from service.instance.context import load_context
from service.retention.buckets import open_envelope
from service.retention.sweep import purge_job
from service.staff.models import Role
from service.tips.models import Envelope
from service.tips.reporter_auth import login_with_receipt
from service.tips.view import tip_view
from tests.factories import Border, in_tx, intake, principal
from tests.service.backup_util import backup, destroy, restore


def _purge(engine: Engine, settings: Settings, border: Border, tip_id: uuid.UUID) -> None:
    supervisor = principal(border.supervisor_us, Role.SUPERVISOR)
    asked = in_tx(
        engine,
        lambda s: approvals.request(
            s, principal(border.reviewer_us), tip_id, kind="purge", now=utcnow()
        ),
    )
    in_tx(
        engine,
        lambda s: approvals.decide(s, supervisor, asked.id, approve=True, now=utcnow()),
    )
    assert purge_job(make_session_factory(engine), settings) == 1


def test_a_pre_purge_backup_restores_without_the_purged_tip_s_keys(
    cheap_kdf_env: Settings, engine: Engine, border: Border, tmp_path: Path
) -> None:
    settings = cheap_kdf_env
    kept, kept_receipt = intake(engine, settings, {"narrative": "kept: the escort schedule"})
    # Another month's bucket, so the purge's re-keying does not touch it (see docs/operations.md).
    purged, _ = intake(
        engine, settings, {"narrative": "purged: the informant list"}, received_on=date(2026, 1, 5)
    )
    with session_scope(make_session_factory(engine)) as session:
        staff = select(Envelope.tip_id, Envelope.bucket).where(Envelope.kind == "staff")
        buckets = {tip: bucket for tip, bucket in session.execute(staff)}
        assert buckets[kept] != buckets[purged]
    file = tmp_path / "before-purge.age"
    result = backup(file)
    assert result.exit_code == 0, result.output
    _purge(engine, settings, border, purged)
    engine.dispose()

    destroy(settings)  # the keyring escrow kept off the server is the post-purge one
    result = restore(settings, file)
    assert result.exit_code == 0, result.output
    assert "envelopes have no bucket key in this keyring" in result.output

    restored = make_engine(settings.effective_database_url)
    try:
        with session_scope(make_session_factory(restored)) as session:
            rows = session.scalars(select(Envelope).where(Envelope.tip_id == purged)).all()
            assert rows  # the backup holds the purged tip's envelopes...
            for envelope in rows:  # ...and nothing left opens them, recovery key included
                assert open_envelope(session, envelope) is None
            view = tip_view(session, principal(border.reviewer_us), kept)
            assert view.report["narrative"] == "kept: the escort schedule"
            kept_staff = session.get_one(Envelope, (kept, "staff"))
            age_file = open_envelope(session, kept_staff)
            assert age_file is not None
            assert decrypt_bytes(age_file, [border.recovery_identity])
        with session_scope(make_session_factory(restored)) as session:
            ctx = load_context(session, settings)
            outcome = login_with_receipt(session, ctx, kept_receipt, now=utcnow())
            assert outcome.token is not None
    finally:
        restored.dispose()
