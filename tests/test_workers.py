"""`tsunagu serve --workers 2`: two server processes share the port and the database.

People sign up at the same time over fresh connections, so the kernel hands their
webhooks to either process, and every body is delivered twice at once (as LINE does on
a redelivery), often to both processes. Each event still takes effect once, in order
per person: one reply per reply token, every profile complete. Runs on SQLite (the
processes share the file) and on PostgreSQL.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import line_events as le
from tests.fakes.line_api import FakeLineApi
from tests.support import SECRET, LineUser, query
from tests.test_fanout_crash import Server

PEOPLE = 8


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def workers_of(server: Server) -> list[int]:
    """uvicorn's worker processes (spawned multiprocessing children of the server)."""
    return [p for p in _children(server.popen.pid) if "spawn_main" in _cmdline(p)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


class Twice(LineUser):
    """A LINE user whose every webhook body arrives twice, at once, on two connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # No keep-alive: each request opens a new connection, which either process accepts.
        fresh = httpx.Limits(max_keepalive_connections=0)
        self.clients = [httpx.Client(limits=fresh, timeout=30) for _ in range(2)]

    def post(self, events: list[dict[str, Any]], *, secret: str = SECRET) -> httpx.Response:
        body = le.payload(events)
        headers = le.webhook_headers(body, secret)
        answers: list[httpx.Response] = []

        def one(client: httpx.Client) -> None:
            answers.append(
                client.post(f"{self.app.url}/line/webhook", content=body, headers=headers)
            )

        threads = [threading.Thread(target=one, args=(c,)) for c in self.clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        return answers[0]


def sign_up(user: LineUser, n: int) -> None:
    user.follow()
    user.tap("ボランティアとして登録")
    user.say(f"ワーカー {n}")
    user.say("川崎市 中原区")
    user.pick_all("会計・経理")
    user.tap("会社員")
    user.tap("スキップ")
    user.tap("スキップ")
    user.say(f"{n}年")
    user.tap("5時間")
    user.pick_all("土日祝")
    user.tap("どちらでも")
    user.pick_all("環境")
    user.tap("共有しない")  # contact sharing (#13)
    user.tap("同意する")
    assert f"・お名前: ワーカー {n}" in user.text()
    user.tap("この内容で保存")
    assert "登録が完了しました" in user.text()


@pytest.mark.slow
def test_two_worker_processes_apply_each_event_once_in_order(
    database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    with FakeLineApi(access_token="test-channel-access-token") as fake:
        server = Server(database_url, fake.base_url, tmp_path, log, extra={"TSUNAGU_WORKERS": "2"})
        try:
            deadline = time.monotonic() + 30
            while len(workers := workers_of(server)) < 2:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            assert len(workers) == 2
            idle = {pid: cpu_seconds(pid) for pid in workers}

            shim = type("Url", (), {"url": f"http://127.0.0.1:{server.port}"})()
            users = [Twice(shim, fake, language="ja") for _ in range(PEOPLE)]  # type: ignore[arg-type]
            failures: list[BaseException] = []

            def run(user: LineUser, n: int) -> None:
                try:
                    sign_up(user, n)
                except BaseException as exc:
                    failures.append(exc)

            threads = [threading.Thread(target=run, args=(u, n)) for n, u in enumerate(users, 1)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
            assert not failures, (failures, log.read_text()[-3000:])

            # Both processes served: each spent CPU well above its idle trickle.
            busy = {pid: cpu_seconds(pid) - idle[pid] for pid in workers}
            assert all(spent > 0.2 for spent in busy.values()), busy
            for user in users:
                for client in user.clients:
                    client.close()
        finally:
            server.stop()
        assert server.popen.returncode == 0, log.read_text()[-3000:]

        # One reply per reply token although every body came twice.
        tokens = Counter(body["replyToken"] for body in fake.replies)
        assert tokens and set(tokens.values()) == {1}, tokens.most_common(3)
        assert fake.errors == []
        # Every event accepted once; every profile complete and in its own order.
        rows = query(
            database_url,
            "SELECT display_name, experience_years, status FROM volunteers ORDER BY id",
        )
        assert sorted((r[0], r[1], r[2]) for r in rows) == sorted(
            (f"ワーカー {n}", n, "active") for n in range(1, PEOPLE + 1)
        )
        statuses = Counter(r[0] for r in query(database_url, "SELECT status FROM inbound_events"))
        assert set(statuses) == {"done"}, statuses
    assert "Traceback" not in log.read_text()


@pytest.mark.slow
def test_the_sandbox_serves_in_one_process(tmp_path: Path) -> None:
    """The sandbox keeps its fake chats in memory: --workers is set aside, and said so."""
    with httpx.Client() as client:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {
            "PATH": "/usr/bin:/bin",
            "TSUNAGU_SANDBOX": "on",
            "TSUNAGU_SCHEDULER": "false",
            "TSUNAGU_LOG_LEVEL": "WARNING",
            "TSUNAGU_SANDBOX_DATABASE_URL": f"sqlite:///{tmp_path / 'sandbox.sqlite3'}",
        }
        log = tmp_path / "sandbox.log"
        with log.open("w") as out:
            popen = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "handlers.cli",
                    "serve",
                    "--port",
                    str(port),
                    "--workers",
                    "2",
                ],
                env=env,
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                deadline = time.monotonic() + 60
                while True:
                    assert popen.poll() is None, log.read_text()
                    try:
                        if client.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success:
                            break
                    except httpx.HTTPError:
                        pass
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.1)
                assert not [p for p in _children(popen.pid) if "spawn_main" in _cmdline(p)]
            finally:
                popen.terminate()
                popen.wait(30)
    assert "The sandbox runs in one process" in log.read_text()
