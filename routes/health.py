"""Probes for the orchestrator: `/healthz` (the process answers) and `/readyz` (it can serve).

Anonymous by design; they reveal only short operational reasons, never data.
Imports FastAPI, `routes.errors`, `service.config` and `service.health`.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import Engine

from routes.errors import ErrorBody, json_error
from service.config import Settings
from service.health import readiness_problems

__all__ = ["ReadyBody", "StatusBody", "router"]

router = APIRouter(tags=["probes"])
# Checks running at once per process, counting those a probe gave up waiting for: during an
# outage, further probes answer at once instead of each leaving a thread behind. Probes that
# arrive while a check runs share its answer (`_shared_check`).
_CHECKS = 2
_NOT_ANSWERING = "database not answering"


class StatusBody(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyBody(BaseModel):
    status: Literal["ready"] = "ready"


def _check(running: threading.BoundedSemaphore, engine: Engine, settings: Settings) -> list[str]:
    try:
        return readiness_problems(engine, settings)
    finally:
        running.release()


class _Flight:
    """One readiness check in progress; probes arriving meanwhile share its answer."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.problems = [_NOT_ANSWERING]  # unless the check ends in time


async def _shared_check(state: Any) -> list[str]:
    # Probes that arrive while a check runs wait for its answer instead of starting their own:
    # a flood of (anonymous) probes on a healthy database must not read as "not answering".
    flight: _Flight | None = getattr(state, "readyz_flight", None)
    if flight is not None:
        await flight.done.wait()
        return flight.problems
    running: threading.BoundedSemaphore | None = getattr(state, "readyz_running", None)
    if running is None:
        running = state.readyz_running = threading.BoundedSemaphore(_CHECKS)
    if not running.acquire(blocking=False):
        return [_NOT_ANSWERING]  # earlier checks, abandoned, still hang: an outage
    flight = state.readyz_flight = _Flight()
    try:
        # Off the event loop; a check still running at the deadline is left to finish (the
        # database limits bound it) while we answer.
        flight.problems = await anyio.to_thread.run_sync(
            _check, running, state.engine, state.settings, abandon_on_cancel=True
        )
    finally:
        state.readyz_flight = None
        flight.done.set()
    return flight.problems


@router.get("/healthz", response_model=StatusBody)
async def healthz() -> StatusBody:
    """Liveness: answers without touching the database."""
    return StatusBody()


@router.get(
    "/readyz",
    response_model=ReadyBody,
    responses={503: {"model": ErrorBody, "description": "Not ready, with the reasons"}},
)
async def readyz(request: Request) -> ReadyBody | Response:
    """Readiness: database reachable, migrations at head, instance keys present. Answers within
    `readyz_timeout_seconds` whatever the database does."""
    state = request.app.state
    problems = [_NOT_ANSWERING]
    with anyio.move_on_after(state.settings.readyz_timeout_seconds):
        problems = await _shared_check(state)
    if problems:
        return json_error(503, "not_ready", "; ".join(problems))
    return ReadyBody()
