"""Build test data through the service layer, so tests exercise the real rules."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from service.config import Settings
from service.instance.setup import InitResult, initialise

ADMIN_PASSWORD = "correct horse battery"
RECOVERY_PASSPHRASE = "recovery passphrase for tests"


def init_instance(engine: Engine, settings: Settings) -> InitResult:
    return initialise(
        engine,
        settings,
        admin_username="admin",
        admin_password=ADMIN_PASSWORD,
        recovery_file=recovery_path(settings),
        recovery_passphrase=RECOVERY_PASSPHRASE,
    )


def recovery_path(settings: Settings) -> Path:
    return settings.data_dir.parent / "offline" / "recovery.age"
