"""The programme office's queries: export rows in keyset batches, counts for the dashboard,
targets and the impact report.

Everything is Core SQL on the session's connection: exports stream a bounded batch at a
time (never the whole table), and counts are GROUP BYs in the database, so both stay
fast on 100,000 volunteers (bench/office.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, distinct, exists, func, or_, select, union
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Agreement,
    Announcement,
    CheckIn,
    Conversation,
    Delivery,
    HoursEntry,
    Match,
    Organization,
    OutboxMessage,
    Phase,
    Programme,
    Project,
    Rsvp,
    Volunteer,
    VolunteerSkill,
)

_V = Volunteer.__table__.c
_O = Organization.__table__.c
_P = Project.__table__.c
_M = Match.__table__.c
_S = VolunteerSkill.__table__.c
_PH = Phase.__table__.c
_R = Rsvp.__table__.c
_C = CheckIn.__table__.c
_H = HoursEntry.__table__.c
_A = Agreement.__table__.c
_D = Delivery.__table__.c
_AN = Announcement.__table__.c
_PG = Programme.__table__.c

# Project states as they stand and as issue #13 extends them; a state a database does
# not have yet simply counts nothing.
NOT_ACCEPTED = ("submitted", "declined", "withdrawn")
FORMED = ("team_formed", "agreed", "delivered", "completed")
DELIVERED = ("delivered", "completed")
COMPLETED = ("completed",)
ON_TEAM = ("accepted",)
BATCH = 2000
# A match is on a team. Wrapped in coalesce so that SQLite's planner (it has no
# statistics) does not pick the index on state, which matches most rows, over the
# programme's or the projects' own index: 5 to 10 times faster on 100,000 volunteers.
_ON_TEAM = func.coalesce(_M.state, "").in_(ON_TEAM)


async def programme_id(session: AsyncSession, slug: str) -> int | None:
    """The id of the programme with this slug, if any."""
    found = await session.scalar(select(Programme.id).where(Programme.slug == slug))
    return int(found) if found is not None else None


def _team_volunteers(programme: int | None) -> Select[Any]:
    """Volunteer ids on a team (an accepted match), in a programme or anywhere."""
    if programme is None:
        return select(_M.volunteer_id).where(_M.state.in_(ON_TEAM))
    mine = select(_P.id).where(_P.programme_id == programme)
    return select(_M.volunteer_id).where(_M.project_id.in_(mine), _ON_TEAM)


def _programme_volunteers(programme: int) -> Any:
    """Volunteer ids a programme reached: on its teams, or said yes to one of its sessions."""
    rsvp = (
        select(_V.id)
        .join(Rsvp.__table__, and_(_R.channel == _V.channel, _R.user_key == _V.user_key))
        .join(Phase.__table__, _PH.id == _R.phase_id)
        .where(_PH.programme_id == programme, _R.answer == "yes")
    )
    return union(_team_volunteers(programme), rsvp).subquery()


async def _keyset(
    session: AsyncSession, stmt: Select[Any], key: Any, size: int
) -> AsyncIterator[list[Row[Any]]]:
    """`stmt` in batches of `size` rows ordered by `key` (a unique integer column)."""
    last: int | None = None
    while True:
        page = stmt if last is None else stmt.where(key > last)
        rows = list((await session.execute(page.order_by(key).limit(size))).all())
        if not rows:
            return
        yield rows
        last = int(rows[-1]._mapping[key.key])
        if len(rows) < size:
            return


async def volunteer_batches(
    session: AsyncSession, programme: int | None, size: int = BATCH
) -> AsyncIterator[list[dict[str, Any]]]:
    """Volunteers (all, or those a programme reached) as dicts with their skills, a batch
    at a time. Deleted volunteers have no row, so they never appear."""
    stmt = select(
        _V.id,
        _V.status,
        _V.locale,
        _V.display_name,
        _V.area,
        _V.occupation,
        _V.age_band,
        _V.employer,
        _V.via_company,
        _V.experience_years,
        _V.hours_per_week,
        _V.availability,
        _V.mode,
        _V.interests,
        _V.languages,
        _V.skills_other,
        _V.slack_user_id,
        _V.created_at,
    )
    if programme is not None:
        reached = _programme_volunteers(programme)
        stmt = stmt.where(_V.id.in_(select(reached.c[0])))
    async for rows in _keyset(session, stmt, _V.id, size):
        ids = [r.id for r in rows]
        skills: dict[int, list[str]] = {}
        found = await session.execute(
            select(_S.volunteer_id, _S.skill)
            .where(_S.volunteer_id.in_(ids))
            .order_by(_S.volunteer_id, _S.position)
        )
        for vid, skill in found:
            skills.setdefault(vid, []).append(skill)
        yield [{**r._mapping, "skills": skills.get(r.id, [])} for r in rows]


async def organization_batches(
    session: AsyncSession, programme: int | None, size: int = BATCH
) -> AsyncIterator[list[dict[str, Any]]]:
    """Groups (all, or those with a project in a programme) with their request count."""
    requests = (
        select(func.count())
        .where(_P.organization_id == _O.id)
        .correlate(Organization.__table__)
        .scalar_subquery()
    )
    stmt = select(
        _O.id,
        _O.user_key,
        _O.name,
        _O.kind,
        _O.sector,
        _O.fields,
        _O.area,
        _O.activity,
        _O.strengths,
        _O.needs_people,
        _O.needs_things,
        _O.needs_money,
        _O.contact_name,
        _O.contact_role,
        _O.created_at,
        requests.label("requests"),
    )
    if programme is not None:
        stmt = stmt.where(exists().where(_P.organization_id == _O.id, _P.programme_id == programme))
    async for rows in _keyset(session, stmt, _O.id, size):
        yield [dict(r._mapping) for r in rows]


async def project_batches(
    session: AsyncSession, programme: int | None, size: int = BATCH
) -> AsyncIterator[list[dict[str, Any]]]:
    """Projects with their group, programme and team (member ids and names)."""
    stmt = (
        select(
            _P.id,
            _P.status,
            _P.challenge,
            _P.menus,
            _P.menu_other,
            _P.period,
            _P.mode,
            _P.deliverable,
            _P.created_at,
            _P.decided_at,
            _P.team_channel_name,
            _O.id.label("organization_id"),
            _O.name.label("organization_name"),
            _O.kind.label("organization_kind"),
            _O.sector.label("organization_sector"),
            _O.area.label("organization_area"),
            Programme.__table__.c.slug.label("programme"),
        )
        .join(Organization.__table__, _O.id == _P.organization_id)
        .outerjoin(Programme.__table__, Programme.__table__.c.id == _P.programme_id)
    )
    if programme is not None:
        stmt = stmt.where(_P.programme_id == programme)
    async for rows in _keyset(session, stmt, _P.id, size):
        ids = [r.id for r in rows]
        team: dict[int, list[tuple[int, str]]] = {}
        found = await session.execute(
            select(_M.project_id, _V.id, _V.display_name)
            .join(Volunteer.__table__, _V.id == _M.volunteer_id)
            .where(_M.project_id.in_(ids), _ON_TEAM)
            .order_by(_M.project_id, _M.id)
        )
        for pid, vid, name in found:
            team.setdefault(pid, []).append((vid, name))
        yield [{**r._mapping, "team": team.get(r.id, [])} for r in rows]


async def hours_batches(
    session: AsyncSession, programme: int | None, size: int = BATCH
) -> AsyncIterator[list[dict[str, Any]]]:
    """Hours per team member and project: the hours a week they offered, and the minutes
    they logged on it (`minutes_worked`, hours_entries)."""
    stmt = (
        select(
            _M.id,
            _M.project_id,
            _M.volunteer_id,
            _M.state,
            _V.display_name,
            _V.hours_per_week,
            _O.name.label("organization_name"),
            Programme.__table__.c.slug.label("programme"),
        )
        .join(Volunteer.__table__, _V.id == _M.volunteer_id)
        .join(Project.__table__, _P.id == _M.project_id)
        .join(Organization.__table__, _O.id == _P.organization_id)
        .outerjoin(Programme.__table__, Programme.__table__.c.id == _P.programme_id)
        .where(_M.state.in_(ON_TEAM))
    )
    if programme is not None:
        stmt = stmt.where(_P.programme_id == programme)
    async for rows in _keyset(session, stmt, _M.id, size):
        logged = select(_H.project_id, _H.volunteer_id, func.sum(_H.minutes)).where(
            _H.project_id.in_({r.project_id for r in rows}),
            _H.volunteer_id.in_({r.volunteer_id for r in rows}),
        )
        worked = {
            (int(p), int(v)): int(n or 0)
            for p, v, n in await session.execute(logged.group_by(_H.project_id, _H.volunteer_id))
        }
        yield [
            {**r._mapping, "minutes_worked": worked.get((r.project_id, r.volunteer_id), 0)}
            for r in rows
        ]


async def attendance_batches(
    session: AsyncSession, programme: int | None, size: int = BATCH
) -> AsyncIterator[list[dict[str, Any]]]:
    """Answers to session invitations (RSVPs), with the volunteer behind each if any."""
    stmt = (
        select(
            _R.phase_id,
            _R.answer,
            _R.answered_at,
            _PH.key.label("phase_key"),
            _PH.kind.label("phase_kind"),
            _PH.title_ja,
            _PH.title_en,
            _PH.starts_at,
            Programme.__table__.c.slug.label("programme"),
            _V.id.label("volunteer_id"),
            _V.display_name,
        )
        .join(Phase.__table__, _PH.id == _R.phase_id)
        .join(Programme.__table__, Programme.__table__.c.id == _PH.programme_id)
        .outerjoin(Volunteer.__table__, and_(_V.channel == _R.channel, _V.user_key == _R.user_key))
        .order_by(_R.phase_id, _R.answered_at, _R.user_key)
    )
    if programme is not None:
        stmt = stmt.where(_PH.programme_id == programme)
    # RSVPs have a composite key: pages by position (they are few next to volunteers).
    offset = 0
    while True:
        rows = list((await session.execute(stmt.offset(offset).limit(size))).all())
        if not rows:
            return
        yield [dict(r._mapping) for r in rows]
        offset += len(rows)
        if len(rows) < size:
            return


async def feedback_batches(
    session: AsyncSession, programme: int | None, size: int = BATCH
) -> AsyncIterator[list[dict[str, Any]]]:
    """What the teams have said so far: their weekly check-ins (green/yellow/red)."""
    stmt = (
        select(
            _C.id,
            _C.project_id,
            _C.week,
            _C.status,
            _C.asked_at,
            _C.answered_at,
            _O.name.label("organization_name"),
            Programme.__table__.c.slug.label("programme"),
        )
        .join(Project.__table__, _P.id == _C.project_id)
        .join(Organization.__table__, _O.id == _P.organization_id)
        .outerjoin(Programme.__table__, Programme.__table__.c.id == _P.programme_id)
    )
    if programme is not None:
        stmt = stmt.where(_P.programme_id == programme)
    async for rows in _keyset(session, stmt, _C.id, size):
        yield [dict(r._mapping) for r in rows]


# ---------------------------------------------------------------- counts


async def followers(session: AsyncSession) -> int:
    """People who have talked to the bot in LINE and not blocked it."""
    # Two index-only counts: everyone with a conversation, less the volunteers among them
    # who blocked the bot (NOT IN over 100,000 rows is several times slower).
    total = await session.scalar(
        select(func.count()).select_from(Conversation).where(Conversation.channel == "line")
    )
    blocked = await session.scalar(
        select(func.count())
        .select_from(Volunteer.__table__)
        .join(
            Conversation.__table__,
            and_(Conversation.channel == _V.channel, Conversation.user_key == _V.user_key),
        )
        .where(_V.channel == "line", _V.status == "inactive")
    )
    return int(total or 0) - int(blocked or 0)


async def reached(session: AsyncSession, programme: int) -> tuple[int, int]:
    """(people a programme reached in LINE, how many of them are registered volunteers):
    everyone who answered one of its session invitations, and its team members."""
    rsvp_people = (
        select(_R.channel, _R.user_key)
        .join(Phase.__table__, _PH.id == _R.phase_id)
        .where(_PH.programme_id == programme)
    )
    team_people = (
        select(_V.channel, _V.user_key)
        .join(Match.__table__, _M.volunteer_id == _V.id)
        .join(Project.__table__, _P.id == _M.project_id)
        .where(_P.programme_id == programme, _ON_TEAM)
    )
    people = union(rsvp_people, team_people).subquery()
    stmt = select(func.count(), func.count(_V.id)).select_from(
        people.outerjoin(
            Volunteer.__table__,
            and_(_V.channel == people.c.channel, _V.user_key == people.c.user_key),
        )
    )
    total, volunteers = (await session.execute(stmt)).one()
    return int(total), int(volunteers)


async def count_volunteers(session: AsyncSession) -> int:
    """Registered volunteers (every status)."""
    return int(await session.scalar(select(func.count()).select_from(Volunteer.__table__)) or 0)


async def project_status_counts(session: AsyncSession, programme: int | None) -> dict[str, int]:
    """How many projects are in each state."""
    stmt = select(_P.status, func.count()).group_by(_P.status)
    if programme is not None:
        stmt = stmt.where(_P.programme_id == programme)
    return {status: int(n) for status, n in await session.execute(stmt)}


async def participants(session: AsyncSession, programme: int | None) -> int:
    """Distinct volunteers on a team (in a programme or anywhere)."""
    sub = _team_volunteers(programme).subquery()
    return int(await session.scalar(select(func.count(distinct(sub.c[0])))) or 0)


async def companies(session: AsyncSession, programme: int | None) -> int:
    """Distinct employers (as typed, case and spaces aside) of the volunteers on teams."""
    sub = _team_volunteers(programme).distinct().subquery()
    name = func.lower(func.trim(_V.employer))
    stmt = (
        select(func.count(distinct(name)))
        .select_from(sub.join(Volunteer.__table__, _V.id == sub.c[0]))
        .where(_V.employer.is_not(None), func.trim(_V.employer) != "")
    )
    return int(await session.scalar(stmt) or 0)


async def breakdown(
    session: AsyncSession, column: str, programme: int | None, on_team: bool
) -> dict[str | None, int]:
    """Volunteers counted by one column (occupation, age_band, area, employer or
    via_company): on teams (in a programme or anywhere) or all registered ones."""
    col = _V[column]
    stmt = select(col, func.count()).group_by(col)
    if on_team:
        sub = _team_volunteers(programme).distinct().subquery()
        stmt = stmt.select_from(sub.join(Volunteer.__table__, _V.id == sub.c[0]))
    return {key if key is None else str(key): int(n) for key, n in await session.execute(stmt)}


async def sector_counts(session: AsyncSession, programme: int | None) -> dict[str | None, int]:
    """Groups by sector (those with a project in the programme, or all)."""
    if programme is None:
        stmt = select(_O.sector, func.count()).group_by(_O.sector)
    else:
        stmt = (
            select(_O.sector, func.count(distinct(_O.id)))
            .join(Project.__table__, _P.organization_id == _O.id)
            .where(_P.programme_id == programme)
            .group_by(_O.sector)
        )
    return {key: int(n) for key, n in await session.execute(stmt)}


async def results_table(session: AsyncSession, programme: int) -> list[Row[Any]]:
    """A programme's accepted projects with their group (the Kawasaki results table)."""
    stmt = (
        select(
            _P.id,
            _P.status,
            _P.menus,
            _P.menu_other,
            _P.deliverable,
            _O.name,
            _O.kind,
            _O.sector,
            _O.area,
        )
        .join(Organization.__table__, _O.id == _P.organization_id)
        .where(_P.programme_id == programme, _P.status.not_in(NOT_ACCEPTED))
        .order_by(_P.id)
    )
    return list((await session.execute(stmt)).all())  # type: ignore[arg-type]


async def team_sizes(session: AsyncSession, project_ids: Sequence[int]) -> dict[int, int]:
    """Team members (accepted matches) per project."""
    if not project_ids:
        return {}
    stmt = (
        select(_M.project_id, func.count())
        .where(_M.project_id.in_(project_ids), _ON_TEAM)
        .group_by(_M.project_id)
    )
    return {pid: int(n) for pid, n in await session.execute(stmt)}


async def pledged_hours(session: AsyncSession, programme: int | None) -> int:
    """The hours a week team members offered, summed (hours worked are not recorded yet)."""
    stmt = (
        select(func.coalesce(func.sum(_V.hours_per_week), 0))
        .join(Match.__table__, _M.volunteer_id == _V.id)
        .where(_M.state.in_(ON_TEAM))
    )
    if programme is not None:
        stmt = stmt.join(Project.__table__, _P.id == _M.project_id).where(
            _P.programme_id == programme
        )
    return int(await session.scalar(stmt) or 0)


async def pledged_hours_by_project(
    session: AsyncSession, project_ids: Sequence[int]
) -> dict[int, int]:
    """The hours a week each project's team members offered, summed per project."""
    if not project_ids:
        return {}
    stmt = (
        select(_M.project_id, func.coalesce(func.sum(_V.hours_per_week), 0))
        .join(Volunteer.__table__, _V.id == _M.volunteer_id)
        .where(_M.project_id.in_(project_ids), _ON_TEAM)
        .group_by(_M.project_id)
    )
    return {int(pid): int(n) for pid, n in await session.execute(stmt)}


async def logged_minutes(session: AsyncSession, programme: int | None) -> int:
    """Minutes logged as hours worked (hours_entries), in a programme or all time; the
    hours of people who deleted their data stay in."""
    stmt = select(func.coalesce(func.sum(_H.minutes), 0))
    if programme is not None:
        stmt = stmt.join(Project.__table__, _P.id == _H.project_id).where(
            _P.programme_id == programme
        )
    return int(await session.scalar(stmt) or 0)


async def logged_minutes_by_project(
    session: AsyncSession, project_ids: Sequence[int], volunteer: int | None = None
) -> dict[int, int]:
    """Minutes logged per project (only one volunteer's, if given)."""
    if not project_ids:
        return {}
    stmt = (
        select(_H.project_id, func.sum(_H.minutes))
        .where(_H.project_id.in_(project_ids))
        .group_by(_H.project_id)
    )
    if volunteer is not None:
        stmt = stmt.where(_H.volunteer_id == volunteer)
    return {int(pid): int(n or 0) for pid, n in await session.execute(stmt)}


async def logged_minutes_of(session: AsyncSession, volunteer: int) -> int:
    """Every minute one volunteer logged, on any project."""
    stmt = select(func.coalesce(func.sum(_H.minutes), 0)).where(_H.volunteer_id == volunteer)
    return int(await session.scalar(stmt) or 0)


async def overdue_deliveries(
    session: AsyncSession, programme: int | None, today: date, limit: int
) -> list[Row[Any]]:
    """Projects at work (agreed) whose confirmed agreement's end date has passed with no
    delivery recorded, the longest overdue first: id, status, name, end_date."""
    ends = (
        select(_A.project_id, func.max(_A.end_date).label("end_date"))
        .where(_A.status == "confirmed")
        .group_by(_A.project_id)
        .subquery()
    )
    delivered = select(_D.project_id)
    stmt = (
        select(_P.id, _P.status, _O.name, ends.c.end_date, _P.team_channel_id)
        .join(ends, ends.c.project_id == _P.id)
        .join(Organization.__table__, _O.id == _P.organization_id)
        .where(_P.status == "agreed", ends.c.end_date < today, _P.id.not_in(delivered))
        .order_by(ends.c.end_date, _P.id)
        .limit(limit)
    )
    if programme is not None:
        stmt = stmt.where(_P.programme_id == programme)
    return list((await session.execute(stmt)).all())  # type: ignore[arg-type]


async def late_proposals(
    session: AsyncSession, programme: int | None, now: datetime, limit: int
) -> list[Row[Any]]:
    """Team proposals the group has not answered past their deadline (the expiry timer has
    not lapsed them yet): id, status, name, proposal_expires_at."""
    stmt = (
        select(_P.id, _P.status, _O.name, _P.proposal_expires_at)
        .join(Organization.__table__, _O.id == _P.organization_id)
        .where(
            _P.status == "team_proposed",
            _P.proposal_expires_at.is_not(None),
            _P.proposal_expires_at < now,
        )
        .order_by(_P.proposal_expires_at, _P.id)
        .limit(limit)
    )
    if programme is not None:
        stmt = stmt.where(_P.programme_id == programme)
    return list((await session.execute(stmt)).all())  # type: ignore[arg-type]


async def team_announcements(
    session: AsyncSession, project_ids: Sequence[int], limit: int = 5
) -> list[Row[Any]]:
    """Scheduled announcements to the teams of these projects, soonest first: those of
    their programmes' phases for everyone, and of phases for one of these teams
    (id, send_at, audience, title_ja, title_en, programme name)."""
    if not project_ids:
        return []
    programmes = select(_P.programme_id).where(_P.id.in_(project_ids), _P.programme_id.is_not(None))
    stmt = (
        select(_AN.id, _AN.send_at, _AN.audience, _PH.title_ja, _PH.title_en, _PG.name)
        .join(Phase.__table__, _PH.id == _AN.phase_id)
        .join(Programme.__table__, _PG.id == _PH.programme_id)
        .where(
            _AN.state == "scheduled",
            _PH.cancelled_at.is_(None),
            _PH.programme_id.in_(programmes),
            or_(_PH.project_id.is_(None), _PH.project_id.in_(project_ids)),
        )
        .order_by(_AN.send_at, _AN.id)
        .limit(limit * 8)
    )
    team = {"team_channels", "members"}
    rows = [r for r in await session.execute(stmt) if team & set(r.audience or ())]
    return rows[:limit]  # type: ignore[return-value]


async def checkin_counts(session: AsyncSession, programme: int | None) -> dict[str, int]:
    """Weekly check-ins by status."""
    stmt = select(_C.status, func.count()).group_by(_C.status)
    if programme is not None:
        stmt = stmt.join(Project.__table__, _P.id == _C.project_id).where(
            _P.programme_id == programme
        )
    return {status: int(n) for status, n in await session.execute(stmt)}


async def needing_action(
    session: AsyncSession, programme: int | None, limit: int
) -> list[Row[Any]]:
    """Projects waiting on the office, oldest first: a request without a decision, a team
    proposal the group has not confirmed, or a red check-in on the latest week."""
    latest_stmt = select(_C.project_id, func.max(_C.week).label("week")).group_by(_C.project_id)
    if programme is not None:
        mine = select(_P.id).where(_P.programme_id == programme)
        latest_stmt = latest_stmt.where(_C.project_id.in_(mine))
    latest = latest_stmt.subquery()
    red = (
        select(_C.project_id)
        .join(latest, and_(latest.c.project_id == _C.project_id, latest.c.week == _C.week))
        .where(_C.status == "red")
    )
    stmt = (
        select(_P.id, _P.status, _P.updated_at, _P.created_at, _O.name)
        .join(Organization.__table__, _O.id == _P.organization_id)
        .where(
            or_(
                _P.status.in_(("submitted", "team_proposed")),
                and_(_P.status.in_(FORMED), _P.id.in_(red)),
            )
        )
        .order_by(_P.updated_at, _P.id)
        .limit(limit)
    )
    if programme is not None:
        stmt = stmt.where(_P.programme_id == programme)
    return list((await session.execute(stmt)).all())  # type: ignore[arg-type]


async def red_projects(session: AsyncSession, project_ids: Sequence[int]) -> set[int]:
    """Of these projects, those whose latest check-in is red."""
    if not project_ids:
        return set()
    latest = (
        select(_C.project_id, func.max(_C.week).label("week"))
        .where(_C.project_id.in_(project_ids))
        .group_by(_C.project_id)
        .subquery()
    )
    stmt = (
        select(_C.project_id)
        .join(latest, and_(latest.c.project_id == _C.project_id, latest.c.week == _C.week))
        .where(_C.status == "red")
    )
    return {int(pid) for pid in (await session.scalars(stmt)).all()}


async def dead_letters(session: AsyncSession) -> int:
    """Messages that could not be delivered after every retry."""
    stmt = select(func.count()).where(OutboxMessage.status == "dead")
    return int(await session.scalar(stmt) or 0)


async def programme_row(session: AsyncSession, programme: int) -> Row[Any]:
    """A programme's id, name, slug and targets."""
    t = Programme.__table__.c
    stmt = select(t.id, t.name, t.slug, t.targets, t.timezone).where(t.id == programme)
    row: Row[Any] = (await session.execute(stmt)).one()  # type: ignore[assignment]
    return row


async def running_programme(session: AsyncSession, now: datetime) -> int | None:
    """The programme whose phases span `now` (else the one starting next, else the
    latest to have run): the dashboard's "this programme"."""
    span = (
        select(
            _PH.programme_id,
            func.min(_PH.starts_at).label("first"),
            func.max(func.coalesce(_PH.ends_at, _PH.starts_at)).label("last"),
        )
        .where(_PH.cancelled_at.is_(None))
        .group_by(_PH.programme_id)
        .subquery()
    )
    rows = list(await session.execute(select(span.c.programme_id, span.c.first, span.c.last)))
    if not rows:
        return None
    naive = now.replace(tzinfo=None)

    def plain(at: datetime) -> datetime:
        return at.replace(tzinfo=None)

    running = [r for r in rows if plain(r.first) <= naive <= plain(r.last)]
    if running:
        return int(max(running, key=lambda r: plain(r.first)).programme_id)
    upcoming = [r for r in rows if plain(r.first) > naive]
    if upcoming:
        return int(min(upcoming, key=lambda r: plain(r.first)).programme_id)
    return int(max(rows, key=lambda r: plain(r.last)).programme_id)


async def member_teams(
    session: AsyncSession, slack_user_id: str
) -> tuple[int, list[Row[Any]]] | None:
    """The teams of the volunteer who linked this Slack account (their id, and per team:
    project id, group name, status, team channel); None if nobody linked it."""
    volunteer = (
        await session.execute(
            select(_V.id, _V.hours_per_week).where(_V.slack_user_id == slack_user_id)
        )
    ).first()
    if volunteer is None:
        return None
    stmt = (
        select(_P.id, _O.name, _P.status, _P.team_channel_id.label("slack_channel_id"))
        .join(Organization.__table__, _O.id == _P.organization_id)
        .join(Match.__table__, _M.project_id == _P.id)
        .where(_M.volunteer_id == volunteer.id, _ON_TEAM)
        .order_by(_P.id)
    )
    return int(volunteer.id), list(await session.execute(stmt))
