"""The application factory: `create_app(settings)`, also `uvicorn routes.app:create_app --factory`.

Nothing connects at import time. The lifespan configures logging, builds the engine and session
factory from the settings and stores them on `app.state` (`settings`, `engine`, `session_factory`,
`wal_guard`; also `pages`, the template renderer), keeps SQLite's WAL bounded
(routes/walpressure.py), and disposes of the engine on shutdown.

Middleware, outermost first: security headers (wrapping even Starlette's own error middleware), then
Starlette's, then request logging with the last-resort 500, then FastAPI's exception handlers.

May import everything under `routes`, `service` and `crypto`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import anyio
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp

from routes import health
from routes.api import access as access_api
from routes.api import approvals as approvals_api
from routes.api import audit as audit_api
from routes.api import audit_cases as audit_cases_api
from routes.api import exports as exports_api
from routes.api import intake as intake_api
from routes.api import queue as queue_api
from routes.api import reporter as reporter_api
from routes.api import retention as retention_api
from routes.api import staff as staff_api
from routes.api import stats as stats_api
from routes.api import tips as tips_api
from routes.api import workflow as workflow_api
from routes.deps import refuse_control_characters
from routes.errors import ERROR_RESPONSES, install_error_handlers
from routes.pages import access as access_pages
from routes.pages import admin as admin_pages
from routes.pages import approvals as approvals_pages
from routes.pages import audit as audit_pages
from routes.pages import reporter as reporter_pages
from routes.pages import staff_actions as staff_action_pages
from routes.pages import staff_login as staff_login_pages
from routes.pages import staff_queue as staff_queue_pages
from routes.pages import staff_tip as staff_tip_pages
from routes.requestlog import (
    REPORTER_LOG_INTERVAL,
    DeferredRequestLog,
    RequestLogMiddleware,
    flush_periodically,
)
from routes.security import SecurityHeadersMiddleware
from routes.staff_auth import install_staff_auth
from routes.templating import Pages
from routes.walpressure import hold_writes_for_wal, keep_wal_bounded
from service.blobs.spool import keep_free
from service.config import Settings
from service.db import make_engine, make_session_factory
from service.logging import configure_logging
from service.storage import MIB, watch_engine
from service.walguard import wal_guard

__all__ = ["STATIC_DIR", "ProbityApp", "create_app"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


class ProbityApp(FastAPI):
    """FastAPI with the security headers outside everything, so no response can miss them."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeadersMiddleware(super().build_middleware_stack())


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    deferred: DeferredRequestLog = app.state.deferred_request_log
    configure_logging(settings.log_level)
    engine = make_engine(
        settings.effective_database_url, manual_checkpoints=True, limits=settings.db
    )
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.wal_guard = guard = wal_guard(engine, settings.wal)
    storage = watch_engine(engine, settings, app.state.session_factory)
    # Uploads in flight stop short of the database's reserve (and of /readyz's "storage low").
    keep_free(settings.data_dir, 2 * settings.storage_reserve_mb * MIB)
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(flush_periodically, deferred, REPORTER_LOG_INTERVAL)
            if guard is not None:
                tasks.start_soon(keep_wal_bounded, engine, guard, storage)
            yield
            tasks.cancel_scope.cancel()
    finally:
        deferred.flush()
        engine.dispose()


def _version() -> str:
    try:
        return version("probity")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; settings default to the `PROBITY_*` environment."""
    app = ProbityApp(
        title="Probity",
        version=_version(),
        openapi_url="/openapi.json",
        # The docs UIs load scripts from a CDN, which our CSP (rightly) forbids.
        docs_url=None,
        redoc_url=None,
        responses=ERROR_RESPONSES,
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry would record every request's path and exact time and send
        # them wherever the operator's environment points: off, whatever the environment says.
        telemetry=NO_TELEMETRY,
        dependencies=[Depends(refuse_control_characters)],
    )
    app.state.settings = settings if settings is not None else Settings()
    app.state.pages = Pages()
    app.state.deferred_request_log = DeferredRequestLog()
    install_error_handlers(app)
    install_staff_auth(app)
    app.add_middleware(RequestLogMiddleware, deferred=app.state.deferred_request_log)
    app.include_router(health.router)
    # Anonymous writers wait (then 503) while SQLite's WAL is over its hard limit; staff, few and
    # signed in, are never held back by a stranger's flood.
    anonymous = [Depends(hold_writes_for_wal)]
    app.include_router(intake_api.router, dependencies=anonymous)
    app.include_router(reporter_api.router, dependencies=anonymous)
    app.include_router(reporter_pages.router, dependencies=anonymous)
    # Staff and audit zones: each router carries its role dependency at router level.
    for module in (
        staff_api,
        queue_api,
        tips_api,
        workflow_api,
        exports_api,
        approvals_api,
        retention_api,
        audit_api,
        audit_cases_api,
        stats_api,
        access_api,
    ):
        app.include_router(module.router)
    for pages in (
        staff_login_pages,
        admin_pages,
        staff_queue_pages,
        staff_tip_pages,
        staff_action_pages,
        approvals_pages,
        audit_pages,
        access_pages,
    ):
        app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
