"""What request handling needs from the instance, loaded once at startup."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.config import Settings
from service.errors import NotInitialised
from service.instance.keys import load_blind_index_key
from service.instance.models import RECOVERY_RECIPIENT, InstanceKey

__all__ = ["InstanceContext", "load_context"]


@dataclass(frozen=True)
class InstanceContext:
    index_key: bytes
    recovery_recipient: str
    # Seals reporter session tokens; derived, so no extra key file to manage.
    reporter_session_key: bytes


def load_context(session: Session, settings: Settings) -> InstanceContext:
    row = session.get(InstanceKey, RECOVERY_RECIPIENT)
    if row is None:
        raise NotInitialised("instance not initialised; run `probity init`")
    try:
        index_key = load_blind_index_key(settings.effective_keys_dir)
    except OSError:
        raise NotInitialised("blind-index key file missing from the keys directory") from None
    session_key = hmac.new(index_key, b"probity/v1/reporter-session", hashlib.sha256).digest()
    return InstanceContext(
        index_key=index_key, recovery_recipient=row.value, reporter_session_key=session_key
    )
