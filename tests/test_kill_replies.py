"""No reply is lost to a crash (issue #16, item 5): `tsunagu serve` is SIGKILLed in the
middle of bursts and started again; every event's answer reaches its person."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.outbox import key_for
from tests import line_events as le
from tests.fakes.line_api import FakeLineApi
from tests.support import HTTP, SECRET, TOKEN, query, scalar
from tests.test_fanout_crash import Server

PEOPLE = 10
STEPS = 3  # events per person and round
KILLS = 3
# Each LINE call takes this long to arrive: replies are on their way when the kill comes.
LATENCY = 0.2
LEASE = 1.0  # a reply the dead process held is pushed this long after it was written


class Person:
    """A LINE user whose events are sent one after another, each until it is acknowledged."""

    def __init__(self, fake: FakeLineApi, n: int) -> None:
        self.user_id = le.new_user_id(f"kill-{n}-{time.time()}")
        fake.set_profile(self.user_id, display_name="x", language="ja")
        self.fake = fake
        self.events: list[dict[str, Any]] = []  # every event made, in order
        self.unacked: list[bytes] = []  # bodies to redeliver, as LINE does after a failure

    def next_event(self) -> bytes:
        token = self.fake.issue_reply_token(self.user_id)
        if not self.events:
            event = le.follow(self.user_id, token)
        else:
            event = le.text(self.user_id, token, f"こんにちは {len(self.events)}")
        self.events.append(event)
        return le.payload([event])


def _post(url: str, body: bytes) -> bool:
    try:
        response = HTTP.post(
            f"{url}/line/webhook", content=body, headers=le.webhook_headers(body, SECRET), timeout=5
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _burst(url: str, people: list[Person], acked: list[int]) -> list[threading.Thread]:
    """Each person sends their redeliveries, then STEPS new events, each after the last
    was acknowledged; a person stops at the first event that is not."""

    def run(person: Person) -> None:
        while person.unacked:
            if not _post(url, person.unacked[0]):
                return
            person.unacked.pop(0)
        for _ in range(STEPS):
            body = person.next_event()
            if not _post(url, body):
                person.unacked.append(body)
                return
            acked[0] += 1

    threads = [threading.Thread(target=run, args=(p,)) for p in people]
    for t in threads:
        t.start()
    return threads


def _delivered(fake: FakeLineApi, event: dict[str, Any]) -> int:
    """How many times this event's answer reached LINE: by its reply token, or pushed with
    the retry key of its reply."""
    by_reply = sum(1 for r in fake.replies if r["replyToken"] == event["replyToken"])
    key = key_for("reply", "line", event["webhookEventId"])
    by_push = sum(
        1
        for r in fake.requests
        if r.path == "/v2/bot/message/push"
        and r.status == 200
        and r.headers.get("x-line-retry-key") == key
    )
    return by_reply + by_push


@pytest.mark.slow
def test_replies_survive_sigkill_mid_burst(database_url: str, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    extra = {"TSUNAGU_OUTBOX_LEASE": str(LEASE), "TSUNAGU_OUTBOX_BASE_DELAY": "0.1"}
    with FakeLineApi(access_token=TOKEN, arrival_latency=LATENCY) as fake:
        people = [Person(fake, n) for n in range(PEOPLE)]
        for _ in range(KILLS):
            server = Server(database_url, fake.base_url, tmp_path, log, extra=extra)
            acked = [0]
            threads = _burst(f"http://127.0.0.1:{server.port}", people, acked)
            # Mid-burst: events are acknowledged, applied and being answered.
            replied = len(fake.replies)
            fake.wait_for(
                lambda a=acked, r=replied: (
                    a[0] >= PEOPLE * STEPS // 2 and len(fake.replies) >= r + PEOPLE // 2
                ),
                timeout=60,
            )
            server.kill()
            for t in threads:
                t.join()
        # The last start: redeliveries and one more calm round, then everything settles.
        server = Server(database_url, fake.base_url, tmp_path, log, extra=extra)
        try:
            url = f"http://127.0.0.1:{server.port}"
            for t in _burst(url, people, [0]):
                t.join()
            assert not any(p.unacked for p in people), log.read_text()
            events = [e for p in people for e in p.events]
            fake.wait_for(
                lambda: all(_delivered(fake, e) for e in events), timeout=60, interval=0.2
            )
            # Held rows of the killed processes are settled too (pushed after their lease).
            fake.wait_for(lambda: not _unsent(database_url), timeout=60, interval=0.2)
        finally:
            server.stop()
    # Every event was applied exactly once and answered at least once.
    done = scalar(database_url, "SELECT count(*) FROM inbound_events WHERE status = 'done'")
    assert done == len(events)
    lost = [e["webhookEventId"] for e in events if not _delivered(fake, e)]
    assert lost == []
    assert _unsent(database_url) == []
    # At least once: a reply LINE took just before a kill, whose sending was not yet
    # recorded, goes again as a push after the lease; never more than that once.
    assert max(_delivered(fake, e) for e in events) <= 2


def _unsent(database_url: str) -> list[Any]:
    return query(database_url, "SELECT id, status FROM outbox WHERE status <> 'sent'")
