"""Queries of a project's second half that other paths need (deletion of a person)."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Attendance, Feedback, HoursEntry


async def forget_person(
    session: AsyncSession, volunteer_id: int | None, org_id: int | None
) -> None:
    """A person deleted their data: their hours stay in the totals without them (and
    without their notes), their feedback and attendance go."""
    if volunteer_id is not None:
        await session.execute(
            update(HoursEntry)
            .where(HoursEntry.volunteer_id == volunteer_id)
            .values(volunteer_id=None, note=None)
        )
        await session.execute(
            delete(Feedback).where(
                Feedback.author_type == "volunteer", Feedback.author_id == volunteer_id
            )
        )
        await session.execute(
            delete(Attendance).where(
                Attendance.person_type == "volunteer", Attendance.person_id == volunteer_id
            )
        )
    if org_id is not None:
        await session.execute(
            delete(Feedback).where(
                Feedback.author_type == "organization", Feedback.author_id == org_id
            )
        )
        await session.execute(
            delete(Attendance).where(
                Attendance.person_type == "organization", Attendance.person_id == org_id
            )
        )
