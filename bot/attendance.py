"""Who attends what, and who is asked to the next cohort: attendance rows for every
phase kind (invited, answered, attended) and the next-cohort list. Below the services
that use it (the programme calendar, the lifecycle), so neither needs the other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.base import utcnow
from storage.models import Attendance, Match, Organization, Project, Volunteer

PersonType = Literal["volunteer", "organization"]
AttendanceState = Literal["invited", "rsvp_yes", "rsvp_no", "attended", "absent"]

# Projects whose people count as having served (a team formed).
_SERVED = ("team_formed", "agreed", "delivered", "completed")


@dataclass(frozen=True, slots=True)
class Invitee:
    """Someone to invite to the next cohort's briefing sessions."""

    person_type: PersonType
    person_id: int
    channel: str
    user_key: str
    locale: str


class AttendanceBook:
    """Attendance and the next-cohort list, on the caller's session and clock."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock

    async def record_attendance(
        self,
        session: AsyncSession,
        phase_id: int,
        person_type: PersonType,
        person_id: int,
        state: AttendanceState,
        *,
        actor: str,
    ) -> Attendance:
        """Record invited / rsvp_yes / rsvp_no / attended / absent for one person and phase."""
        now = self._clock()
        row = await session.scalar(
            select(Attendance).where(
                Attendance.phase_id == phase_id,
                Attendance.person_type == person_type,
                Attendance.person_id == person_id,
            )
        )
        if row is None:
            row = Attendance(phase_id=phase_id, person_type=person_type, person_id=person_id)
            session.add(row)
        row.state = state
        if state == "invited":
            row.invited_at = now
        elif state in ("rsvp_yes", "rsvp_no"):
            row.answered_at = now
        else:
            row.recorded_by, row.recorded_at = actor, now
        await session.flush()
        return row

    async def next_cohort(self, session: AsyncSession) -> list[Invitee]:
        """Past volunteers (on a team that formed) and groups (with a project that went
        past recruiting), not paused, not deleted, not opted out."""
        served = (
            select(Match.volunteer_id)
            .join(Project, Project.id == Match.project_id)
            .where(Match.state == "accepted", Project.status.in_(_SERVED))
        )
        volunteers = await session.scalars(
            select(Volunteer)
            .where(
                Volunteer.id.in_(served),
                Volunteer.status == "active",
                Volunteer.next_cohort_opt_out.is_(False),
            )
            .order_by(Volunteer.id)
        )
        out = [Invitee("volunteer", v.id, v.channel, v.user_key, v.locale) for v in volunteers]
        groups = await session.scalars(
            select(Organization)
            .where(
                Organization.id.in_(
                    select(Project.organization_id).where(Project.status.in_(_SERVED))
                ),
                Organization.next_cohort_opt_out.is_(False),
                Organization.user_key.not_like("deleted:%"),
            )
            .order_by(Organization.id)
        )
        out += [Invitee("organization", g.id, g.channel, g.user_key, g.locale) for g in groups]
        return out
