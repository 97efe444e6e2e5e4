"""A bucket key is never replaced under a tip being stored: destroying it waits for the intake
transaction that sealed envelopes under it, then re-seals them too (PostgreSQL: FOR KEY SHARE
against FOR UPDATE on the key row; SQLite: one writer). Both backends."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine

from service.config import Settings
from service.db import make_session_factory, session_scope, utcnow
from service.instance.context import load_context
from service.retention.buckets import open_bucket
from service.retention.shred import destroy_bucket_key
from service.tips.intake import begin_tip
from service.tips.keys import open_tip_keys
from service.tips.schemas import TipSubmission
from tests.factories import Border, submit, tip_json
from tests.service.retention_util import key_table


def test_destroying_a_key_waits_for_the_tip_being_stored_under_it(
    engine: Engine, settings: Settings, border: Border
) -> None:
    submit(engine, settings)  # the bucket exists
    bucket = open_bucket(utcnow().date())
    old = key_table(engine)[bucket]
    factory = make_session_factory(engine)
    destroyed = threading.Event()

    def destroy() -> None:
        with session_scope(factory) as session:
            destroy_bucket_key(session, bucket, today=utcnow().date())
        destroyed.set()

    with session_scope(factory) as session:
        ctx = load_context(session, settings)
        submission = TipSubmission.model_validate(tip_json())
        stored = begin_tip(session, ctx, submission).finish()  # sealed under `old`, uncommitted
        worker = threading.Thread(target=destroy)
        worker.start()
        time.sleep(0.5)
        assert not destroyed.is_set()  # waits for this transaction
    worker.join(timeout=30)
    assert destroyed.is_set()
    assert key_table(engine)[bucket] != old
    assert stored.tip_id is not None
    with factory() as session:  # stored under the old key, re-sealed under the new one
        assert open_tip_keys(session, stored.tip_id, border.supervisor_us.identity)
