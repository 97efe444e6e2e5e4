"""Attack (review of issue 13): a backup taken before a purge, restored with the keyring escrow
written after it. The purged tip shared its bucket with another tip, so the purge did not delete
the bucket's key but replaced it (same bucket name, fresh key). Every envelope of that bucket in
the backup - the purged tip's and the kept tip's - no longer opens, yet the restore counted only
envelopes whose bucket *name* was missing from the keyring and so said nothing: a silent loss.
The restore must count envelopes that do not open under the key it loaded. Both backends."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from sqlalchemy import Engine, select

from service.approvals import service as approvals
from service.config import Settings
from service.db import make_engine, make_session_factory, session_scope, utcnow
from service.retention.buckets import open_envelope
from service.retention.sweep import purge_job
from service.staff.models import Role
from service.tips.models import Envelope
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
    in_tx(engine, lambda s: approvals.decide(s, supervisor, asked.id, approve=True, now=utcnow()))
    assert purge_job(make_session_factory(engine), settings) == 1


def test_a_replaced_bucket_key_is_reported_not_silent(
    cheap_kdf_env: Settings, engine: Engine, border: Border, tmp_path: Path
) -> None:
    settings = cheap_kdf_env
    kept, _ = intake(engine, settings, {"narrative": "kept: the escort schedule"})
    purged, _ = intake(engine, settings, {"narrative": "purged: the informant list"})
    with session_scope(make_session_factory(engine)) as session:
        buckets = set(session.scalars(select(Envelope.bucket)))
        assert len(buckets) == 1  # one bucket: the purge replaces its key, keeps the name
        kept_envelopes = len(session.scalars(select(Envelope).where(Envelope.tip_id == kept)).all())
    file = tmp_path / "before-purge.age"
    assert backup(file).exit_code == 0
    _purge(engine, settings, border, purged)
    engine.dispose()

    destroy(settings)
    result = restore(settings, file)
    assert result.exit_code == 0, result.output

    restored = make_engine(settings.effective_database_url)
    try:
        with session_scope(make_session_factory(restored)) as session:
            envelopes = session.scalars(select(Envelope)).all()
            closed = [e for e in envelopes if open_envelope(session, e) is None]
    finally:
        restored.dispose()
    # Nothing of that bucket opens: the purged tip's envelopes and the kept tip's as backed up.
    assert len(closed) == len(envelopes) >= kept_envelopes + 1
    found = re.search(r"WARNING: (\d+) key envelopes", result.output)
    assert found is not None, result.output
    assert int(found.group(1)) == len(closed)
