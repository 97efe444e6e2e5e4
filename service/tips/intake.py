"""The intake transaction: validate, route, create the tip's keys and envelopes, encrypt every
piece of content, index the subjects, record the audit event. Services only flush; the caller
commits, and only after the commit is the receipt shown (design section 2, guarantee 5).

    pending = begin_tip(session, ctx, submission)       # reads only: route, keys, envelopes
    sink = pending.add_attachment(name)                 # per file, streamed into a spool
    result = pending.finish()                           # every insert, priority, audit; commit

`finish(other_session)` stores the tip in another transaction than the one that began it: an
upload begins with a short read and stores once its body has arrived (service.tips.receiving).
The audience is computed again then, and the envelopes rewrapped if it changed meanwhile. The rows
themselves are staged and inserted by the fast path in service.tips.intake_rows.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto.age import encrypt_bytes, generate_identity
from crypto.receipt import Receipt, lookup_key, new_receipt, new_salt, reporter_recipient
from service.agencies.service import OTHER_AGENCY
from service.audit.pending import record_reporter_events
from service.blobs.pipeline import pipelined
from service.blobs.store import small_blob_rows
from service.db import utcnow
from service.errors import InvalidInput
from service.instance.context import InstanceContext
from service.retention.buckets import intake_bucket
from service.tips.attachments import AttachmentBatch, AttachmentSummary, AttachmentWriter
from service.tips.intake_rows import TipRows
from service.tips.models import EnvelopeKind, KeyKind, Tip
from service.tips.priority import assess
from service.tips.routing import (
    AgencyRoute,
    Audience,
    agency_route,
    compute_audience,
    names_leadership,
)
from service.tips.schemas import TipSubmission
from service.tips.subjects import SUBJECT_KINDS, SubjectKeys
from service.tips.subjects import subject_keys as _keys

__all__ = [
    "IntakeResult",
    "PendingTip",
    "begin_tip",
    "is_lookup_collision",
    "subject_keys",
    "submit_tip",
]


@dataclass(frozen=True)
class IntakeResult:
    tip_id: uuid.UUID | None  # None when an idempotent replay returned an earlier receipt
    receipt: str
    attachments: list[AttachmentSummary] = field(default_factory=list)


def subject_keys(index_key: bytes, submission: TipSubmission) -> SubjectKeys:
    """Blind indexes of the named officers, badges and units (service.tips.subjects)."""
    return _keys(
        index_key, ((k, getattr(s, k)) for s in submission.subjects for k in SUBJECT_KINDS)
    )


# Built once with bind parameters: building a statement costs more than running a cached one.
_LOOKUP_TAKEN = select(Tip.id).where(Tip.lookup_id == bindparam("lookup_id"))


def _agency(session: Session, slug: str, subjects: SubjectKeys) -> AgencyRoute | None:
    """Where the agency routes to; None for "other or unknown"."""
    if slug == OTHER_AGENCY:
        return None
    found = agency_route(session, slug, subjects)
    if found is None:
        raise InvalidInput("agency: unknown agency", fields={"agency": "unknown"})
    return found


def is_lookup_collision(exc: IntegrityError) -> bool:
    """A new tip's lookup id was taken (40 bits: about n / 10^12 per tip with n stored)."""
    message = str(exc.orig)  # the constraint (PostgreSQL) or the column (SQLite) is named
    return "uq_tips_lookup_id" in message or "tips.lookup_id" in message


def _new_receipt(session: Session) -> Receipt:
    # 40-bit lookup ids collide rarely; the unique constraint is the last word.
    for _ in range(8):
        receipt = new_receipt()
        if session.scalar(_LOOKUP_TAKEN, {"lookup_id": lookup_key(receipt)}) is None:
            return receipt
    raise RuntimeError("could not find a free receipt lookup id")


class PendingTip:
    """A tip being received. Its rows are staged (service.tips.intake_rows) and inserted by
    `finish`; files wait in a spool of ciphertext until then, so beginning a tip only reads."""

    def __init__(
        self,
        session: Session,
        ctx: InstanceContext,
        submission: TipSubmission,
        today: date,
        check_lookup: bool = True,
        spool_dir: Path | None = None,
    ) -> None:
        self._session = session
        self._ctx = ctx
        self._submission = submission
        self._today = today
        self._check_lookup = check_lookup
        self._events: list[tuple[str, dict[str, uuid.UUID]]] = []  # the audit's, by `finish`
        self._subjects = subject_keys(ctx.index_key, submission)
        audience = self._audience_now(session)
        self.tip_id = uuid.uuid4()
        self._rows = TipRows(self.tip_id, today=today)
        # The one key lookup; reads only (beginning a tip writes nothing).
        self._rows.set_bucket(intake_bucket(session, today, create=False))
        # Without the check (a query less), a taken lookup id fails the insert instead: see
        # `is_lookup_collision`, for callers that can simply try again.
        self._set_receipt(_new_receipt(session) if check_lookup else new_receipt())
        kinds = [KeyKind.CONVERSATION, KeyKind.CASE]
        kinds += [KeyKind.IDENTITY] if submission.contact else []
        self._identities = {kind: generate_identity() for kind in kinds}
        self._keys = {kind: public for kind, (_, public) in self._identities.items()}
        self._rows.set_keys(
            conversation=self._keys[KeyKind.CONVERSATION],
            case=self._keys[KeyKind.CASE],
            identity=self._keys.get(KeyKind.IDENTITY),
        )
        self._files = AttachmentBatch(
            tip_id=self.tip_id,
            conversation_recipient=self._keys[KeyKind.CONVERSATION],
            remove_metadata=submission.remove_metadata,
            spool_dir=spool_dir,
        )
        self._wrap(audience)
        self._rows.add_subjects(self._subjects.indexes, self._subjects.tokens)
        report = self._stage_blob(KeyKind.CONVERSATION, submission.content())
        self._rows.set_blobs(report_blob_id=report)
        if submission.contact:
            contact = self._stage_blob(KeyKind.IDENTITY, {"contact": submission.contact})
            self._rows.set_blobs(contact_blob_id=contact)

    def _set_receipt(self, receipt: Receipt) -> None:
        """A receipt and the reporter's key derived from it."""
        self.receipt = receipt
        salt = new_salt()
        self._reporter = reporter_recipient(receipt.secret, salt)
        self._rows.set_reporter(lookup_id=lookup_key(receipt), salt=salt, recipient=self._reporter)

    def _audience_now(self, session: Session) -> Audience:
        """Route the tip and compute its audience from what `session` sees."""
        submission = self._submission
        agency = _agency(session, submission.agency, self._subjects)
        self._agency_id = agency.agency_id if agency else None
        return compute_audience(
            session,
            agency=agency,
            subjects=self._subjects,
            senior_official=submission.senior_official,
            leadership=names_leadership([s.rank for s in submission.subjects]),
        )

    def _wrap(self, audience: Audience) -> None:
        """Seal the keys for `audience` (again if it changed before the tip was stored: the
        keys stay, so files already encrypted still open)."""
        recovery = self._ctx.recovery_recipient
        staff = {k.value: self._identities[k][0] for k in (KeyKind.CONVERSATION, KeyKind.CASE)}
        readers = [s.recipient for s in audience.readers]
        self._rows.set_envelope(
            EnvelopeKind.STAFF, encrypt_bytes(json.dumps(staff).encode(), [*readers, recovery])
        )
        self._seal_for_reporter()
        if KeyKind.IDENTITY in self._identities:
            custodians = [s.recipient for s in audience.custodians]
            identity = self._identities[KeyKind.IDENTITY][0].encode()
            self._rows.set_envelope(
                EnvelopeKind.IDENTITY, encrypt_bytes(identity, [*custodians, recovery])
            )
        self._rows.set_audience(
            compartment_id=audience.compartment.id,
            agency_id=self._agency_id,
            readers=[s.id for s in audience.readers],
            custodians={s.id for s in audience.custodians},
        )
        self._audience = _who(audience)

    def _seal_for_reporter(self) -> None:
        conversation = self._identities[KeyKind.CONVERSATION][0].encode()
        self._rows.set_envelope(
            EnvelopeKind.REPORTER, encrypt_bytes(conversation, [self._reporter])
        )

    def _stage_blob(self, kind: KeyKind, payload: object) -> uuid.UUID:
        blob_id, blob, chunk = small_blob_rows(
            tip_id=self.tip_id,
            key_kind=kind,
            recipients=[self._keys[kind]],
            data=json.dumps(payload).encode(),
        )
        self._rows.add_blob(blob, chunk)
        return blob_id

    def add_attachment(self, filename: str) -> AttachmentWriter:
        """A FileSink for one file: encrypted as it arrives into the spool, stored by `finish`."""
        return self._files.add(filename)

    def finish(self, session: Session | None = None) -> IntakeResult:
        """Insert every row of the tip into `session` (by default the one it began in)."""
        if session is not None:  # begun in an earlier transaction
            if self._check_lookup:
                self._take_free_lookup(session)
            # A conflict registered, or staff moved, while the body arrived: wrap for who may
            # read it now.
            self._rows.set_bucket(intake_bucket(session, self._today))
            audience = self._audience_now(session)
            if _who(audience) != self._audience:
                self._wrap(audience)
        session = session if session is not None else self._session
        if self._rows.bucket_provisional:  # no key yet when the tip began: create it now
            self._rows.set_bucket(intake_bucket(session, self._today))
        result = self._score()
        with pipelined(session):
            self._rows.insert(session)
            self._files.insert(session)
            record_reporter_events(session, self._events, day=self._today, tip_id=self.tip_id)
        self.close()  # the rows hold the files now
        return result

    def close(self) -> None:
        """Free the spool (the tip was stored, or will not be)."""
        self._files.close()

    def _score(self) -> IntakeResult:
        summaries = self._files.summaries()
        if len(summaries) != len(self._files.writers):
            raise RuntimeError("an attachment was not closed before finish()")
        if not self._events:  # once: `finish` may run again after a rolled-back attempt
            priority = assess(self._submission, has_evidence=bool(summaries), today=self._today)
            self._rows.set_priority(score=priority.score, urgent=priority.urgent)
            reasons = self._stage_blob(KeyKind.CASE, {"reasons": priority.reasons})
            self._rows.set_blobs(priority_blob_id=reasons)
            self._events = [("tip.submitted", {})]
            self._events += [("attachment.added", {"attachment_id": s.id}) for s in summaries]
        return IntakeResult(
            tip_id=self.tip_id, receipt=self.receipt.format(), attachments=summaries
        )

    def _take_free_lookup(self, session: Session) -> None:
        """Check the lookup id again in the storing transaction; if another tip took it since
        (about n / 10^12 with n tips stored), draw a new receipt and reseal the reporter's
        envelope for it."""
        if session.scalar(_LOOKUP_TAKEN, {"lookup_id": self._rows.lookup_id}) is None:
            return
        self._set_receipt(_new_receipt(session))
        self._seal_for_reporter()


def _who(audience: Audience) -> tuple[uuid.UUID, frozenset[uuid.UUID], frozenset[uuid.UUID]]:
    """What of an audience the stored tip depends on."""
    return (
        audience.compartment.id,
        frozenset(s.id for s in audience.readers),
        frozenset(s.id for s in audience.custodians),
    )


def begin_tip(
    session: Session,
    ctx: InstanceContext,
    submission: TipSubmission,
    *,
    today: date | None = None,
    check_lookup: bool = True,
    spool_dir: Path | None = None,
) -> PendingTip:
    """`spool_dir`: where files wait, encrypted, until `finish` (the data directory)."""
    today = today or utcnow().date()
    return PendingTip(session, ctx, submission, today, check_lookup, spool_dir)


def submit_tip(session: Session, ctx: InstanceContext, submission: TipSubmission) -> IntakeResult:
    """A tip without files (the JSON API)."""
    return begin_tip(session, ctx, submission).finish()
