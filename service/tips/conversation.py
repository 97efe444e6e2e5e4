"""What a reporter sees when they come back, and the messages of both sides.

Writing needs only the tip's conversation public key, read under the tip's lock (staff callers
lock it with workflow.lock_tip, reporter writes here) so a key rotation cannot slip in between;
reading needs its private key, which a reporter session carries (opened from the envelope with
the receipt) until the keys rotate.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.audit.pending import record_reporter_event
from service.blobs.store import read_blob, write_blob
from service.errors import InvalidInput
from service.tips.models import Attachment, KeyKind, Message, Status, Tip
from service.tips.reporter_auth import ReporterSession, reporter_tip
from service.tips.schemas import LIMITS

__all__ = [
    "AttachmentView",
    "MessageView",
    "ReporterView",
    "add_reporter_message",
    "coarse_status",
    "post_staff_message",
    "reporter_view",
]


@dataclass(frozen=True)
class MessageView:
    from_reporter: bool
    sent_on: date
    body: str


@dataclass(frozen=True)
class AttachmentView:
    name: str
    size: int
    cleaned: bool
    removed: tuple[str, ...]
    reason: str | None = None  # why metadata could not be removed, as a code


@dataclass(frozen=True)
class ReporterView:
    status: str  # received, acknowledged, in_review or closed
    received_on: date
    messages: list[MessageView]
    attachments: list[AttachmentView]
    contested_on: date | None = None  # the reporter contested the closure (service.tips.contest)


def coarse_status(tip: Tip) -> str:
    if tip.status == Status.CLOSED:
        return "closed"
    if tip.status in (Status.NEEDS_INFO, Status.INVESTIGATING, Status.DECISION_REVIEW):
        return "in_review"
    return "acknowledged" if tip.acknowledged_at is not None else "received"


def _add_message(
    session: Session, tip: Tip, body: str, *, author_id: uuid.UUID | None, today: date
) -> Message:
    body = body.strip()
    if not body or len(body) > LIMITS["message_max"]:
        raise InvalidInput(
            f"body: a message needs 1-{LIMITS['message_max']} characters", fields={"body": "length"}
        )
    blob_id = write_blob(
        session,
        tip_id=tip.id,
        key_kind=KeyKind.CONVERSATION,
        recipients=[tip.conversation_recipient],
        data=json.dumps({"body": body}).encode(),
    )
    seq = session.scalar(select(func.count()).where(Message.tip_id == tip.id)) or 0
    message = Message(tip_id=tip.id, author_id=author_id, blob_id=blob_id, seq=seq, sent_on=today)
    session.add(message)
    session.flush()
    return message


def add_reporter_message(
    session: Session, reporter: ReporterSession, body: str, *, today: date
) -> None:
    tip = reporter_tip(session, reporter, lock=True)
    message = _add_message(session, tip, body, author_id=None, today=today)
    tip.reporter_active_on = today
    record_reporter_event(
        session, "message.from_reporter", day=today, tip_id=tip.id, message_id=message.id
    )


def post_staff_message(
    session: Session, tip: Tip, body: str, *, staff_id: uuid.UUID, today: date
) -> Message:
    """A message the reporter will read on their status page (staff workflow calls this, with
    `tip` locked by workflow.lock_tip)."""
    return _add_message(session, tip, body, author_id=staff_id, today=today)


def reporter_view(session: Session, reporter: ReporterSession, *, today: date) -> ReporterView:
    tip = reporter_tip(session, reporter)
    identities = [reporter.conversation_identity]
    messages = [
        MessageView(
            from_reporter=m.author_id is None,
            sent_on=m.sent_on,
            body=json.loads(read_blob(session, m.blob_id, identities))["body"],
        )
        for m in session.scalars(
            select(Message).where(Message.tip_id == tip.id).order_by(Message.seq)
        )
    ]
    attachments = []
    for a in session.scalars(
        select(Attachment).where(Attachment.tip_id == tip.id).order_by(Attachment.seq)
    ):
        info = json.loads(read_blob(session, a.info_blob_id, identities))
        attachments.append(
            AttachmentView(
                info["name"],
                info["size"],
                info["cleaned"],
                tuple(info["removed"]),
                info.get("reason"),
            )
        )
    record_reporter_event(session, "tip.read_by_reporter", day=today, tip_id=tip.id)
    return ReporterView(
        coarse_status(tip), tip.received_on, messages, attachments, tip.contested_on
    )
