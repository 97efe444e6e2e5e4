"""Probes for the orchestrator: `/healthz` (the process answers) and `/readyz` (it can serve).

Anonymous by design; they reveal only short operational reasons, never data.
Imports FastAPI, `routes.errors`, `service.config` and `service.health`.
"""

from __future__ import annotations

import threading
from typing import Literal

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
# outage, further probes answer at once instead of each leaving a thread behind.
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
    running: threading.BoundedSemaphore | None = getattr(state, "readyz_running", None)
    if running is None:
        running = state.readyz_running = threading.BoundedSemaphore(_CHECKS)
    problems = [_NOT_ANSWERING]
    if running.acquire(blocking=False):
        with anyio.move_on_after(state.settings.readyz_timeout_seconds):
            # Off the event loop; a check still running at the deadline is left to finish (the
            # database limits bound it) while we answer.
            problems = await anyio.to_thread.run_sync(
                _check, running, state.engine, state.settings, abandon_on_cancel=True
            )
    if problems:
        return json_error(503, "not_ready", "; ".join(problems))
    return ReadyBody()
