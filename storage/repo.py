"""The queries the core needs. Every function takes a session and never commits:
the caller owns the transaction."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from storage.base import utcnow
from storage.models import (
    AuditEntry,
    Conversation,
    InboundEvent,
    Match,
    MatchEvent,
    Organization,
    OutboxMessage,
    PersonLanguage,
    Project,
    ProjectQuestion,
    Volunteer,
    VolunteerSkill,
)

_EVENTS: Table = InboundEvent.__table__  # type: ignore[assignment]
_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
_VOLUNTEERS: Table = Volunteer.__table__  # type: ignore[assignment]
_SKILLS: Table = VolunteerSkill.__table__  # type: ignore[assignment]
_ORGANIZATIONS: Table = Organization.__table__  # type: ignore[assignment]
_PROJECTS: Table = Project.__table__  # type: ignore[assignment]
_QUESTIONS: Table = ProjectQuestion.__table__  # type: ignore[assignment]
_OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]

# Where a function takes `Db`, the inbox hands it the session's connection (asked for
# once per batch): a Core statement run through Session.execute still passes the ORM's
# execute layer, CPU time per statement (bench/README.md). Tests and
# other callers may pass the session; the statement then runs on its connection.
Db = AsyncSession | AsyncConnection


async def _conn(db: Db) -> AsyncConnection:
    """The connection of the caller's transaction."""
    return db if isinstance(db, AsyncConnection) else await db.connection()


def _param(column: Any, name: str | None = None) -> Any:
    """A bound parameter named (by default) and typed like the column."""
    return bindparam(name or column.key, type_=column.type)


# The inbox's per-batch statements, built once: building a statement and its cache key
# cost more CPU than running it (bench/README.md), and these run
# for every batch. Core on the tables, not the ORM entities, for the same reason.
_PENDING_IDS = (
    select(_EVENTS.c.id)
    .where(
        _EVENTS.c.channel == _param(_EVENTS.c.channel),
        _EVENTS.c.user_key.in_(bindparam("keys", expanding=True)),
        _EVENTS.c.status == "pending",
    )
    .order_by(_EVENTS.c.id)
)
_PENDING_IDS_LOCKED = _PENDING_IDS.with_for_update()
_EVENTS_BY_ID = (
    select(_EVENTS).where(_EVENTS.c.id.in_(bindparam("ids", expanding=True))).order_by(_EVENTS.c.id)
)
_CLAIM = (
    update(_EVENTS)
    .where(_EVENTS.c.id.in_(bindparam("ids", expanding=True)), _EVENTS.c.status == "pending")
    .values(
        status="done",
        processed_at=_param(_EVENTS.c.processed_at, "now"),
        payload=null(),
        user_key=None,
    )
    .returning(_EVENTS.c.id)
)
_LOAD_CONV = select(
    _CONVERSATIONS.c.id,
    _CONVERSATIONS.c.user_key,
    _CONVERSATIONS.c.locale,
    _CONVERSATIONS.c.state,
    _CONVERSATIONS.c.last_event_ms,
).where(
    _CONVERSATIONS.c.channel == _param(_CONVERSATIONS.c.channel),
    _CONVERSATIONS.c.user_key.in_(bindparam("keys", expanding=True)),
)
# Row locks serialise one person's events across processes; ordered to avoid deadlocks
# between two batches holding different people.
_LOAD_CONV_LOCKED = _LOAD_CONV.order_by(_CONVERSATIONS.c.user_key).with_for_update()
_SAVE_CONVERSATION = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(
        state=_param(_CONVERSATIONS.c.state),
        locale=_param(_CONVERSATIONS.c.locale),
        last_event_ms=_param(_CONVERSATIONS.c.last_event_ms),
        updated_at=_param(_CONVERSATIONS.c.updated_at),
    )
)
_SET_STATUS = (
    update(_EVENTS)
    .where(_EVENTS.c.id.in_(bindparam("ids", expanding=True)))
    .values(status=_param(_EVENTS.c.status))
)
# What the dialogue knows about a person, in one round trip whatever they are: the
# volunteer row and the group they are the contact of, both outer-joined to one row.
# It runs on every follow, role choice and completed sign-up, where two ORM entity loads
# cost measurably more CPU (bench/README.md).
_ONE_ROW = select(literal_column("1").label("one")).subquery("one")
_PERSON: Select[Any] = select(
    _VOLUNTEERS.c.id.label("volunteer_id"),
    _VOLUNTEERS.c.status,
    _VOLUNTEERS.c.display_name,
    _VOLUNTEERS.c.area,
    _VOLUNTEERS.c.occupation,
    _VOLUNTEERS.c.experience_years,
    _VOLUNTEERS.c.hours_per_week,
    _VOLUNTEERS.c.availability,
    _VOLUNTEERS.c.mode,
    _VOLUNTEERS.c.interests,
    _VOLUNTEERS.c.skills_other,
    _VOLUNTEERS.c.languages,
    _VOLUNTEERS.c.age_band,
    _VOLUNTEERS.c.employer,
    _VOLUNTEERS.c.via_company,
    _VOLUNTEERS.c.share_contact,  # life-group (#13)
    _VOLUNTEERS.c.contact,
    _ORGANIZATIONS.c.id.label("organization_id"),
    _ORGANIZATIONS.c.name.label("organization_name"),
    # life-cohort (#13): opted out of the next cohort's invitations, as either.
    _VOLUNTEERS.c.next_cohort_opt_out.label("volunteer_opt_out"),
    _ORGANIZATIONS.c.next_cohort_opt_out.label("group_opt_out"),
).select_from(
    _ONE_ROW.outerjoin(
        _VOLUNTEERS,
        and_(
            _VOLUNTEERS.c.channel == _param(_VOLUNTEERS.c.channel),
            _VOLUNTEERS.c.user_key == _param(_VOLUNTEERS.c.user_key),
        ),
    ).outerjoin(
        _ORGANIZATIONS,
        and_(
            _ORGANIZATIONS.c.channel == _param(_ORGANIZATIONS.c.channel),
            _ORGANIZATIONS.c.user_key == _param(_ORGANIZATIONS.c.user_key),
        ),
    )
)
_SKILLS_OF = (
    select(_SKILLS.c.skill)
    .where(_SKILLS.c.volunteer_id == bindparam("volunteer_id"))
    .order_by(_SKILLS.c.position)
)
_REQUESTS_OF: Select[Any] = (
    select(_PROJECTS.c.id, _PROJECTS.c.challenge, _PROJECTS.c.status)
    .where(_PROJECTS.c.organization_id == bindparam("organization_id"))
    .order_by(_PROJECTS.c.id.desc())
    .limit(bindparam("limit"))
)
_OPEN_QUESTION: Select[Any] = (
    select(_QUESTIONS.c.id, _QUESTIONS.c.question)
    .join(_PROJECTS, _PROJECTS.c.id == _QUESTIONS.c.project_id)
    .where(
        _PROJECTS.c.organization_id == bindparam("organization_id"),
        _QUESTIONS.c.answer.is_(None),
    )
    .order_by(_QUESTIONS.c.id.desc())
    .limit(1)
)
_INSERTS: dict[tuple[str, str], Any] = {}


def _dialect(db: Db) -> str:
    if isinstance(db, AsyncConnection):
        return db.dialect.name
    return db.get_bind().dialect.name


def _insert(session: Db, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT on both backends."""
    if _dialect(session) == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# ---------------------------------------------------------------- inbound events


async def insert_events(db: Db, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Insert events not seen before; return {(channel, event id): row id} of those inserted.

    A redelivered or duplicated event (same channel and event id) inserts nothing.
    """
    if not rows:
        return {}
    # One statement for any number of rows (executemany with RETURNING): compiled once
    # and cached, where a multi-row VALUES was compiled anew for every batch size.
    stmt = _INSERTS.get(("events", _dialect(db)))
    if stmt is None:
        stmt = _INSERTS[("events", _dialect(db))] = (
            _insert(db, _EVENTS)
            .on_conflict_do_nothing(index_elements=["channel", "event_id"])
            .returning(_EVENTS.c.channel, _EVENTS.c.event_id, _EVENTS.c.id)
        )
    result = await (await _conn(db)).execute(stmt, list(rows))
    return {(channel, event_id): row_id for channel, event_id, row_id in result}


async def purge_events(session: AsyncSession, before: datetime) -> int:
    """Delete the received events handled before `before` (pending ones stay)."""
    done = await session.execute(
        delete(InboundEvent).where(
            InboundEvent.received_at < before, InboundEvent.status != "pending"
        ),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(done, "rowcount", 0) or 0)


async def forget_event(session: AsyncSession, channel: str, event_id: str) -> None:
    """Remove an event's record (its id counts as new again)."""
    await session.execute(
        delete(InboundEvent).where(
            InboundEvent.channel == channel, InboundEvent.event_id == event_id
        )
    )


async def pending_for_users(
    db: Db, channel: str, user_keys: Sequence[str], known: Iterable[int] = ()
) -> list[Row[Any]]:
    """Every pending event of these people, whichever process accepted it, oldest first;
    the full rows only of those not in `known` (the caller holds those already).

    On PostgreSQL the rows are locked in id order, so two processors serving the same
    person wait for each other instead of splitting (and reordering) their events.
    """
    if not user_keys:
        return []
    conn = await _conn(db)
    ids = _PENDING_IDS_LOCKED if _dialect(conn) == "postgresql" else _PENDING_IDS
    found = await conn.scalars(ids, {"channel": channel, "keys": list(user_keys)})
    have = set(known)
    others = [i for i in found.all() if i not in have]
    if not others:
        return []
    return list((await conn.execute(_EVENTS_BY_ID, {"ids": others})).all())


async def claim_events(db: Db, ids: Sequence[int], now: datetime) -> set[int]:
    """Mark pending events as done and forget their content; return those this caller won.

    Run in the same transaction that applies them, so an event is applied exactly
    once even when two processes try (the loser's UPDATE matches no row).
    """
    if not ids:
        return set()
    result = await (await _conn(db)).execute(_CLAIM, {"ids": list(ids), "now": now})
    return {row[0] for row in result}


async def set_event_status(db: Db, ids: Iterable[int], status: str) -> None:
    """Record a non-default outcome (stale, failed) for claimed events."""
    ids = list(ids)
    if ids:
        await (await _conn(db)).execute(_SET_STATUS, {"ids": ids, "status": status})


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


async def load_conversations(db: Db, channel: str, user_keys: Sequence[str]) -> dict[str, Any]:
    """The conversations of these people (id, user_key, locale, state, last_event_ms),
    locked for this transaction on PostgreSQL."""
    if not user_keys:
        return {}
    conn = await _conn(db)
    stmt = _LOAD_CONV_LOCKED if _dialect(conn) == "postgresql" else _LOAD_CONV
    rows = (await conn.execute(stmt, {"channel": channel, "keys": list(user_keys)})).all()
    return {row.user_key: row for row in rows}


async def create_conversations(
    db: Db, channel: str, new: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """Create empty conversations (user key, locale); existing ones are left alone.

    Returns those created, as load_conversations does: a person missing from it had a
    conversation already (e.g. one another process created a moment ago).
    """
    if not new:
        return {}
    now = utcnow()
    conn = await _conn(db)
    stmt = _INSERTS.get(("conversations", _dialect(conn)))
    if stmt is None:
        # RETURNING the new rows saves the inbox reading them back: one round trip
        # fewer for every batch with someone new in it (nearly all under load).
        stmt = _INSERTS[("conversations", _dialect(conn))] = (
            _insert(conn, _CONVERSATIONS)
            .on_conflict_do_nothing(index_elements=["channel", "user_key"])
            .returning(*_LOAD_CONV.selected_columns)
        )
    # executemany: one cached statement whatever the number of people.
    result = await conn.execute(
        stmt,
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
        ],
    )
    return {row.user_key: row for row in result}


async def save_conversations(db: Db, rows: Sequence[dict[str, Any]]) -> None:
    """Write back state, locale and last event time for many conversations by id."""
    if rows:
        await (await _conn(db)).execute(
            _SAVE_CONVERSATION,
            [
                {
                    "conversation_id": row["id"],
                    "state": row["state"],
                    "locale": row["locale"],
                    "last_event_ms": row["last_event_ms"],
                    "updated_at": row["updated_at"],
                }
                for row in rows
            ],
        )


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


async def person(db: Db, channel: str, user_key: str) -> Row[Any]:
    """One row on who this person is: their volunteer profile's columns (volunteer_id None
    if they are not one) and the id and name of the group they are the contact of
    (organization_id None if none)."""
    params = {"channel": channel, "user_key": user_key}
    row: Row[Any] = (await (await _conn(db)).execute(_PERSON, params)).one()
    return row


async def skills_of(db: Db, volunteer_id: int) -> list[str]:
    """A volunteer's skills in the order they chose them."""
    conn = await _conn(db)
    return list((await conn.scalars(_SKILLS_OF, {"volunteer_id": volunteer_id})).all())


async def requests_of(db: Db, organization_id: int, limit: int) -> list[Row[Any]]:
    """A group's newest requests (id, challenge, status), newest first."""
    params = {"organization_id": organization_id, "limit": limit}
    return list((await (await _conn(db)).execute(_REQUESTS_OF, params)).all())


async def open_question_of(db: Db, organization_id: int) -> Row[Any] | None:
    """The newest unanswered question (id, question) to this group, if any."""
    params = {"organization_id": organization_id}
    row: Row[Any] | None = (await (await _conn(db)).execute(_OPEN_QUESTION, params)).first()
    return row


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


async def set_person_locale(
    session: AsyncSession, channel: str, user_key: str, locale: str
) -> None:
    """The language a person chose, on their volunteer profile and on the group they speak
    for (whichever exists): what is sent to them later is written in it."""
    for model in (Volunteer, Organization):
        await session.execute(
            update(model)
            .where(model.channel == channel, model.user_key == user_key, model.locale != locale)
            .values(locale=locale),
            execution_options={"synchronize_session": False},
        )


async def chosen_language(session: AsyncSession, channel: str, user_key: str) -> str | None:
    """The language this person chose on this channel, if they chose one."""
    return await session.scalar(
        select(PersonLanguage.locale).where(
            PersonLanguage.channel == channel, PersonLanguage.user_key == user_key
        )
    )


async def choose_language(session: AsyncSession, channel: str, user_key: str, locale: str) -> None:
    """Keep the language this person chose on this channel (the latest choice wins)."""
    row = await session.scalar(
        select(PersonLanguage).where(
            PersonLanguage.channel == channel, PersonLanguage.user_key == user_key
        )
    )
    if row is None:
        session.add(PersonLanguage(channel=channel, user_key=user_key, locale=locale))
    else:
        row.locale = locale


async def forget_language(session: AsyncSession, channel: str, user_key: str) -> None:
    """Remove this person's chosen language here (their platform's setting decides again)."""
    await session.execute(
        delete(PersonLanguage).where(
            PersonLanguage.channel == channel, PersonLanguage.user_key == user_key
        )
    )


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


# ---------------------------------------------------------------- deletion

# Strings a person typed that can be told from the flows' own keys and choice values
# (lowercase identifiers and numbers): names, places, free text, phones and e-mails.
_KEYLIKE = re.compile(r"[a-z0-9_.:/-]*")
_CONTACT = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+|\+?\d[\d -]{8,}\d")


def _typed_strings(node: Any, out: set[str]) -> None:
    if isinstance(node, str):
        text = node.strip()
        if len(text) >= 2 and (not _KEYLIKE.fullmatch(text) or _CONTACT.search(text)):
            out.add(text)
    elif isinstance(node, dict):
        for value in node.values():
            _typed_strings(value, out)
    elif isinstance(node, list | tuple):
        for value in node:
            _typed_strings(value, out)


async def personal_strings(session: AsyncSession, channel: str, user_key: str) -> set[str]:
    """What a person told us in their own words: profile texts, the group contact's name
    and role, and the free text in their conversation state (answers being typed)."""
    found: set[str] = set()
    volunteer = await get_volunteer(session, channel, user_key)
    if volunteer is not None:
        for text in (
            volunteer.display_name,
            volunteer.area,
            volunteer.skills_other,
            volunteer.contact,
        ):
            if text and len(text.strip()) >= 2:
                found.add(text.strip())
    org = await get_organization(session, channel, user_key)
    if org is not None:
        for text in (org.contact_name, org.contact_role, org.contact):
            if text and len(text.strip()) >= 2:
                found.add(text.strip())
    state = await session.scalar(
        select(Conversation.state).where(
            Conversation.channel == channel, Conversation.user_key == user_key
        )
    )
    _typed_strings(state, found)
    return found


def _without(node: Any, strings: Sequence[str], user_key: str) -> Any:
    """A JSON value with every occurrence of these strings blanked and the id removed."""
    if isinstance(node, str):
        if node == user_key:
            return None
        for text in strings:
            node = node.replace(text, "—")
        return node
    if isinstance(node, dict):
        return {k: _without(v, strings, user_key) for k, v in node.items()}
    if isinstance(node, list):
        return [_without(v, strings, user_key) for v in node if v != user_key]
    return node


async def scrub_outbox(
    session: AsyncSession, channel: str, user_key: str, strings: Iterable[str]
) -> int:
    """Remove a person from the outbox: their own messages (sent, waiting or dead) go,
    and in every other message (a multicast, a card about them) their id and the
    strings they typed are blanked. Returns how many rows were touched."""
    deleted = await session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.channel == channel, OutboxMessage.target == user_key
        )
    )
    touched = int(getattr(deleted, "rowcount", 0) or 0)
    # Longest first, so a name is blanked whole before a part of it is looked for.
    ordered = sorted(set(strings), key=len, reverse=True)
    needles = [user_key, *ordered]
    # Found in SQL first (the payload's JSON text holds a string as it is, or escaped
    # as \uXXXX on SQLite), so a deletion does not read the whole outbox into Python.
    forms = {f for n in needles for f in (n, json.dumps(n)[1:-1])}
    as_text = cast(OutboxMessage.payload, Text)
    rows = await session.execute(
        select(OutboxMessage.id, OutboxMessage.payload).where(
            or_(*(as_text.contains(f, autoescape=True) for f in forms))
        )
    )
    for row_id, payload in rows.all():
        text = json.dumps(payload, ensure_ascii=False)
        if not any(n in text for n in needles):
            continue
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(payload=_without(payload, ordered, user_key))
        )
        touched += 1
    return touched


# ---------------------------------------------------------------- outbox


async def add_outbox(
    session: AsyncSession,
    *,
    channel: str,
    kind: str,
    target: str,
    payload: dict[str, Any],
    key: str,
    ref_type: str | None,
    ref_id: int | None,
    due_at: datetime,
    expires_at: datetime | None = None,
) -> None:
    """Write one outgoing message; a message with the same key already written is kept."""
    stmt = (
        _insert(session, OutboxMessage)
        .values(
            channel=channel,
            kind=kind,
            target=target,
            payload=payload,
            key=key,
            ref_type=ref_type,
            ref_id=ref_id,
            status="pending",
            attempts=0,
            due_at=due_at,
            created_at=due_at,
            expires_at=expires_at,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    await session.execute(stmt)


# An inbox reply written with the change that caused it and sent right after the commit:
# "held" while the process that applied the event sends it with the reply token (until
# `due_at`, a lease), then "sent"; if that process fails or dies it becomes an ordinary
# pending push. A held row holds back later messages to the same person.
HELD = "held"
_UNSENT = ("pending", "sending", HELD)
# Outbox rows that are not messages a person reads: a rich menu switch. They keep their
# own order per person, never hold back a message (nor a message them), and give up the
# LINE id once done.
RICHMENU = "richmenu"


async def add_replies(db: Db, rows: Sequence[dict[str, Any]]) -> None:
    """Write inbox replies as outbox rows in one statement (a repeated key is kept)."""
    if not rows:
        return
    stmt = _INSERTS.get(("replies", _dialect(db)))
    if stmt is None:
        stmt = _INSERTS[("replies", _dialect(db))] = _insert(db, _OUTBOX).on_conflict_do_nothing(
            index_elements=["key"]
        )
    await (await _conn(db)).execute(stmt, list(rows))


async def targets_waiting(db: Db, channel: str, targets: Sequence[str]) -> set[str]:
    """Which of these targets have a message waiting to be sent or retried (not held)."""
    if not targets:
        return set()
    stmt = (
        select(_OUTBOX.c.target)
        .where(
            _OUTBOX.c.channel == channel,
            _OUTBOX.c.target.in_(list(targets)),
            _OUTBOX.c.status.in_(("pending", "sending")),
            # Messages only: a rich menu link waiting for the person is no message a
            # reply could overtake (the reply token must not be given up for it).
            _OUTBOX.c.kind != RICHMENU,
        )
        .distinct()
    )
    return set((await (await _conn(db)).execute(stmt)).scalars())


# `ref_type` of the outbox rows that answer a person's event (bot.inbox).
REPLY = "reply"


async def settle_replies(db: Db, sent: Sequence[str], unsent: Sequence[str], now: datetime) -> None:
    """Held replies by key: delivered ones are sent (their text and recipient dropped:
    nothing needs them once LINE has the reply, and a reply to someone who just deleted
    their data must not keep their LINE id), the others become pushes due now. Rows no
    longer held (a lease ran out) are left alone."""
    conn = await _conn(db)
    if sent:
        await conn.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.key.in_(list(sent)), _OUTBOX.c.status == HELD)
            .values(status="sent", sent_at=now, payload={}, target="")
        )
    if unsent:
        await conn.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.key.in_(list(unsent)), _OUTBOX.c.status == HELD)
            .values(status="pending", due_at=now)
        )


async def claim_outbox(
    session: AsyncSession, now: datetime, lease_until: datetime, limit: int
) -> list[OutboxMessage]:
    """Take due messages (and ones whose sender's lease ran out) for sending, oldest first.

    Only the oldest unsent message of each target is due, so one person or channel
    receives messages in the order they were written. On PostgreSQL rows locked by
    another dispatcher are skipped.
    """
    older = aliased(OutboxMessage)
    # Held rows are claimable once their lease is over: the process sending them died.
    waiting = OutboxMessage.status.in_(_UNSENT)
    blocked = exists().where(
        older.channel == OutboxMessage.channel,
        older.target == OutboxMessage.target,
        older.id < OutboxMessage.id,
        older.status.in_(_UNSENT),
        # Messages wait for messages, menu switches for menu switches.
        (older.kind == RICHMENU) == (OutboxMessage.kind == RICHMENU),
    )
    ids = (
        select(OutboxMessage.id)
        .where(waiting, OutboxMessage.due_at <= now, ~blocked)
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if _dialect(session) == "postgresql":
        ids = ids.with_for_update(skip_locked=True)
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids.scalar_subquery()))
        .values(status="sending", due_at=lease_until, attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage)
    )
    rows = (await session.scalars(stmt, execution_options={"synchronize_session": False})).all()
    return sorted(rows, key=lambda r: r.id)


async def outbox_due(session: AsyncSession, now: datetime) -> bool:
    """True if some message is due (a cheap read before taking the write lock)."""
    stmt = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status.in_(_UNSENT), OutboxMessage.due_at <= now)
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


async def mark_outbox_sent(
    session: AsyncSession, outbox_id: int, now: datetime, *, reply: bool = False
) -> None:
    """Record a delivery. `reply`: the row answered a person's event (`ref_type` REPLY)
    and went out as a push (its token refused, or behind another message); it is needed
    no more than a delivered reply, so its text and recipient go, as `settle_replies`
    drops them: the answer to someone who just deleted their data keeps no LINE id."""
    # A rich menu switch needs the LINE id only until it is done.
    target: Any = (
        "" if reply else case((OutboxMessage.kind == RICHMENU, ""), else_=OutboxMessage.target)
    )
    forgotten: dict[str, Any] = {"payload": {}} if reply else {}
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(status="sent", sent_at=now, last_error=None, target=target, **forgotten),
        execution_options={"synchronize_session": False},
    )


async def retry_outbox(session: AsyncSession, outbox_id: int, due_at: datetime, error: str) -> None:
    """Put a message back for another attempt at `due_at`."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(status="pending", due_at=due_at, last_error=error),
        execution_options={"synchronize_session": False},
    )


async def release_outbox(session: AsyncSession, ids: Sequence[int], due_at: datetime) -> None:
    """Give back claimed messages that were not tried (their attempt does not count)."""
    if ids:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(status="pending", due_at=due_at, attempts=OutboxMessage.attempts - 1),
            execution_options={"synchronize_session": False},
        )


async def dead_outbox(session: AsyncSession, outbox_id: int, error: str) -> None:
    """Give up on a message; it stays visible to coordinators."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(status="dead", last_error=error),
        execution_options={"synchronize_session": False},
    )


async def defer_outbox(session: AsyncSession, outbox_id: int, due_at: datetime, note: str) -> None:
    """Hold a claimed message until `due_at` without counting the attempt (e.g. no budget).

    A deferred message does not hold back later messages to the same target.
    """
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(
            status="deferred",
            due_at=due_at,
            attempts=OutboxMessage.attempts - 1,
            last_error=note,
        ),
        execution_options={"synchronize_session": False},
    )


async def set_cohort_opt_out(
    session: AsyncSession, channel: str, user_key: str, opt_out: bool
) -> None:
    """Opt a person (as a volunteer and as a group contact) out of the next cohort's
    invitations, or back in."""
    for model in (Volunteer, Organization):
        await session.execute(
            update(model)
            .where(model.channel == channel, model.user_key == user_key)
            .values(next_cohort_opt_out=opt_out),
            execution_options={"synchronize_session": False},
        )


async def expire_outbox(session: AsyncSession, outbox_id: int, note: str) -> None:
    """A dated message that can no longer go before its event: it never will."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(status="expired", last_error=note),
        execution_options={"synchronize_session": False},
    )


async def resume_deferred_outbox(session: AsyncSession, now: datetime) -> int:
    """Make deferred messages whose time has come pending again; return how many."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "deferred", OutboxMessage.due_at <= now)
        .values(status="pending"),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def deferred_outbox(session: AsyncSession, channel: str) -> list[OutboxMessage]:
    """Messages of a channel waiting for budget, oldest first."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.status == "deferred")
        .order_by(OutboxMessage.id)
    )
    return list((await session.scalars(stmt)).all())


async def outbox_counts(session: AsyncSession) -> dict[str, int]:
    """How many messages are in each state."""
    rows = await session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    return {status: int(n) for status, n in rows}


async def dead_letters(session: AsyncSession, limit: int = 20) -> list[OutboxMessage]:
    """The newest messages that could not be delivered."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "dead")
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


_REF_COLUMNS = {
    "project_card": (Project.card_channel, Project.card_ts),
    "team_card": (Project.team_card_channel, Project.team_card_ts),
}


async def record_message_ref(
    session: AsyncSession, ref_type: str, ref_id: int, channel: str, ts: str
) -> None:
    """Remember where a posted message lives (a project's cards) to update it later."""
    if ref_type in _REF_COLUMNS:
        channel_col, ts_col = _REF_COLUMNS[ref_type]
        await session.execute(
            update(Project).where(Project.id == ref_id).values({channel_col: channel, ts_col: ts}),
            execution_options={"synchronize_session": False},
        )


async def message_ref(session: AsyncSession, ref_type: str, ref_id: int) -> tuple[str, str] | None:
    """Where an earlier posted message lives, or None if it has not been posted yet."""
    if ref_type in _REF_COLUMNS:
        row = (
            await session.execute(select(*_REF_COLUMNS[ref_type]).where(Project.id == ref_id))
        ).one_or_none()
        if row is not None and row[0] and row[1]:
            return str(row[0]), str(row[1])
    return None


# ---------------------------------------------------------------- audit


async def audit(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: int | None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append to the audit log."""
    session.add(
        AuditEntry(
            at=at or utcnow(),
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            detail=detail or {},
        )
    )


# ---------------------------------------------------------------- groups and projects


async def get_organization(
    session: AsyncSession, channel: str, user_key: str
) -> Organization | None:
    """The group whose contact is this person on this channel, if any."""
    stmt = select(Organization).where(
        Organization.channel == channel, Organization.user_key == user_key
    )
    return (await session.scalars(stmt)).one_or_none()


async def save_organization(
    session: AsyncSession, channel: str, user_key: str, fields: dict[str, Any]
) -> Organization:
    """Create or update the group this person is the contact of."""
    org = await get_organization(session, channel, user_key)
    if org is None:
        org = Organization(channel=channel, user_key=user_key, **fields)
        session.add(org)
    else:
        for name, value in fields.items():
            setattr(org, name, value)
    await session.flush()
    return org


async def add_project(session: AsyncSession, org: Organization, fields: dict[str, Any]) -> Project:
    """A new request (status submitted) of a group."""
    project = Project(organization_id=org.id, status="submitted", version=1, **fields)
    session.add(project)
    await session.flush()
    return project


async def get_project(session: AsyncSession, project_id: int) -> Project | None:
    """A project with its group and questions loaded."""
    from sqlalchemy.orm import selectinload

    stmt = (
        select(Project)
        .where(Project.id == project_id)
        .options(selectinload(Project.organization), selectinload(Project.questions))
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).one_or_none()


async def projects_of(session: AsyncSession, org_id: int) -> list[Project]:
    """A group's requests, newest first."""
    stmt = select(Project).where(Project.organization_id == org_id).order_by(Project.id.desc())
    return list((await session.scalars(stmt)).all())


async def list_projects(session: AsyncSession, limit: int = 30) -> list[Project]:
    """Recent projects with their groups, newest first."""
    from sqlalchemy.orm import selectinload

    stmt = (
        select(Project)
        .options(selectinload(Project.organization))
        .order_by(Project.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def decide_project(
    session: AsyncSession,
    project_id: int,
    *,
    from_status: str,
    to_status: str,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> bool:
    """Move a project from one status to another; False if someone else moved it first.

    A single conditional UPDATE: of two coordinators clicking at once exactly one
    matches the row, on SQLite and PostgreSQL alike.
    """
    result = await session.execute(
        update(Project)
        .where(Project.id == project_id, Project.status == from_status)
        .values(
            status=to_status,
            version=Project.version + 1,
            decided_by=actor,
            decided_at=now,
            decline_reason=reason,
            updated_at=now,
        ),
        execution_options={"synchronize_session": False},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


class RowBusy(Exception):
    """The row is locked by another transaction right now; end this one and try later."""


# PostgreSQL's SQLSTATE for a lock that NOWAIT (or lock_timeout) could not take.
_LOCK_NOT_AVAILABLE = "55P03"


async def lock_project_nowait(session: AsyncSession, project_id: int) -> None:
    """Lock a project's row for this transaction, or raise RowBusy at once if it is taken.

    PostgreSQL only (`FOR UPDATE NOWAIT`): a transaction never waits on the row while
    holding a pooled connection. SQLite has one writer at a time (the process's write
    gate and its busy timeout), so there is nothing to take.
    """
    if _dialect(session) != "postgresql":
        return
    stmt = select(Project.id).where(Project.id == project_id).with_for_update(nowait=True)
    try:
        await session.execute(stmt)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            raise RowBusy(str(project_id)) from exc
        raise


async def bound_lock_waits(session: AsyncSession, seconds: float) -> None:
    """Make any row-lock wait later in this transaction fail after `seconds` (PostgreSQL)."""
    if _dialect(session) == "postgresql":
        await session.execute(text(f"SET LOCAL lock_timeout = '{int(seconds * 1000)}ms'"))


async def add_question(
    session: AsyncSession, project_id: int, actor: str, question: str, now: datetime
) -> ProjectQuestion:
    """Record a coordinator's question about a request."""
    row = ProjectQuestion(project_id=project_id, asked_by=actor, question=question, asked_at=now)
    session.add(row)
    await session.flush()
    return row


async def answer_question(
    session: AsyncSession, question_id: int, answer: str, now: datetime
) -> ProjectQuestion | None:
    """Store the group's answer once; None if the question was already answered."""
    result = await session.execute(
        update(ProjectQuestion)
        .where(ProjectQuestion.id == question_id, ProjectQuestion.answer.is_(None))
        .values(answer=answer, answered_at=now),
        execution_options={"synchronize_session": False},
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return await session.get(ProjectQuestion, question_id, populate_existing=True)


async def forget_organization_contact(
    session: AsyncSession, channel: str, user_key: str
) -> int | None:
    """Remove a group contact's personal data; the group's requests stay on record."""
    org = await get_organization(session, channel, user_key)
    if org is None:
        return None
    org.contact_name = "-"
    org.contact_role = "-"
    org.contact = None
    org.share_contact = "unknown"
    # The LINE id goes; a placeholder keeps the unique key and marks the row as unlinked.
    org.user_key = f"deleted:{org.id}"
    await session.flush()
    return org.id


async def volunteer_counts(session: AsyncSession) -> dict[str, dict[str, int]]:
    """Volunteer counts by status, by skill (active ones) and by area (active ones)."""
    by_status = {
        s: int(n)
        for s, n in await session.execute(
            select(Volunteer.status, func.count()).group_by(Volunteer.status)
        )
    }
    by_skill = {
        s: int(n)
        for s, n in await session.execute(
            select(VolunteerSkill.skill, func.count())
            .join(Volunteer, Volunteer.id == VolunteerSkill.volunteer_id)
            .where(Volunteer.status == "active")
            .group_by(VolunteerSkill.skill)
        )
    }
    by_area = {
        a: int(n)
        for a, n in await session.execute(
            select(Volunteer.area, func.count())
            .where(Volunteer.status == "active")
            .group_by(Volunteer.area)
        )
    }
    return {"status": by_status, "skill": by_skill, "area": by_area}


# ---------------------------------------------------------------- matches


async def match_for_person(
    session: AsyncSession, match_id: int, channel: str, user_key: str
) -> tuple[Match, str] | None:
    """A match of this person's (as volunteer) with the group's name; None if not theirs."""
    stmt = (
        select(Match, Organization.name)
        .join(Volunteer, Volunteer.id == Match.volunteer_id)
        .join(Project, Project.id == Match.project_id)
        .join(Organization, Organization.id == Project.organization_id)
        .where(Match.id == match_id, Volunteer.channel == channel, Volunteer.user_key == user_key)
    )
    row = (await session.execute(stmt)).one_or_none()
    return (row[0], str(row[1])) if row is not None else None


async def volunteers_for_matching(
    session: AsyncSession, volunteer_id: int | None = None
) -> list[Volunteer]:
    """Volunteers who may be matched or shown projects (not those who left); one if given."""
    stmt = select(Volunteer).where(Volunteer.status != "inactive").order_by(Volunteer.id)
    if volunteer_id is not None:
        stmt = stmt.where(Volunteer.id == volunteer_id)
    return list((await session.scalars(stmt)).all())


async def all_matches(session: AsyncSession, volunteer_id: int | None = None) -> list[Match]:
    """Every match, or one volunteer's (for the fairness and load parts of the fit)."""
    stmt = select(Match).order_by(Match.id)
    if volunteer_id is not None:
        stmt = stmt.where(Match.volunteer_id == volunteer_id)
    return list((await session.scalars(stmt)).all())


async def skill_holders(session: AsyncSession) -> tuple[int, dict[str, int]]:
    """How many volunteers may be matched, and how many of them hold each skill."""
    population = (
        await session.execute(
            select(func.count()).select_from(Volunteer).where(Volunteer.status != "inactive")
        )
    ).scalar_one()
    rows = await session.execute(
        select(VolunteerSkill.skill, func.count())
        .join(Volunteer, Volunteer.id == VolunteerSkill.volunteer_id)
        .where(Volunteer.status != "inactive")
        .group_by(VolunteerSkill.skill)
    )
    return int(population), {skill: int(n) for skill, n in rows}


async def project_matches(session: AsyncSession, project_id: int) -> list[tuple[Match, Volunteer]]:
    """A project's matches with their volunteers, oldest first."""
    stmt = (
        select(Match, Volunteer)
        .join(Volunteer, Volunteer.id == Match.volunteer_id)
        .where(Match.project_id == project_id)
        .order_by(Match.id)
        .execution_options(populate_existing=True)
    )
    return [(m, v) for m, v in (await session.execute(stmt)).all()]


async def get_match(session: AsyncSession, match_id: int) -> Match | None:
    """One match, read fresh."""
    return await session.get(Match, match_id, populate_existing=True)


async def put_match(
    session: AsyncSession,
    *,
    project_id: int,
    volunteer_id: int,
    state: str,
    actor: str,
    now: datetime,
    score: float = 0.0,
    breakdown: dict[str, Any] | None = None,
    raised_hand: bool | None = None,
) -> Match:
    """Create a match, or move an existing `interested` one to `state`; records the event."""
    stmt = select(Match).where(Match.project_id == project_id, Match.volunteer_id == volunteer_id)
    match = (await session.scalars(stmt)).one_or_none()
    if match is None:
        match = Match(
            project_id=project_id,
            volunteer_id=volunteer_id,
            state=state,
            score=score,
            breakdown=breakdown or {},
            raised_hand=bool(raised_hand),
            version=1,
            created_at=now,
            updated_at=now,
        )
        session.add(match)
    else:
        match.state = state
        match.version += 1
        match.updated_at = now
        if breakdown:
            match.score, match.breakdown = score, breakdown
        if raised_hand is not None:
            match.raised_hand = match.raised_hand or raised_hand
    await session.flush()
    session.add(MatchEvent(match_id=match.id, state=state, actor=actor, at=now))
    return match


async def move_match(
    session: AsyncSession,
    match_id: int,
    *,
    from_states: Sequence[str],
    to_state: str,
    actor: str,
    now: datetime,
    version: int | None = None,
    detail: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Move a match between states if it is still in one of `from_states` (and at
    `version`, when given); False if someone else moved it first. Records the event."""
    cond = [Match.id == match_id, Match.state.in_(list(from_states))]
    if version is not None:
        cond.append(Match.version == version)
    result = await session.execute(
        update(Match)
        .where(*cond)
        .values(state=to_state, version=Match.version + 1, updated_at=now, **values),
        execution_options={"synchronize_session": False},
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    session.add(
        MatchEvent(match_id=match_id, state=to_state, actor=actor, at=now, detail=detail or {})
    )
    await session.flush()
    return True


async def set_project_status(
    session: AsyncSession, project_id: int, from_status: str, to_status: str, now: datetime
) -> bool:
    """Move a project between statuses; False if it was not in `from_status`."""
    result = await session.execute(
        update(Project)
        .where(Project.id == project_id, Project.status == from_status)
        .values(status=to_status, version=Project.version + 1, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def projects_with_status(session: AsyncSession, status: str) -> list[Project]:
    """Projects in a status, with their groups, oldest first."""
    from sqlalchemy.orm import selectinload

    stmt = (
        select(Project)
        .where(Project.status == status)
        .options(selectinload(Project.organization))
        .order_by(Project.id)
    )
    return list((await session.scalars(stmt)).all())


async def invitations_due(session: AsyncSession, before: datetime) -> list[Match]:
    """Open invitations expiring before `before`."""
    stmt = (
        select(Match).where(Match.state == "invited", Match.expires_at <= before).order_by(Match.id)
    )
    return list((await session.scalars(stmt)).all())
