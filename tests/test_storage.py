"""The storage contract, on whichever backend `database_url` gives (SQLite by default,
PostgreSQL with TEST_DATABASE_URL): migrations, dedupe, claims, volunteers, timestamps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, delete, func, inspect, select
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import repo
from storage.base import utcnow
from storage.db import make_engine, make_sessionmaker, sync_url
from storage.migrate import alembic_config, check, downgrade, upgrade
from storage.models import Conversation, InboundEvent, Volunteer, VolunteerSkill
from tests.support import scalar

JST = timezone(timedelta(hours=9))
Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def maker(database_url: str) -> AsyncIterator[Maker]:
    """Sessions on the test database; each test owns its transactions."""
    engine = make_engine(database_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def event(event_id: str, *, channel: str = "line", user: str = "U1", n: int = 0) -> dict[str, Any]:
    """An inbound event row as the inbox writes it."""
    return {
        "channel": channel,
        "event_id": event_id,
        "kind": "text",
        "user_key": user,
        "occurred_ms": 1_795_000_000_000 + n,
        "payload": {"text": f"hello {n}"},
        "status": "pending",
        "received_at": utcnow(),
    }


def profile(**changes: Any) -> dict[str, Any]:
    """The fields of a volunteer as the sign-up saves them."""
    fields: dict[str, Any] = {
        "locale": "ja",
        "display_name": "山田 花子",
        "area": "川崎市",
        "occupation": "employee",
        "experience_years": 10,
        "hours_per_week": 5,
        "availability": ["weekend"],
        "mode": "either",
        "interests": ["children"],
        "skills_other": None,
        "languages": [],
        "consent_version": "2026-11",
        "consented_at": utcnow(),
    }
    fields.update(changes)
    return fields


async def insert(maker: Maker, rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    async with maker.begin() as session:
        return await repo.insert_events(session, rows)


async def claim(maker: Maker, ids: list[int], now: datetime | None = None) -> set[int]:
    async with maker.begin() as session:
        return await repo.claim_events(session, ids, now or utcnow())


async def skill_rows(maker: Maker, volunteer_id: int) -> list[tuple[str, int]]:
    async with maker() as session:
        rows = await session.execute(
            select(VolunteerSkill.skill, VolunteerSkill.position)
            .where(VolunteerSkill.volunteer_id == volunteer_id)
            .order_by(VolunteerSkill.position)
        )
        return [(skill, position) for skill, position in rows]


# ---------------------------------------------------------------- migrations


def schema(url: str) -> dict[str, Any]:
    """Tables with their columns, indexes, unique and foreign keys, as the database has them."""
    engine = create_engine(sync_url(url))
    try:
        db = inspect(engine)
        return {
            table: {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"]) for c in db.get_columns(table)
                ],
                "indexes": sorted(
                    (i["name"] or "", *i["column_names"]) for i in db.get_indexes(table)
                ),
                "unique": sorted(
                    tuple(u["column_names"]) for u in db.get_unique_constraints(table)
                ),
                "foreign": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"], str(f["options"]))
                    for f in db.get_foreign_keys(table)
                ),
            }
            for table in db.get_table_names()
        }
    finally:
        engine.dispose()


def test_migrations_go_down_to_base_and_up_again(database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    at_head = schema(database_url)
    try:
        downgrade(database_url, "base")
        assert set(schema(database_url)) <= {"alembic_version"}
    finally:
        # On PostgreSQL the database is shared with the rest of the session.
        upgrade(database_url)
    assert schema(database_url) == at_head
    assert scalar(database_url, "SELECT version_num FROM alembic_version") == head


def test_models_and_migrations_agree(database_url: str) -> None:
    check(database_url)  # raises if autogenerate would write anything


# ---------------------------------------------------------------- inbound events


async def test_insert_events_dedupes_and_returns_only_new_rows(maker: Maker) -> None:
    first = await insert(maker, [event("a"), event("b")])
    assert set(first) == {("line", "a"), ("line", "b")}

    # A redelivery, a new event, the same id on another channel, a duplicate in one batch.
    second = await insert(
        maker, [event("b"), event("c"), event("a", channel="console"), event("d"), event("d")]
    )
    assert set(second) == {("line", "c"), ("console", "a"), ("line", "d")}
    assert not set(second.values()) & set(first.values())

    assert await insert(maker, [event("a"), event("d")]) == {}
    async with maker() as session:
        assert await repo.count_events(session) == 5
        assert await repo.count_events(session, "pending") == 5


async def test_claim_events_claims_each_once_and_forgets_content(maker: Maker) -> None:
    ids = list((await insert(maker, [event(f"e{i}", n=i) for i in range(3)])).values())
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

    assert await claim(maker, ids[:2], now) == set(ids[:2])
    assert await claim(maker, ids, now) == {ids[2]}
    assert await claim(maker, ids, now) == set()
    assert await claim(maker, [], now) == set()

    async with maker() as session:
        rows = (await session.scalars(select(InboundEvent).order_by(InboundEvent.id))).all()
        assert [r.status for r in rows] == ["done"] * 3
        assert [(r.payload, r.user_key) for r in rows] == [(None, None)] * 3
        assert [r.processed_at for r in rows] == [now] * 3
        assert [r.event_id for r in rows] == ["e0", "e1", "e2"]  # the dedupe key stays
        assert await repo.pending_events(session) == []


async def test_handled_events_past_the_redelivery_window_are_purged(maker: Maker) -> None:
    """The hourly purge (TSUNAGU_INBOUND_KEEP_DAYS): handled events older than the window
    go; newer ones (a redelivery could still come) and unhandled ones stay."""
    from bot.inbox import purge_events

    ids = list((await insert(maker, [event(f"p{i}", n=i) for i in range(4)])).values())
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    await claim(maker, ids[:3], now)
    async with maker.begin() as session:
        ages = {ids[0]: 8, ids[1]: 6, ids[2]: 30, ids[3]: 30}  # days; ids[3] still pending
        for event_id, days in ages.items():
            row = await session.get(InboundEvent, event_id)
            assert row is not None
            row.received_at = now - timedelta(days=days)
    assert await purge_events(maker, timedelta(days=7), now) == 2
    assert await purge_events(maker, timedelta(days=7), now) == 0
    async with maker() as session:
        left = (await session.scalars(select(InboundEvent.id).order_by(InboundEvent.id))).all()
    assert list(left) == [ids[1], ids[3]]


async def test_concurrent_claims_split_the_events(maker: Maker, database_url: str) -> None:
    ids = list((await insert(maker, [event(f"e{i}", n=i) for i in range(200)])).values())
    both_open = asyncio.Barrier(2)
    # Two engines, as two server processes would have (one process's own write
    # transactions take turns through its SQLite write gate, so they cannot overlap).
    other_engine = make_engine(database_url)
    other = make_sessionmaker(other_engine)

    async def claim_in_own_transaction(m: Maker, order: list[int]) -> set[int]:
        async with m.begin() as session:
            await session.connection()
            await both_open.wait()  # both transactions are open before either claims
            return await repo.claim_events(session, order, utcnow())

    try:
        first, second = await asyncio.gather(
            claim_in_own_transaction(maker, ids), claim_in_own_transaction(other, ids[::-1])
        )
    finally:
        await other_engine.dispose()
    assert not first & second, f"won twice: {sorted(first & second)}"
    assert first | second == set(ids)
    async with maker() as session:
        assert await repo.count_events(session, "pending") == 0


# ---------------------------------------------------------------- volunteers


async def test_save_volunteer_replaces_skills_and_keeps_their_order(maker: Maker) -> None:
    async with maker.begin() as session:
        saved = await repo.save_volunteer(session, "line", "U1", profile(), ["tax", "law", "web"])
        volunteer_id = saved.id
    assert await skill_rows(maker, volunteer_id) == [("tax", 0), ("law", 1), ("web", 2)]
    async with maker() as session:
        volunteer = await repo.get_volunteer(session, "line", "U1")
        assert volunteer is not None
        assert [s.skill for s in volunteer.skills] == ["tax", "law", "web"]

    # Again, keeping one skill at a new place, dropping two and adding one.
    async with maker.begin() as session:
        await repo.save_volunteer(session, "line", "U1", {"area": "横浜市"}, ["accounting", "tax"])
    assert await skill_rows(maker, volunteer_id) == [("accounting", 0), ("tax", 1)]
    async with maker() as session:
        volunteer = await repo.get_volunteer(session, "line", "U1")
        assert volunteer is not None
        assert [s.skill for s in volunteer.skills] == ["accounting", "tax"]
        assert (volunteer.id, volunteer.area) == (volunteer_id, "横浜市")
        assert (volunteer.display_name, volunteer.status) == ("山田 花子", "active")
        assert await repo.count_volunteers(session) == 1


async def test_delete_volunteer_cascades_to_skills(maker: Maker) -> None:
    async with maker.begin() as session:
        gone = await repo.save_volunteer(session, "line", "U1", profile(), ["tax", "law"])
        kept = await repo.save_volunteer(session, "line", "U2", profile(), ["tax"])
        gone_id, kept_id = gone.id, kept.id

    async with maker.begin() as session:
        assert await repo.delete_volunteer(session, "line", "U1") is True
    async with maker.begin() as session:
        assert await repo.delete_volunteer(session, "line", "U1") is False
        assert await repo.get_volunteer(session, "line", "U1") is None
        assert await repo.count_volunteers(session) == 1
    assert await skill_rows(maker, gone_id) == []
    assert await skill_rows(maker, kept_id) == [("tax", 0)]

    # The database cascades too, for deletes that bypass the ORM.
    async with maker.begin() as session:
        await session.execute(delete(Volunteer).where(Volunteer.id == kept_id))
    async with maker() as session:
        assert await session.scalar(select(func.count()).select_from(VolunteerSkill)) == 0


# ---------------------------------------------------------------- time


async def test_timestamps_read_back_timezone_aware_utc(maker: Maker) -> None:
    consented = datetime(2026, 11, 22, 9, 30, tzinfo=JST)
    async with maker.begin() as session:
        await repo.save_volunteer(session, "line", "U1", profile(consented_at=consented), ["tax"])
        await repo.create_conversations(session, "line", [("U1", "ja")])
        ids = list((await repo.insert_events(session, [event("a")])).values())
        await repo.claim_events(session, ids, consented)
        await repo.set_volunteer_status(session, "line", "U1", "paused")

    async with maker() as session:
        volunteer = await repo.get_volunteer(session, "line", "U1")
        conversation = await session.scalar(select(Conversation))
        inbound = await session.scalar(select(InboundEvent))
        assert volunteer is not None and conversation is not None and inbound is not None
        stamps = {
            "consented_at": volunteer.consented_at,
            "volunteer.created_at": volunteer.created_at,
            "volunteer.updated_at": volunteer.updated_at,
            "conversation.created_at": conversation.created_at,
            "conversation.updated_at": conversation.updated_at,
            "received_at": inbound.received_at,
            "processed_at": inbound.processed_at,
        }
    for name, stamp in stamps.items():
        assert stamp is not None and stamp.tzinfo is not None, name
        assert stamp.utcoffset() == timedelta(0), name
    assert volunteer.consented_at == consented  # the same instant
    assert volunteer.consented_at.hour == 0  # 09:30 JST is 00:30 UTC
    assert inbound.processed_at == consented
    assert abs(utcnow() - volunteer.updated_at) < timedelta(minutes=5)


async def test_a_naive_datetime_is_refused(maker: Maker) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with maker.begin() as session:
            naive = datetime(2026, 11, 22, 9, 30)  # naive on purpose
            await repo.save_volunteer(session, "line", "U1", profile(consented_at=naive), ["tax"])
    async with maker() as session:
        assert await repo.count_volunteers(session) == 0


async def test_one_process_write_transactions_take_turns(maker: Maker) -> None:
    """On SQLite a task cannot open a second write transaction inside its first."""
    from storage.db import GatedSessionMaker

    assert isinstance(maker, GatedSessionMaker)
    if maker.gate is None:
        return  # PostgreSQL: no gate, the database serialises
    async with maker.begin():
        with pytest.raises(RuntimeError, match="nested write transaction"):
            async with maker.begin():
                pass


async def test_menu_switches_and_messages_keep_separate_turns(maker: Maker) -> None:
    """A rich menu switch waiting for a person holds back the next switch, never a message;
    once sent it gives up the LINE id, a message keeps its recipient."""
    from storage.models import OutboxMessage

    now = utcnow()
    rows = [
        ("richmenu", {"menu": "volunteer"}),
        ("push", {"messages": [{"type": "text", "text": "hi"}]}),
        ("richmenu", {"menu": "member"}),
        ("push", {"messages": [{"type": "text", "text": "again"}]}),
    ]
    async with maker.begin() as session:
        for n, (kind, payload) in enumerate(rows):
            session.add(
                OutboxMessage(
                    channel="line",
                    kind=kind,
                    target="U1",
                    payload=payload,
                    key=f"turns-{n}",
                    due_at=now,
                )
            )
    async with maker.begin() as session:
        claimed = await repo.claim_outbox(session, now, now + timedelta(seconds=30), 10)
    # The first of each stream goes; the second of each waits behind its own kind.
    assert [(r.kind, r.key) for r in claimed] == [("richmenu", "turns-0"), ("push", "turns-1")]
    async with maker.begin() as session:
        for row in claimed:
            await repo.mark_outbox_sent(session, row.id, now)
    async with maker() as session:
        sent = dict(
            (await session.execute(
                select(OutboxMessage.key, OutboxMessage.target).where(
                    OutboxMessage.status == "sent"
                )
            )).all()
        )  # fmt: skip
    assert sent == {"turns-0": "", "turns-1": "U1"}
