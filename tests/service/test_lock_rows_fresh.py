"""Rows read under `lock_rows` are the committed ones, even when the session already held the
object: two supervisors deciding one request at once must not both decide it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import ORMExecuteState

from service.approvals import service as approvals
from service.approvals.models import Approval, ApprovalStatus
from service.audit.log import history
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.errors import Conflict
from tests.factories import REFERRAL_RECIPIENT, in_tx, submit
from tests.service.workflow_util import Cast, cast


@pytest.fixture
def crew(engine: Engine, settings: Settings) -> Cast:
    return cast(engine, settings)


def test_a_request_decided_while_another_supervisor_waits_is_not_decided_twice(
    engine: Engine, settings: Settings, crew: Cast
) -> None:
    tip_id, _ = submit(engine, settings)
    request = in_tx(
        engine,
        lambda s: approvals.request(
            s, crew.ana, tip_id, kind="export", recipient=REFERRAL_RECIPIENT, now=utcnow()
        ),
    )
    session = make_session_factory(engine)()
    raced = False

    def sue_decides_first(state: ORMExecuteState) -> Any:
        # Sam's first read of the request (before any lock) sees it pending; Sue's decision
        # commits right then, before Sam takes the locks.
        nonlocal raced
        is_plain_read = state.is_select and state.statement._for_update_arg is None  # type: ignore[attr-defined]
        if raced or not is_plain_read or all(m.class_ is not Approval for m in state.all_mappers):
            return None
        raced = True
        result = state.invoke_statement().freeze()
        in_tx(
            engine,
            lambda s: approvals.decide(s, crew.sue, request.id, approve=True, now=utcnow()),
        )
        return result()

    event.listen(session, "do_orm_execute", sue_decides_first)
    try:
        with pytest.raises(Conflict):
            approvals.decide(session, crew.sam, request.id, approve=False, now=utcnow())
        session.commit()
    finally:
        session.close()
    assert raced
    with make_session_factory(engine)() as check:
        row = check.scalars(select(Approval).where(Approval.id == request.id)).one()
        assert (row.status, row.decided_by) == (ApprovalStatus.APPROVED.value, crew.sue.staff_id)
        decided = [e for e in history(check, tip_id) if e.action == "approval.decided"]
    assert len(decided) == 1
