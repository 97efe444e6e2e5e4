"""Attack (review of issue 13), a stranger holding a backup taken after a purge: the purged
tip's subject indexes and tokens (keyed HMACs of the officers, badges and units it named) were
left in place. The index key is in every backup's keys directory, so guessed names could still be
tested against the purged tip - who it accused outlived its purge - and it kept showing up as
related to new tips about the same officer. A purge keeps only the tip row's dates and flags
(docs/security.md "Purge"): the subject rows go with the envelopes."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from service.approvals import service as approvals
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.retention.sweep import purge_job
from service.tips.models import SubjectIndex, SubjectToken
from service.tips.related import related_tips
from tests.factories import in_tx, submit
from tests.service.workflow_util import Cast, cast


@pytest.fixture
def crew(engine: Engine, settings: Settings) -> Cast:
    return cast(engine, settings)


def test_a_purge_removes_the_tip_s_subject_indexes(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    purged, _ = submit(engine, settings)
    later, _ = submit(engine, settings)  # about the same officer
    with make_session_factory(engine)() as session:
        related = related_tips(session, crew.ana.staff_id, later)
        assert purged in {r.id for r in related}
        count = select(func.count()).select_from(SubjectIndex).where(SubjectIndex.tip_id == purged)
        assert (session.scalar(count) or 0) > 0
    asked = in_tx(
        engine, lambda s: approvals.request(s, crew.ana, purged, kind="purge", now=utcnow())
    )
    in_tx(engine, lambda s: approvals.decide(s, crew.sam, asked.id, approve=True, now=utcnow()))
    assert purge_job(make_session_factory(engine), settings) == 1

    with make_session_factory(engine)() as session:
        for model in (SubjectIndex, SubjectToken):
            left = select(func.count()).select_from(model).where(model.tip_id == purged)
            assert session.scalar(left) == 0, model.__name__
        related = related_tips(session, crew.ana.staff_id, later)
        assert purged not in {r.id for r in related}
