"""Staff recovery refusals and edges (service.staff.recovery, `probity staff recover`): it needs a
supervisor's approval - never the requester's, never the member's -, works once, needs this
instance's recovery key, and gives admins and auditors (who hold no keys) only new credentials."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from crypto.age import encrypt_with_passphrase, generate_identity
from service.access.changes import decide_change
from service.access.models import AdminRequest, RequestStatus
from service.access.recovery import recover_with_key
from service.audit.canonical import decode_entry
from service.audit.models import AuditEntry
from service.cli import app
from service.config import Settings
from service.db import utcnow
from service.errors import Conflict, InvalidInput, NotFound, NotPermitted
from service.instance.setup import kdf_params
from service.staff import enrolment
from service.staff.admin import reissue_enrolment_as
from service.staff.models import Role, StaffUser
from service.staff.recovery import APPROVAL_TTL, Recovered, recover_staff, request_recovery
from service.staff.service import unseal_secrets
from tests.factories import (
    RECOVERY_PASSPHRASE,
    Border,
    StaffHandle,
    add_staff,
    file_tip,
    in_tx,
    principal,
    recovery_path,
)
from tests.service.access_util import can_open, envelopes

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("cheap_kdf_env")
PASSWORD = "a brand new passphrase of mine"


@pytest.fixture
def otto(engine: Engine, settings: Settings, border: Border) -> StaffHandle:
    """An oversight supervisor: decides recovery requests."""
    return add_staff(engine, settings, "otto", Role.SUPERVISOR, ["oversight"])


def file_request(engine: Engine, username: str, actor: uuid.UUID | str = "system") -> uuid.UUID:
    return in_tx(engine, lambda s: request_recovery(s, username=username, actor=actor).id)


def decide(engine: Engine, who: StaffHandle, request_id: uuid.UUID, approve: bool = True) -> None:
    decider = principal(who, Role.SUPERVISOR)
    in_tx(engine, lambda s: decide_change(s, decider, request_id=request_id, approve=approve))


def recover(engine: Engine, username: str, identity: str, days: int = 0) -> Recovered:
    now = utcnow() + timedelta(days=days)
    return in_tx(
        engine, lambda s: recover_staff(s, username=username, recovery_identity=identity, now=now)
    )


def reenrol(engine: Engine, settings: Settings, token: str) -> str:
    """Choose PASSWORD and confirm a code at the link; returns the new TOTP secret."""
    kdf, now = kdf_params(settings), utcnow()
    keys = in_tx(engine, lambda s: enrolment.begin(s, token, password=PASSWORD, kdf=kdf, now=now))
    code = pyotp.TOTP(keys.totp_secret).now()
    in_tx(
        engine,
        lambda s: enrolment.confirm(s, token, password=PASSWORD, code=code, kdf=kdf, now=now),
    )
    return keys.totp_secret


def user(engine: Engine, username: str) -> StaffUser:
    with Session(engine) as session:
        return session.scalars(select(StaffUser).where(StaffUser.username == username)).one()


def actions(engine: Engine, action: str) -> list[dict[str, object]]:
    with engine.connect() as connection:
        rows = connection.scalars(select(AuditEntry.canonical).order_by(AuditEntry.index))
        return [dict(r.details) for r in map(decode_entry, rows) if r.action == action]


def cli_recover(username: str, passphrase: str = RECOVERY_PASSPHRASE, path: str = "") -> Result:
    args = ["staff", "recover", username, "--recovery-file"]
    args.append(path or str(recovery_path(Settings())))
    return runner.invoke(app, [*args, "--password-stdin"], input=passphrase + "\n")


def test_only_another_supervisor_approves_and_only_once(
    engine: Engine, settings: Settings, border: Border, otto: StaffHandle
) -> None:
    sid = add_staff(engine, settings, "sid", Role.SUPERVISOR, ["oversight"])
    tip = file_tip(engine, settings, contact="signal: +1 555 0100")
    sam = border.supervisor_us
    # Filed by otto: otto may not decide it; sam (the member) may not either.
    request_id = file_request(engine, "sam", actor=otto.id)
    with pytest.raises(NotPermitted):
        decide(engine, otto, request_id)
    with pytest.raises(NotPermitted):
        decide(engine, sam, request_id)
    with pytest.raises(Conflict):  # the same request twice
        file_request(engine, "sam")
    with pytest.raises(NotPermitted):  # filed, not approved
        recover(engine, "sam", border.recovery_identity)
    decide(engine, sid, request_id)
    with pytest.raises(Conflict):  # decided already
        decide(engine, sid, request_id, approve=False)
    done = recover(engine, "sam", border.recovery_identity)
    assert done.tips == 1
    with pytest.raises(NotPermitted):  # single use
        recover(engine, "sam", border.recovery_identity)
    assert actions(engine, "staff.recovered") == [{"tips": 1, "sessions_ended": 0}]
    # Until sam re-enrols, no new link can replace the recovery one.
    with pytest.raises(Conflict, match="being recovered"):
        in_tx(engine, lambda s: reissue_enrolment_as(s, otto.id, username="sam", now=utcnow()))
    reenrol(engine, settings, done.token)
    [started] = [a for a in actions(engine, "staff.enrolment_started") if a.get("recovery")]
    assert started == {"recovery": True}
    identity = unseal_secrets(user(engine, "sam"), PASSWORD).identity
    assert can_open(engine, tip, "staff", identity)
    assert can_open(engine, tip, "identity", identity)
    assert not can_open(engine, tip, "identity", sam.identity)


def test_a_rejected_or_stale_approval_recovers_nobody(
    engine: Engine, border: Border, otto: StaffHandle
) -> None:
    rejected = file_request(engine, "ana")
    decide(engine, otto, rejected, approve=False)
    with pytest.raises(NotPermitted):
        recover(engine, "ana", border.recovery_identity)
    decide(engine, otto, file_request(engine, "ana"))
    with pytest.raises(NotPermitted):  # approvals expire
        recover(engine, "ana", border.recovery_identity, days=APPROVAL_TTL.days + 1)
    assert recover(engine, "ana", border.recovery_identity).tips == 0  # ana reads no tip yet


def test_unknown_deactivated_and_never_enrolled_accounts_are_refused(
    engine: Engine, border: Border, otto: StaffHandle
) -> None:
    with pytest.raises(NotFound):
        file_request(engine, "nobody")
    with pytest.raises(NotFound):
        recover(engine, "nobody", border.recovery_identity)

    def deactivate(session: Session) -> None:
        row = session.scalars(select(StaffUser).where(StaffUser.username == "luis")).one()
        row.active = False

    in_tx(engine, deactivate)
    with pytest.raises(Conflict, match="deactivated"):
        file_request(engine, "luis")

    def unenrolled(session: Session) -> str:
        user, _ = enrolment.create_unenrolled(
            session, username="rosa", role=Role.REVIEWER, actor="system", now=utcnow()
        )
        return user.username

    in_tx(engine, unenrolled)
    with pytest.raises(Conflict, match="never enrolled"):
        file_request(engine, "rosa")


def test_a_wrong_recovery_key_or_passphrase_changes_nothing(
    engine: Engine, settings: Settings, border: Border, otto: StaffHandle, tmp_path: object
) -> None:
    tip = file_tip(engine, settings)
    decide(engine, otto, file_request(engine, "ana"))
    before = envelopes(engine, tip)
    stranger, _ = generate_identity()
    with pytest.raises(InvalidInput, match="not this instance's recovery key"):
        recover(engine, "ana", stranger)
    wrong = cli_recover("ana", passphrase="not the passphrase")
    assert wrong.exit_code == 1
    assert "Traceback" not in wrong.output
    other = recovery_path(settings).with_name("other.age")
    other.write_bytes(encrypt_with_passphrase(stranger.encode(), "other", work_factor=10))
    foreign = cli_recover("ana", passphrase="other", path=str(other))
    assert foreign.exit_code == 1
    assert "not this instance's recovery key" in foreign.output
    assert envelopes(engine, tip) == before
    assert user(engine, "ana").enrolled_at is not None
    with Session(engine) as session:
        assert session.scalars(select(AdminRequest.status)).all() == [RequestStatus.APPROVED]
    done = cli_recover("ana")  # the approval was not spent by the failures
    assert done.exit_code == 0, done.output
    assert "/staff/enrol?token=" in done.output
    assert not can_open(engine, tip, "staff", border.reviewer_us.identity)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.AUDITOR])
def test_admins_and_auditors_get_new_credentials_and_no_keys(
    engine: Engine, settings: Settings, border: Border, otto: StaffHandle, role: Role
) -> None:
    """They hold no tip keys: recovery is the same four-eyes procedure, re-addresses nothing and
    gives them a new identity, password and TOTP."""
    who = add_staff(engine, settings, "root2", role, [])
    decide(engine, otto, file_request(engine, "root2"))
    done = recover(engine, "root2", border.recovery_identity)
    assert done.tips == 0
    row = user(engine, "root2")
    assert row.sealed_secrets is None
    assert row.enrolled_at is None
    reenrol(engine, settings, done.token)
    row = user(engine, "root2")
    assert row.role is role
    assert row.enrolled_at is not None
    assert unseal_secrets(row, PASSWORD).identity != who.identity


def test_the_old_identity_opens_nothing_written_after_recovery(
    engine: Engine, settings: Settings, border: Border, otto: StaffHandle
) -> None:
    sam = border.supervisor_us
    old_tip = file_tip(engine, settings)
    decide(engine, otto, file_request(engine, "sam"))
    done = recover(engine, "sam", border.recovery_identity)
    waiting_tip = file_tip(engine, settings)  # before sam re-enrols: routing skips sam
    assert not can_open(engine, waiting_tip, "staff", sam.identity)
    reenrol(engine, settings, done.token)
    identity = unseal_secrets(user(engine, "sam"), PASSWORD).identity
    # The add queued at re-enrolment: no supervisor holds that tip's keys (sam was its only
    # one), so the recovery key applies it, addressed to sam's new recipient.
    outcome = in_tx(
        engine, lambda s: recover_with_key(s, recovery_identity=border.recovery_identity)
    )
    assert outcome.rewritten == 1
    new_tip = file_tip(engine, settings, contact="signal: +1 555 0100")
    for tip in (old_tip, waiting_tip, new_tip):
        assert can_open(engine, tip, "staff", identity), tip
        assert not can_open(engine, tip, "staff", sam.identity), tip
    assert can_open(engine, new_tip, "identity", identity)


def test_the_command_line_says_what_to_give(border: Border) -> None:
    both = runner.invoke(app, ["staff", "recover", "ana", "--request", "--recovery-file", "x"])
    assert both.exit_code == 1
    assert "exactly one of --request or --recovery-file" in both.output
    unknown = runner.invoke(app, ["staff", "recover", "nobody", "--request"])
    assert unknown.exit_code == 1
    assert "no staff member named 'nobody'" in unknown.output
    helped = runner.invoke(app, ["staff", "recover", "--help"])
    assert helped.exit_code == 0
    assert "Example: " in helped.output


def test_an_unused_link_can_be_replaced_by_a_second_approved_recovery(
    engine: Engine, settings: Settings, border: Border, otto: StaffHandle
) -> None:
    tip = file_tip(engine, settings)
    decide(engine, otto, file_request(engine, "ana"))
    first = recover(engine, "ana", border.recovery_identity)
    late = utcnow() + timedelta(hours=73)
    with pytest.raises(NotFound):  # the link expired
        in_tx(engine, lambda s: enrolment.find_enrolment(s, first.token, now=late))
    decide(engine, otto, file_request(engine, "ana"))
    second = recover(engine, "ana", border.recovery_identity)
    with pytest.raises(NotFound):  # the first link no longer works
        in_tx(engine, lambda s: enrolment.find_enrolment(s, first.token, now=utcnow()))
    reenrol(engine, settings, second.token)
    identity = unseal_secrets(user(engine, "ana"), PASSWORD).identity
    assert can_open(engine, tip, "staff", identity)
    assert not can_open(engine, tip, "staff", border.reviewer_us.identity)
