"""Structured logging: JSON lines on stderr, with an allowlist of keys.

Every record, from structlog or from the standard library (uvicorn, SQLAlchemy, ...), goes through
one formatter that keeps only the keys in `ALLOWED_KEYS`; anything else is dropped and counted in
`dropped`. Tracebacks are never written: an exception becomes `error=<class name>`, because
exception messages can quote content (SQL parameters, form values). Messages the HTTP server
writes while serving a connection are not written at all, only counted (`_ConnectionMessages`):
their time would date that connection.

Values of allowed keys must be ids, codes, counts or durations, never content. To log a new kind of
fact, add its key here in review.

Imports only the standard library and structlog; never FastAPI, Starlette or Jinja2.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections import Counter
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

__all__ = [
    "ALLOWED_KEYS",
    "allowlist_keys",
    "configure_logging",
    "get_logger",
    "take_connection_message_counts",
]

ALLOWED_KEYS = frozenset(
    {
        "event",
        "level",
        "timestamp",
        "logger",
        "path_template",
        "method",
        "status",
        "duration_ms",
        "action",
        "tip_id",
        "staff_id",
        "approval_id",
        "compartment_id",
        "job",
        "error",
        "count",
        "reason",
        "revision",
        "tree_size",
        "dropped",
        "remembered_moved",  # a restore moved the signer's remembered checkpoint aside (bool)
        "alarm_moved",  # and the alarm it cleared (its reason code)
    }
)

# Loggers whose messages carry client addresses by construction; silenced whatever the server flags.
_SILENCED = ("uvicorn.access",)
# Messages written while a connection is being served would date that connection, which may be a
# reporter's ("Invalid HTTP request received.", "Exceeded concurrency limit.", transport errors):
# uvicorn's protocol layer and these loggers are only counted, and the counts written later with
# the reporter request totals (routes.requestlog). Server start and stop messages still pass.
_CONNECTION_SOURCE = f"{os.sep}uvicorn{os.sep}protocols{os.sep}"
# psycopg's and the pool's messages about a lost database connection are written while a request is
# served too (and psycopg's quote the server's error messages).
_CONNECTION_LOGGERS = (
    "asyncio",
    "h11",
    "httptools",
    "uvicorn.access",
    "psycopg",
    "sqlalchemy.pool",
)
# Chatty at INFO (every readiness probe and CLI command); their warnings still come through.
_QUIET = ("alembic",)


def allowlist_keys(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """Keep allowlisted keys only; count what was dropped so a developer notices a missing key."""
    kept: EventDict = {k: v for k, v in event_dict.items() if k in ALLOWED_KEYS}
    dropped = len(event_dict) - len(kept)
    if dropped:
        kept["dropped"] = dropped
    return kept


def _exception_to_class_name(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """Replace a traceback with the exception's class name; the message may quote content."""
    exc_info = event_dict.pop("exc_info", None)
    event_dict.pop("exception", None)
    event_dict.pop("stack_info", None)
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        if isinstance(exc_info, BaseException):
            event_dict.setdefault("error", type(exc_info).__name__)
        elif isinstance(exc_info, tuple) and exc_info[0] is not None:
            event_dict.setdefault("error", exc_info[0].__name__)
    return event_dict


class _ConnectionMessages(logging.Filter):
    """Drops per-connection server messages, counting them by (logger, level)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        by_logger = any(name == n or name.startswith(n + ".") for n in _CONNECTION_LOGGERS)
        if not by_logger and _CONNECTION_SOURCE not in record.pathname:
            return True
        with self._lock:
            self._counts[(name, record.levelname.lower())] += 1
        return False

    def take(self) -> dict[tuple[str, str], int]:
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        return counts


_connection_messages = _ConnectionMessages()


def take_connection_message_counts() -> dict[tuple[str, str], int]:
    """Per-connection server messages dropped since the last call, by (logger, level)."""
    return _connection_messages.take()


class _StderrHandler(logging.Handler):
    """Writes to whatever `sys.stderr` is at emit time (so test capture and reloads both work)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def _level_number(level: str) -> int:
    number = logging.getLevelNamesMapping().get(level.upper())
    if number is None:
        raise ValueError(f"unknown log level {level!r}")
    return number


def configure_logging(level: str) -> None:
    """Route structlog and standard-library logging to allowlisted JSON lines on stderr.

    Idempotent: calling it again replaces the handler it installed before and leaves other handlers
    (for example a test runner's) alone.
    """
    number = _level_number(level)
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    pre_chain: list[Processor] = [
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        timestamper,
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            *pre_chain,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _exception_to_class_name,
            allowlist_keys,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    handler.addFilter(_connection_messages)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(number)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(number, logging.WARNING))
    for name in _SILENCED:
        silenced = logging.getLogger(name)
        silenced.handlers.clear()
        silenced.propagate = False
        silenced.disabled = True


def get_logger(name: str, **initial: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger; keys outside `ALLOWED_KEYS` are dropped when the line is written."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **initial)
    return logger
