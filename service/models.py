"""Every model, imported once so `Base.metadata` is complete (Alembic and tests rely on it)."""

from service.access.models import AdminRequest, ConflictRequest, IdentityGrant, PendingAccessChange
from service.agencies.models import Agency
from service.approvals.models import Approval
from service.audit.models import AuditCheckpoint, AuditEntry, AuditNode, PendingAuditEntry
from service.blobs.models import Blob, BlobChunk
from service.compartments.models import Compartment, Membership
from service.db import Base
from service.export.models import TipExport
from service.instance.models import InstanceKey
from service.retention.models import RetentionKey
from service.staff.models import ConflictToken, Role, StaffConflict, StaffSession, StaffUser
from service.tips.models import (
    Attachment,
    Envelope,
    IdempotencyRecord,
    Message,
    Note,
    ReceiptLockout,
    SubjectIndex,
    SubjectToken,
    Tip,
    TipAudience,
    TipFinding,
)

__all__ = [
    "AdminRequest",
    "Agency",
    "Approval",
    "Attachment",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditNode",
    "Base",
    "Blob",
    "BlobChunk",
    "Compartment",
    "ConflictRequest",
    "ConflictToken",
    "Envelope",
    "IdempotencyRecord",
    "IdentityGrant",
    "InstanceKey",
    "Membership",
    "Message",
    "Note",
    "PendingAccessChange",
    "PendingAuditEntry",
    "ReceiptLockout",
    "RetentionKey",
    "Role",
    "StaffConflict",
    "StaffSession",
    "StaffUser",
    "SubjectIndex",
    "SubjectToken",
    "Tip",
    "TipAudience",
    "TipExport",
    "TipFinding",
]
