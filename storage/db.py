"""Engine and session set-up for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
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
    cursor.close()


def make_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    """Build the async engine for the URL, with SQLite tuned for one writer."""
    ensure_sqlite_dir(url)
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        engine = create_async_engine(target, pool_size=pool_size, max_overflow=10)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(target, pool_size=pool_size, max_overflow=10, pool_pre_ping=True)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory; callers own the transaction (`async with maker.begin()`)."""
    return async_sessionmaker(engine, expire_on_commit=False)
