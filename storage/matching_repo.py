"""Queries for matching: editing a project's needs, and the reads that keep the
in-memory suggestion index fresh. Every function takes a session and never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Text, literal, select, type_coerce, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry, Match, OutboxMessage, Project, Volunteer, VolunteerSkill


async def update_project_needs(
    session: AsyncSession,
    project_id: int,
    *,
    version: int,
    statuses: tuple[str, ...],
    values: dict[str, Any],
    now: datetime,
) -> bool:
    """Write a project's needs if it is still at `version` and in one of `statuses`;
    False if someone changed it first (a single conditional UPDATE: one winner)."""
    result = await session.execute(
        update(Project)
        .where(
            Project.id == project_id,
            Project.version == version,
            Project.status.in_(list(statuses)),
        )
        .values(**values, version=Project.version + 1, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def last_audit(
    session: AsyncSession, subject_type: str, subject_id: int
) -> AuditEntry | None:
    """The newest audit entry about a subject."""
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.subject_type == subject_type, AuditEntry.subject_id == subject_id)
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).first()


async def has_message(session: AsyncSession, ref_type: str, ref_id: int) -> bool:
    """True if a message about this subject was ever queued (e.g. a project's team card)."""
    stmt = (
        select(OutboxMessage.id)
        .where(OutboxMessage.ref_type == ref_type, OutboxMessage.ref_id == ref_id)
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


# ---------------------------------------------------------------- the index's reads
#
# Plain rows (Core selects of the columns matching reads), so loading 100,000
# volunteers builds no ORM objects. `ids` limits a read to some volunteers.

# JSON lists come back as their text (decoded by the caller once per distinct value:
# a few hundred distinct lists among 100,000 people).
VOLUNTEER_COLUMNS = (
    Volunteer.id,
    Volunteer.area,
    Volunteer.mode,
    type_coerce(Volunteer.availability, Text),
    Volunteer.hours_per_week,
    type_coerce(Volunteer.interests, Text),
    Volunteer.experience_years,
    Volunteer.status,
    Volunteer.consent_version,
    type_coerce(Volunteer.languages, Text),
    Volunteer.capacity,
)


def _chunks(ids: Sequence[int], size: int = 500) -> list[Sequence[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


async def _rows(session: AsyncSession, stmt: Any, key: Any, ids: Sequence[int] | None) -> list[Any]:
    """Rows of a Core select on the session's connection (no ORM result machinery),
    all of them or those whose `key` is in `ids` (in chunks)."""
    conn = await session.connection()
    if ids is None:
        return list((await conn.execute(stmt)).all())
    out: list[Any] = []
    for part in _chunks(ids):
        out += (await conn.execute(stmt.where(key.in_(part)))).all()
    return out


async def volunteer_rows(session: AsyncSession, ids: Sequence[int] | None = None) -> list[Any]:
    """Volunteers who may be matched (not those who left): the columns matching reads."""
    stmt = select(*VOLUNTEER_COLUMNS).where(Volunteer.status != "inactive")
    return await _rows(session, stmt, Volunteer.id, ids)


async def skill_rows(session: AsyncSession, ids: Sequence[int] | None = None) -> list[Any]:
    """(volunteer id, skill) pairs, in one query (or a few for a list of ids)."""
    stmt = select(VolunteerSkill.volunteer_id, VolunteerSkill.skill)
    return await _rows(session, stmt, VolunteerSkill.volunteer_id, ids)


async def match_rows(session: AsyncSession, ids: Sequence[int] | None = None) -> list[Any]:
    """What fairness and load read of each match: volunteer, project, state, when."""
    stmt = select(
        Match.volunteer_id,
        Match.project_id,
        Match.state,
        Match.invited_at,
        Match.updated_at,
        Match.raised_hand,
    )
    return await _rows(session, stmt, Match.volunteer_id, ids)


async def project_ids_with_status(session: AsyncSession, statuses: Sequence[str]) -> set[int]:
    """Ids of the projects in these statuses."""
    rows = await session.execute(select(Project.id).where(Project.status.in_(list(statuses))))
    return {int(r[0]) for r in rows}


async def volunteer_ids(session: AsyncSession) -> set[int]:
    """Ids of every volunteer who may be matched (to find the deleted ones)."""
    rows = await session.execute(select(Volunteer.id).where(Volunteer.status != "inactive"))
    return {int(r[0]) for r in rows}


async def accepted_on(session: AsyncSession, project_ids: Sequence[int]) -> set[int]:
    """Volunteers accepted on these projects (their load changes with the project)."""
    out: set[int] = set()
    for part in _chunks(list(project_ids)):
        rows = await session.execute(
            select(Match.volunteer_id).where(Match.project_id.in_(part), Match.state == "accepted")
        )
        out.update(int(r[0]) for r in rows)
    return out


async def changes_since(session: AsyncSession, since: datetime) -> list[Any]:
    """What changed at or after `since`, as (kind, id, at) rows, in one indexed query:
    "v" a volunteer row, "m" a match (id is its volunteer), "p" a project (its status
    changes who counts as busy), "d" a deletion of someone's data (audit log)."""
    stmt = union_all(
        select(
            literal("v").label("kind"), Volunteer.id.label("id"), Volunteer.updated_at.label("at")
        ).where(Volunteer.updated_at >= since),
        select(literal("m"), Match.volunteer_id, Match.updated_at).where(Match.updated_at >= since),
        select(literal("p"), Project.id, Project.updated_at).where(Project.updated_at >= since),
        select(literal("d"), AuditEntry.id, AuditEntry.at).where(
            AuditEntry.at >= since, AuditEntry.action == "delete_data"
        ),
    )
    return list((await session.execute(stmt)).all())


async def in_play_elsewhere(
    session: AsyncSession, project_id: int, states: Sequence[str]
) -> set[int]:
    """Volunteers holding a match in one of `states` on another recruiting project
    (proposed, approved or invited there): a proposal leaves them to that team first."""
    stmt = (
        select(Match.volunteer_id)
        .join(Project, Project.id == Match.project_id)
        .where(
            Match.project_id != project_id,
            Match.state.in_(list(states)),
            Project.status == "recruiting",
        )
    )
    return {int(v) for v in (await session.execute(stmt)).scalars()}
