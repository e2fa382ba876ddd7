"""A fan-out survives a crash: SIGKILL the server mid-way, start it again, each person
receives the announcement exactly once."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from bot.conversation.model import Reply
from bot.outbox import fan_out
from storage.db import make_engine, make_sessionmaker
from tests.fakes.line_api import FakeLineApi
from tests.support import HTTP, SECRET, TOKEN, query
from tests.test_outbox import members

TEXT = "キックオフは12月5日 19:00 からです。/ Kickoff: 5 Dec 19:00."
LATENCY = 3.0  # each LINE call takes this long to answer: long enough to die mid-call
LEASE = 10.0  # a restarted server sends again what the dead one held, after this


def write_fan_out(database_url: str, people: list[str]) -> int:
    """The announcement's rows, written the way the scheduler writes them."""

    async def write() -> int:
        engine = make_engine(database_url)
        try:
            async with make_sessionmaker(engine).begin() as session:
                return await fan_out(
                    session, channel="line", targets=people, replies=[Reply(TEXT)], key="kickoff"
                )
        finally:
            await engine.dispose()

    return asyncio.run(write())


class Server:
    """`tsunagu serve` in its own process, so it can be killed like a real one."""

    def __init__(
        self,
        database_url: str,
        line_api: str,
        workdir: Path,
        log: Path,
        *,
        extra: dict[str, str] | None = None,
    ) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "LINE_CHANNEL_SECRET": SECRET,
            "LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
            "LINE_API_BASE_URL": line_api,
            "SLACK_BOT_TOKEN": "",
            "SLACK_SIGNING_SECRET": "",
            "TSUNAGU_OUTBOX_BASE_DELAY": "2",
            "TSUNAGU_OUTBOX_LEASE": str(LEASE),
            "TSUNAGU_LOG_LEVEL": "WARNING",
            **(extra or {}),
        }
        self._log = log.open("a")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", "serve", "--port", str(self.port)],
            env=env,
            cwd=workdir,  # no .env file there
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.popen.poll() is None, log.read_text()
            try:
                if HTTP.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).is_success:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, in-flight calls are cut off."""
        self.popen.kill()
        self.popen.wait(10)
        self._log.close()

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._log.close()


# A server process killed mid-send and started again: slow by nature (make test-slow).
pytestmark = pytest.mark.slow


def statuses(database_url: str) -> list[str]:
    return [r[0] for r in query(database_url, "SELECT status FROM outbox ORDER BY id")]


def test_a_fan_out_killed_mid_way_reaches_everyone_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    people = members(1000, "d")
    assert write_fan_out(database_url, people) == 2
    log = tmp_path / "server.log"
    with FakeLineApi(access_token=TOKEN, latency=LATENCY) as fake:
        # The first call to arrive fails and is retried; the other is accepted. The server
        # dies once LINE has accepted the retry, before its answer is back: one row is
        # marked sent, the other was delivered by LINE but not marked.
        fake.fail_next(1, status=500, path_prefix="/v2/bot/message/multicast")
        server = Server(database_url, fake.base_url, tmp_path, log)
        try:
            fake.wait_for(lambda: len(fake.multicasts) == 2, timeout=30)
            deadline = time.monotonic() + LATENCY
            while "sent" not in statuses(database_url) and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            server.kill()
        at_kill = statuses(database_url)
        assert sorted(at_kill) == ["sending", "sent"], log.read_text()
        assert len(fake.multicasts) == 2

        fake.latency = 0.0
        server = Server(database_url, fake.base_url, tmp_path, log)
        try:
            deadline = time.monotonic() + LEASE + 30
            while statuses(database_url) != ["sent", "sent"]:
                assert time.monotonic() < deadline, (statuses(database_url), log.read_text())
                time.sleep(0.1)
        finally:
            server.stop()

        received = Counter(
            to for body in fake.multicasts for to in body["to"] for _ in body["messages"]
        )
        assert received == Counter(dict.fromkeys(people, 1))
        assert all(fake.messages_to(p) == [{"type": "text", "text": TEXT}] for p in people)
        # The row that died mid-call was sent again with its key, and LINE said 409.
        calls = [q for q in fake.requests if q.path == "/v2/bot/message/multicast"]
        assert [q.status for q in calls].count(409) == 1
        assert len({q.headers["x-line-retry-key"] for q in calls}) == 2
        assert fake.errors == []
