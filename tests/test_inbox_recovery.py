"""Nothing acknowledged is lost: events left pending by a crash are applied at the next
start, and a reply whose token LINE refuses goes out as a push that cannot duplicate."""

from __future__ import annotations

import asyncio
import time

from bot.events import Event
from storage import repo
from storage.base import utcnow
from storage.db import make_engine, make_sessionmaker
from tests import line_events as le
from tests.fakes.line_api import FakeLineApi
from tests.support import TOKEN, AppServer, LineUser, make_settings, scalar


def accept_without_applying(database_url: str, events: list[Event]) -> None:
    """What the webhook had durably accepted when the process died before applying it."""

    async def go() -> None:
        engine = make_engine(database_url)
        try:
            async with make_sessionmaker(engine).begin() as session:
                await repo.insert_events(
                    session,
                    [
                        {
                            "channel": e.channel,
                            "event_id": e.event_id,
                            "kind": e.kind,
                            "user_key": e.user_key,
                            "occurred_ms": e.occurred_ms,
                            "payload": e.payload(),
                            "status": "pending",
                            "received_at": utcnow(),
                        }
                        for e in events
                    ],
                )
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_events_pending_at_a_crash_are_applied_at_start(
    database_url: str, fake_line: FakeLineApi
) -> None:
    user_id = "U" + "a" * 32
    fake_line.set_profile(user_id, display_name="x", language="ja")
    now = int(time.time() * 1000)
    follow_token = fake_line.issue_reply_token(user_id)
    tap_token = fake_line.issue_reply_token(user_id)
    accept_without_applying(
        database_url,
        [
            Event(
                "line",
                "01CRASH0000000000000000001",
                user_id,
                now,
                "follow",
                reply_token=follow_token,
            ),
            Event(
                "line",
                "01CRASH0000000000000000002",
                user_id,
                now + 5,
                "postback",
                data="f|welcome|role|c|volunteer",
                reply_token=tap_token,
            ),
        ],
    )
    with AppServer(make_settings(database_url, fake_line.base_url)):
        fake_line.wait_for(lambda: len(fake_line.replies) == 2)
    texts = [m["text"] for body in fake_line.replies for m in body["messages"]]
    assert any("友だち追加ありがとうございます" in t for t in texts)
    assert any("お名前" in t for t in texts)
    assert scalar(database_url, "SELECT count(*) FROM inbound_events WHERE status='done'") == 2


def test_refused_reply_token_falls_back_to_one_push(database_url: str) -> None:
    # Reply tokens expire immediately: every reply is refused, so the bot must push.
    with (
        FakeLineApi(access_token=TOKEN, reply_token_ttl=-1.0) as fake,
        AppServer(make_settings(database_url, fake.base_url)) as app,
    ):
        user = LineUser(app, fake)
        user.send(le.follow(user.user_id, user.token()), wait=False)
        fake.wait_for(lambda: fake.pushes, timeout=10)
        push = fake.pushes[0]
        assert push["to"] == user.user_id
        assert "友だち追加ありがとうございます" in push["messages"][0]["text"]
        # The fake records the request once it has answered it (after the push itself):
        # wait for the app to be idle, then count.
        app.settle()
        sent = [r for r in fake.requests if r.path == "/v2/bot/message/push"]
        assert len(sent) == 1
        assert sent[0].headers.get("x-line-retry-key")


def test_events_another_process_accepted_are_applied_in_order_with_ours(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    """With several server processes, one person's events may land on different ones;
    whichever applies first takes all of that person's pending events, oldest first."""
    user = LineUser(app, fake_line)
    user.follow()
    user.tap("ボランティアとして登録")
    now = int(time.time() * 1000)
    other_token = fake_line.issue_reply_token(user.user_id)
    accept_without_applying(
        database_url,
        [
            Event(
                "line",
                "01OTHERPROCESS000000000001",
                user.user_id,
                now,
                "text",
                text="さくら",
                reply_token=other_token,
            ),
        ],
    )
    user.send(le.text(user.user_id, user.token(), "町田市", timestamp=now + 10))
    assert "スキル" in user.text()
    other = fake_line.wait_for(
        lambda: next((r for r in fake_line.replies if r["replyToken"] == other_token), None)
    )
    assert "市区町村" in other["messages"][-1]["text"]
