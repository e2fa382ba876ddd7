"""Shared fixtures: a migrated database (SQLite file or TEST_DATABASE_URL), the fake
LINE API, the app served over HTTP."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from storage.base import Base
from storage.db import sync_url
from storage.migrate import upgrade
from tests.fakes.line_api import FakeLineApi
from tests.support import TOKEN, AppServer, make_settings

# The SDK clients honour proxy variables; the fakes live on loopback.
os.environ["NO_PROXY"] = ",".join(
    filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1", "localhost"])
)
os.environ["no_proxy"] = os.environ["NO_PROXY"]

PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()


def pytest_report_header(config: pytest.Config) -> str:
    """Say which database the suite runs on."""
    if PG_URL:
        return f"database: PostgreSQL ({sync_url(PG_URL).render_as_string(hide_password=True)})"
    return "database: SQLite (set TEST_DATABASE_URL for PostgreSQL)"


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated from scratch once per session."""
    if PG_URL:
        engine = create_engine(sync_url(PG_URL))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        upgrade(PG_URL)
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture
def database_url(_template: str, tmp_path: Path) -> str:
    """A clean, migrated database for one test."""
    if PG_URL:
        engine = create_engine(sync_url(PG_URL))
        names = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return PG_URL
    source = Path(_template.removeprefix("sqlite:///"))
    target = tmp_path / "tsunagu.sqlite3"
    shutil.copyfile(source, target)
    return f"sqlite:///{target}"


@pytest.fixture
def fake_line() -> Iterator[FakeLineApi]:
    """The fake LINE Messaging API on 127.0.0.1."""
    fake = FakeLineApi(access_token=TOKEN)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def app(database_url: str, fake_line: FakeLineApi) -> Iterator[AppServer]:
    """The app served over HTTP, wired to the fake LINE API."""
    server = AppServer(make_settings(database_url, fake_line.base_url)).start()
    try:
        yield server
    finally:
        server.stop()
