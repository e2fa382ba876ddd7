"""Three server processes on PostgreSQL: exactly one runs the scheduler; when it is
killed (SIGKILL) another takes the lease over, and every announcement reaches every
recipient exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.coordination import Coordination
from bot.programmes.schedule import parse_programme
from bot.programmes.service import Programmes
from storage.base import utcnow
from storage.db import make_engine, make_sessionmaker
from storage.models import Conversation
from tests.conftest import PG_URL
from tests.fakes.line_api import FakeLineApi
from tests.support import TOKEN, query, said, scalar
from tests.test_fanout_crash import Server

# Several server processes, one killed: slow by nature (make test-slow).
pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LEASE = 3.0
PEOPLE = [f"U{n:032x}" for n in range(1, 41)]
# Seconds from now: one before the kill, two after it.
DUE = (10, 24, 32)


def prepare(database_url: str) -> None:
    """Followers in LINE, and a programme whose announcements fall due in the next minute."""
    now = utcnow().astimezone(ZoneInfo("Asia/Tokyo"))
    announcements = [
        {
            "key": f"a{i}",
            "to": ["followers"],
            "text": {"ja": f"お知らせ{i} {{phase}}", "en": f"Notice {i} {{phase}}"},
        }
        for i, due in enumerate(DUE)
    ]
    data = {
        "programme": {"name": "複数プロセス", "slug": "multi"},
        "phases": [
            {
                "key": f"p{i}",
                "kind": "other",
                "title": {"ja": f"フェーズ{i}", "en": f"Phase {i}"},
                "starts": (now + timedelta(seconds=due))
                .replace(tzinfo=None)
                .isoformat(timespec="seconds"),
                "announcements": [announcements[i]],
            }
            for i, due in enumerate(DUE)
        ],
    }

    async def job() -> None:
        engine = make_engine(database_url)
        maker = make_sessionmaker(engine)
        try:
            async with maker.begin() as session:
                for person in PEOPLE:
                    session.add(
                        Conversation(channel="line", user_key=person, locale="ja", state={})
                    )
            coordination = Coordination(
                maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel=""
            )
            result = await Programmes(maker, coordination, locale="ja").import_spec(
                parse_programme(data), actor="test"
            )
            assert result.scheduled == len(DUE)
        finally:
            await engine.dispose()

    asyncio.run(job())


def holder(database_url: str) -> tuple[str, Any] | None:
    rows = query(database_url, "SELECT holder, expires_at FROM leases WHERE name='scheduler'")
    return (rows[0][0], rows[0][1]) if rows else None


def wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.skipif(not PG_URL, reason="several processes share PostgreSQL: set TEST_DATABASE_URL")
def test_the_scheduler_moves_to_another_process_and_nothing_is_sent_twice(
    database_url: str, tmp_path: Path
) -> None:
    prepare(database_url)
    log = tmp_path / "servers.log"
    env = {"TSUNAGU_SCHEDULER_LEASE_SECONDS": str(LEASE)}
    with FakeLineApi(access_token=TOKEN) as fake:
        servers = [Server(database_url, fake.base_url, tmp_path, log, extra=env) for _ in range(3)]
        try:
            # Exactly one process holds the lease; it is one of ours.
            first = wait(lambda: holder(database_url), 20, "nobody took the lease")[0]
            pids = {s.popen.pid: s for s in servers}
            leader_pid = int(first.split(":")[1])
            assert leader_pid in pids
            # The first announcement goes out from the leader.
            wait(
                lambda: (
                    scalar(database_url, "SELECT count(*) FROM announcements WHERE state='sent'")
                    == 1
                ),
                DUE[0] + 30,
                "the first announcement was not sent",
            )
            killed_at = time.monotonic()
            pids[leader_pid].kill()
            # Another process takes over once the lease has expired.
            second = wait(
                lambda: (h := holder(database_url)) and h[0] != first and h[0],
                LEASE * 3 + 15,
                "no process took the lease over",
            )
            took = time.monotonic() - killed_at
            assert int(second.split(":")[1]) in pids and int(second.split(":")[1]) != leader_pid
            # The others go out from the new leader.
            wait(
                lambda: (
                    scalar(database_url, "SELECT count(*) FROM announcements WHERE state='sent'")
                    == len(DUE)
                ),
                DUE[-1] + 40,
                "not every announcement was sent",
            )
            wait(
                lambda: (
                    scalar(database_url, "SELECT count(*) FROM outbox WHERE status<>'sent'") == 0
                ),
                30,
                "the outbox did not drain",
            )
        finally:
            for server in servers:
                if server.popen.poll() is None:
                    server.stop()
    received = Counter(
        (to, said(m).split()[0])
        for body in [*fake.multicasts, *fake.pushes]
        for to in (body["to"] if isinstance(body["to"], list) else [body["to"]])
        for m in body["messages"]
    )
    expected = {(p, f"お知らせ{i}") for p in PEOPLE for i in range(len(DUE))}
    assert set(received) == expected, log.read_text()[-3000:]
    assert set(received.values()) == {1}
    assert fake.errors == []
    print(f"lease taken over {took:.1f} s after the kill (lease {LEASE} s)")
