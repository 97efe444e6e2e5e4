"""Build test data through the service layer, so tests exercise the real rules; and the few
helpers every test package shares (a transaction, a principal, a filed tip)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from crypto.age import decrypt_with_passphrase
from service.access.service import ConflictOutcome, register_conflict
from service.agencies.service import add_agency
from service.compartments.service import add_compartment
from service.config import Settings
from service.db import make_session_factory, session_scope
from service.instance.context import load_context
from service.instance.keys import load_blind_index_key
from service.instance.setup import InitResult, initialise, kdf_params
from service.staff.models import Role, StaffUser
from service.staff.service import create_staff, unseal_secrets
from service.staff.sessions import Principal
from service.tips.intake import begin_tip
from service.tips.models import Tip
from service.tips.reporter_auth import ReporterSession, login_with_receipt, open_token
from service.tips.schemas import TipSubmission

T = TypeVar("T")

ADMIN_PASSWORD = "correct horse battery"
RECOVERY_PASSPHRASE = "recovery passphrase for tests"
# An external age recipient for export requests (its private key is not kept: nothing decrypts).
REFERRAL_RECIPIENT = "age1sjjtgq9488p9d3xeczsz5qvx7zx93xzapquy0jxpcmtgusssx59se00r06"


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


@dataclass(frozen=True)
class StaffHandle:
    id: uuid.UUID
    username: str
    identity: str  # the unsealed X25519 identity, for decryption checks in tests
    totp_secret: str
    password: str = "staff password for tests"  # STAFF_PASSWORD


STAFF_PASSWORD = "staff password for tests"


def add_staff(
    engine: Engine, settings: Settings, username: str, role: Role, compartments: list[str]
) -> StaffHandle:
    with session_scope(make_session_factory(engine)) as session:
        new = create_staff(
            session,
            username=username,
            role=role,
            password=STAFF_PASSWORD,
            kdf=kdf_params(settings),
            compartments=compartments,
        )
        secrets = unseal_secrets(new.user, STAFF_PASSWORD)
        return StaffHandle(new.user.id, username, secrets.identity, new.totp_secret)


def add_conflict(
    engine: Engine, settings: Settings, staff_id: uuid.UUID, kind: str, value: str
) -> ConflictOutcome:
    """The member declares a conflict of their own: registered and applied at once, as
    `register_conflict` does it (a conflict for someone else needs four eyes)."""
    key = load_blind_index_key(settings.effective_keys_dir)
    with transaction(engine) as session:
        staff = session.get(StaffUser, staff_id)
        assert staff is not None
        return register_conflict(
            session, staff=staff, kind=kind, value=value, index_key=key, actor=staff_id
        )


@dataclass(frozen=True)
class Border:
    """An initialised instance with a US and a Mexican compartment, agencies and staff."""

    reviewer_us: StaffHandle
    supervisor_us: StaffHandle
    reviewer_mx: StaffHandle
    oversight: StaffHandle
    recovery_identity: str


def seed_border(engine: Engine, settings: Settings) -> Border:
    init_instance(engine, settings)
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        add_compartment(session, "us")
        add_compartment(session, "mx")
        add_agency(
            session,
            slug="el-paso-pd",
            name_en="El Paso Police Department",
            name_es="Departamento de Policía de El Paso",
            compartment="us",
            country="US",
        )
        add_agency(
            session,
            slug="tijuana-municipal",
            name_en="Tijuana Municipal Police",
            name_es="Policía Municipal de Tijuana",
            compartment="mx",
            country="MX",
        )
    recovery = decrypt_with_passphrase(recovery_path(settings).read_bytes(), RECOVERY_PASSPHRASE)
    identity = next(
        line for line in recovery.decode().splitlines() if line.startswith("AGE-SECRET-KEY-")
    )
    return Border(
        reviewer_us=add_staff(engine, settings, "ana", Role.REVIEWER, ["us"]),
        supervisor_us=add_staff(engine, settings, "sam", Role.SUPERVISOR, ["us"]),
        reviewer_mx=add_staff(engine, settings, "luis", Role.REVIEWER, ["mx"]),
        oversight=add_staff(engine, settings, "olga", Role.REVIEWER, ["oversight"]),
        recovery_identity=identity,
    )


def tip_json(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "agency": "el-paso-pd",
        "allegations": ["bribery", "leaking"],
        "narrative": "Sergeant Ramirez takes cash to let trucks pass at the Ysleta crossing.",
        "subjects": [
            {"name": "Juan Ramírez", "badge": "4471", "rank": "Sgt", "unit": "Bridge Unit 3"}
        ],
        "incident_date": "2026-10",
        "location": "Ysleta port of entry",
        "language": "en",
    }
    body.update(overrides)
    return body


# A third agency, as an admin proposes it on /staff/admin/agencies (add csrf and country).
JUAREZ_AGENCY = {
    "slug": "juarez-municipal",
    "name_en": "Juárez Municipal Police",
    "name_es": "Policía Municipal de Juárez",
    "compartment": "mx",
}


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One committed transaction (rolled back if the block raises)."""
    with session_scope(make_session_factory(engine)) as session:
        yield session


def in_tx(engine: Engine, fn: Callable[..., T]) -> T:
    """Run `fn(session)` in one transaction: committed, or rolled back if it raises."""
    with transaction(engine) as session:
        return fn(session)


def principal(who: StaffHandle, role: Role = Role.REVIEWER) -> Principal:
    """The signed-in form of a test staff member (what a session yields)."""
    return Principal(who.id, who.username, role, who.identity, uuid.uuid4())


def intake(
    engine: Engine,
    settings: Settings,
    overrides: dict[str, Any] | None = None,
    *,
    received_on: date | None = None,
) -> tuple[uuid.UUID, str]:
    """(tip id, receipt) of a tip filed by the intake service as the API does, received on
    `received_on` (today by default); `overrides` change `tip_json`'s fields."""
    submission = TipSubmission.model_validate(tip_json(**(overrides or {})))
    with transaction(engine) as session:
        ctx = load_context(session, settings)
        result = begin_tip(session, ctx, submission, today=received_on).finish()
    assert result.tip_id is not None
    return result.tip_id, result.receipt


def submit(engine: Engine, settings: Settings, **overrides: Any) -> tuple[uuid.UUID, str]:
    """(tip id, receipt) of a tip filed today (see `intake`)."""
    return intake(engine, settings, overrides)


def file_tip(
    engine: Engine, settings: Settings, *, received_on: date | None = None, **overrides: Any
) -> uuid.UUID:
    """The id of a tip filed by the intake service (see `intake`)."""
    return intake(engine, settings, overrides, received_on=received_on)[0]


def tip_row(engine: Engine, tip_id: uuid.UUID) -> Tip:
    """The tip as stored now (detached: read its columns, not its relationships)."""
    with make_session_factory(engine)() as session:
        tip = session.get(Tip, tip_id)
        assert tip is not None
        return tip


def reporter_session(
    engine: Engine, settings: Settings, receipt: str, *, now: datetime
) -> ReporterSession:
    """A reporter signed in with their receipt, as the status pages do (the session carries the
    tip's current conversation key, which every reporter action checks)."""
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        ctx = load_context(session, settings)
        token = login_with_receipt(session, ctx, receipt, now=now).token
    assert token is not None, "the receipt did not sign in"
    return open_token(ctx, token, now=now)
