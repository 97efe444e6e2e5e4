"""`probity init` as a service call: keys, recovery file, first admin, and nothing half-done."""

from __future__ import annotations

import stat
from pathlib import Path

import pyrage
import pytest
from sqlalchemy import Engine, func, select

from crypto.age import decrypt_bytes, encrypt_bytes
from crypto.errors import DecryptionError
from crypto.note import parse_verifier, sign_note, verify_note
from service.compartments.models import Compartment
from service.config import Settings
from service.db import make_session_factory
from service.errors import Conflict, InvalidInput
from service.health import readiness_problems
from service.instance.keys import BLIND_INDEX_FILE, LOG_SIGNING_FILE, load_log_signer
from service.instance.models import AUDIT_LOG_VKEY, RECOVERY_RECIPIENT, InstanceKey
from service.instance.setup import initialise
from service.staff.models import Role, StaffUser
from service.staff.service import unseal_secrets
from tests.conftest import CHEAP_KDF
from tests.factories import ADMIN_PASSWORD, RECOVERY_PASSPHRASE, init_instance, recovery_path


def test_init_creates_keys_recovery_file_and_admin(engine: Engine, settings: Settings) -> None:
    result = init_instance(engine, settings)
    keys_dir = settings.effective_keys_dir
    for name in (LOG_SIGNING_FILE, BLIND_INDEX_FILE):
        assert stat.S_IMODE((keys_dir / name).stat().st_mode) == 0o600
    with make_session_factory(engine)() as session:
        assert session.get(InstanceKey, AUDIT_LOG_VKEY).value == result.log_vkey  # type: ignore[union-attr]
        assert session.get(InstanceKey, RECOVERY_RECIPIENT).value == result.recovery_recipient  # type: ignore[union-attr]
        admin = session.scalars(select(StaffUser)).one()
        compartment = session.scalars(select(Compartment)).one()
    assert admin.role is Role.ADMIN
    assert compartment.oversight
    assert compartment.is_default
    # The admin's identity opens only with the password and matches the stored recipient.
    secrets = unseal_secrets(admin, ADMIN_PASSWORD)
    assert decrypt_bytes(encrypt_bytes(b"x", [admin.recipient]), [secrets.identity]) == b"x"
    assert secrets.totp_secret == result.admin_totp_secret
    with pytest.raises(DecryptionError):
        unseal_secrets(admin, ADMIN_PASSWORD + "!")
    # The signing key on disk matches the public key in the database.
    signer = load_log_signer(keys_dir)
    verifier = parse_verifier(result.log_vkey)
    assert verify_note(sign_note("probity\n1\n", signer), verifier) == "probity\n1\n"
    assert readiness_problems(engine, settings) == []


def test_recovery_file_is_a_passphrase_age_file_that_stock_tools_open(
    engine: Engine, settings: Settings
) -> None:
    result = init_instance(engine, settings)
    path = recovery_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    plaintext = pyrage.passphrase.decrypt(path.read_bytes(), RECOVERY_PASSPHRASE).decode()
    identity = next(line for line in plaintext.splitlines() if line.startswith("AGE-SECRET-KEY-"))
    # The private half is nowhere in the database: only its recipient is.
    blob = encrypt_bytes(b"recover me", [result.recovery_recipient])
    assert decrypt_bytes(blob, [identity]) == b"recover me"
    db_file = settings.data_dir / "probity.db"
    if db_file.exists():
        assert identity.encode() not in db_file.read_bytes()


def test_second_init_is_refused(engine: Engine, settings: Settings) -> None:
    init_instance(engine, settings)
    with pytest.raises(Conflict, match="already initialised"):
        init_instance(engine, settings)


def test_failed_init_leaves_no_files_and_no_rows(engine: Engine, settings: Settings) -> None:
    with pytest.raises(InvalidInput):
        initialise(
            engine,
            settings,
            admin_username="Bad Name!",
            admin_password=ADMIN_PASSWORD,
            recovery_file=recovery_path(settings),
            recovery_passphrase=RECOVERY_PASSPHRASE,
        )
    assert not recovery_path(settings).exists()
    assert not (settings.effective_keys_dir / LOG_SIGNING_FILE).exists()
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(InstanceKey)) == 0
        assert session.scalar(select(func.count()).select_from(Compartment)) == 0
    # And a corrected retry then works.
    init_instance(engine, settings)


def test_short_recovery_passphrase_is_refused(engine: Engine, settings: Settings) -> None:
    with pytest.raises(InvalidInput, match="passphrase"):
        initialise(
            engine,
            settings,
            admin_username="admin",
            admin_password=ADMIN_PASSWORD,
            recovery_file=recovery_path(settings),
            recovery_passphrase="short",
        )


def test_readiness_names_what_is_missing(empty_engine: Engine, tmp_path: Path) -> None:
    engine = empty_engine
    url = engine.url.render_as_string(hide_password=False)
    settings = Settings(data_dir=tmp_path / "var", database_url=url, kdf=CHEAP_KDF)
    assert readiness_problems(engine, settings) == [
        "migrations not at head (run `probity db upgrade`)"
    ]
    from service.migrations import upgrade

    upgrade(engine)
    assert readiness_problems(engine, settings) == ["instance keys missing (run `probity init`)"]
    init_instance(engine, settings)
    (settings.effective_keys_dir / LOG_SIGNING_FILE).unlink()
    assert readiness_problems(engine, settings) == [
        "key files missing or unreadable in the keys directory"
    ]


def test_readiness_reports_an_unreachable_database(settings: Settings) -> None:
    from service.db import make_engine

    dead = make_engine("postgresql://postgres@127.0.0.1:1/nothing")
    assert readiness_problems(dead, settings) == ["database unreachable"]
    dead.dispose()
