"""The canonical bytes of an audit entry, and their validation.

An entry is compact JSON with sorted keys, ASCII only:
`{"action","actor","details","index","objects","tip","time","v":1}`. Details are allowlisted
scalars (short tokens, integers, booleans, null): anything that could carry content is refused
with ValueError before it reaches the log.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

__all__ = [
    "AuditRecord",
    "Detail",
    "actor_name",
    "decode_entry",
    "encode_entry",
    "format_time",
]

Detail = str | int | bool | None
_V = TypeVar("_V")

VERSION = 1
_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")
# Identifiers, status names, codes, usernames: no spaces, so no prose slips in.
_TOKEN = re.compile(r"[A-Za-z0-9_.:@+/=-]{0,128}")
_ACTORS = ("system", "reporter")
_MAX_ITEMS = 16
_MAX_INT = 2**63 - 1
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    index: int
    time: datetime | date  # a date only for reporter-caused entries
    actor: str
    action: str
    tip_id: uuid.UUID | None
    objects: dict[str, str] = field(default_factory=dict)
    details: dict[str, Detail] = field(default_factory=dict)


def format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def actor_name(actor: uuid.UUID | str) -> str:
    if isinstance(actor, uuid.UUID):
        return str(actor)
    if actor in _ACTORS:
        return actor
    try:
        return str(uuid.UUID(actor))
    except ValueError:
        raise ValueError("actor must be a staff id, 'system' or 'reporter'") from None


def _id_or_token(value: object) -> str | None:
    """`value` as an entry holds it when it is an id or a short token, else None."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str) and _TOKEN.fullmatch(value):
        return value
    return None


def _object_value(key: str, value: object) -> str:
    text = _id_or_token(value)
    if text is None:
        raise ValueError(f"object {key} must be an id or a short token")
    return text


def _detail_value(key: str, value: object) -> Detail:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and -_MAX_INT <= value <= _MAX_INT:
        return value
    text = _id_or_token(value)
    if text is None:
        raise ValueError(f"detail {key} must be a short token, an integer, a boolean or null")
    return text


def _checked(
    kind: str, items: Mapping[str, object] | None, value: Callable[[str, object], _V]
) -> dict[str, _V]:
    """`items` with allowlisted names and values (`value` converts one or raises ValueError)."""
    out: dict[str, _V] = {}
    for key, item in (items or {}).items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ValueError(f"bad {kind} name {key!r}")
        out[key] = value(key, item)
    if len(out) > _MAX_ITEMS:
        raise ValueError(f"too many {kind}s")
    return out


def encode_entry(
    *,
    index: int,
    time: str,
    actor: uuid.UUID | str,
    action: str,
    tip_id: uuid.UUID | None,
    objects: Mapping[str, uuid.UUID | str] | None,
    details: Mapping[str, Any] | None,
) -> bytes:
    """Validate and encode one entry; ValueError names the first offending field."""
    if not isinstance(action, str) or len(action) > 64 or not _ACTION.fullmatch(action):
        raise ValueError("action must be a dotted lowercase name")
    if not _TIME.fullmatch(time):
        raise ValueError("bad time")
    if tip_id is not None and not isinstance(tip_id, uuid.UUID):
        raise ValueError("tip_id must be a UUID")
    body = {
        "v": VERSION,
        "index": index,
        "time": time,
        "actor": actor_name(actor),
        "action": action,
        "tip": str(tip_id) if tip_id is not None else None,
        "objects": _checked("object", objects, _object_value),
        "details": _checked("detail", details, _detail_value),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _parse_time(text: str) -> datetime | date:
    if "T" in text:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return date.fromisoformat(text)


def decode_entry(canonical: bytes) -> AuditRecord:
    body = json.loads(canonical)
    return AuditRecord(
        index=body["index"],
        time=_parse_time(body["time"]),
        actor=body["actor"],
        action=body["action"],
        tip_id=uuid.UUID(body["tip"]) if body["tip"] is not None else None,
        objects=body["objects"],
        details=body["details"],
    )
