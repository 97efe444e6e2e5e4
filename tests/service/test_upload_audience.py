"""An upload's audience is the one at the time it is stored (review of issue 11).

An upload is begun (routed, keys wrapped for its audience) when its fields arrive and stored when
its body has ended, minutes or hours later over a slow link. A conflict registered in between
(the reviewer turns out to know the officer named) must keep that reviewer out, as it would for
a tip stored at once: the design computes the audience at intake, and intake ends at the commit.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import Engine, select

from crypto.age import decrypt_bytes
from crypto.errors import DecryptionError
from service.config import Settings
from service.db import make_session_factory, session_scope
from service.instance.context import load_context
from service.tips.models import TipAudience
from service.tips.receiving import TipIntake
from service.tips.schemas import TipSubmission
from tests.factories import Border, add_conflict, tip_json
from tests.service.access_util import envelopes


def test_a_conflict_registered_while_the_body_arrives_keeps_the_reviewer_out(
    engine: Engine, settings: Settings, border: Border
) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        ctx = load_context(session, settings)
    intake = TipIntake(
        partial(session_scope, factory),
        ctx,
        key=None,
        window=timedelta(hours=1),
        spool_dir=settings.data_dir,
    )
    intake.begin(TipSubmission.model_validate(tip_json()), {})  # the fields have arrived
    writer = intake.open_file("video.bin")  # begins the tip: routed, keys wrapped
    writer.write(b"evidence " * 1000)
    # Meanwhile the unit learns that this reviewer is close to the officer named.
    add_conflict(engine, settings, border.reviewer_us.id, "name", "juan ramirez")
    writer.close()
    result = intake.finish()  # the body has ended
    intake.close()
    with factory() as session:
        readers = set(
            session.scalars(select(TipAudience.staff_id).where(TipAudience.tip_id == result.tip_id))
        )
    assert result.tip_id is not None
    opened = envelopes(engine, result.tip_id)
    assert border.reviewer_us.id not in readers
    assert border.supervisor_us.id in readers
    assert opened
    for data in opened.values():
        with pytest.raises(DecryptionError):
            decrypt_bytes(data, [border.reviewer_us.identity])
