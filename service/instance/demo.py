"""`probity demo`: an initialised instance with compartments, agencies from both sides of the
border and demo staff, so a newcomer can click through. Never for real data."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.agencies.models import Agency
from service.agencies.service import add_agency
from service.compartments.models import Compartment
from service.compartments.service import add_compartment
from service.config import Settings
from service.db import make_session_factory, session_scope
from service.errors import Conflict, NotFound
from service.instance.demo_tips import ensure_demo_tips
from service.instance.keys import write_secret_file
from service.instance.setup import initialise, is_initialised, kdf_params
from service.staff.models import Role, StaffUser
from service.staff.service import create_staff

__all__ = ["DemoAccount", "demo_totp_secret", "ensure_demo"]

MARKER = "DEMO"
CREDENTIALS = "demo-credentials.json"
RECOVERY = "demo-recovery-key.age"
# Public on purpose: demo instances hold no real data.
DEMO_RECOVERY_PASSPHRASE = "demo recovery passphrase"  # noqa: S105

COMPARTMENTS = [("us-border-integrity", False), ("mx-asuntos-internos", False)]
# A table, aligned by hand: one agency per entry, in the order of _AGENCY_FIELDS.
_AGENCY_FIELDS = ("slug", "name_en", "name_es", "country", "compartment")
AGENCIES = [
    ("us-cbp", "U.S. Customs and Border Protection",
     "Oficina de Aduanas y Protección Fronteriza de EE. UU.", "US", "us-border-integrity"),
    ("el-paso-pd", "El Paso Police Department",
     "Departamento de Policía de El Paso", "US", "us-border-integrity"),
    ("texas-dps", "Texas Department of Public Safety",
     "Departamento de Seguridad Pública de Texas", "US", "us-border-integrity"),
    ("sd-sheriff", "San Diego County Sheriff's Department",
     "Departamento del Sheriff del Condado de San Diego", "US", "us-border-integrity"),
    ("mx-guardia-nacional", "National Guard (Mexico)",
     "Guardia Nacional", "MX", "mx-asuntos-internos"),
    ("mx-fgr", "Federal Attorney General's Office (Mexico)",
     "Fiscalía General de la República", "MX", "mx-asuntos-internos"),
    ("tijuana-municipal", "Tijuana Municipal Police",
     "Policía Municipal de Tijuana", "MX", "mx-asuntos-internos"),
    ("chihuahua-estatal", "Chihuahua State Police",
     "Policía Estatal de Chihuahua", "MX", "mx-asuntos-internos"),
]  # fmt: skip
STAFF = [
    ("admin", Role.ADMIN, []),
    ("ana.reviewer", Role.REVIEWER, ["us-border-integrity"]),
    ("sam.supervisor", Role.SUPERVISOR, ["us-border-integrity"]),
    ("luis.revisor", Role.REVIEWER, ["mx-asuntos-internos"]),
    ("marta.supervisora", Role.SUPERVISOR, ["mx-asuntos-internos"]),
    ("olga.oversight", Role.REVIEWER, ["oversight"]),
    ("victor.oversight", Role.SUPERVISOR, ["oversight"]),
    ("audrey.auditor", Role.AUDITOR, []),
]


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    password: str
    totp_secret: str


def _load(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    data: dict[str, dict[str, str]] = json.loads(path.read_text())
    return data


def _save(path: Path, accounts: dict[str, dict[str, str]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    write_secret_file(tmp, json.dumps(accounts, indent=2).encode())
    tmp.replace(path)


def ensure_demo(engine: Engine, settings: Settings) -> list[DemoAccount]:
    """Initialise (once) and fill in whatever demo data is missing. Safe to run again."""
    data_dir = settings.data_dir
    creds_path = data_dir / CREDENTIALS
    factory = make_session_factory(engine)
    with factory() as session:
        initialised = is_initialised(session)
    if initialised and not (data_dir / MARKER).exists():
        raise Conflict("this instance holds real data (no DEMO marker); refusing to add demo data")
    accounts = _load(creds_path)
    if not initialised:
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / MARKER).write_text("demo data only: never put real reports here\n")
        password = "demo-" + secrets.token_urlsafe(9)
        result = initialise(
            engine,
            settings,
            admin_username="admin",
            admin_password=password,
            recovery_file=data_dir / RECOVERY,
            recovery_passphrase=DEMO_RECOVERY_PASSPHRASE,
        )
        accounts["admin"] = {
            "role": "admin",
            "password": password,
            "totp": result.admin_totp_secret,
        }
        _save(creds_path, accounts)
    with session_scope(factory) as session:
        _fill(session, settings, accounts)
    with session_scope(factory) as session:
        ensure_demo_tips(session, settings)
    _save(creds_path, accounts)
    return [
        DemoAccount(name, acc["role"], acc["password"], acc["totp"])
        for name, acc in accounts.items()
    ]


def _fill(session: Session, settings: Settings, accounts: dict[str, dict[str, str]]) -> None:
    """Add whichever demo compartments, agencies and staff are missing."""
    existing = set(session.scalars(select(Compartment.name)))
    for name, oversight in COMPARTMENTS:
        if name not in existing:
            add_compartment(session, name, oversight=oversight)
    slugs = set(session.scalars(select(Agency.slug)))
    for row in AGENCIES:
        if row[0] not in slugs:
            add_agency(session, **dict(zip(_AGENCY_FIELDS, row, strict=True)))
    users = set(session.scalars(select(StaffUser.username)))
    for username, role, compartments in STAFF:
        if username in users:
            continue
        password = "demo-" + secrets.token_urlsafe(9)
        new = create_staff(
            session,
            username=username,
            role=role,
            password=password,
            kdf=kdf_params(settings),
            compartments=compartments,
        )
        accounts[username] = {"role": role.value, "password": password, "totp": new.totp_secret}


def demo_totp_secret(settings: Settings, username: str) -> str:
    """The TOTP secret of a demo account; only in a data directory marked as demo."""
    if not (settings.data_dir / MARKER).exists():
        raise Conflict("not a demo data directory; `probity demo totp` works only there")
    account = _load(settings.data_dir / CREDENTIALS).get(username)
    if account is None:
        raise NotFound(f"no demo account {username!r}")
    return account["totp"]
