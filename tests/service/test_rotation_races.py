"""Writers racing a key rotation never leave a blob under the dead key: every writer of tip
content reads the tip's recipients under the tip's lock (SQLite: the write lock; PostgreSQL:
the tip row's FOR UPDATE), so it either waits for the rotation and uses the new keys, or writes
first and has its header rewritten by the rotation. Two sessions on two threads, both backends."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from functools import partial

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from service.access.service import apply_pending, remove_member_with_access
from service.config import Settings
from service.db import make_session_factory, session_scope, utcnow
from service.errors import Unauthorized
from service.staff.models import Role
from service.tips.casework import send_message
from service.tips.receiving import EvidenceUpload
from tests.factories import Border, in_tx, principal, submit
from tests.service.access_util import apply_as, staff_row
from tests.service.rotation_util import (
    Keys,
    blob_ids,
    keys_of,
    opens,
    reporter_login,
    reporter_upload,
    reporter_writes,
    staff_writes,
)

WAIT = 0.5  # long enough for a thread to reach the lock; it must still be waiting then


class Racer(threading.Thread):
    """Runs `work` on its own thread and session; keeps what it raised."""

    def __init__(self, work: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self._work = work
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # handed to the test
            self.error = exc


def _remove_ana(engine: Engine, border: Border) -> None:
    def remove(session: Session) -> int:
        staff = staff_row(session, border.reviewer_us)
        return remove_member_with_access(session, compartment="us", staff=staff, actor="system")

    in_tx(engine, remove)


def _only_new_keys_open(engine: Engine, tip_id: uuid.UUID, old: Keys, border: Border) -> None:
    new = keys_of(engine, tip_id, border.supervisor_us.identity)
    for blob_id in blob_ids(engine, tip_id):
        assert not opens(engine, blob_id, old.all()), blob_id
        assert opens(engine, blob_id, new.all()), blob_id


def test_writers_that_wait_for_a_rotation_write_to_the_new_keys_or_are_refused(
    engine: Engine, settings: Settings, border: Border
) -> None:
    sam = principal(border.supervisor_us, Role.SUPERVISOR)
    tip_id, receipt = submit(engine, settings)
    reporter = reporter_login(engine, settings, receipt)
    old = keys_of(engine, tip_id, border.reviewer_us.identity)
    _remove_ana(engine, border)
    before = blob_ids(engine, tip_id)
    staff = Racer(partial(staff_writes, engine, sam, tip_id, "racing"))
    late_reporter = Racer(partial(reporter_writes, engine, reporter, "racing"))
    with session_scope(make_session_factory(engine)) as rotating:
        assert apply_pending(rotating, sam) == 1  # rotated, the tip locked, not committed yet
        staff.start()
        late_reporter.start()
        time.sleep(WAIT)
        assert staff.is_alive()  # both wait for the lock
        assert late_reporter.is_alive()
    staff.join(30)
    late_reporter.join(30)
    assert staff.error is None
    assert isinstance(late_reporter.error, Unauthorized)  # its session's key died meanwhile
    assert len(blob_ids(engine, tip_id) - before) == 2  # the staff message and note only
    _only_new_keys_open(engine, tip_id, old, border)


def test_a_rotation_that_waits_for_a_writer_rewrites_what_it_wrote(
    engine: Engine, settings: Settings, border: Border
) -> None:
    sam = principal(border.supervisor_us, Role.SUPERVISOR)
    tip_id, _ = submit(engine, settings)
    old = keys_of(engine, tip_id, border.reviewer_us.identity)
    _remove_ana(engine, border)
    before = blob_ids(engine, tip_id)
    rotation = Racer(partial(apply_as, engine, sam))
    with session_scope(make_session_factory(engine)) as writing:
        send_message(writing, sam, tip_id, "written to the old key", now=utcnow())
        rotation.start()
        time.sleep(WAIT)
        assert rotation.is_alive()  # waits for the writer's lock
    rotation.join(30)
    assert rotation.error is None
    assert len(blob_ids(engine, tip_id) - before) == 1
    _only_new_keys_open(engine, tip_id, old, border)


def test_an_upload_streamed_across_a_rotation_is_refused_and_stores_nothing(
    engine: Engine, settings: Settings, border: Border
) -> None:
    """The files were encrypted, before any lock, to the key the session held; the keys rotated
    while the body arrived: the store (under the lock) refuses with 401, the reporter signs in
    again with the receipt and sends the file again."""
    sam = principal(border.supervisor_us, Role.SUPERVISOR)
    tip_id, receipt = submit(engine, settings)
    reporter = reporter_login(engine, settings, receipt)
    old = keys_of(engine, tip_id, border.reviewer_us.identity)
    before = blob_ids(engine, tip_id)
    upload = EvidenceUpload(
        partial(session_scope, make_session_factory(engine)),
        reporter,
        spool_dir=settings.data_dir,
        files_required=True,
    )
    try:
        upload.begin(remove_metadata=False, message="with my file")
        sink = upload.open_file("slow.bin")
        sink.write(b"evidence " * 10_000)
        _remove_ana(engine, border)
        apply_as(engine, sam)  # the keys rotate while the body is still arriving
        sink.close()
        with pytest.raises(Unauthorized):
            upload.finish()
    finally:
        upload.close()
    assert blob_ids(engine, tip_id) == before  # neither the message nor the file
    reporter_upload(engine, settings, reporter_login(engine, settings, receipt), b"sent again")
    _only_new_keys_open(engine, tip_id, old, border)
