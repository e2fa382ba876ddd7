"""Queries for matching: editing a project's needs, and the reads that keep the
in-memory suggestion index fresh. Every function takes a session and never commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry, OutboxMessage, Project


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
