"""The LINE message budget: non-urgent pushes wait for quota, urgent ones go, nothing is lost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.budget import Budget
from bot.conversation.model import Reply
from bot.dialogue import Dialogue
from bot.effects import EffectContext
from bot.expiry import Expiry
from bot.inbox import Inbox
from bot.outbox import Dispatcher, Policy, enqueue, fan_out, key_for, replies_payload
from handlers.line import LineChannel
from storage.db import make_engine, make_sessionmaker
from storage.models import OutboxMessage, Volunteer
from tests.conftest import COORDINATOR_CHANNEL_ID
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import AppServer, SlackUser, make_settings
from tests.test_outbox import Clock, members

USER = "U" + "2" * 32
# 2026-12-01 00:00 in Asia/Tokyo, when November's quota is behind us.
DECEMBER_JST = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


@dataclass
class Rig:
    maker: async_sessionmaker[AsyncSession]
    dispatcher: Dispatcher
    budget: Budget
    clock: Clock

    async def fan(self, n: int, key: str, *, urgent: bool = False) -> list[str]:
        people = members(n, "c")
        async with self.maker.begin() as session:
            await fan_out(
                session,
                channel="line",
                targets=people,
                replies=[Reply("説明会のお知らせ")],
                key=key,
                urgent=urgent,
                now=self.clock(),
            )
        return people

    async def push(self, text: str, key: str, *, urgent: bool = False) -> None:
        async with self.maker.begin() as session:
            await enqueue(
                session,
                channel="line",
                kind="push",
                target=USER,
                payload=replies_payload([Reply(text)], urgent=urgent),
                key=key,
                now=self.clock(),
            )

    async def rows(self, channel: str = "line") -> list[OutboxMessage]:
        async with self.maker() as session:
            stmt = (
                select(OutboxMessage)
                .where(OutboxMessage.channel == channel)
                .order_by(OutboxMessage.id)
            )
            return list((await session.scalars(stmt)).all())


@asynccontextmanager
async def rig(database_url: str, fake: FakeLineApi) -> AsyncIterator[Rig]:
    engine = make_engine(database_url)
    maker = make_sessionmaker(engine)
    clock = Clock()
    budget = Budget(
        maker, coordinator_channel=COORDINATOR_CHANNEL_ID, clock=clock, timezone="Asia/Tokyo"
    )
    dispatcher = Dispatcher(
        maker,
        {},
        policy=Policy(jitter=lambda: 1.0),
        clock=clock,
        budget=budget,
        expiry=Expiry(COORDINATOR_CHANNEL_ID, locale="ja", timezone="Asia/Tokyo"),
    )
    inbox = Inbox(maker, Dialogue(), effects=EffectContext("2026-11"))
    line = LineChannel(make_settings(database_url, fake.base_url), inbox, dispatcher)
    dispatcher._transports["line"] = line
    budget.reader = line
    try:
        yield Rig(maker, dispatcher, budget, clock)
    finally:
        await line.close()
        await engine.dispose()


def hanako(now: datetime) -> Volunteer:
    return Volunteer(
        channel="line",
        user_key=USER,
        locale="ja",
        display_name="つなぐ花子",
        area="川崎市",
        occupation="employee",
        experience_years=5,
        hours_per_week=3,
        availability=["weekend"],
        mode="either",
        interests=[],
        skills_other=None,
        languages=[],
        consent_version="2026-11",
        consented_at=now,
    )


def as_utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def test_non_urgent_messages_wait_when_the_quota_cannot_pay_and_urgent_ones_go(
    database_url: str, fake_line: FakeLineApi
) -> None:
    fake_line.set_quota(1000, used=900)
    async with rig(database_url, fake_line) as r:
        await r.fan(200, "briefing")  # needs 200, 100 left
        await r.push("ご回答ありがとうございます", key_for("b", 1), urgent=True)
        await r.dispatcher.run_once()
        fan_row, push_row = await r.rows()
        assert fan_row.status == "deferred" and fan_row.attempts == 0
        assert (as_utc(fan_row.due_at) - r.clock()).total_seconds() == 3600
        assert fan_row.last_error and "deferred" in fan_row.last_error
        assert push_row.status == "sent"
        # The plan is raised within the hour: the waiting fan-out goes at its next try.
        fake_line.set_quota(5000)
        r.clock.advance(3601)
        await r.dispatcher.run_once()
        await r.dispatcher.run_once()
        fan_row, _ = await r.rows()
    assert fan_row.status == "sent"
    assert fake_line.counts["multicasts"] == 1 and fake_line.quota_used == 1101
    assert fake_line.errors == []


async def test_at_the_limit_non_urgent_waits_until_next_month_and_is_not_lost(
    database_url: str, fake_line: FakeLineApi
) -> None:
    fake_line.set_quota(1000, used=1000)
    async with rig(database_url, fake_line) as r:
        people = await r.fan(600, "newsletter")
        await r.push("一般のお知らせ", key_for("b", 2))
        await r.push("あとのお知らせ", key_for("b", 3))
        await r.dispatcher.run_once()
        await r.dispatcher.run_once()  # the second push waited behind the first
        rows = await r.rows()
        assert [x.status for x in rows] == ["deferred"] * 4
        assert {as_utc(x.due_at) for x in rows} == {DECEMBER_JST}
        coordinators = await r.rows("slack")
        assert len(coordinators) == 1 and "使い切りました" in coordinators[0].payload["text"]
        assert "12月1日 00:00" in coordinators[0].payload["text"]
        text = await r.budget.text("en")
        assert "1,000 of 1,000 (100 %), 0 left" in text
        assert "4 message(s) to 602 recipient(s), sent from Dec 1 00:00" in text
        # Still November: nothing goes.
        r.clock.now = DECEMBER_JST - timedelta(seconds=60)
        await r.dispatcher.run_once()
        assert fake_line.counts["multicasts"] == 0 and fake_line.pushes == []
        # December: LINE's count starts again, and every waiting message goes, in order.
        fake_line.set_quota(1000, used=0)
        r.clock.advance(120)
        for _ in range(4):
            await r.dispatcher.run_once()
        rows = await r.rows()
    assert [x.status for x in rows] == ["sent"] * 4
    assert all(len(fake_line.messages_to(p)) == 1 for p in people)
    assert [m["text"] for m in fake_line.messages_to(USER)] == ["一般のお知らせ", "あとのお知らせ"]


async def test_a_kickoff_notice_the_budget_holds_expires_at_the_kickoff_and_coordinators_hear(
    database_url: str, fake_line: FakeLineApi
) -> None:
    """A dated notice must never arrive after its event: at the limit it does not wait
    for next month; it expires, and the coordinators learn who did not get it."""
    fake_line.set_quota(1000, used=1000)
    async with rig(database_url, fake_line) as r:
        kickoff = r.clock() + timedelta(days=2)
        async with r.maker.begin() as session:
            await fan_out(
                session,
                channel="line",
                targets=[USER, *members(3, "k")],
                replies=[Reply("キックオフのお知らせ: 12月1日 10:00〜")],
                key="kickoff",
                now=r.clock(),
                expires_at=kickoff,
            )
            session.add(hanako(r.clock()))
        await r.push("一般のお知らせ", key_for("b", 4))
        for _ in range(3):
            await r.dispatcher.run_once()
        kick, general = await r.rows()
        assert kick.status == "expired" and "expired" in (kick.last_error or "")
        assert general.status == "deferred" and as_utc(general.due_at) == DECEMBER_JST
        notes = [m.payload["text"] for m in await r.rows("slack")]
        expired = [t for t in notes if "取り消しました" in t]
        assert len(expired) == 1
        assert "キックオフのお知らせ" in expired[0] and "（4名）" in expired[0]
        assert "つなぐ花子" in expired[0] and "登録前の方 3名" in expired[0]
        # December comes, after the kickoff: the general notice goes, the kickoff never.
        fake_line.set_quota(1000, used=0)
        r.clock.now = DECEMBER_JST + timedelta(seconds=60)
        for _ in range(3):
            await r.dispatcher.run_once()
        kick, general = await r.rows()
    assert kick.status == "expired" and general.status == "sent"
    assert [m["text"] for m in fake_line.messages_to(USER)] == ["一般のお知らせ"]
    assert fake_line.counts["multicasts"] == 0


async def test_a_dated_notice_still_waiting_when_its_event_begins_is_not_sent_late(
    database_url: str, fake_line: FakeLineApi
) -> None:
    """Held an hour at a time (the quota may yet be raised) past its event: it expires."""
    fake_line.set_quota(1000, used=900)
    async with rig(database_url, fake_line) as r:
        starts = r.clock() + timedelta(minutes=90)
        async with r.maker.begin() as session:
            await fan_out(
                session,
                channel="line",
                targets=members(200, "p"),
                replies=[Reply("説明会は本日です")],
                key="briefing-today",
                now=r.clock(),
                expires_at=starts,
            )
        await r.dispatcher.run_once()
        (row,) = await r.rows()
        assert row.status == "deferred"  # an hour: still before the session
        r.clock.advance(3601)
        await r.dispatcher.run_once()
        (row,) = await r.rows()
        assert row.status == "expired"  # another hour would pass the start
        notes = [m.payload["text"] for m in await r.rows("slack")]
    assert any("説明会は本日です" in t and "（200名）" in t for t in notes)
    assert fake_line.counts["multicasts"] == 0


async def test_a_deferred_push_does_not_hold_back_an_urgent_one_to_the_same_person(
    database_url: str, fake_line: FakeLineApi
) -> None:
    fake_line.set_quota(10, used=10)
    async with rig(database_url, fake_line) as r:
        await r.push("来週の予定", key_for("b", 4))
        await r.push("ご回答を受け付けました", key_for("b", 5), urgent=True)
        await r.dispatcher.run_once()
        fake_line.set_quota(None)  # LINE takes the urgent one (e.g. the plan was raised)
        await r.dispatcher.run_once()
        first, second = await r.rows()
    assert (first.status, second.status) == ("deferred", "sent")
    assert [m["text"] for m in fake_line.messages_to(USER)] == ["ご回答を受け付けました"]


async def test_lines_monthly_limit_answer_defers_instead_of_failing(
    database_url: str, fake_line: FakeLineApi
) -> None:
    fake_line.set_quota(2000, used=0)
    async with rig(database_url, fake_line) as r:
        assert await r.budget.quota() is not None  # read: plenty left
        fake_line.set_quota(2000, used=2000)  # another sender used it up meanwhile
        await r.fan(300, "report")
        await r.push("至急", key_for("b", 6), urgent=True)
        for _ in range(3):
            await r.dispatcher.run_once()
        fan_row, push_row = await r.rows()
        warnings = await r.rows("slack")
    assert fan_row.status == "deferred" and as_utc(fan_row.due_at) == DECEMBER_JST
    assert fan_row.attempts == 0 and "monthly quota" in (fan_row.last_error or "")
    # Urgent: LINE still refuses it; it tries again in an hour rather than dying.
    assert push_row.status == "deferred"
    assert (as_utc(push_row.due_at) - r.clock()).total_seconds() == 3600
    assert len(warnings) == 1 and warnings[0].key == key_for("line-quota", "exhausted", "2026-11")
    assert fake_line.counts["multicasts"] == 0


async def test_one_warning_a_month_at_80_percent(database_url: str, fake_line: FakeLineApi) -> None:
    fake_line.set_quota(1000, used=700)
    async with rig(database_url, fake_line) as r:
        await r.fan(150, "one")
        await r.dispatcher.run_once()
        assert await r.rows("slack") == []  # 700 at the read, 850 sent since: not yet read
        r.clock.advance(31)  # after sending, the next look asks LINE again
        await r.fan(20, "two")
        await r.dispatcher.run_once()
        r.clock.advance(400)
        await r.fan(20, "three")
        await r.dispatcher.run_once()
        warnings = await r.rows("slack")
    # A restarted process (a new Budget) would write the same key: still one warning.
    assert len(warnings) == 1
    assert warnings[0].key == key_for("line-quota", "warn", "2026-11")
    assert warnings[0].target == COORDINATOR_CHANNEL_ID
    assert "85 %" in warnings[0].payload["text"] and "850 / 1,000" in warnings[0].payload["text"]
    assert fake_line.quota_used == 890


async def test_an_unknown_quota_does_not_block_sending(
    database_url: str, fake_line: FakeLineApi
) -> None:
    fake_line.set_quota(100, used=100)
    fake_line.fail_next(5, status=500, path_prefix="/v2/bot/message/quota")
    async with rig(database_url, fake_line) as r:
        await r.push("こんにちは", key_for("b", 7))
        fake_line.set_quota(None)
        await r.dispatcher.run_once()
        (row,) = await r.rows()
        text = await r.budget.text("ja")
    assert row.status == "sent"
    assert "取得できませんでした" in text


def test_coordinators_read_the_budget_with_a_slash_command(
    slack_app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi
) -> None:
    fake_line.set_quota(15000, used=12345)
    coord = SlackUser(slack_app, fake_slack, "U0COORD001", "coordinators")
    answer = coord.command("quota").json()["text"]
    assert "LINE の配信枠" in answer
    assert "今月の使用 12,345 / 15,000 通（82 %）、残り 2,655 通。" in answer
    assert "返信（応答メッセージ）は枠を使いません" in answer
    assert "/tsunagu quota" in coord.command("help").json()["text"]
    # Reading it past 80 % also told the channel, once.
    message = fake_slack.wait_for(lambda: fake_slack.messages("coordinators"), timeout=10)
    assert "82 %" in message[-1]["text"] and "12,345 / 15,000" in message[-1]["text"]
