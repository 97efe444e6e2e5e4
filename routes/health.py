"""Probes for the orchestrator: `/healthz` (the process answers) and `/readyz` (it can serve).

Anonymous by design; they reveal only short operational reasons, never data.
Imports FastAPI, `routes.errors` and `service.health`.
"""

from __future__ import annotations

from typing import Literal

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from routes.errors import ErrorBody, json_error
from service.health import readiness_problems

__all__ = ["ReadyBody", "StatusBody", "router"]

router = APIRouter(tags=["probes"])
# Checks running at once per process: probes that pile up during an outage wait (and time out)
# rather than each taking a thread and a connection.
_CHECKS = 2


class StatusBody(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyBody(BaseModel):
    status: Literal["ready"] = "ready"


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
    limiter: anyio.CapacityLimiter | None = getattr(state, "readyz_limiter", None)
    if limiter is None:
        limiter = state.readyz_limiter = anyio.CapacityLimiter(_CHECKS)
    problems = ["database not answering"]
    with anyio.move_on_after(state.settings.readyz_timeout_seconds):
        # Synchronous database work, off the event loop; a check still running at the deadline
        # is left to finish (the database limits bound it) while we answer.
        problems = await anyio.to_thread.run_sync(
            readiness_problems, state.engine, state.settings, abandon_on_cancel=True,
            limiter=limiter,
        )  # fmt: skip
    if problems:
        return json_error(503, "not_ready", "; ".join(problems))
    return ReadyBody()
