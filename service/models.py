"""Every model, imported once so `Base.metadata` is complete (Alembic and tests rely on it)."""

from service.agencies.models import Agency
from service.audit.models import PendingAuditEntry
from service.blobs.models import Blob, BlobChunk
from service.compartments.models import Compartment, Membership
from service.db import Base
from service.instance.models import InstanceKey
from service.staff.models import Role, StaffConflict, StaffUser
from service.tips.models import (
    Attachment,
    Envelope,
    IdempotencyRecord,
    Message,
    ReceiptLockout,
    SubjectIndex,
    Tip,
    TipAudience,
)

__all__ = [
    "Agency",
    "Attachment",
    "Base",
    "Blob",
    "BlobChunk",
    "Compartment",
    "Envelope",
    "IdempotencyRecord",
    "InstanceKey",
    "Membership",
    "Message",
    "PendingAuditEntry",
    "ReceiptLockout",
    "Role",
    "StaffConflict",
    "StaffUser",
    "SubjectIndex",
    "Tip",
    "TipAudience",
]
