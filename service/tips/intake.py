"""The intake transaction: validate, route, create the tip's keys and envelopes, encrypt every
piece of content, index the subjects, record the audit event. Services only flush; the caller
commits, and only after the commit is the receipt shown (design section 2, guarantee 5).

    pending = begin_tip(session, ctx, submission)       # tip row, envelopes, report
    sink = pending.add_attachment(name, remove_metadata) # per file, streamed
    result = pending.finish()                           # priority, audit; then commit
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.age import encrypt_bytes, generate_identity
from crypto.blind import blind_index
from crypto.errors import FormatError
from crypto.receipt import Receipt, lookup_key, new_receipt, new_salt, reporter_identity
from service.agencies.models import Agency
from service.agencies.service import OTHER_AGENCY
from service.audit.pending import record_reporter_event
from service.blobs.store import write_blob
from service.db import utcnow
from service.errors import InvalidInput
from service.instance.context import InstanceContext
from service.tips.attachments import AttachmentSummary, AttachmentWriter
from service.tips.models import Envelope, KeyKind, SubjectIndex, Tip, TipAudience
from service.tips.priority import assess
from service.tips.routing import Audience, compute_audience
from service.tips.schemas import TipSubmission

__all__ = ["IntakeResult", "PendingTip", "begin_tip", "subject_keys", "submit_tip"]

SUBJECT_KINDS = ("name", "badge", "unit")


@dataclass(frozen=True)
class IntakeResult:
    tip_id: uuid.UUID | None  # None when an idempotent replay returned an earlier receipt
    receipt: str
    attachments: list[AttachmentSummary] = field(default_factory=list)


def subject_keys(index_key: bytes, submission: TipSubmission) -> list[tuple[str, bytes]]:
    keys: set[tuple[str, bytes]] = set()
    for subject in submission.subjects:
        for kind in SUBJECT_KINDS:
            value = getattr(subject, kind)
            if not value:
                continue
            try:
                keys.add((kind, blind_index(index_key, kind, value)))
            except FormatError:
                continue  # Only punctuation: nothing to link on.
    return sorted(keys)


def _agency(session: Session, slug: str) -> Agency | None:
    if slug == OTHER_AGENCY:
        return None
    agency = session.scalar(select(Agency).where(Agency.slug == slug, Agency.active))
    if agency is None:
        raise InvalidInput("agency: unknown agency", fields={"agency": "unknown"})
    return agency


def _new_receipt(session: Session) -> Receipt:
    # 40-bit lookup ids collide rarely; the unique constraint is the last word.
    for _ in range(8):
        receipt = new_receipt()
        taken = select(Tip.id).where(Tip.lookup_id == lookup_key(receipt))
        if session.scalar(taken) is None:
            return receipt
    raise RuntimeError("could not find a free receipt lookup id")


class PendingTip:
    def __init__(
        self, session: Session, ctx: InstanceContext, submission: TipSubmission, today: date
    ) -> None:
        self._session = session
        self._ctx = ctx
        self._submission = submission
        self._today = today
        self._attachments: list[AttachmentWriter] = []
        agency = _agency(session, submission.agency)
        subjects = subject_keys(ctx.index_key, submission)
        audience = compute_audience(
            session, agency=agency, subjects=subjects, senior_official=submission.senior_official
        )
        self.receipt = _new_receipt(session)
        salt = new_salt()
        _, reporter_recipient = reporter_identity(self.receipt.secret, salt)
        self.tip = Tip(
            id=uuid.uuid4(),
            lookup_id=lookup_key(self.receipt),
            reporter_salt=salt,
            reporter_recipient=reporter_recipient,
            compartment_id=audience.compartment.id,
            agency_id=agency.id if agency else None,
            received_on=today,
            reporter_active_on=today,
        )
        session.add(self.tip)
        session.flush()
        self._keys = self._create_envelopes(audience, reporter_recipient)
        session.add_all(SubjectIndex(tip_id=self.tip.id, kind=k, value=v) for k, v in subjects)
        self.tip.report_blob_id = self._write(KeyKind.CONVERSATION, submission.content())
        if submission.contact:
            self.tip.contact_blob_id = self._write(
                KeyKind.IDENTITY, {"contact": submission.contact}
            )

    def _create_envelopes(self, audience: Audience, reporter: str) -> dict[KeyKind, str]:
        recovery = self._ctx.recovery_recipient
        readers = [s.recipient for s in audience.readers]
        wanted = {
            KeyKind.CONVERSATION: [*readers, recovery, reporter],
            KeyKind.CASE: [*readers, recovery],
        }
        if self._submission.contact:
            wanted[KeyKind.IDENTITY] = [*(s.recipient for s in audience.custodians), recovery]
        publics: dict[KeyKind, str] = {}
        for kind, recipients in wanted.items():
            identity, public = generate_identity()
            data = encrypt_bytes(identity.encode(), recipients)
            self._session.add(
                Envelope(tip_id=self.tip.id, kind=kind.value, public_key=public, data=data)
            )
            publics[kind] = public
        custodians = {s.id for s in audience.custodians}
        self._session.add_all(
            TipAudience(tip_id=self.tip.id, staff_id=s.id, identity_custodian=s.id in custodians)
            for s in audience.readers
        )
        return publics

    def _write(self, kind: KeyKind, payload: object) -> uuid.UUID:
        return write_blob(
            self._session,
            tip_id=self.tip.id,
            key_kind=kind,
            recipients=[self._keys[kind]],
            data=json.dumps(payload).encode(),
        )

    def add_attachment(self, filename: str) -> AttachmentWriter:
        writer = AttachmentWriter(
            self._session,
            tip_id=self.tip.id,
            conversation_recipient=self._keys[KeyKind.CONVERSATION],
            seq=len(self._attachments),
            filename=filename,
            remove_metadata=self._submission.remove_metadata,
        )
        self._attachments.append(writer)
        return writer

    def finish(self) -> IntakeResult:
        summaries = [w.summary for w in self._attachments if w.summary is not None]
        priority = assess(self._submission, has_evidence=bool(summaries), today=self._today)
        self.tip.priority = priority.score
        self.tip.urgent = priority.urgent
        self.tip.priority_blob_id = self._write(KeyKind.CASE, {"reasons": priority.reasons})
        record_reporter_event(self._session, "tip.submitted", day=self._today, tip_id=self.tip.id)
        for summary in summaries:
            record_reporter_event(
                self._session, "attachment.added", day=self._today,
                tip_id=self.tip.id, attachment_id=summary.id,
            )  # fmt: skip
        self._session.flush()
        return IntakeResult(
            tip_id=self.tip.id, receipt=self.receipt.format(), attachments=summaries
        )


def begin_tip(
    session: Session, ctx: InstanceContext, submission: TipSubmission, *, today: date | None = None
) -> PendingTip:
    return PendingTip(session, ctx, submission, today or utcnow().date())


def submit_tip(session: Session, ctx: InstanceContext, submission: TipSubmission) -> IntakeResult:
    """A tip without files (the JSON API)."""
    return begin_tip(session, ctx, submission).finish()
