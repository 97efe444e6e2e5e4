"""Probes for the orchestrator: `/healthz` (the process answers) and `/readyz` (it can serve).

Anonymous by design; they reveal only short operational reasons, never data.
Imports FastAPI, `routes.errors` and `service.health`.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from routes.errors import ErrorBody, json_error
from service.health import readiness_problems

__all__ = ["ReadyBody", "StatusBody", "router"]

router = APIRouter(tags=["probes"])


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
    """Readiness: database reachable, migrations at head, instance keys present."""
    state = request.app.state
    # The check is synchronous database work; keep it off the event loop.
    problems = await run_in_threadpool(readiness_problems, state.engine, state.settings)
    if problems:
        return json_error(503, "not_ready", "; ".join(problems))
    return ReadyBody()
