"""Password change with a new identity (service.staff.rotation): every envelope the member is in
is re-addressed, in one transaction - or nothing is, when one cannot be opened."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.access.envelopes import current_holders, plan_rewrites, write_rewrites
from service.access.models import IdentityGrant
from service.config import Settings
from service.db import make_session_factory, utcnow
from service.errors import Conflict, Unauthorized
from service.instance.setup import kdf_params
from service.staff.models import StaffSession, StaffUser
from service.staff.rotation import rotate_identity_in_transaction
from service.staff.service import unseal_secrets
from service.staff.sessions import Principal, login
from tests.factories import Border, StaffHandle, file_tip, in_tx
from tests.service.access_util import can_open, envelopes

NEW = "a brand new passphrase of mine"


def sign_in(
    engine: Engine, settings: Settings, who: StaffHandle, ahead: int = 0
) -> tuple[str, Principal]:
    """A session of `who`; `ahead`: use the next step's code (each code works once)."""
    code = pyotp.TOTP(who.totp_secret).at(utcnow() + timedelta(seconds=30 * ahead))
    return in_tx(
        engine,
        lambda s: login(
            s,
            username=who.username,
            password=who.password,
            totp=code,
            kdf=kdf_params(settings),
            now=utcnow(),
            throttle_key=b"k" * 32,
        ),
    )


def rotate(engine: Engine, settings: Settings, token: str, who: Principal, old: str) -> int:
    """As the routes do it: committed also when the old password is refused (it counts)."""
    factory = make_session_factory(engine)
    kdf = kdf_params(settings)
    return rotate_identity_in_transaction(
        factory, who, token=token, old=old, new=NEW, kdf=kdf, now=utcnow()
    )


def row(engine: Engine, who: StaffHandle) -> StaffUser:
    with Session(engine) as session:
        found = session.get(StaffUser, who.id)
        assert found is not None
        return found


def test_a_granted_reveal_follows_the_new_identity(
    engine: Engine, settings: Settings, border: Border
) -> None:
    ana = border.reviewer_us
    tip = file_tip(engine, settings, contact="signal: +1 555 0100")

    def grant(session: Session) -> None:  # an approved reveal, as service.access.grants does
        session.add(IdentityGrant(tip_id=tip, staff_id=ana.id))
        session.flush()
        holders = current_holders(session, tip)
        write_rewrites(session, plan_rewrites(session, tip, border.recovery_identity, holders))

    in_tx(engine, grant)
    assert can_open(engine, tip, "identity", ana.identity)
    token, who = sign_in(engine, settings, ana)
    with pytest.raises(Unauthorized):
        rotate(engine, settings, token, who, "not the password at all")
    assert row(engine, ana).failed_logins == 1  # counted, like a sign-in
    other, _ = sign_in(engine, settings, ana, ahead=1)
    with pytest.raises(Unauthorized):  # another session's token
        rotate(engine, settings, other, who, ana.password)
    assert rotate(engine, settings, token, who, ana.password) == 1
    identity = unseal_secrets(row(engine, ana), NEW).identity
    for kind in ("staff", "identity"):
        assert can_open(engine, tip, kind, identity)
        assert not can_open(engine, tip, kind, ana.identity)
        assert can_open(engine, tip, kind, border.supervisor_us.identity)  # sam keeps his
    with Session(engine) as session:
        live = session.scalars(
            select(StaffSession.id).where(
                StaffSession.staff_id == ana.id, StaffSession.revoked_at.is_(None)
            )
        ).all()
    assert live == [who.session_id]


def test_an_envelope_the_member_cannot_open_changes_nothing(
    engine: Engine, settings: Settings, border: Border
) -> None:
    ana = border.reviewer_us
    tip = file_tip(engine, settings)
    file_tip(engine, settings)  # a second tip, which ana could rewrite

    def drop_ana_from_header(session: Session) -> None:
        holders = [h for h in current_holders(session, tip) if h.staff.id != ana.id]
        write_rewrites(session, plan_rewrites(session, tip, border.recovery_identity, holders))

    in_tx(engine, drop_ana_from_header)
    before = row(engine, ana)
    token, who = sign_in(engine, settings, ana)
    stored = envelopes(engine, tip)
    with pytest.raises(Conflict):
        rotate(engine, settings, token, who, ana.password)
    after = row(engine, ana)
    assert after.recipient == before.recipient
    assert after.sealed_secrets == before.sealed_secrets
    assert envelopes(engine, tip) == stored
    assert unseal_secrets(after, ana.password).identity == ana.identity
