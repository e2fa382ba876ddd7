"""Queries for programmes, phases, announcements, RSVPs and the scheduler lease.

Like storage.repo: every function takes the caller's session and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import (
    Announcement,
    Conversation,
    Lease,
    Match,
    Organization,
    Phase,
    Programme,
    Project,
    Rsvp,
    Volunteer,
    VolunteerSkill,
)
from storage.repo import _insert

# ---------------------------------------------------------------- programmes

# The lifecycle's state sets (bot/rules/states.py owns them; storage cannot import the
# core, and tests/test_lifecycle.py checks these copies agree).
TEAM_STATES = ("team_formed", "agreed", "delivered")
ACCEPTED_STATES = ("recruiting", "team_proposed", "team_formed", "agreed", "delivered")


async def programme_by_slug(session: AsyncSession, slug: str) -> Programme | None:
    """A programme with its phases and their announcements, by slug."""
    stmt = (
        select(Programme)
        .where(Programme.slug == slug)
        .options(selectinload(Programme.phases).selectinload(Phase.announcements))
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_programme(session: AsyncSession, programme_id: int) -> Programme | None:
    """A programme with its phases and their announcements."""
    stmt = (
        select(Programme)
        .where(Programme.id == programme_id)
        .options(selectinload(Programme.phases).selectinload(Phase.announcements))
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_programmes(session: AsyncSession) -> list[Programme]:
    """Every programme, newest first, with phases loaded."""
    stmt = (
        select(Programme)
        .order_by(Programme.id.desc())
        .options(selectinload(Programme.phases).selectinload(Phase.announcements))
    )
    return list((await session.execute(stmt)).scalars())


async def get_phase(session: AsyncSession, phase_id: int) -> Phase | None:
    """A phase with its programme and announcements."""
    stmt = (
        select(Phase)
        .where(Phase.id == phase_id)
        .options(selectinload(Phase.programme), selectinload(Phase.announcements))
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_announcement(session: AsyncSession, announcement_id: int) -> Announcement | None:
    """An announcement with its phase and programme."""
    stmt = (
        select(Announcement)
        .where(Announcement.id == announcement_id)
        .options(selectinload(Announcement.phase).selectinload(Phase.programme))
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def scheduled_announcements(session: AsyncSession) -> list[tuple[int, datetime]]:
    """(id, send_at) of every announcement still to be sent."""
    stmt = (
        select(Announcement.id, Announcement.send_at)
        .where(Announcement.state == "scheduled")
        .order_by(Announcement.send_at, Announcement.id)
    )
    return [(row[0], row[1]) for row in await session.execute(stmt)]


async def due_announcements(session: AsyncSession, now: datetime) -> list[int]:
    """Ids of scheduled announcements whose time has come."""
    stmt = (
        select(Announcement.id)
        .where(Announcement.state == "scheduled", Announcement.send_at <= now)
        .order_by(Announcement.send_at, Announcement.id)
    )
    return list((await session.execute(stmt)).scalars())


async def upcoming(
    session: AsyncSession, *, states: Sequence[str], limit: int = 40
) -> list[Announcement]:
    """Announcements in these states, soonest first, with phase and programme."""
    stmt = (
        select(Announcement)
        .where(Announcement.state.in_(states))
        .order_by(Announcement.send_at, Announcement.id)
        .limit(limit)
        .options(selectinload(Announcement.phase).selectinload(Phase.programme))
    )
    return list((await session.execute(stmt)).scalars())


async def move_announcement(
    session: AsyncSession,
    announcement_id: int,
    *,
    from_state: str,
    to_state: str,
    send_at: datetime,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Change an announcement's state if it is still as read (the claim); True if it won."""
    values: dict[str, Any] = {"state": to_state, "updated_at": now}
    if to_state in ("sent", "skipped"):
        values["fired_at"] = now
    if detail is not None:
        values["detail"] = detail
    stmt = (
        update(Announcement)
        .where(
            Announcement.id == announcement_id,
            Announcement.state == from_state,
            Announcement.send_at == send_at,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0) == 1)


# ---------------------------------------------------------------- audiences


async def team_projects(
    session: AsyncSession, programme_id: int, project_id: int | None = None
) -> list[Project]:
    """Formed teams of a programme (only this project's, when a project is given)."""
    only = () if project_id is None else (Project.id == project_id,)
    stmt = (
        select(Project)
        .where(Project.programme_id == programme_id, Project.status.in_(TEAM_STATES), *only)
        .order_by(Project.id)
        .options(selectinload(Project.organization))
    )
    return list((await session.execute(stmt)).scalars())


async def team_members(
    session: AsyncSession, programme_id: int, project_id: int | None = None
) -> list[Volunteer]:
    """Accepted members of the programme's formed teams (each person once); of one
    project's team when a project is given."""
    # DISTINCT on the ids, not the rows: PostgreSQL has no equality for `json` columns.
    members = (
        select(Match.volunteer_id)
        .join(Project, Project.id == Match.project_id)
        .where(
            Project.programme_id == programme_id,
            Project.status.in_(TEAM_STATES),
            Match.state == "accepted",
            *(() if project_id is None else (Project.id == project_id,)),
        )
        .distinct()
    )
    stmt = (
        select(Volunteer)
        .where(Volunteer.id.in_(members), Volunteer.status != "inactive")
        .order_by(Volunteer.id)
    )
    return list((await session.execute(stmt)).scalars())


async def volunteers_matching(
    session: AsyncSession, audience_filter: dict[str, Any]
) -> list[tuple[str, str, str]]:
    """(channel, user_key, locale) of active volunteers the filter admits.

    The filter may name areas (any of), skills (any of) and interests (any of).
    """
    stmt = select(
        Volunteer.channel,
        Volunteer.user_key,
        Volunteer.locale,
        Volunteer.area,
        Volunteer.interests,
        Volunteer.id,
    ).where(Volunteer.status == "active")
    skills = [str(s) for s in audience_filter.get("skills") or []]
    if skills:
        holders = select(VolunteerSkill.volunteer_id).where(VolunteerSkill.skill.in_(skills))
        stmt = stmt.where(Volunteer.id.in_(holders))
    areas = {str(a) for a in audience_filter.get("areas") or []}
    interests = {str(i) for i in audience_filter.get("interests") or []}
    out: list[tuple[str, str, str]] = []
    for channel, user_key, locale, area, their_interests, _ in await session.execute(
        stmt.order_by(Volunteer.id)
    ):
        if areas and area not in areas:
            continue
        if interests and not interests.intersection(their_interests or []):
            continue
        out.append((channel, user_key, locale))
    return out


async def followers(session: AsyncSession, channel: str) -> list[tuple[str, str]]:
    """(user_key, locale) of everyone who has talked to the bot and not blocked it."""
    inactive = select(Volunteer.user_key).where(
        Volunteer.channel == channel, Volunteer.status == "inactive"
    )
    stmt = (
        select(Conversation.user_key, Conversation.locale)
        .where(Conversation.channel == channel, Conversation.user_key.not_in(inactive))
        .order_by(Conversation.id)
    )
    return [(row[0], row[1]) for row in await session.execute(stmt)]


async def rsvp_yes(session: AsyncSession, phase_id: int) -> list[tuple[str, str, str]]:
    """(channel, user_key, locale) of everyone who said they will come."""
    stmt = (
        select(Rsvp.channel, Rsvp.user_key, func.coalesce(Conversation.locale, "ja"))
        .outerjoin(
            Conversation,
            and_(Conversation.channel == Rsvp.channel, Conversation.user_key == Rsvp.user_key),
        )
        .where(Rsvp.phase_id == phase_id, Rsvp.answer == "yes")
        .order_by(Rsvp.answered_at)
    )
    return [(row[0], row[1], row[2]) for row in await session.execute(stmt)]


# ---------------------------------------------------------------- RSVPs


async def put_rsvp(
    session: AsyncSession, phase_id: int, channel: str, user_key: str, answer: str, now: datetime
) -> None:
    """Record (or change) someone's answer to a briefing session."""
    found = await session.get(Rsvp, (phase_id, channel, user_key))
    if found is None:
        session.add(
            Rsvp(
                phase_id=phase_id,
                channel=channel,
                user_key=user_key,
                answer=answer,
                answered_at=now,
            )
        )
    else:
        found.answer = answer
        found.answered_at = now


async def attendance(session: AsyncSession, phase_id: int) -> list[tuple[str, str | None, str]]:
    """(answer, volunteer display name or None, answered at ISO) for a phase."""
    stmt = (
        select(Rsvp.answer, Volunteer.display_name, Rsvp.answered_at)
        .outerjoin(
            Volunteer,
            and_(Volunteer.channel == Rsvp.channel, Volunteer.user_key == Rsvp.user_key),
        )
        .where(Rsvp.phase_id == phase_id)
        .order_by(Rsvp.answered_at)
    )
    return [(row[0], row[1], row[2].isoformat()) for row in await session.execute(stmt)]


async def rsvp_counts(session: AsyncSession, phase_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per phase, how many said yes and no."""
    if not phase_ids:
        return {}
    stmt = (
        select(Rsvp.phase_id, Rsvp.answer, func.count())
        .where(Rsvp.phase_id.in_(phase_ids))
        .group_by(Rsvp.phase_id, Rsvp.answer)
    )
    out: dict[int, dict[str, int]] = {}
    for phase_id, answer, n in await session.execute(stmt):
        out.setdefault(phase_id, {})[answer] = int(n)
    return out


async def forget_rsvps(session: AsyncSession, channel: str, user_key: str) -> None:
    """Delete someone's RSVPs (when they delete their data)."""
    await session.execute(delete(Rsvp).where(Rsvp.channel == channel, Rsvp.user_key == user_key))


async def current_programme(session: AsyncSession, now: datetime) -> Programme | None:
    """The programme a newly accepted project joins: the newest one not yet over."""
    last_phase = (
        select(
            Phase.programme_id, func.max(func.coalesce(Phase.ends_at, Phase.starts_at)).label("end")
        )
        .where(Phase.cancelled_at.is_(None))
        .group_by(Phase.programme_id)
        .subquery()
    )
    stmt = (
        select(Programme)
        .join(last_phase, last_phase.c.programme_id == Programme.id)
        .where(last_phase.c.end >= now)
        .order_by(Programme.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


# ---------------------------------------------------------------- leases


async def take_lease(
    session: AsyncSession, name: str, holder: str, now: datetime, until: datetime
) -> bool:
    """Take or renew a named lease; True if `holder` now holds it until `until`.

    One conditional UPDATE (held by us, or expired) decides; the row is created the
    first time. Works the same on SQLite and PostgreSQL, and nothing is tied to the
    connection, so a process that dies simply stops renewing.
    """
    stmt = (
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
        .values(holder=holder, expires_at=until)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(stmt)
    if getattr(result, "rowcount", 0) == 1:
        return True
    inserted = await session.execute(
        _insert(session, Lease)
        .values(name=name, holder=holder, expires_at=until, acquired_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(Lease.name)
    )
    return inserted.first() is not None


async def release_lease(session: AsyncSession, name: str, holder: str, now: datetime) -> None:
    """Give a lease up at once (a clean shutdown), so another process need not wait."""
    await session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )


async def lease_holder(session: AsyncSession, name: str) -> tuple[str, datetime] | None:
    """Who holds a lease and until when."""
    row = (
        await session.execute(select(Lease.holder, Lease.expires_at).where(Lease.name == name))
    ).first()
    return (row[0], row[1]) if row else None


async def schedule_stamp(session: AsyncSession) -> tuple[Any, int]:
    """(latest change, number) of announcement rows: changes when any process (e.g. a CLI
    import) writes the schedule, so a running leader can notice it within seconds."""
    row = (
        await session.execute(
            select(func.max(Announcement.updated_at), func.count(Announcement.id))
        )
    ).one()
    return row[0], int(row[1])


async def programme_projects(session: AsyncSession, programme_id: int) -> list[tuple[int, str]]:
    """(project id, group name) of a programme's accepted projects, by id."""
    stmt = (
        select(Project.id, Organization.name)
        .join(Organization, Organization.id == Project.organization_id)
        .where(
            Project.programme_id == programme_id,
            Project.status.in_(ACCEPTED_STATES),
        )
        .order_by(Project.id)
    )
    return [(int(i), str(n)) for i, n in (await session.execute(stmt)).all()]
