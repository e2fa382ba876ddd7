"""Shared fixtures: a migrated database (SQLite file or TEST_DATABASE_URL), the fake
LINE API, the app served over HTTP."""

from __future__ import annotations

import gc
import logging
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from bot.logs import scrub
from bot.settings import Settings
from handlers.asgi import settle_garbage_collector
from storage.base import Base
from storage.db import sync_url
from storage.migrate import upgrade
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import (
    COORDINATORS,
    OUTSIDER,
    SLACK_SECRET,
    SLACK_TOKEN,
    TOKEN,
    AppServer,
    make_settings,
)

# The repository stands alone (issue #15): CI clones it with the team's notes in a
# folder named "shared" beside the clone, and nothing the tests run may read them. This
# guard reads nothing there: an audit hook makes any such read fail loudly, in every
# worker, instead of passing only on a machine where the folder happens to exist.
REPO = Path(__file__).resolve().parent.parent
OUTSIDE_NOTES = os.path.abspath(REPO.parent / "shared")
# The folder may be a link (CI links the notes beside its clone): both spellings count.
_NOTES = {OUTSIDE_NOTES, os.path.realpath(OUTSIDE_NOTES)}


def _under_notes(path: str) -> bool:
    return any(path == n or path.startswith(n + os.sep) for n in _NOTES)


def _refuse_the_notes(event: str, args: tuple[object, ...]) -> None:
    if event not in ("open", "os.listdir", "os.scandir") or not args:
        return
    path = args[0]
    if not isinstance(path, str | os.PathLike) or "shared" not in os.fspath(path):
        return  # a file descriptor, or a path that cannot be under it: no cost
    for seen in (os.path.abspath(os.fspath(path)), os.path.realpath(os.fspath(path))):
        if _under_notes(seen):
            raise RuntimeError(f"the tests read {seen}: bring what they need into the repo")


sys.addaudithook(_refuse_the_notes)

COORDINATOR_CHANNEL = "coordinators"
COORDINATOR_CHANNEL_ID = "C0COORDS01"

# The SDK clients honour proxy variables; the fakes live on loopback.
os.environ["NO_PROXY"] = ",".join(
    filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1", "localhost"])
)
os.environ["no_proxy"] = os.environ["NO_PROXY"]

# TEST_DATABASE_URL names a PostgreSQL database the suite may wipe. Run in parallel
# (pytest-xdist, as `make test` does), each worker gets a database of its own beside it,
# named after the worker (test_x_gw0, test_x_gw1, ...): created and dropped by the session.
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def worker_database_url(url: str, worker: str) -> str:
    """The database this process's tests use: the given one, or the worker's own."""
    if not url or not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


PG_URL = worker_database_url(TEST_DATABASE_URL, WORKER)

# What the test personas tell the bot: names, places, free text, contact details. None of
# it, and no LINE user id, may appear in any log record of the whole run.
PERSONAL = (
    "山田 花子",
    "山田花子",
    "佐藤 一郎",
    "鈴木 次郎",
    "こども未来塾",
    "中原区",
    "放課後の子どもたちに学習の場",
    "地域の大学生ボランティア",
    "活動の目的や優先順位を整理して",
    "参加する子どもは何人くらいですか",
    "毎週15人ほどです",
    "中原区の公民館です",
    "今期の対象地域外のため",
    "料理教室の運営",
    "090-1234-5678",
    "hanako.yamada@example.jp",
    "秘密の質問",
)
LINE_ID = re.compile(r"\b[UCR][0-9a-f]{32}\b")
# Loggers of the test's own fakes (not part of the app): their records are not the app's.
NOT_THE_APP = ("tests", "aiohttp.access", "aiohttp.server", "aiohttp.web")


class RunLog(logging.Handler):
    """Every record of the run, as the app's log would hold it: our own messages as they
    are, library records and exception texts through the app's privacy filter."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.findings: list[str] = []
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(NOT_THE_APP):
            return
        self.count += 1
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        if not record.name.startswith(OURS):
            message = scrub(message)
        if record.exc_info and record.exc_info[1] is not None:
            message += "\n" + scrub(logging.Formatter().formatException(record.exc_info))
        found = [p for p in PERSONAL if p in message] + LINE_ID.findall(message)
        if found:
            self.findings.append(f"{record.name} {record.levelname}: {found}: {message[:300]}")


OURS = ("tsunagu", "bot", "handlers", "storage")


@pytest.fixture(scope="session", autouse=True)
def run_log() -> Iterator[RunLog]:
    """Capture the whole run's logs; the session fails if any holds personal data."""
    handler = RunLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
    assert not handler.findings, "personal data in the logs:\n" + "\n".join(handler.findings)


def pytest_report_header(config: pytest.Config) -> str:
    """Say which database the suite runs on."""
    if TEST_DATABASE_URL:
        shown = sync_url(TEST_DATABASE_URL).render_as_string(hide_password=True)
        return f"database: PostgreSQL ({shown}; a worker of -n uses <database>_<worker>)"
    return "database: SQLite (set TEST_DATABASE_URL for PostgreSQL)"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what the whole run holds (modules, test modules, SDK models) once, as a
    server does at start: the apps the tests start leave the collector alone, and its
    full collections walk only what tests make (measured: less CPU than a freeze per
    app start, or none)."""
    settle_garbage_collector()


WHOLLY_SLOW = "\npytestmark = pytest.mark.slow\n"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under `-m "not slow"` (make test) a module whose every test is slow (a module-level
    `pytestmark = pytest.mark.slow`) is not even imported: it would be deselected anyway,
    and importing hypothesis or playwright costs each worker about a second of CPU."""
    if config.option.markexpr.replace(" ", "") != "notslow":
        return None
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    if WHOLLY_SLOW in collection_path.read_text(encoding="utf-8"):
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup` (make test-slow) the browser tests run one after another
    in one worker: two headless Chromiums on two cores only slow each other down."""
    browser = Path(__file__).parent / "browser"
    for item in items:
        if browser in Path(item.path).parents:
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture
def gc_frozen_by_the_session() -> Iterator[None]:
    """For a test that starts an app which freezes and unfreezes the collector itself:
    the session's freeze is put back afterwards."""
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            settle_garbage_collector()


def _recreate_database(admin_url: str, name: str, *, create: bool) -> None:
    """Drop the PostgreSQL database NAME (closing its connections), then create it anew
    if asked; run from the database ADMIN_URL names."""
    engine = create_engine(sync_url(admin_url), isolation_level="AUTOCOMMIT")
    quoted = engine.dialect.identifier_preparer.quote(name)
    try:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            if create:
                conn.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated from scratch once per session (per worker under xdist)."""
    if PG_URL and PG_URL != TEST_DATABASE_URL:
        # A worker's own database, made from the one TEST_DATABASE_URL names.
        name = make_url(PG_URL).database or ""
        _recreate_database(TEST_DATABASE_URL, name, create=True)
        upgrade(PG_URL)
        try:
            yield PG_URL
        finally:
            _recreate_database(TEST_DATABASE_URL, name, create=False)
        return
    if PG_URL:
        engine = create_engine(sync_url(PG_URL))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        upgrade(PG_URL)
        yield PG_URL
        return
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    yield url


@pytest.fixture
def database_url(_template: str, tmp_path: Path) -> str:
    """A clean, migrated database for one test."""
    if PG_URL:
        engine = create_engine(sync_url(PG_URL))
        # Every model's table, and the scheduler's job store (owned by APScheduler).
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)] + ["apscheduler_jobs"]
        names = ", ".join(tables)
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


@pytest.fixture
def fake_slack() -> Iterator[FakeSlackApi]:
    """The fake Slack Web API with a coordinator channel, coordinators, an outsider and a
    coordinator user group (S0COORDGRP: U0GROUPED1)."""
    fake = FakeSlackApi(token=SLACK_TOKEN)
    fake.start()
    people = (*COORDINATORS, OUTSIDER, "U0GROUPED1")
    for user in people:
        fake.add_user(user, user.lower())
    fake.add_usergroup("S0COORDGRP", ["U0GROUPED1"])
    fake.add_channel(COORDINATOR_CHANNEL, id=COORDINATOR_CHANNEL_ID, members=people)
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def slack_app(
    database_url: str, fake_line: FakeLineApi, fake_slack: FakeSlackApi
) -> Iterator[AppServer]:
    """The app with LINE and Slack both wired to their fakes (fast outbox retries)."""
    server = AppServer(slack_settings(database_url, fake_line, fake_slack)).start()
    try:
        yield server
    finally:
        server.stop()


def slack_settings(
    database_url: str, fake_line: FakeLineApi, fake_slack: FakeSlackApi, **extra: str
) -> Settings:
    """The settings of `slack_app`: LINE and Slack both wired to their fakes."""
    return make_settings(
        database_url,
        fake_line.base_url,
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET=SLACK_SECRET,
        SLACK_API_BASE_URL=fake_slack.base_url,
        SLACK_COORDINATOR_CHANNEL=COORDINATOR_CHANNEL_ID,
        SLACK_COORDINATOR_IDS=",".join([*COORDINATORS, "S0COORDGRP"]),
        TSUNAGU_OUTBOX_BASE_DELAY="0.05",
        **extra,
    )
