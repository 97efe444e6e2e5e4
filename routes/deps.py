"""Request-scoped plumbing: the instance context, the unit of work, the intake gate.

The one place routes get a database session (`Db`, a `UnitOfWork`) and run blocking work off
the event loop (`run_blocking`): route modules import neither service.db's locks nor a session
factory (tests/test_architecture.py). Handlers commit explicitly before they answer, so a 201
is only ever sent for a commit that is on disk.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Annotated, TypeVar, TypeVarTuple

import anyio
from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from routes.bodies import body_chunks
from service.config import Settings
from service.db import lock_for_write, session_scope
from service.db_errors import unavailable_error
from service.errors import (
    InsufficientStorage,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)
from service.inputs import CONTROL_CHARACTERS, control_characters_in
from service.instance.context import InstanceContext, load_context
from service.storage import STORAGE_FULL, watch_of

__all__ = [
    "Db",
    "Gate",
    "IntakeGate",
    "UnitOfWork",
    "bearer_token",
    "instance_context",
    "intake_slot",
    "listed",
    "path_id",
    "read_body_limited",
    "read_model",
    "refuse_control_characters",
    "run_blocking",
    "run_transaction",
    "session_factory",
    "settings_of",
    "transaction",
    "unit_of_work",
    "write_transaction",
]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
P = TypeVar("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def session_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit when the block ends; roll back on any error. A dead database becomes 503."""
    committing = False
    try:
        with session_scope(factory) as session:
            yield session
            committing = True
    except SQLAlchemyError as exc:
        _raise_if_unavailable(exc, factory, committing=committing)
        raise


@contextmanager
def write_transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """`transaction` that holds SQLite's write lock from its start (service.db.lock_for_write):
    for a storing step that reads, then writes (idempotency, then the tip)."""
    with transaction(factory) as session:
        lock_for_write(session)
        yield session


def _raise_if_unavailable(
    exc: SQLAlchemyError, factory: sessionmaker[Session], *, committing: bool = False
) -> None:
    # Also done app-wide (routes.errors); here, so callers see our error and not SQLAlchemy's.
    # A failed COMMIT may have committed: never "nothing was stored" then.
    error = unavailable_error(exc, factory.kw.get("bind"), committing=committing)
    if error is not None:
        raise error from None


def run_transaction(factory: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    with transaction(factory) as session:
        return work(session)


async def run_blocking(func: Callable[[*Ts], T], *args: *Ts) -> T:
    """The one way a route runs blocking work (the database, a KDF, a render): on a worker
    thread, so the event loop keeps serving other requests meanwhile."""
    return await anyio.to_thread.run_sync(func, *args)


class UnitOfWork:
    """The request's database access. Each `run` is one transaction: committed before the
    handler answers (a 2xx only ever reports a commit that is on disk), rolled back on any
    error, a dead database a 503. With `write`, it holds SQLite's write lock from its start:
    for work that reads, then writes."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        # Public for services that run their own transactions (a refused sign-in still commits
        # its failure count: service.staff.sessions.login_in_transaction).
        self.factory = factory

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Session]:
        """For sync handlers, which FastAPI already runs on a worker thread."""
        with (write_transaction if write else transaction)(self.factory) as session:
            yield session

    def reader(self) -> Session:
        """A session outside any unit of work: for a response that streams after the commit."""
        return self.factory()

    def run(self, work: Callable[[Session], T], *, write: bool = False) -> T:
        with self.transaction(write=write) as session:
            return work(session)

    async def run_in_thread(self, work: Callable[[Session], T], *, write: bool = False) -> T:
        """`run` for async handlers: off the event loop, so a commit's fsync (or a network
        round trip) never stalls it."""
        return await run_blocking(partial(self.run, work, write=write))


async def listed(
    db: UnitOfWork,
    query: Callable[[Session, P], Iterable[T]],
    principal: P,
    shape: Callable[[T], R],
) -> list[R]:
    """What `query` finds for `principal`, read in one transaction, each row `shape`d."""
    rows = await db.run_in_thread(lambda session: query(session, principal))
    return [shape(row) for row in rows]


async def unit_of_work(request: Request) -> UnitOfWork:
    # async: FastAPI would run a plain function on a worker thread, a hop per request.
    return UnitOfWork(session_factory(request))


Db = Annotated[UnitOfWork, Depends(unit_of_work)]


def instance_context(request: Request) -> InstanceContext:
    """Loaded once per process, on first use (the instance may be initialised after start)."""
    ctx: InstanceContext | None = getattr(request.app.state, "instance_context", None)
    if ctx is None:
        factory = session_factory(request)
        try:
            with factory() as session:
                ctx = load_context(session, settings_of(request))
        except SQLAlchemyError as exc:
            _raise_if_unavailable(exc, factory)
            raise
        request.app.state.instance_context = ctx
    return ctx


class IntakeGate:
    """Bounded concurrency: a full gate answers 503 at once, never a hang.

    Admitted submissions run their blocking work through `run_sync`, on at most `threads` worker
    threads at a time: waiting for a thread costs nothing in the event loop, whereas dozens of
    threads contending for the GIL and the connection pool cost CPU on every tip.

    Their storing transactions go through `write`. With `serial_writes` (SQLite, one writer at
    a time anyway) they queue here, in the event loop, for their turn: a thread is taken only
    by the writer whose turn it is, never by one that would wait in BEGIN IMMEDIATE while the
    lock holder needs a thread (service.tips.receiving).
    """

    def __init__(self, limit: int, threads: int, *, serial_writes: bool = False) -> None:
        self._semaphore = anyio.Semaphore(limit)
        self.threads = anyio.CapacityLimiter(threads)
        self._writes = anyio.Lock() if serial_writes else None

    async def run_sync(self, func: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(func, limiter=self.threads)

    async def write(self, func: Callable[[], T]) -> T:
        """`run_sync` for a storing transaction: one at a time with `serial_writes`."""
        if self._writes is None:
            return await self.run_sync(func)
        async with self._writes:
            return await self.run_sync(func)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        try:
            self._semaphore.acquire_nowait()
        except anyio.WouldBlock:
            raise Unavailable("too many submissions at once; please retry shortly") from None
        try:
            yield
        finally:
            self._semaphore.release()


async def intake_slot(request: Request) -> IntakeGate:
    # async: FastAPI would run a plain function on a worker thread, a hop per submission.
    watch = watch_of(getattr(request.app.state, "engine", None))
    if watch is not None and watch.full and await anyio.to_thread.run_sync(watch.refuses_writes):
        # The disk is full: answer now rather than queue behind writers that will fail too.
        raise InsufficientStorage(STORAGE_FULL)
    gate: IntakeGate | None = getattr(request.app.state, "intake_gate", None)
    if gate is None:
        settings = settings_of(request)
        sqlite = session_factory(request).kw["bind"].dialect.name == "sqlite"
        gate = IntakeGate(
            settings.intake_concurrency, settings.intake_threads, serial_writes=sqlite
        )
        request.app.state.intake_gate = gate
    return gate


Gate = Annotated[IntakeGate, Depends(intake_slot)]


async def read_body_limited(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than `limit` bytes as they arrive.

    Counting as bytes arrive works without a Content-Length (chunked bodies) too.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the request body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in body_chunks(request):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_model(request: Request, model: type[M], *, limit: int, optional: bool = False) -> M:
    """A small JSON body (at most `limit` bytes) as `model`; with `optional`, an empty body is
    the model's defaults. Errors name fields and error types only, never a value (it may name
    an officer)."""
    raw = await read_body_limited(request, limit)
    if optional and not raw.strip():
        return model()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        fields = {".".join(map(str, e["loc"])) or "body": e["type"] for e in exc.errors()}
        raise InvalidInput("invalid fields: " + ", ".join(sorted(fields)), fields=fields) from None


async def refuse_control_characters(request: Request) -> None:
    """App-wide dependency: a path or query string holding control characters (`%00`) is a 422
    before any handler, or the database, sees it. (Bodies: `InputModel`, the form readers.)"""
    if control_characters_in(request.url.path):
        raise InvalidInput("invalid fields: path", fields={"path": CONTROL_CHARACTERS})
    for name, value in request.query_params.multi_items():
        if control_characters_in(name):
            raise InvalidInput("invalid fields: query", fields={"query": CONTROL_CHARACTERS})
        if control_characters_in(value):
            raise InvalidInput(f"invalid fields: {name}", fields={name: CONTROL_CHARACTERS})


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer token is required")
    return token.strip()


def path_id(value: str, what: str) -> uuid.UUID:
    """A path id; what is not a UUID names nothing (404, like an id the caller may not see)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no such {what}") from None
