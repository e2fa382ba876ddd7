"""The queries the core needs. Every function takes a session and never commits:
the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, null, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.base import utcnow
from storage.models import Conversation, InboundEvent, Volunteer, VolunteerSkill


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT on both backends."""
    if _dialect(session) == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# ---------------------------------------------------------------- inbound events


async def insert_events(
    session: AsyncSession, rows: Sequence[dict[str, Any]]
) -> dict[tuple[str, str], int]:
    """Insert events not seen before; return {(channel, event id): row id} of those inserted.

    A redelivered or duplicated event (same channel and event id) inserts nothing.
    """
    if not rows:
        return {}
    stmt = (
        _insert(session, InboundEvent)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["channel", "event_id"])
        .returning(InboundEvent.channel, InboundEvent.event_id, InboundEvent.id)
    )
    result = await session.execute(stmt)
    return {(channel, event_id): row_id for channel, event_id, row_id in result}


async def pending_for_users(
    session: AsyncSession, channel: str, user_keys: Sequence[str]
) -> list[InboundEvent]:
    """Every pending event of these people, whichever process accepted it, oldest first.

    On PostgreSQL the rows are locked in id order, so two processors serving the same
    person wait for each other instead of splitting (and reordering) their events.
    """
    if not user_keys:
        return []
    stmt = (
        select(InboundEvent)
        .where(
            InboundEvent.channel == channel,
            InboundEvent.user_key.in_(user_keys),
            InboundEvent.status == "pending",
        )
        .order_by(InboundEvent.id)
    )
    if _dialect(session) == "postgresql":
        stmt = stmt.with_for_update()
    return list((await session.scalars(stmt)).all())


async def claim_events(session: AsyncSession, ids: Sequence[int], now: datetime) -> set[int]:
    """Mark pending events as done and forget their content; return those this caller won.

    Run in the same transaction that applies them, so an event is applied exactly
    once even when two processes try (the loser's UPDATE matches no row).
    """
    if not ids:
        return set()
    stmt = (
        update(InboundEvent)
        .where(InboundEvent.id.in_(ids), InboundEvent.status == "pending")
        .values(status="done", processed_at=now, payload=null(), user_key=None)
        .returning(InboundEvent.id)
    )
    result = await session.execute(stmt, execution_options={"synchronize_session": False})
    return {row[0] for row in result}


async def set_event_status(session: AsyncSession, ids: Iterable[int], status: str) -> None:
    """Record a non-default outcome (stale, failed) for claimed events."""
    ids = list(ids)
    if ids:
        await session.execute(
            update(InboundEvent).where(InboundEvent.id.in_(ids)).values(status=status),
            execution_options={"synchronize_session": False},
        )


async def pending_events(session: AsyncSession, limit: int = 500) -> list[InboundEvent]:
    """Events accepted but not yet applied (e.g. after a crash), oldest first."""
    stmt = (
        select(InboundEvent)
        .where(InboundEvent.status == "pending")
        .order_by(InboundEvent.id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def count_events(session: AsyncSession, status: str | None = None) -> int:
    """How many inbound events (optionally with a status) are recorded."""
    stmt = select(func.count()).select_from(InboundEvent)
    if status is not None:
        stmt = stmt.where(InboundEvent.status == status)
    return int((await session.execute(stmt)).scalar_one())


# ---------------------------------------------------------------- conversations


async def load_conversations(
    session: AsyncSession, channel: str, user_keys: Sequence[str]
) -> dict[str, Conversation]:
    """The conversations of these people, locked for this transaction on PostgreSQL."""
    if not user_keys:
        return {}
    stmt = select(Conversation).where(
        Conversation.channel == channel, Conversation.user_key.in_(user_keys)
    )
    if _dialect(session) == "postgresql":
        # Row locks serialise one person's events across processes; ordered to avoid
        # deadlocks between two batches holding different people.
        stmt = stmt.order_by(Conversation.user_key).with_for_update()
    rows = (await session.scalars(stmt)).all()
    return {row.user_key: row for row in rows}


async def create_conversations(
    session: AsyncSession, channel: str, new: Sequence[tuple[str, str]]
) -> None:
    """Create empty conversations (user key, locale); existing ones are left alone."""
    if not new:
        return
    now = utcnow()
    stmt = (
        _insert(session, Conversation)
        .values(
            [
                {
                    "channel": channel,
                    "user_key": key,
                    "locale": locale,
                    "state": {},
                    "last_event_ms": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for key, locale in new
            ]
        )
        .on_conflict_do_nothing(index_elements=["channel", "user_key"])
    )
    await session.execute(stmt)


async def save_conversations(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Write back state, locale and last event time for many conversations by id."""
    if rows:
        await session.execute(update(Conversation), list(rows))


async def delete_conversation(session: AsyncSession, channel: str, user_key: str) -> None:
    """Remove a person's conversation state."""
    await session.execute(
        delete(Conversation).where(
            Conversation.channel == channel, Conversation.user_key == user_key
        )
    )


# ---------------------------------------------------------------- volunteers


async def get_volunteer(session: AsyncSession, channel: str, user_key: str) -> Volunteer | None:
    """The volunteer known on this channel under this key, if any."""
    stmt = select(Volunteer).where(Volunteer.channel == channel, Volunteer.user_key == user_key)
    return (await session.scalars(stmt)).one_or_none()


async def save_volunteer(
    session: AsyncSession,
    channel: str,
    user_key: str,
    fields: dict[str, Any],
    skills: Sequence[str],
) -> Volunteer:
    """Create or update a volunteer and replace their skills."""
    volunteer = await get_volunteer(session, channel, user_key)
    if volunteer is None:
        volunteer = Volunteer(channel=channel, user_key=user_key, status="active", **fields)
        session.add(volunteer)
    else:
        for name, value in fields.items():
            setattr(volunteer, name, value)
    volunteer.skills = [VolunteerSkill(skill=s, position=i) for i, s in enumerate(skills)]
    await session.flush()
    return volunteer


async def set_volunteer_status(
    session: AsyncSession, channel: str, user_key: str, status: str
) -> bool:
    """Set a volunteer's status; False if there is no such volunteer."""
    result = await session.execute(
        update(Volunteer)
        .where(Volunteer.channel == channel, Volunteer.user_key == user_key)
        .values(status=status, updated_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_volunteer(session: AsyncSession, channel: str, user_key: str) -> bool:
    """Delete a volunteer and (by cascade) their skills; False if there was none."""
    volunteer = await get_volunteer(session, channel, user_key)
    if volunteer is None:
        return False
    await session.delete(volunteer)
    await session.flush()
    return True


async def count_volunteers(session: AsyncSession, status: str | None = None) -> int:
    """How many volunteers (optionally with a status) there are."""
    stmt = select(func.count()).select_from(Volunteer)
    if status is not None:
        stmt = stmt.where(Volunteer.status == status)
    return int((await session.execute(stmt)).scalar_one())
