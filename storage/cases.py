"""The case catalogue's queries: what a draft is made from, and the search.

The search is LIKE over `cases.search_text`, a column the core keeps folded (NFKC, case,
katakana as hiragana, no spaces), so Japanese words match without word boundaries on
SQLite and PostgreSQL alike, and every word given must appear (AND).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Case, Match, Organization, Programme, Project, VolunteerSkill

_C = Case.__table__.c
PUBLIC = ("published",)
# What a result list shows (not the long texts).
_LISTED = (
    _C.id,
    _C.status,
    _C.title,
    _C.area,
    _C.field,
    _C.year,
    _C.partners,
    _C.outcome,
    _C.en,
    _C.updated_at,
)


async def project_source(session: AsyncSession, project_id: int) -> Row[Any] | None:
    """A project with its group and programme: what a draft case starts from."""
    stmt = (
        select(
            Project.id,
            Project.status,
            Project.challenge,
            Project.menus,
            Project.menu_other,
            Project.mode,
            Project.period,
            Project.deliverable,
            Project.created_at,
            Project.decided_at,
            Organization.name.label("org_name"),
            Organization.kind.label("org_kind"),
            Organization.sector.label("org_sector"),
            Organization.area.label("org_area"),
            Organization.fields.label("org_fields"),
            Organization.activity.label("org_activity"),
            Organization.user_key.label("org_user_key"),
            Programme.name.label("programme_name"),
            Programme.timezone.label("programme_timezone"),
        )
        .join(Organization, Organization.id == Project.organization_id)
        .outerjoin(Programme, Programme.id == Project.programme_id)
        .where(Project.id == project_id)
    )
    row: Row[Any] | None = (await session.execute(stmt)).first()  # type: ignore[assignment]
    return row


async def team_skills(session: AsyncSession, project_id: int) -> tuple[int, list[str]]:
    """(team size, the team's skills, most held first) of a project's accepted members."""
    members = select(Match.volunteer_id).where(
        Match.project_id == project_id, Match.state == "accepted"
    )
    size = await session.scalar(select(func.count()).select_from(members.subquery()))
    stmt = (
        select(VolunteerSkill.skill, func.count())
        .where(VolunteerSkill.volunteer_id.in_(members))
        .group_by(VolunteerSkill.skill)
        .order_by(func.count().desc(), VolunteerSkill.skill)
    )
    return int(size or 0), [str(skill) for skill, _n in await session.execute(stmt)]


async def case_for_project(session: AsyncSession, project_id: int) -> Case | None:
    """The case already made from a project, if any."""
    found: Case | None = await session.scalar(select(Case).where(Case.project_id == project_id))
    return found


def search_stmt(
    words: Sequence[str],
    *,
    word_fields: Mapping[str, str] | None = None,
    area_key: str | None = None,
    field: str | None = None,
    year: int | None = None,
    statuses: Sequence[str] | None = PUBLIC,
    limit: int = 50,
    offset: int = 0,
) -> Select[Any]:
    """The search: every folded word in `search_text` (or, for a word naming a field, a
    case of that field: 子育て finds 福祉（子ども） cases too), the filters, newest first."""
    conditions: list[Any] = []
    for w in words:
        found = _C.search_text.contains(w, autoescape=True)
        key = (word_fields or {}).get(w)
        conditions.append(or_(found, _C.field == key) if key else found)
    if statuses is not None:
        conditions.append(_C.status.in_(statuses))
    if area_key:
        conditions.append(_C.area_key == area_key)
    if field:
        conditions.append(_C.field == field)
    if year is not None:
        conditions.append(_C.year == year)
    stmt = select(*_LISTED)
    if conditions:
        stmt = stmt.where(and_(*conditions))
    order = (_C.year.desc(), _C.updated_at.desc(), _C.id.desc())
    return stmt.order_by(*order).limit(limit).offset(offset)


async def search(session: AsyncSession, words: Sequence[str], **filters: Any) -> list[Row[Any]]:
    """Cases matching every word and the filters (see `search_stmt`)."""
    return list((await session.execute(search_stmt(words, **filters))).all())


async def published(session: AsyncSession) -> list[Case]:
    """Every published case, newest first (for the static site and JSON)."""
    stmt = (
        select(Case)
        .where(Case.status.in_(PUBLIC))
        .order_by(Case.year.desc(), Case.updated_at.desc(), Case.id.desc())
    )
    return list((await session.scalars(stmt)).all())
