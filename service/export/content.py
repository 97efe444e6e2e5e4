"""What goes into a referral bundle, decrypted with the exporter's key, and what the redacted
variant leaves out (docs/workflow.md, "Referral export").

Small parts (report, contact, evidence list, conversation, notes, history) are JSON documents
built here; evidence files are listed with their blob ids, to be streamed later
(service.export.bundle) and never held whole.

The REDACTED variant keeps the report (agency, allegations, narrative, subjects, location,
flags: the report is the point of a referral), the evidence files as cleaned at upload (a file
that was not cleaned is listed as `withheld` and left out: its metadata may name the reporter), the
conversation, the chosen notes and the tip's history; it drops the contact details (the identity
envelope is never opened), the report's language, original file names (neutral names
`evidence/NN.ext` from the detected type) and staff usernames, and coarsens every date to its
month (`YYYY-MM`): incident date (free text: kept only as `YYYY-MM` or `YYYY`, else null),
messages, notes and history.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from service.audit.canonical import AuditRecord
from service.audit.log import history
from service.blobs.store import read_blob
from service.export.repository import attachments_of, messages_of, notes_of, usernames
from service.export.schemas import ExportOrder, Variant
from service.tips.keys import TipKeys
from service.tips.models import Tip
from service.tips.view import staff_actor_ids

__all__ = ["Contents", "EvidenceFile", "gather"]

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]")
_KIND = re.compile(r"[a-z0-9]{1,8}")
_ISO_MONTH = re.compile(r"(\d{4}-\d{2})(?:-\d{2})?")
_YEAR = re.compile(r"\d{4}")
_EXPORT_ACTIONS = ("tip.export_started", "tip.exported")
# Entries whose mere presence says the reporter left contact details: not in a redacted history.
_SAYS_CONTACT = ("tip.identity_revealed",)


@dataclass(frozen=True)
class EvidenceFile:
    path: str
    blob_id: uuid.UUID
    size: int  # plaintext bytes, as cleaned at upload


@dataclass(frozen=True)
class Contents:
    documents: list[tuple[str, bytes]]  # small files, in bundle order
    evidence: list[EvidenceFile]
    identity: str  # the conversation key, to decrypt the evidence
    contact: bool  # whether contact.json (the reporter's contact details) is in the bundle


def _doc(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()


def _month(moment: date | datetime | str) -> str:
    return moment[:7] if isinstance(moment, str) else moment.strftime("%Y-%m")


def _when(moment: date | datetime, redacted: bool) -> str:
    if redacted:
        return _month(moment)
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat()


def _json(session: Session, blob_id: uuid.UUID | None, identity: str) -> Any:
    return {} if blob_id is None else json.loads(read_blob(session, blob_id, [identity]))


def _incident_month(value: Any) -> str | None:
    """The reporter's incident date (free text) as `YYYY-MM` or `YYYY`, or None: cutting free
    text to 7 characters is no month ("14/10/2026" would keep the day)."""
    text = str(value).strip()
    if found := _ISO_MONTH.fullmatch(text):
        return found.group(1)
    return text if _YEAR.fullmatch(text) else None


def _report(session: Session, tip: Tip, keys: TipKeys, redacted: bool) -> dict[str, Any]:
    report = dict(_json(session, tip.report_blob_id, keys.conversation))
    report["received_on"] = _when(tip.received_on, redacted)
    if redacted:
        report.pop("language", None)
        if report.get("incident_date") is not None:
            report["incident_date"] = _incident_month(report["incident_date"])
    return report


def _evidence(
    session: Session, tip: Tip, keys: TipKeys, redacted: bool
) -> tuple[list[dict[str, Any]], list[EvidenceFile]]:
    listed, files = [], []
    for number, attachment in enumerate(attachments_of(session, tip.id), start=1):
        info = _json(session, attachment.info_blob_id, keys.conversation)
        kind = str(info.get("kind") or "other")
        if redacted:
            path = f"evidence/{number:02d}.{kind if _KIND.fullmatch(kind) else 'bin'}"
        else:
            name = _SAFE_NAME.sub("_", str(info["name"])).lstrip(".") or "file"
            path = f"evidence/{number:02d}-{name[:100]}"
        entry = {
            "path": path,
            "kind": kind,
            "size": info["size"],
            "cleaned": info["cleaned"],
            "removed": list(info.get("removed", ())),
            "reason": info.get("reason"),
        }
        if not redacted:
            entry["name"] = info["name"]
        # A file kept as it came (the reporter's choice, too large, unreadable, unknown type)
        # still carries its metadata (EXIF GPS, Artist, Author...): never in a redacted bundle.
        entry["withheld"] = redacted and not info["cleaned"]
        if entry["withheld"]:
            del entry["path"]
        else:
            files.append(EvidenceFile(path, attachment.blob_id, int(info["size"])))
        listed.append(entry)
    return listed, files


def _conversation(
    session: Session, tip: Tip, keys: TipKeys, names: dict[uuid.UUID, str], redacted: bool
) -> list[dict[str, Any]]:
    messages = []
    for m in messages_of(session, tip.id):
        author = "reporter" if m.author_id is None else "staff"
        if not redacted and m.author_id is not None:
            author = names.get(m.author_id, "staff")
        body = _json(session, m.blob_id, keys.conversation)["body"]
        messages.append(
            {
                "from_reporter": m.author_id is None,
                "author": author,
                "sent_on": _when(m.sent_on, redacted),
                "body": body,
            }
        )
    return messages


def _notes(
    session: Session,
    tip: Tip,
    keys: TipKeys,
    order: ExportOrder,
    names: dict[uuid.UUID, str],
) -> list[dict[str, Any]]:
    redacted = order.variant is Variant.REDACTED
    notes = []
    for n in notes_of(session, tip.id, order.notes):
        payload = _json(session, n.blob_id, keys.case)
        author = None if n.author_id is None else names.get(n.author_id)
        notes.append(
            {
                "id": str(n.id),
                "author": "staff" if redacted else author,
                "kind": n.kind,
                "created_at": _when(n.created_at, redacted),
                "body": payload.get("body", payload.get("reason", "")),
            }
        )
    return notes


def _details(entry: AuditRecord, redacted: bool) -> dict[str, Any]:
    # An earlier export's `contact` says whether the reporter left contact details: not for a
    # recipient who must not learn who reported.
    if redacted and entry.action in _EXPORT_ACTIONS:
        return {k: v for k, v in entry.details.items() if k != "contact"}
    return dict(entry.details)


def _history(entries: list[AuditRecord], names: dict[str, str], redacted: bool) -> list[Any]:
    return [
        {
            "index": e.index,
            "time": _when(e.time, redacted),
            "actor": e.actor,
            **({} if redacted else {"actor_name": names.get(e.actor)}),
            "action": e.action,
            "objects": e.objects,
            "details": _details(e, redacted),
        }
        for e in entries
        if not (redacted and e.action in _SAYS_CONTACT)
    ]


def gather(
    session: Session, tip: Tip, order: ExportOrder, keys: TipKeys, identity_key: str | None
) -> Contents:
    """Decrypt the bundle's small parts and list its evidence. `identity_key` opens the contact
    details (full variant only; None when the exporter does not hold it)."""
    redacted = order.variant is Variant.REDACTED
    entries = history(session, tip.id)
    authors = {m.author_id for m in messages_of(session, tip.id)}
    authors |= {n.author_id for n in notes_of(session, tip.id, order.notes)}
    names = usernames(session, authors | staff_actor_ids(entries))
    listed, files = _evidence(session, tip, keys, redacted)
    documents = [("report.json", _doc(_report(session, tip, keys, redacted)))]
    contact = False
    if not redacted and identity_key is not None and tip.contact_blob_id is not None:
        contact = True
        documents.append(("contact.json", _doc(_json(session, tip.contact_blob_id, identity_key))))
    documents += [
        ("evidence.json", _doc(listed)),
        ("conversation.json", _doc(_conversation(session, tip, keys, names, redacted))),
        ("notes.json", _doc(_notes(session, tip, keys, order, names))),
        ("history.json", _doc(_history(entries, {str(k): v for k, v in names.items()}, redacted))),
    ]
    return Contents(documents, files, keys.conversation, contact)
