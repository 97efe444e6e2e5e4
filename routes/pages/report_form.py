"""The tip form: `GET /report` and `POST /report` (multipart, files last).

The form carries a one-time nonce (32 hex characters) and a CSRF token bound to it. The nonce is
the submission's idempotency key, so a double click or a browser retry returns the same receipt
and stores one tip. The receipt is shown once, in the body of the POST answer: never in a URL, a
log or a cookie. A form with mistakes comes back (422) with a message beside each field and the
text kept; files cannot be kept and must be attached again (the page says so).

Imports FastAPI, `routes.*` and `service.*`.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from routes import csrf
from routes.api.intake import _form_options
from routes.deps import Db, Gate, UnitOfWork, instance_context, run_blocking
from routes.i18n import pick_language
from routes.intake_flow import receive, tip_intake
from routes.pages.forms import refuse_unless_multipart
from routes.pages.report_fields import (
    FLAGS,
    MAXIMA,
    SUBJECT_PARTS,
    SUBJECT_SLOTS,
    TEXT_FIELDS,
    Fields,
    checked,
    error_field,
    one,
    remove_metadata_choice,
    subject_field,
    to_submission,
)
from routes.pages.views import attachment_rows
from routes.templating import Pages, PagesDep
from service.db import utcnow
from service.errors import CsrfRejected, InvalidInput
from service.instance.context import InstanceContext
from service.tips.intake import IntakeResult
from service.tips.receiving import TipIntake
from service.tips.schemas import LIMITS

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PURPOSE = "report"
_NONCE = re.compile(r"[0-9a-f]{32}")
_MB = 1 << 20


def _agency_groups(agencies: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """US first, then Mexico, then any other country; "other or unknown" is added by the page."""
    order = {"US": 0, "MX": 1}
    groups: dict[str, list[dict[str, str]]] = {}
    for agency in agencies:
        if agency["slug"] == "other":
            continue
        groups.setdefault(agency["country"], []).append(
            {"slug": agency["slug"], "name": agency["name"][lang]}
        )
    ordered = sorted(groups.items(), key=lambda item: (order.get(item[0], 2), item[0]))
    return [{"country": country, "agencies": items} for country, items in ordered]


def _values(fields: Fields) -> dict[str, Any]:
    """What to put back in the form after a refusal (never the honeypot or files)."""
    values: dict[str, Any] = {name: (fields.get(name) or [""])[0] for name in TEXT_FIELDS}
    values["allegations"] = list(fields.get("allegations", ()))
    values.update({flag: checked(fields, flag) for flag in FLAGS})
    values["remove_metadata"] = remove_metadata_choice(fields)
    return values


async def _render_form(
    request: Request,
    db: UnitOfWork,
    pages: Pages,
    *,
    nonce: str,
    token: str,
    fields: Fields | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    lang = pick_language(request)
    options = await db.run_in_thread(_form_options)
    context = {
        "agency_groups": _agency_groups(options["agencies"], lang),
        "allegations": [(a["code"], a["label"][lang]) for a in options["allegations"]],
        "limits": {
            **LIMITS,
            "file_max_mb": LIMITS["file_max_bytes"] // _MB,
            "tip_max_mb": LIMITS["tip_max_bytes"] // _MB,
        },
        "maxima": MAXIMA,
        "subject_slots": range(1, SUBJECT_SLOTS + 1),
        "subject_parts": SUBJECT_PARTS,
        "subject_field": subject_field,
        "values": _values(fields or {}),
        "errors": errors or {},
        "nonce": nonce,
        "csrf": token,
    }
    status = 422 if errors else 200
    return pages.render(request, "reporter/report_form.html", context, status_code=status)


@router.get("/report", response_class=HTMLResponse)
async def report_form(request: Request, pages: PagesDep, db: Db) -> HTMLResponse:
    """The empty form, with a fresh nonce and its CSRF token."""
    ctx = await run_blocking(instance_context, request)
    nonce = secrets.token_hex(16)
    token = csrf.issue(ctx, purpose=PURPOSE, binding=nonce, now=utcnow())
    return await _render_form(request, db, pages, nonce=nonce, token=token)


class _Converter:
    """`fields_in` for the tip: CSRF, honeypot, fields, then the intake's `begin` with the
    nonce as its key. Remembers what it saw, so a refusal raised later (e.g. an unknown agency)
    can still fill the form in again."""

    def __init__(self, ctx: InstanceContext, lang: str, intake: TipIntake) -> None:
        self.ctx = ctx
        self.lang = lang
        self.intake = intake
        self.fields: Fields = {}
        self.nonce: str | None = None  # set once the CSRF token was checked against it

    def __call__(self, fields: Fields) -> None:
        self.fields = fields
        nonce = one(fields, "nonce")
        if not _NONCE.fullmatch(nonce):
            raise CsrfRejected("the form's one-time number is missing or not valid")
        now = utcnow()
        csrf.verify(self.ctx, one(fields, "csrf"), purpose=PURPOSE, binding=nonce, now=now)
        self.nonce = nonce
        self.intake.begin(to_submission(fields, lang=self.lang), fields, key=nonce)


@router.post("/report", response_class=HTMLResponse)
async def submit_report(request: Request, pages: PagesDep, gate: Gate, db: Db) -> HTMLResponse:
    """Store the tip with its files in one transaction; show the receipt once."""
    refuse_unless_multipart(request, "the report form")
    ctx = await run_blocking(instance_context, request)
    intake = tip_intake(request, db, ctx, key=None, form=True)
    convert = _Converter(ctx, pick_language(request), intake)
    async with gate.slot():
        try:
            result = await receive(request, gate, intake, fields_in=convert, drain_refused=True)
        except InvalidInput as exc:
            return await _refused(request, db, pages, ctx, convert, exc)
    return _receipt_page(request, pages, result)


async def _refused(
    request: Request,
    db: UnitOfWork,
    pages: Pages,
    ctx: InstanceContext,
    convert: _Converter,
    exc: InvalidInput,
) -> HTMLResponse:
    errors = {error_field(name): code for name, code in exc.fields.items()} or {"form": "invalid"}
    nonce = convert.nonce
    fields: Fields = convert.fields
    if nonce is None:  # refused before the token was checked: start the form afresh
        nonce, fields = secrets.token_hex(16), {}
    # Nothing was stored under this nonce, so the corrected form may reuse it.
    token = csrf.issue(ctx, purpose=PURPOSE, binding=nonce, now=utcnow())
    return await _render_form(
        request, db, pages, nonce=nonce, token=token, fields=fields, errors=errors
    )


def _receipt_page(request: Request, pages: Pages, result: IntakeResult) -> HTMLResponse:
    context = {
        "receipt_groups": result.receipt.split("-"),
        "attachments": attachment_rows(result.attachments),
        "replayed": result.tip_id is None,
    }
    # 201 for a new tip; a replay (same nonce) shows the same receipt with 200.
    status = 200 if result.tip_id is None else 201
    return pages.render(request, "reporter/receipt.html", context, status_code=status)
