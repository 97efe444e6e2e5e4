"""The signed-in reporter's page: `GET /status/tip`, `POST /status/messages` and
`POST /status/contest` (contest a closure once, with an optional message; service.tips.contest).

The page shows the coarse status, the conversation and the evidence, and takes a message and
more files in one multipart form, stored in one transaction (service.tips.receiving's
EvidenceUpload, fed by routes.intake_flow; the CSRF token is checked before any file is read).
Every signed-in answer re-issues the session cookie (sliding idle timeout).

Imports FastAPI, `routes.*` and `service.*`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from routes import csrf
from routes.deps import Db, Gate, UnitOfWork, instance_context, run_blocking
from routes.i18n import pick_language
from routes.intake_flow import INTAKE_LIMITS, Fields, evidence_upload, receive
from routes.pages.forms import drain, read_small_form, refuse_cross_site, refuse_unless_multipart
from routes.pages.report_fields import MAXIMA, one, remove_metadata_choice
from routes.pages.status import COOKIE, LOGOUT, current_reporter, keep_session, to_login
from routes.pages.views import attachment_rows, long_date
from routes.templating import Pages, PagesDep, notice_of, see_other
from service.db import utcnow
from service.errors import Conflict, InvalidInput, NotFound, Unauthorized
from service.instance.context import InstanceContext
from service.tips.contest import contest_closure
from service.tips.conversation import ReporterView, reporter_view
from service.tips.receiving import EvidenceUpload
from service.tips.reporter_auth import ReporterSession
from service.tips.schemas import LIMITS

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
MESSAGE = "status-message"
CONTEST = "status-contest"
NOTICES = frozenset({"sent", "contested"})
# A message of LIMITS["message_max"] characters, percent-encoded, and a token.
CONTEST_FORM = 96 << 10


def _view(session: Session, reporter: ReporterSession) -> ReporterView:
    return reporter_view(session, reporter, today=utcnow().date())


def _view_context(view: ReporterView, lang: str) -> dict[str, Any]:
    return {
        "status": view.status,
        "received_on": long_date(view.received_on, lang),
        "contested_on": long_date(view.contested_on, lang) if view.contested_on else None,
        "messages": [
            {"mine": m.from_reporter, "sent_on": long_date(m.sent_on, lang), "body": m.body}
            for m in view.messages
        ],
        "attachments": attachment_rows(view.attachments),
    }


async def _render_tip(
    request: Request,
    db: UnitOfWork,
    pages: Pages,
    ctx: InstanceContext,
    reporter: ReporterSession,
    *,
    errors: dict[str, str] | None = None,
    body: str = "",
    contest_message: str = "",
    status_code: int | None = None,
) -> Response:
    try:
        view = await db.run_in_thread(partial(_view, reporter=reporter))
    except (NotFound, Unauthorized):  # the report is gone (e.g. purged), or its keys rotated:
        return to_login(request, "expired", clear=True)  # the session means nothing now
    now, binding = utcnow(), csrf.signed_in_binding(reporter)
    context = {
        **_view_context(view, pick_language(request)),
        "csrf_message": csrf.issue(ctx, purpose=MESSAGE, binding=binding, now=now),
        "csrf_logout": csrf.issue(ctx, purpose=LOGOUT, binding=binding, now=now),
        "csrf_contest": csrf.issue(ctx, purpose=CONTEST, binding=binding, now=now),
        "contest_message": contest_message,
        "errors": errors or {},
        "body": body,
        "notice": None if errors else notice_of(request, NOTICES),
        "limits": {**LIMITS, "file_max_mb": LIMITS["file_max_bytes"] >> 20},
        "maxima": MAXIMA,
    }
    status = status_code or (422 if errors else 200)
    response = pages.render(request, "reporter/status_tip.html", context, status_code=status)
    keep_session(request, response, ctx, reporter)
    return response


def _back_to_tip(
    request: Request, ctx: InstanceContext, reporter: ReporterSession, notice: str
) -> Response:
    response = see_other(request, f"/status/tip?notice={notice}")
    keep_session(request, response, ctx, reporter)
    return response


@router.get("/status/tip", response_class=HTMLResponse)
async def status_tip(request: Request, pages: PagesDep, db: Db) -> Response:
    """The report as the reporter may see it; without a valid session, back to the login."""
    ctx = await run_blocking(instance_context, request)
    reporter = current_reporter(request, ctx)
    if reporter is None:
        had_cookie = COOKIE in request.cookies
        return to_login(request, "expired" if had_cookie else "signin", clear=had_cookie)
    return await _render_tip(request, db, pages, ctx, reporter)


class _MessageHook:
    """`fields_in` for the upload: CSRF first, then the message and the files' options."""

    def __init__(
        self, ctx: InstanceContext, reporter: ReporterSession, upload: EvidenceUpload
    ) -> None:
        self.ctx = ctx
        self.reporter = reporter
        self.upload = upload
        self.body = ""

    def __call__(self, fields: Fields) -> None:
        options = {name: values[-1] for name, values in fields.items()}
        self.body = options.get("body", "")
        binding = csrf.signed_in_binding(self.reporter)
        csrf.verify(self.ctx, options.get("csrf"), purpose=MESSAGE, binding=binding, now=utcnow())
        self.upload.begin(remove_metadata=remove_metadata_choice(fields), message=self.body)


@router.post("/status/messages", response_class=HTMLResponse)
async def status_message(request: Request, pages: PagesDep, gate: Gate, db: Db) -> Response:
    """A message, files, or both, in one transaction; then back to the report."""
    refuse_unless_multipart(request, "the message form")
    ctx = await run_blocking(instance_context, request)
    reporter = current_reporter(request, ctx)
    if reporter is None:
        await drain(request, INTAKE_LIMITS.max_body)
        return to_login(request, "expired", clear=COOKIE in request.cookies)
    upload = evidence_upload(request, db, reporter, files_required=False)
    hook = _MessageHook(ctx, reporter, upload)
    async with gate.slot():
        try:
            result = await receive(request, gate, upload, fields_in=hook, drain_refused=True)
        except Unauthorized:  # the tip's keys rotated: nothing was stored, sign in again
            return to_login(request, "expired", clear=True)
        except InvalidInput as exc:
            errors = dict(exc.fields) or {"form": "invalid"}
            return await _render_tip(
                request, db, pages, ctx, reporter, errors=errors, body=hook.body
            )
    if not result.message_stored and not result.attachments:
        return await _render_tip(request, db, pages, ctx, reporter, errors={"body": "empty"})
    return _back_to_tip(request, ctx, reporter, "sent")


@router.post("/status/contest", response_class=HTMLResponse)
async def status_contest(request: Request, pages: PagesDep, db: Db) -> Response:
    """Contest the closure (once), with an optional message; then back to the report."""
    refuse_cross_site(request)
    fields = await read_small_form(request, CONTEST_FORM)
    ctx = await run_blocking(instance_context, request)
    reporter = current_reporter(request, ctx)
    if reporter is None:
        return to_login(request, "expired", clear=COOKIE in request.cookies)
    binding = csrf.signed_in_binding(reporter)
    csrf.verify(ctx, one(fields, "csrf"), purpose=CONTEST, binding=binding, now=utcnow())
    message = one(fields, "message")

    def work(session: Session) -> None:
        contest_closure(session, reporter, message, today=utcnow().date())

    try:
        await db.run_in_thread(work)
    except Unauthorized:  # the tip's keys rotated since sign-in
        return to_login(request, "expired", clear=True)
    except (InvalidInput, Conflict) as exc:
        code = "length" if isinstance(exc, InvalidInput) else exc.code
        errors = {"message": code}
        return await _render_tip(
            request,
            db,
            pages,
            ctx,
            reporter,
            errors=errors,
            contest_message=message,
            status_code=exc.status,
        )
    return _back_to_tip(request, ctx, reporter, "contested")
