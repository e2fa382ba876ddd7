"""The outbox: written with the change, sent with retries, delivered exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.conversation.model import Reply
from bot.coordination import Coordination
from bot.dialogue import Dialogue
from bot.effects import EffectContext
from bot.inbox import Inbox
from bot.outbox import Dispatcher, Policy, enqueue, fan_out, key_for, replies_payload
from handlers.line import LineChannel
from storage import repo
from storage.db import make_engine, make_sessionmaker
from storage.models import OutboxMessage
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import AppServer, make_settings

USER = "U" + "1" * 32


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Rig:
    maker: async_sessionmaker[AsyncSession]
    dispatcher: Dispatcher
    clock: Clock

    async def push(self, text: str, key: str, target: str = USER) -> None:
        async with self.maker.begin() as session:
            await enqueue(
                session,
                channel="line",
                kind="push",
                target=target,
                payload=replies_payload([Reply(text)]),
                key=key,
                now=self.clock(),
            )

    async def rows(self) -> list[OutboxMessage]:
        async with self.maker() as session:
            from sqlalchemy import select

            return list(
                (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
            )

    async def drain(self, rounds: int = 20, step: float = 700.0) -> None:
        """Run dispatch rounds, moving the clock past every backoff in between."""
        for _ in range(rounds):
            await self.dispatcher.run_once()
            self.clock.advance(step)


@asynccontextmanager
async def rig(database_url: str, fake: FakeLineApi, **policy: float) -> AsyncIterator[Rig]:
    engine = make_engine(database_url)
    maker = make_sessionmaker(engine)
    clock = Clock()
    dispatcher = Dispatcher(
        maker,
        {},
        policy=Policy(jitter=lambda: 1.0, **policy),
        clock=clock,  # type: ignore[arg-type]
    )
    inbox = Inbox(maker, Dialogue(), effects=EffectContext("2026-11"))
    line = LineChannel(make_settings(database_url, fake.base_url), inbox, dispatcher)
    dispatcher._transports["line"] = line
    try:
        yield Rig(maker, dispatcher, clock)
    finally:
        await line.close()
        await engine.dispose()


async def test_server_errors_are_retried_and_delivered_once(
    database_url: str, fake_line: FakeLineApi
) -> None:
    fake_line.fail_next(2, status=500, path_prefix="/v2/bot/message/push")
    async with rig(database_url, fake_line) as r:
        await r.push("こんにちは", key_for("t", 1))
        await r.drain()
        rows = await r.rows()
    assert [m["text"] for m in fake_line.messages_to(USER)] == ["こんにちは"]
    assert len(fake_line.pushes) == 1
    assert rows[0].status == "sent" and rows[0].attempts == 3


async def test_rate_limit_waits_at_least_retry_after(
    database_url: str, fake_line: FakeLineApi
) -> None:
    fake_line.fail_next(1, status=429, path_prefix="/v2/bot/message/push", retry_after=120)
    async with rig(database_url, fake_line) as r:
        await r.push("hello", key_for("t", 2))
        await r.dispatcher.run_once()
        row = (await r.rows())[0]
        assert row.status == "pending" and row.last_error and "429" in row.last_error
        assert row.due_at >= r.clock() + timedelta(seconds=119)
        r.clock.advance(60)
        assert await r.dispatcher.run_once() == 0  # not yet due
        r.clock.advance(61)
        assert await r.dispatcher.run_once() == 1
    assert len(fake_line.pushes) == 1


def test_backoff_grows_exponentially_with_jitter_and_cap() -> None:
    d = Dispatcher(None, {}, policy=Policy(base_delay=1, max_delay=60, jitter=lambda: 1.0))  # type: ignore[arg-type]
    assert [d.backoff(n, None) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert d.backoff(20, None) == 60
    low = Dispatcher(None, {}, policy=Policy(base_delay=1, jitter=lambda: 0.0))  # type: ignore[arg-type]
    assert low.backoff(4, None) == 4  # half of 8: jitter spreads retries between 50 % and 100 %
    assert d.backoff(1, 30) == 30


async def test_gives_up_after_max_attempts_and_coordinators_see_it(
    database_url: str, fake_line: FakeLineApi
) -> None:
    fake_line.fail_next(10, status=503, path_prefix="/v2/bot/message/push")
    async with rig(database_url, fake_line, max_attempts=3) as r:
        await r.push("never", key_for("t", 3))
        await r.drain()
        row = (await r.rows())[0]
        assert row.status == "dead" and row.attempts == 3
        report = await Coordination(
            r.maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel=""
        ).outbox_text()
    assert "失敗 1" in report and f"#{row.id} line push" in report
    assert fake_line.pushes == []


async def test_a_bad_request_is_not_retried(database_url: str, fake_line: FakeLineApi) -> None:
    fake_line.fail_next(1, status=400, path_prefix="/v2/bot/message/push")
    async with rig(database_url, fake_line) as r:
        await r.push("refused", key_for("t", 4))
        await r.drain(rounds=3)
        row = (await r.rows())[0]
    assert row.status == "dead" and row.attempts == 1
    assert row.last_error == "line 400"


async def test_long_text_is_clipped_to_line_limits(
    database_url: str, fake_line: FakeLineApi
) -> None:
    async with rig(database_url, fake_line) as r:
        await r.push("あ" * 6000, key_for("t", 5))
        await r.drain(rounds=2)
    (message,) = fake_line.messages_to(USER)
    assert len(message["text"]) == 5000 and message["text"].endswith("…")
    assert fake_line.errors == []


async def test_a_resend_after_a_crash_mid_send_is_not_delivered_twice(
    database_url: str, fake_line: FakeLineApi
) -> None:
    async with rig(database_url, fake_line, lease=30) as r:
        await r.push("一度だけ", key_for("t", 6))
        await r.dispatcher.run_once()
        assert len(fake_line.pushes) == 1
        # The process died after LINE accepted the push but before it was marked sent.
        async with r.maker.begin() as session:
            from sqlalchemy import update

            await session.execute(update(OutboxMessage).values(status="sending", due_at=r.clock()))
        r.clock.advance(31)
        await r.dispatcher.run_once()
        row = (await r.rows())[0]
    assert row.status == "sent"
    assert len(fake_line.pushes) == 1  # LINE answered 409 to the repeated retry key
    keys = [
        q.headers.get("x-line-retry-key") for q in fake_line.requests if q.path.endswith("/push")
    ]
    assert len(keys) == 2 and keys[0] == keys[1]


async def test_messages_to_one_person_keep_their_order(
    database_url: str, fake_line: FakeLineApi
) -> None:
    fake_line.fail_next(1, status=500, path_prefix="/v2/bot/message/push")
    async with rig(database_url, fake_line) as r:
        await r.push("first", key_for("t", 7))
        await r.push("second", key_for("t", 8))
        await r.drain()
    assert [m["text"] for m in fake_line.messages_to(USER)] == ["first", "second"]


async def test_same_key_is_written_once(database_url: str, fake_line: FakeLineApi) -> None:
    async with rig(database_url, fake_line) as r:
        await r.push("a", key_for("t", 9))
        await r.push("a", key_for("t", 9))
        assert len(await r.rows()) == 1


def test_written_before_a_stop_is_sent_after_restart(
    database_url: str, fake_line: FakeLineApi
) -> None:
    """The change committed, the process stopped before sending: the next start sends it."""
    import asyncio

    async def write() -> None:
        engine = make_engine(database_url)
        try:
            async with make_sessionmaker(engine).begin() as session:
                await repo.add_outbox(
                    session,
                    channel="line",
                    kind="push",
                    target=USER,
                    payload=replies_payload([Reply("あとで届く")]),
                    key=key_for("t", 10),
                    ref_type=None,
                    ref_id=None,
                    due_at=datetime.now(UTC),
                )
        finally:
            await engine.dispose()

    asyncio.run(write())
    with AppServer(make_settings(database_url, fake_line.base_url)):
        fake_line.wait_for(lambda: fake_line.pushes, timeout=10)
    with AppServer(make_settings(database_url, fake_line.base_url)):
        pass  # a second start finds nothing left to send
    assert [m["text"] for m in fake_line.messages_to(USER)] == ["あとで届く"]


# ---------------------------------------------------------------- fan-out (multicast)


def members(n: int, prefix: str = "a") -> list[str]:
    """n distinct LINE user ids."""
    return [f"U{prefix}{i:031x}"[:33] for i in range(n)]


async def fan(r: Rig, targets: list[str], key: str, text: str = "お知らせ") -> int:
    async with r.maker.begin() as session:
        return await fan_out(
            session, channel="line", targets=targets, replies=[Reply(text)], key=key, now=r.clock()
        )


async def test_fan_out_writes_rows_of_500_deduplicated_in_order_once_per_key(
    database_url: str, fake_line: FakeLineApi
) -> None:
    people = members(1201)
    async with rig(database_url, fake_line) as r:
        assert await fan(r, [*people, *people[:10], ""], "kickoff") == 3
        assert await fan(r, people, "kickoff") == 3  # a second firing adds nothing
        rows = await r.rows()
    assert [row.kind for row in rows] == ["multicast"] * 3
    assert [row.key for row in rows] == [key_for("kickoff", i) for i in range(3)]
    assert [row.payload["to"] for row in rows] == [people[:500], people[500:1000], people[1000:]]
    assert all(row.payload["urgent"] is False for row in rows)
    assert len({row.target for row in rows}) == 3  # side by side, not queued behind each other


async def test_fan_out_reaches_every_recipient_once_with_concurrent_multicasts(
    database_url: str, fake_line: FakeLineApi
) -> None:
    people = members(1200)
    fake_line.latency = 0.5
    async with rig(database_url, fake_line) as r:
        await fan(r, people, "orientation", "オリエンテーションは明日です")
        await r.dispatcher.run_once()
        rows = await r.rows()
    assert [row.status for row in rows] == ["sent"] * 3
    calls = [q for q in fake_line.requests if q.path == "/v2/bot/message/multicast"]
    assert len(calls) == 3 and fake_line.pushes == []
    assert sorted(q.headers["x-line-retry-key"] for q in calls) == sorted(row.key for row in rows)
    # All three were on the wire together: the last arrived before the first was answered.
    assert max(q.time for q in calls) - min(q.time for q in calls) < fake_line.latency
    for person in people:
        assert [m["text"] for m in fake_line.messages_to(person)] == [
            "オリエンテーションは明日です"
        ]
    assert fake_line.errors == []


async def test_a_multicast_resent_after_a_crash_is_not_delivered_twice(
    database_url: str, fake_line: FakeLineApi
) -> None:
    people = members(700)
    async with rig(database_url, fake_line, lease=30) as r:
        await fan(r, people, "report-day")
        await r.dispatcher.run_once()
        assert len(fake_line.multicasts) == 2
        # The process died after LINE accepted both calls but before they were marked sent.
        async with r.maker.begin() as session:
            from sqlalchemy import update

            await session.execute(update(OutboxMessage).values(status="sending", due_at=r.clock()))
        r.clock.advance(31)
        await r.dispatcher.run_once()
        rows = await r.rows()
    assert [row.status for row in rows] == ["sent", "sent"]
    assert len(fake_line.multicasts) == 2  # LINE answered 409 to both repeated retry keys
    assert fake_line.counts["duplicates"] == 2
    assert all(len(fake_line.messages_to(p)) == 1 for p in people)


async def test_a_failed_multicast_is_retried_with_the_same_key(
    database_url: str, fake_line: FakeLineApi
) -> None:
    fake_line.fail_next(1, status=500, path_prefix="/v2/bot/message/multicast")
    people = members(3)
    async with rig(database_url, fake_line) as r:
        await fan(r, people, "checkin")
        await r.drain(rounds=3)
        (row,) = await r.rows()
    assert row.status == "sent" and row.attempts == 2
    keys = {q.headers["x-line-retry-key"] for q in fake_line.requests}
    assert keys == {row.key}
    assert all(len(fake_line.messages_to(p)) == 1 for p in people)


async def test_a_fallback_push_is_urgent_and_other_pushes_are_not(
    database_url: str, fake_line: FakeLineApi
) -> None:
    async with rig(database_url, fake_line) as r:
        await r.dispatcher.push(
            channel="line", target=USER, replies=[Reply("answer")], key=key_for("t", 20)
        )
        await r.push("later", key_for("t", 21))
        rows = await r.rows()
    assert [row.payload["urgent"] for row in rows] == [True, False]


async def test_rows_go_out_within_the_transports_request_rate(
    database_url: str, fake_line: FakeLineApi
) -> None:
    """LINE's limits are the transport's: held to 20 multicasts a second, 30 calls take >1 s
    of sending and none is refused, where the fake refuses a 21st call within a second."""
    fake_line.set_rate_limit("/v2/bot/message/multicast", 20)
    async with rig(database_url, fake_line) as r:
        r.dispatcher._transports["line"].rate_limits = {"multicast": 20.0}  # type: ignore[attr-defined]
        await fan(r, members(30 * 500, "b"), "big")
        for _ in range(5):
            await r.dispatcher.run_once()
        rows = await r.rows()
    assert [row.status for row in rows] == ["sent"] * 30
    assert fake_line.counts["multicasts"] == 30
    assert [q.status for q in fake_line.requests] == [200] * 30


async def test_slack_posts_waiting_for_their_rate_do_not_hold_back_line_rows(
    database_url: str, fake_line: FakeLineApi, fake_slack: FakeSlackApi
) -> None:
    """The running dispatcher claims more while paced posts wait: a fan-out written after
    eight posts to eight channels (two a second) reaches LINE before the last post goes."""
    from bot.coordination import Coordination
    from handlers.slack import SlackChannel
    from tests.support import SLACK_SECRET, SLACK_TOKEN

    channels = [fake_slack.add_channel(f"team-{i}") for i in range(8)]
    settings = make_settings(
        database_url,
        fake_line.base_url,
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET=SLACK_SECRET,
        SLACK_API_BASE_URL=fake_slack.base_url,
    )
    engine = make_engine(database_url)
    maker = make_sessionmaker(engine)
    dispatcher = Dispatcher(maker, {}, policy=Policy(batch=8, slack_rate=2.0, idle_poll=0.05))
    inbox = Inbox(maker, Dialogue(), effects=EffectContext("2026-11"))
    line = LineChannel(settings, inbox, dispatcher)
    coordination = Coordination(maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel="")
    dispatcher._transports.update(line=line, slack=SlackChannel(settings, coordination, inbox))
    people = members(600, "e")
    try:
        async with maker.begin() as session:
            for i, channel in enumerate(channels):
                await enqueue(
                    session,
                    channel="slack",
                    kind="post",
                    target=channel,
                    payload={"text": "キックオフ"},
                    key=key_for("post", i),
                )
            await fan_out(
                session, channel="line", targets=people, replies=[Reply("キックオフ")], key="k"
            )
        await dispatcher.start()
        await fake_slack.wait_for_async(
            lambda: all(fake_slack.messages(c) for c in channels), timeout=20
        )
        await fake_line.wait_for_async(lambda: len(fake_line.multicasts) == 2, timeout=20)
    finally:
        await dispatcher.stop()
        await line.close()
        await engine.dispose()
    posts = [q.time for q in fake_slack.requests if q.path.endswith("chat.postMessage")]
    multicasts = [q.time for q in fake_line.requests if q.path.endswith("/multicast")]
    assert len(posts) == 8 and max(multicasts) < max(posts)
    assert all(len(fake_line.messages_to(p)) == 1 for p in people)


async def test_server_processes_share_the_request_rate(
    database_url: str, fake_line: FakeLineApi
) -> None:
    """Two server processes (TSUNAGU_WORKERS=2) each send at half of LINE's rate: sending
    side by side from one database, 40 multicasts go out in about 2 s, none refused by a
    fake that refuses a 21st call within a second."""
    import asyncio
    import time

    fake_line.set_rate_limit("/v2/bot/message/multicast", 20)
    async with (
        rig(database_url, fake_line, share=0.5, batch=20) as a,
        rig(database_url, fake_line, share=0.5, batch=20) as b,
    ):
        for r in (a, b):
            r.dispatcher._transports["line"].rate_limits = {"multicast": 20.0}  # type: ignore[attr-defined]
        await fan(a, members(40 * 500, "w"), "workers")
        started = time.monotonic()
        for _ in range(5):
            await asyncio.gather(a.dispatcher.run_once(), b.dispatcher.run_once())
        took = time.monotonic() - started
        rows = await a.rows()
    assert [row.status for row in rows] == ["sent"] * 40
    assert fake_line.counts["multicasts"] == 40
    assert [q.status for q in fake_line.requests] == [200] * 40
    assert took > 1.5  # 40 calls within 20 a second, whichever process sent them


async def test_slack_posts_to_one_channel_keep_the_pace_and_other_channels_do_not_wait(
    database_url: str, fake_line: FakeLineApi, fake_slack: FakeSlackApi
) -> None:
    """Posts to one Slack channel go out in order, at least `slack_pace` seconds apart
    (TSUNAGU_SLACK_PACE, one a second by default); another channel's post does not wait
    behind them."""
    from bot.coordination import Coordination
    from bot.settings import Settings
    from handlers.slack import SlackChannel
    from tests.support import SLACK_SECRET, SLACK_TOKEN

    assert Settings(_env_file=None).slack_pace == 1.0  # type: ignore[call-arg]
    settings = make_settings(
        database_url,
        fake_line.base_url,
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET=SLACK_SECRET,
        SLACK_API_BASE_URL=fake_slack.base_url,
        TSUNAGU_SLACK_PACE="0.5",
    )
    busy, quiet = fake_slack.add_channel("team-busy"), fake_slack.add_channel("team-quiet")
    engine = make_engine(database_url)
    maker = make_sessionmaker(engine)
    dispatcher = Dispatcher(
        maker, {}, policy=Policy(slack_pace=settings.slack_pace, idle_poll=0.05)
    )
    inbox = Inbox(maker, Dialogue(), effects=EffectContext("2026-11"))
    coordination = Coordination(maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel="")
    dispatcher._transports["slack"] = SlackChannel(settings, coordination, inbox)
    try:
        async with maker.begin() as session:
            for i, (channel, text) in enumerate(
                [(busy, "一"), (busy, "二"), (busy, "三"), (quiet, "四")]
            ):
                await enqueue(
                    session,
                    channel="slack",
                    kind="post",
                    target=channel,
                    payload={"text": text},
                    key=key_for("pace", i),
                )
        await dispatcher.start()
        await fake_slack.wait_for_async(
            lambda: len(fake_slack.messages(busy)) == 3 and fake_slack.messages(quiet), timeout=20
        )
    finally:
        await dispatcher.stop()
        await engine.dispose()
    assert [m["text"] for m in fake_slack.messages(busy)] == ["一", "二", "三"]
    # The pace is kept between the dispatcher's sends; arrival times at the fake differ
    # from them by the requests' latency, hence the margin.
    sent = {
        q.args.get("text"): q.time
        for q in fake_slack.requests
        if q.path.endswith("chat.postMessage")
    }
    assert sent["二"] - sent["一"] >= 0.4 and sent["三"] - sent["二"] >= 0.4
    assert sent["四"] < sent["三"]
