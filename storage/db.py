"""Engine and session set-up for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import collections
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def _parse(url: str) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database backend {backend!r}: use sqlite or postgresql")
    return parsed


def async_url(url: str) -> URL:
    """Return the URL with the async driver Tsunagu uses for the backend."""
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if parsed.get_driver_name() == "asyncpg":
        return parsed
    return parsed.set(drivername="postgresql+psycopg")


def sync_url(url: str) -> URL:
    """Return the URL with a blocking driver, for Alembic and the CLI."""
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    return parsed.set(drivername="postgresql+psycopg")


def is_sqlite(url: str) -> bool:
    """True when the URL names an SQLite database."""
    return _parse(url).get_backend_name() == "sqlite"


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of an SQLite file database if it is missing."""
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed while the single writer commits; NORMAL sync is durable
    # across application crashes (only an OS crash can lose the last transactions).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Deleted rows are overwritten with zeros, not left readable in free pages (a person's
    # data deleted on request must not stay in the file's bytes); see wipe_after_commit.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


_WIPES: set[asyncio.Task[None]] = set()


def checkpoint(path: str, attempts: int = 5) -> bool:
    """Copy the WAL into the database file and truncate it to zero bytes.

    The WAL keeps earlier versions of pages (deleted text among them) until it is
    overwritten; a truncating checkpoint removes them. A reader holding an old snapshot
    makes it busy: it is tried again a few times. True when the WAL was emptied.
    """
    for _ in range(attempts):
        conn = sqlite3.connect(path, timeout=10)
        try:
            busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.close()
        if not busy:
            return True
    return False


# Databases where data was deleted a moment ago. The deleting transaction itself writes
# what still needs the person's LINE id (the "deleted" answer, the switch back to the
# guest rich menu); those rows give it up once sent, and the transactions that record
# that (`wipe_if_pending`) checkpoint the WAL again, for a minute after the deletion.
_PENDING: dict[str, float] = {}
PENDING_SECONDS = 60.0


def wipe_after_commit(session: AsyncSession, *, again_on_settle: bool = True) -> None:
    """On SQLite, once this session's transaction commits, checkpoint and truncate the WAL
    (in a thread) so that text the transaction deleted leaves no copy in the file's
    bytes. Nothing to do on PostgreSQL (its files are not the application's to read)."""
    bind = session.sync_session.get_bind()
    url = bind.engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = str(url.database)
    loop = asyncio.get_running_loop()
    if again_on_settle:
        _PENDING[path] = time.monotonic() + PENDING_SECONDS

    def committed(_session: Any) -> None:
        task = loop.create_task(_wipe(path))
        _WIPES.add(task)
        task.add_done_callback(_WIPES.discard)

    event.listen(session.sync_session, "after_commit", committed, once=True)


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Call `callback` on the event loop once this session's transaction commits (not if
    it rolls back): for what must only see committed data, e.g. a view drawn again."""
    loop = asyncio.get_running_loop()

    def committed(_session: Any) -> None:
        loop.call_soon(callback)

    event.listen(session.sync_session, "after_commit", committed, once=True)


def wipe_if_pending(session: AsyncSession) -> None:
    """Within a minute of a deletion, checkpoint once this transaction commits too (it
    records a delivery that gave up a LINE id)."""
    if not _PENDING:
        return
    path = str(session.sync_session.get_bind().engine.url.database)
    deadline = _PENDING.get(path)
    if deadline is None:
        return
    if time.monotonic() > deadline:
        _PENDING.pop(path, None)
        return
    wipe_after_commit(session, again_on_settle=False)


async def _wipe(path: str) -> None:
    if not await asyncio.to_thread(checkpoint, path):
        logging.getLogger(__name__).warning("sqlite: WAL still in use; checkpoint deferred")


def _run_on(
    raw: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None]:
    """Execute one statement on aiosqlite's thread and collect everything it returns."""
    cursor = raw.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor, with one trip to the database thread per statement.

    The stock adapter makes four (open a cursor, execute, fetch, close), each a queue
    put, a thread wake-up and a wake-up of the event loop: most of the webhook's
    database cost (figures in bench/README.md). Here the thread does all four at once
    and hands back the rows and the cursor's attributes. It subclasses SQLAlchemy's
    private aiosqlite adapter, so pyproject.toml pins the SQLAlchemy series it was
    written against.
    """

    __slots__ = ("_description", "_lastrowid", "_rowcount")
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # each statement opens its own
        self._soft_closed_memoized: Any = {}
        self._rows: collections.deque[Any] = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: Any = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[no-any-return]

    async def _run(self, operation: str, parameters: Any, many: bool) -> None:
        connection: Any = self._connection  # an aiosqlite.Connection
        async with self._adapt_connection._execute_mutex:
            result = await connection._execute(
                _run_on, connection._conn, operation, parameters, many
            )
        self._description, rows, self._rowcount, self._lastrowid = result
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._run(operation, seq_of_parameters, True)


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _OneTripCursor

    # The pool rolls back every connection it gets back, also after a commit: a trip to
    # the database thread for nothing, once per transaction (counted with
    # bench/webhook_cpu.py: bench/README.md). sqlite3 itself skips a COMMIT or ROLLBACK outside a
    # transaction; checking its flag here skips the trip too.
    def _idle(self) -> bool:
        raw = self._connection._connection  # the sqlite3.Connection; None once closed
        return raw is not None and not raw.in_transaction

    def rollback(self) -> None:
        if not self._idle():
            super().rollback()

    def commit(self) -> None:
        if not self._idle():
            super().commit()


class _OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DBAPI adapter handing out connections with one-trip cursors."""

    def connect(self, *arg: Any, **kw: Any) -> _OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return _OneTripConnection(self, adapted._connection)


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> AsyncEngine:
    """Build the async engine for the URL, with SQLite tuned for one writer."""
    ensure_sqlite_dir(url)
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        engine = create_async_engine(
            target,
            pool_size=pool_size,
            max_overflow=max_overflow,
            module=_OneTripDBAPI(aiosqlite, sqlite3),
            # A failed statement's text must not carry its values (names, LINE ids).
            hide_parameters=True,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        target,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        hide_parameters=True,
    )


class _Gated:
    """`maker.begin()` holding the process's SQLite write gate for the transaction."""

    def __init__(self, maker: GatedSessionMaker, inner: Any) -> None:
        self._maker = maker
        self._inner = inner

    async def __aenter__(self) -> AsyncSession:
        gate = self._maker.gate
        assert gate is not None
        if self._maker.owner is not None and self._maker.owner is asyncio.current_task():
            raise RuntimeError("nested write transaction in one task")
        await gate.acquire()
        self._maker.owner = asyncio.current_task()
        try:
            session: AsyncSession = await self._inner.__aenter__()
        except BaseException:
            self._maker.owner = None
            gate.release()
            raise
        return session

    async def __aexit__(self, *exc: Any) -> Any:
        try:
            return await self._inner.__aexit__(*exc)
        finally:
            self._maker.owner = None
            assert self._maker.gate is not None
            self._maker.gate.release()


class GatedSessionMaker(async_sessionmaker[AsyncSession]):
    """A session factory whose write transactions (`begin()`) take turns on SQLite.

    SQLite has one writer. Left to itself, a transaction that finds the database
    locked sleeps in SQLite's busy handler (up to 100 ms at a time) — measured as the
    webhook's acknowledgement waiting behind the event processor. An asyncio lock makes
    the waiters line up and go the moment the writer commits. PostgreSQL has no gate.
    """

    gate: asyncio.Lock | None = None
    owner: asyncio.Task[Any] | None = None

    def begin(self) -> Any:
        """Start a write transaction (through the gate on SQLite)."""
        inner = super().begin()
        if self.gate is None:
            return inner
        return _Gated(self, inner)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory; callers own the transaction (`async with maker.begin()`)."""
    maker = GatedSessionMaker(engine, expire_on_commit=False)
    if engine.dialect.name == "sqlite":
        maker.gate = asyncio.Lock()
    return maker
