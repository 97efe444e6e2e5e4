"""Settings, built once from `PROBITY_*` environment variables and passed down explicitly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Clock", "DatabaseSettings", "KdfSettings", "Settings", "WalSettings"]


# The current time, timezone-aware UTC.
Clock = Callable[[], datetime]


class KdfSettings(BaseModel):
    """Argon2id cost for sealing staff keys under passwords.

    Production defaults take roughly half a second on one core; tests pass cheap values.
    """

    time_cost: int = Field(default=3, ge=1)
    memory_kib: int = Field(default=262_144, ge=8)
    lanes: int = Field(default=1, ge=1)
    # scrypt cost (log2 N) of the passphrase-protected recovery key file written at init.
    recovery_work_factor: int = Field(default=18, ge=10, le=22)
    # Bounded pool for expensive derivations: a login flood gets 503, not memory exhaustion.
    pool_size: int = Field(default=2, ge=1)


class DatabaseSettings(BaseModel):
    """PostgreSQL time limits (`PROBITY_DB__*`, seconds): a dead, refused or silently stalled
    database answers 503 within seconds instead of hanging requests (docs/operations.md)."""

    # Opening a connection; libpq counts whole seconds, at least 2.
    connect_timeout_seconds: int = Field(default=2, ge=2)
    # Server-side limits: one statement's run, a wait for a row or table lock.
    statement_timeout_seconds: float = Field(default=3.0, gt=0)
    lock_timeout_seconds: float = Field(default=2.0, gt=0)
    # A transaction left open and idle; above `body_idle_seconds`, since an upload's
    # transaction waits for the body to arrive.
    idle_in_transaction_timeout_seconds: float = Field(default=60.0, gt=0)
    # Client-side: the longest one call waits for the database's answer before its connection
    # is abandoned; the only limit that holds when the network stalls. Keep it above the
    # statement timeout, so a slow statement is cancelled by the server first.
    answer_timeout_seconds: float = Field(default=4.0, gt=0)
    # Waiting for a free connection from the pool.
    pool_timeout_seconds: float = Field(default=3.0, gt=0)
    # `probity worker`: its jobs (a flush batch, a checkpoint over a large log) may rightly run
    # longer than a request, but a stalled network must not stop them for good. Its statement
    # limit is a tenth shorter, so the server cancels a slow job before the client gives up.
    worker_answer_timeout_seconds: float = Field(default=300.0, gt=0)

    def for_worker(self) -> DatabaseSettings:
        """The limits `probity worker` runs with."""
        answer = self.worker_answer_timeout_seconds
        return self.model_copy(
            update={
                "statement_timeout_seconds": answer * 0.9,
                "lock_timeout_seconds": max(self.lock_timeout_seconds, 30.0),
                "idle_in_transaction_timeout_seconds": answer,
                "answer_timeout_seconds": answer,
                "pool_timeout_seconds": max(self.pool_timeout_seconds, 30.0),
            }
        )


class WalSettings(BaseModel):
    """SQLite's write-ahead log, kept bounded under a flood (service/walguard.py).

    Past the soft limit the server checkpoints and truncates the WAL; past the hard limit new
    reporter submissions wait up to `intake_wait_seconds` for it, then get 503 + Retry-After.
    """

    soft_limit_mib: float = Field(default=16.0, gt=0)
    hard_limit_mib: float = Field(default=32.0, gt=0)
    # How often each server process looks at the WAL's size (one stat call).
    check_seconds: float = Field(default=0.1, gt=0)
    # How long a truncating checkpoint may wait for the write lock and for readers to move on.
    checkpoint_wait_ms: int = Field(default=500, ge=0)
    intake_wait_seconds: float = Field(default=2.0, ge=0)


class Settings(BaseSettings):
    """Everything the service needs to start; `PROBITY_DATABASE_URL`, `PROBITY_DATA_DIR`, ..."""

    model_config = SettingsConfigDict(
        env_prefix="PROBITY_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Path("var")
    database_url: str = ""
    keys_dir: Path | None = None
    kdf: KdfSettings = KdfSettings()
    wal: WalSettings = WalSettings()
    db: DatabaseSettings = DatabaseSettings()
    # /readyz answers 503 ("database not answering") when its check takes longer than this.
    readyz_timeout_seconds: float = Field(default=3.0, gt=0)
    secure_cookies: bool = False
    # Submissions handled at once per process; more get 503 + Retry-After instead of queueing.
    intake_concurrency: int = Field(default=64, ge=1)
    # Of those, how many run their database work at once per process; the rest wait their turn
    # in the event loop. More threads only fight over the GIL and the connection pool
    # (bench/intake.py: 2 gave the most tips/s and the least CPU per tip on 2 cores).
    intake_threads: int = Field(default=2, ge=1)
    # Seconds without a byte of request body before the request ends with 408.
    body_idle_seconds: float = Field(default=30.0, gt=0)
    log_level: str = "INFO"
    # `probity serve`: a request's headers must be complete this many seconds after the
    # connection opened (or its first byte); otherwise the connection is closed.
    http_header_timeout_seconds: float = Field(default=10.0, gt=0)
    # ... an idle keep-alive connection is closed after this many seconds ...
    http_keep_alive_seconds: int = Field(default=5, ge=1)
    # ... and beyond this many open connections (or requests in flight) per process, 503.
    http_max_connections: int = Field(default=256, ge=1)
    # The worker appends reporter-caused audit events in shuffled batches this often (seconds).
    audit_flush_seconds: float = Field(default=3600.0, gt=0)
    # ... each batch of at most this many events its own transaction (a killed worker loses one).
    audit_flush_batch: int = Field(default=1000, ge=1, le=100_000)
    # ... and signs a new audit checkpoint this often when the log grew (seconds).
    checkpoint_seconds: float = Field(default=300.0, gt=0)
    # A resubmitted report form gets its receipt back for this long (then 410), rounded up to a
    # 10-minute slot; an API retry with the same Idempotency-Key, for this many hours.
    form_replay_minutes: int = Field(default=10, ge=1, le=60)
    api_replay_hours: int = Field(default=24, ge=1, le=168)
    # `probity backup` and the retention keyring escrow: age recipients (comma-separated
    # `age1...`) that can open them besides the organisation recovery key, e.g. an off-site
    # restore team's key.
    backup_recipients: str = ""
    # Disk full (SQLite; docs/operations.md): /readyz says "storage low" below this much free
    # space for the database, and the server keeps a reserve file of `storage_ballast_mb` in the
    # database's directory, deleted when a WAL checkpoint needs the room to finish.
    storage_reserve_mb: int = Field(default=64, ge=0)
    storage_ballast_mb: int = Field(default=64, ge=0)
    # Retention (service.retention): a closed tip is kept this many days (a compartment may set
    # its own, `probity compartment retention`), then its purge is requested by "system"; its
    # supervisors see it listed this many days before.
    retention_days: int = Field(default=365, ge=1, le=36_500)
    retention_warning_days: int = Field(default=30, ge=0, le=3_650)
    # "Now" for staff sign-in, TOTP steps, sessions and enrolment links: tests pass a clock they
    # can move rather than waiting for the next TOTP step. Set in code only, never by PROBITY_CLOCK.
    clock: Clock = Field(default=partial(datetime.now, UTC), exclude=True, repr=False)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'probity.db').resolve()}"

    @property
    def backup_recipient_list(self) -> list[str]:
        return [r.strip() for r in self.backup_recipients.split(",") if r.strip()]

    @property
    def effective_keys_dir(self) -> Path:
        """Secrets the server needs but the database must not hold (the log signing key)."""
        return self.keys_dir if self.keys_dir is not None else self.data_dir / "keys"
