"""Every model, imported once so `Base.metadata` is complete (Alembic and tests rely on it)."""

from service.agencies.models import Agency
from service.compartments.models import Compartment, Membership
from service.db import Base
from service.instance.models import InstanceKey
from service.staff.models import Role, StaffUser

__all__ = ["Agency", "Base", "Compartment", "InstanceKey", "Membership", "Role", "StaffUser"]
