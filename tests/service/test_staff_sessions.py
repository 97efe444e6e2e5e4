"""Staff sign-in, sessions, lockout and password change through the service layer."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

import pyotp
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from crypto.errors import CryptoError
from crypto.keys import KdfParams, SealedKey, new_session_key, open_sealed
from service.audit.canonical import AuditRecord, decode_entry
from service.audit.models import AuditEntry
from service.config import Settings
from service.db import make_session_factory, session_scope, utcnow
from service.errors import InvalidInput, Unauthorized, Unavailable
from service.instance.setup import kdf_params
from service.staff.kdf_pool import KdfPool
from service.staff.models import LoginThrottle, Role, StaffSession, StaffUser
from service.staff.sessions import (
    ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT,
    INVALID_LOGIN,
    MAX_LOCK,
    Principal,
    authenticate,
    change_password_in_transaction,
    login_in_transaction,
    logout,
    purge_ended_sessions,
    purge_login_throttles,
    throttle_name,
    totp_step,
)
from tests.factories import StaffHandle, add_staff, init_instance

T0 = datetime.fromisoformat("2026-11-29T15:00:10+00:00")  # 10 s into a TOTP period
THROTTLE_KEY = b"k" * 32


@pytest.fixture
def factory(engine: Engine, settings: Settings) -> sessionmaker[Session]:
    init_instance(engine, settings)
    return make_session_factory(engine)


@pytest.fixture
def ana(engine: Engine, settings: Settings, factory: sessionmaker[Session]) -> StaffHandle:
    return add_staff(engine, settings, "ana", Role.REVIEWER, [])


def code(who: StaffHandle, now: datetime, offset: int = 0) -> str:
    return pyotp.TOTP(who.totp_secret).generate_otp(totp_step(now) + offset)


def sign_in(
    factory: sessionmaker[Session],
    settings: Settings,
    who: StaffHandle,
    now: datetime,
    *,
    password: str | None = None,
    totp: str | None = None,
    username: str | None = None,
    kdf: KdfParams | None = None,
) -> tuple[str, Principal]:
    return login_in_transaction(
        factory,
        username=username or who.username,
        password=who.password if password is None else password,
        totp=code(who, now) if totp is None else totp,
        kdf=kdf or kdf_params(settings),
        now=now,
        throttle_key=THROTTLE_KEY,
    )


def check(factory: sessionmaker[Session], token: str, now: datetime) -> Principal:
    with session_scope(factory) as session:
        return authenticate(session, token, now=now)


def entries(factory: sessionmaker[Session], action: str) -> list[AuditRecord]:
    with factory() as session:
        rows = session.scalars(select(AuditEntry.canonical).order_by(AuditEntry.index))
        return [r for r in map(decode_entry, rows) if r.action == action]


def user_row(factory: sessionmaker[Session], username: str) -> StaffUser:
    with factory() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username))
        assert user is not None
        return user


def test_login_returns_a_token_that_opens_the_users_identity(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle
) -> None:
    token, principal = sign_in(factory, settings, ana, T0)
    assert principal.identity == ana.identity
    assert principal.role is Role.REVIEWER
    assert ana.identity not in repr(principal)
    session_id, _, key = token.partition(".")
    assert uuid.UUID(session_id) == principal.session_id
    assert len(key) == 43
    assert check(factory, token, T0 + timedelta(minutes=1)) == principal
    [entry] = entries(factory, "staff.login")
    assert entry.actor == str(ana.id)
    assert entry.objects == {"session": str(principal.session_id)}
    assert user_row(factory, "ana").totp_last_step == totp_step(T0)


@pytest.mark.parametrize("mistake", ["password", "code", "user"])
def test_wrong_password_code_or_unknown_user_get_the_same_refusal(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle, mistake: str
) -> None:
    wrong: dict[str, str] = {
        "password": {"password": "not the password at all"},
        "code": {"totp": "000000" if code(ana, T0) != "000000" else "111111"},
        "user": {"username": "nobody"},
    }[mistake]
    with pytest.raises(Unauthorized) as refused:
        sign_in(factory, settings, ana, T0, **wrong)  # type: ignore[arg-type]
    assert refused.value.detail == INVALID_LOGIN
    failures = entries(factory, "staff.login_failed")
    if mistake == "user":
        assert failures == []  # nobody to attribute it to, but counted like an account
        assert user_row(factory, "ana").failed_logins == 0
        with factory() as session:
            row = session.get_one(LoginThrottle, throttle_name(THROTTLE_KEY, "nobody"))
            assert row.failures == 1
    else:
        assert [e.details["reason"] for e in failures] == [mistake]
        assert user_row(factory, "ana").failed_logins == 1


@pytest.fixture
def costly(settings: Settings) -> Settings:
    """Argon2id costly enough for one derivation to stand out in CPU time."""
    kdf = settings.kdf.model_copy(update={"time_cost": 2, "memory_kib": 65536})
    return settings.model_copy(update={"kdf": kdf})


def _refusal_cpu(
    factory: sessionmaker[Session], costly: Settings, who: StaffHandle, username: str | None = None
) -> float:
    """CPU seconds of this thread (the derivation runs here) for a refused sign-in, the least
    of three: other processes' load does not count."""

    def once() -> float:
        start = time.thread_time()
        with pytest.raises(Unauthorized):
            sign_in(factory, costly, who, T0, username=username, password="wrong password!")
        return time.thread_time() - start

    return min(once() for _ in range(3))


def test_unknown_user_costs_a_derivation_like_a_known_one(
    engine: Engine, costly: Settings, factory: sessionmaker[Session]
) -> None:
    who = add_staff(engine, costly, "slow", Role.REVIEWER, [])
    known = _refusal_cpu(factory, costly, who)
    unknown = _refusal_cpu(factory, costly, who, username="nobody")
    assert unknown > 0.5 * known


def test_a_code_is_accepted_once_and_one_step_of_drift_either_way(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle
) -> None:
    sign_in(factory, settings, ana, T0, totp=code(ana, T0, -1))
    with pytest.raises(Unauthorized):  # the same code again: a replay
        sign_in(factory, settings, ana, T0, totp=code(ana, T0, -1))
    assert entries(factory, "staff.login_failed")[-1].details["reason"] == "code_replayed"
    sign_in(factory, settings, ana, T0, totp=code(ana, T0, 1))
    with pytest.raises(Unauthorized):  # older than the newest used step
        sign_in(factory, settings, ana, T0, totp=code(ana, T0, 0))
    with pytest.raises(Unauthorized):  # two steps ahead is too far
        sign_in(factory, settings, ana, T0, totp=code(ana, T0, 2))


def test_five_failures_pause_with_doubling_backoff_answered_like_a_wrong_password(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle
) -> None:
    for attempt in range(5):
        with pytest.raises(Unauthorized):
            sign_in(factory, settings, ana, T0, password=f"wrong password {attempt}")
    with pytest.raises(Unauthorized) as paused:  # the right password, but paused
        sign_in(factory, settings, ana, T0 + timedelta(seconds=5))
    assert paused.value.detail == INVALID_LOGIN
    assert paused.value.retry_after is None
    assert user_row(factory, "ana").failed_logins == 5  # a paused attempt is not counted
    later = T0 + timedelta(minutes=1, seconds=1)
    with pytest.raises(Unauthorized):  # the sixth failure: two minutes
        sign_in(factory, settings, ana, later, password="wrong password again")
    assert entries(factory, "staff.login_failed")[-1].details["locked_seconds"] == 120
    with pytest.raises(Unauthorized):
        sign_in(factory, settings, ana, later + timedelta(minutes=1))
    _token, _ = sign_in(factory, settings, ana, later + timedelta(minutes=2, seconds=1))
    user = user_row(factory, "ana")
    assert user.failed_logins == 0
    assert user.locked_until is None


def test_a_name_with_no_account_is_paused_on_the_same_schedule(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle
) -> None:
    moments = [T0 + timedelta(seconds=i) for i in range(6)] + [
        T0 + timedelta(minutes=1, seconds=10)
    ]
    for username in ("ana", "nobody"):
        for moment in moments:
            with pytest.raises(Unauthorized) as refused:
                sign_in(factory, settings, ana, moment, username=username, password="wrong pw!!")
            assert refused.value.detail == INVALID_LOGIN
    user = user_row(factory, "ana")
    with factory() as session:
        row = session.get_one(LoginThrottle, throttle_name(THROTTLE_KEY, "nobody"))
        assert (row.failures, row.locked_until) == (user.failed_logins, user.locked_until)
    assert user.failed_logins == 6  # five free, one paused attempt not counted, the sixth
    with session_scope(factory) as session:
        assert purge_login_throttles(session, now=T0 + timedelta(hours=2)) == 0  # not a day yet
        assert purge_login_throttles(session, now=T0 + timedelta(days=1, hours=1)) == 1


def test_a_paused_account_costs_a_derivation_like_any_attempt(
    engine: Engine, costly: Settings, factory: sessionmaker[Session]
) -> None:
    who = add_staff(engine, costly, "slow", Role.REVIEWER, [])
    open_ = _refusal_cpu(factory, costly, who)
    with session_scope(factory) as session:
        session.get_one(StaffUser, who.id).locked_until = T0 + timedelta(minutes=5)
    paused = _refusal_cpu(factory, costly, who)
    assert paused > 0.5 * open_


def test_an_account_that_has_not_enrolled_is_refused_like_a_wrong_password(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle
) -> None:
    with session_scope(factory) as session:
        session.get_one(StaffUser, ana.id).enrolled_at = None
    with pytest.raises(Unauthorized) as refused:
        sign_in(factory, settings, ana, T0)
    assert refused.value.detail == INVALID_LOGIN
    assert entries(factory, "staff.login_failed")[-1].details["reason"] == "not_enrolled"


def test_the_lock_never_exceeds_an_hour(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle
) -> None:
    with session_scope(factory) as session:
        session.get_one(StaffUser, ana.id).failed_logins = 40
    with pytest.raises(Unauthorized):
        sign_in(factory, settings, ana, T0, password="wrong password")
    assert user_row(factory, "ana").locked_until == T0 + MAX_LOCK


def test_an_inactive_user_is_refused_like_a_wrong_password(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle
) -> None:
    token, _ = sign_in(factory, settings, ana, T0)
    with session_scope(factory) as session:
        session.get_one(StaffUser, ana.id).active = False
    with pytest.raises(Unauthorized) as refused:
        sign_in(factory, settings, ana, T0 + timedelta(seconds=30))
    assert refused.value.detail == INVALID_LOGIN
    with pytest.raises(Unauthorized):  # and existing sessions end
        check(factory, token, T0 + timedelta(minutes=2))


def test_sessions_end_after_idle_time_and_after_twelve_hours_regardless(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle
) -> None:
    token, _ = sign_in(factory, settings, ana, T0)
    with pytest.raises(Unauthorized):
        check(factory, token, T0 + IDLE_TIMEOUT + timedelta(seconds=1))
    # Activity every 25 minutes keeps it alive, but only up to the absolute end.
    moment = T0
    while moment + timedelta(minutes=25) < T0 + ABSOLUTE_TIMEOUT:
        moment += timedelta(minutes=25)
        check(factory, token, moment)
    with pytest.raises(Unauthorized):
        check(factory, token, T0 + ABSOLUTE_TIMEOUT)


def test_last_seen_is_written_at_most_once_a_minute(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle
) -> None:
    token, principal = sign_in(factory, settings, ana, T0)

    def seen() -> datetime:
        with factory() as session:
            return session.get_one(StaffSession, principal.session_id).last_seen_at

    check(factory, token, T0 + timedelta(seconds=59))
    assert seen() == T0
    check(factory, token, T0 + timedelta(seconds=61))
    assert seen() == T0 + timedelta(seconds=61)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + "A",
        lambda t: t.split(".")[0] + "." + "A" * 43,
        lambda t: str(uuid.uuid4()) + "." + t.split(".")[1],
        lambda t: t.split(".")[1],
        lambda t: "",
        lambda t: "x" * 5000,
    ],
)
def test_forged_or_mangled_tokens_are_refused(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle, mangle: object
) -> None:
    token, _ = sign_in(factory, settings, ana, T0)
    with pytest.raises(Unauthorized):
        check(factory, mangle(token), T0)  # type: ignore[operator]


def test_logout_revokes_the_session_on_the_server(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle
) -> None:
    token, principal = sign_in(factory, settings, ana, T0)
    other, _ = sign_in(factory, settings, ana, T0, totp=code(ana, T0, 1))
    with session_scope(factory) as session:
        logout(session, token, now=T0 + timedelta(minutes=1))
    with pytest.raises(Unauthorized):
        check(factory, token, T0 + timedelta(minutes=2))
    check(factory, other, T0 + timedelta(minutes=2))
    [entry] = entries(factory, "staff.logout")
    assert entry.objects == {"session": str(principal.session_id)}


def test_password_change_reseals_keeps_identity_and_revokes_other_sessions(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle
) -> None:
    now = utcnow()
    token, principal = sign_in(factory, settings, ana, now, totp=code(ana, now, -1))
    other, _ = sign_in(factory, settings, ana, now)
    new = "a brand new password"
    change_password_in_transaction(
        factory, principal, old=ana.password, new=new, kdf=kdf_params(settings), now=now
    )
    check(factory, token, utcnow())
    with pytest.raises(Unauthorized):
        check(factory, other, utcnow())
    with pytest.raises(Unauthorized):
        sign_in(factory, settings, ana, now, totp=code(ana, now, 1))
    _, again = sign_in(factory, settings, ana, now, password=new, totp=code(ana, now, 1))
    assert again.identity == ana.identity
    [entry] = entries(factory, "staff.password_changed")
    assert entry.details == {"sessions_revoked": 1}


def test_password_change_refuses_a_wrong_old_password_and_counts_it(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle
) -> None:
    _, principal = sign_in(factory, settings, ana, T0)
    before = user_row(factory, "ana").sealed_secrets
    assert before is not None
    with pytest.raises(Unauthorized):
        change_password_in_transaction(
            factory,
            principal,
            old="not my password",
            new="whatever long passphrase",
            kdf=kdf_params(settings),
            now=T0,
        )
    with pytest.raises(InvalidInput):
        change_password_in_transaction(
            factory, principal, old=ana.password, new="short", kdf=kdf_params(settings), now=T0
        )
    user = user_row(factory, "ana")
    assert user.failed_logins == 1
    assert user.sealed_secrets == before
    assert entries(factory, "staff.password_changed") == []


def test_login_rehashes_when_the_kdf_parameters_changed(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle
) -> None:
    stronger = KdfParams(time_cost=2, memory_kib=128, lanes=1)
    _, _principal = sign_in(factory, settings, ana, T0, kdf=stronger)
    sealed = user_row(factory, "ana").sealed_secrets
    assert sealed is not None
    record = SealedKey.deserialize(sealed)
    assert record.params == stronger
    assert entries(factory, "staff.login")[-1].details == {"rehashed": True}
    _, again = sign_in(factory, settings, ana, T0, totp=code(ana, T0, 1), kdf=stronger)
    assert again.identity == ana.identity
    assert entries(factory, "staff.login")[-1].details == {"rehashed": False}


def test_a_database_dump_holds_no_usable_key(
    engine: Engine, factory: sessionmaker[Session], settings: Settings, ana: StaffHandle
) -> None:
    token, principal = sign_in(factory, settings, ana, T0)
    secrets = [ana.identity, ana.totp_secret, ana.password, token, token.split(".")[1]]
    with engine.connect() as connection:
        for table in ("staff_sessions", "staff_users", "audit_entries"):
            for row in connection.execute(text(f"SELECT * FROM {table}")):  # noqa: S608
                dump = repr(tuple(row)).encode() + b"".join(
                    bytes(v) for v in row if isinstance(v, bytes | memoryview)
                )
                for secret in secrets:
                    assert secret.encode() not in dump, table
        sealed = connection.scalar(text("SELECT sealed_identity FROM staff_sessions"))
    aad = b"probity/v1/staff-session/" + principal.session_id.bytes + ana.id.bytes
    with pytest.raises(CryptoError):
        open_sealed(new_session_key(), bytes(sealed), aad=aad)


def test_a_full_kdf_pool_refuses_at_once() -> None:
    pool = KdfPool(2)
    with pool.slot(), pool.slot():
        with pytest.raises(Unavailable) as busy:
            with pool.slot():
                pass
        assert busy.value.retry_after
    with pool.slot():  # slots come back
        pass


def test_ended_sessions_are_purged_and_live_ones_kept(
    factory: sessionmaker[Session], settings: Settings, ana: StaffHandle
) -> None:
    revoked, _ = sign_in(factory, settings, ana, T0, totp=code(ana, T0, -1))
    sign_in(factory, settings, ana, T0)  # left idle
    later = T0 + timedelta(minutes=20)
    live, _ = sign_in(factory, settings, ana, later)
    with session_scope(factory) as session:
        logout(session, revoked, now=T0)
    with session_scope(factory) as session:
        assert purge_ended_sessions(session, now=T0 + IDLE_TIMEOUT + timedelta(minutes=1)) == 2
    check(factory, live, later + timedelta(minutes=5))
