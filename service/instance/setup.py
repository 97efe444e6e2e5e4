"""First-time set-up: schema, log key, recovery key, oversight compartment, first admin."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session, sessionmaker

from crypto.age import encrypt_with_passphrase, generate_identity
from crypto.keys import KdfParams
from service.audit.models import AuditLogKey
from service.compartments.service import add_compartment
from service.config import Settings
from service.db import make_session_factory, session_scope
from service.errors import Conflict, InvalidInput
from service.instance.keys import (
    BLIND_INDEX_FILE,
    LOG_SIGNING_FILE,
    create_instance_secrets,
    write_secret_file,
)
from service.instance.models import AUDIT_LOG_VKEY, RECOVERY_RECIPIENT, InstanceKey
from service.migrations import upgrade
from service.staff.models import Role
from service.staff.service import create_staff

__all__ = ["InitResult", "initialise", "is_initialised", "kdf_params"]

MIN_PASSPHRASE_LENGTH = 12


@dataclass(frozen=True)
class InitResult:
    admin_totp_uri: str
    admin_totp_secret: str
    recovery_recipient: str
    log_vkey: str
    recovery_file: Path


def kdf_params(settings: Settings) -> KdfParams:
    kdf = settings.kdf
    return KdfParams(time_cost=kdf.time_cost, memory_kib=kdf.memory_kib, lanes=kdf.lanes)


def is_initialised(session: Session) -> bool:
    if not inspect(session.connection()).has_table(InstanceKey.__tablename__):
        return False
    return session.get(InstanceKey, AUDIT_LOG_VKEY) is not None


def initialise(
    engine: Engine,
    settings: Settings,
    *,
    admin_username: str,
    admin_password: str,
    recovery_file: Path,
    recovery_passphrase: str,
    log_name: str = "probity.local/audit",
    oversight_name: str = "oversight",
) -> InitResult:
    """Set up a new instance. Files are created first and removed again if the commit fails."""
    if len(recovery_passphrase) < MIN_PASSPHRASE_LENGTH:
        raise InvalidInput(
            f"recovery passphrase must have at least {MIN_PASSPHRASE_LENGTH} characters"
        )
    upgrade(engine)
    factory = make_session_factory(engine)
    keys_dir = settings.effective_keys_dir
    _refuse_to_overwrite(factory, keys_dir, recovery_file)
    recovery_identity, recovery_recipient = generate_identity()
    sealed_recovery = encrypt_with_passphrase(
        f"# Probity organisation recovery key\n{recovery_identity}\n".encode(),
        recovery_passphrase,
        work_factor=settings.kdf.recovery_work_factor,
    )
    created: list[Path] = []
    try:
        signer = create_instance_secrets(keys_dir, log_name)
        created += [keys_dir / LOG_SIGNING_FILE, keys_dir / BLIND_INDEX_FILE]
        write_secret_file(recovery_file, sealed_recovery)
        created.append(recovery_file)
        with session_scope(factory) as session:
            add_compartment(session, oversight_name, oversight=True, default=True)
            admin = create_staff(
                session,
                username=admin_username,
                role=Role.ADMIN,
                password=admin_password,
                kdf=kdf_params(settings),
            )
            session.add(InstanceKey(name=AUDIT_LOG_VKEY, value=signer.verifier.encode()))
            session.add(
                AuditLogKey(
                    key_id=f"{signer.verifier.id:08x}",
                    verifier=signer.verifier.encode(),
                    from_size=0,
                )
            )
            session.add(InstanceKey(name=RECOVERY_RECIPIENT, value=recovery_recipient))
    except BaseException:
        for path in created:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    return InitResult(
        admin_totp_uri=admin.totp_uri,
        admin_totp_secret=admin.totp_secret,
        recovery_recipient=recovery_recipient,
        log_vkey=signer.verifier.encode(),
        recovery_file=recovery_file,
    )


def _refuse_to_overwrite(
    factory: sessionmaker[Session], keys_dir: Path, recovery_file: Path
) -> None:
    with factory() as session:
        if is_initialised(session):
            raise Conflict("this instance is already initialised")
    for name in (LOG_SIGNING_FILE, BLIND_INDEX_FILE):
        if (keys_dir / name).exists():
            raise Conflict(f"{keys_dir / name} already exists; move it away or use another dir")
    if recovery_file.exists():
        raise Conflict(f"{recovery_file} already exists; it would be overwritten")
