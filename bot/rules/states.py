"""The project state machine, as data: every state with its labels, every transition
with who may make it, and one `transition()` that applies a row of the table.

Lists, cards, LINE status views and notifications read labels from `STATES`; the
services move projects only through `transition()`, which checks the table, moves the
row with a conditional UPDATE (one winner when two people act at once, and the
optimistic `version` check when the caller read one), and writes the audit row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from bot.i18n import T
from storage import repo
from storage.models import Project


class Role(StrEnum):
    """Who makes a transition."""

    COORDINATOR = "coordinator"
    GROUP = "group"
    MEMBER = "member"  # a volunteer on the project's team
    SYSTEM = "system"  # the bot itself (a timer, the last accepted invitation)


class Party(StrEnum):
    """Who is told about a transition (the services write the messages)."""

    GROUP = "group"
    MEMBERS = "members"
    COORDINATORS = "coordinators"
    TEAM = "team"  # the team's Slack channel, once it has one


@dataclass(frozen=True, slots=True)
class State:
    """One project state: labels for coordinators and for the group, and what it means."""

    key: str
    short: T  # a table cell (the office's lists, exports and dashboard)
    coordinator: T  # as /tsunagu projects, cards and the office show it
    group: T  # as the group reads it in LINE
    final: bool = False
    holds_capacity: bool = False  # volunteers accepted on it count against their capacity


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of the table: an event moves a project from one of `sources` to `target`."""

    event: str
    sources: tuple[str, ...]
    target: str
    by: frozenset[Role]
    tell: tuple[Party, ...] = ()


_STATES = (
    State(
        "submitted",
        T("審査待ち", "Awaiting review"),
        T("審査待ち", "awaiting review"),
        T("事務局で確認中", "being reviewed"),
    ),
    State(
        "recruiting",
        T("募集中", "Recruiting"),
        T("受付済み・ボランティア募集中", "accepted, recruiting volunteers"),
        T("受付済み・ボランティア募集中", "accepted, recruiting volunteers"),
        holds_capacity=True,
    ),
    State(
        "team_proposed",
        T("チーム提案中", "Team proposed"),
        T("チーム提案中（団体の確認待ち）", "team proposed, waiting for the group"),
        T("チームのご提案中（ご確認ください）", "team proposed, please confirm"),
        holds_capacity=True,
    ),
    State(
        "team_formed",
        T("チーム結成", "Team formed"),
        T("チーム結成・キックオフ準備中", "team formed, preparing the kickoff"),
        T("チーム結成・キックオフ準備中", "team formed, preparing the kickoff"),
        holds_capacity=True,
    ),
    State(
        "agreed",
        T("合意済み", "Agreed"),
        T("合意済み・活動中", "agreed, work under way"),
        T("内容に合意・チームが活動中", "agreed, the team is at work"),
        holds_capacity=True,
    ),
    State(
        "delivered",
        T("納品済み", "Delivered"),
        T("納品済み・完了待ち", "delivered, to be completed"),
        T("納品済み", "delivered"),
        holds_capacity=True,
    ),
    State(
        "completed",
        T("完了", "Completed"),
        T("完了", "completed"),
        T("完了（ありがとうございました）", "completed, thank you"),
        final=True,
    ),
    State(
        "declined",
        T("見送り", "Declined"),
        T("見送り", "declined"),
        T("今回は見送り", "declined this time"),
        final=True,
    ),
    State(
        "withdrawn",
        T("取り下げ", "Withdrawn"),
        T("団体が取り下げ", "withdrawn by the group"),
        T("取り下げ済み", "withdrawn"),
        final=True,
    ),
    State(
        "paused",
        T("一時停止", "Paused"),
        T("一時停止", "paused"),
        T("一時停止中", "paused"),
    ),
    State(
        "cancelled",
        T("中止", "Cancelled"),
        T("中止", "cancelled"),
        T("中止", "cancelled"),
        final=True,
    ),
)
STATES: Mapping[str, State] = {s.key: s for s in _STATES}

C, G, M, S = Role.COORDINATOR, Role.GROUP, Role.MEMBER, Role.SYSTEM
_LIVE = ("recruiting", "team_proposed", "team_formed", "agreed", "delivered")
_TRANSITIONS = (
    Transition("accept", ("submitted",), "recruiting", frozenset({C}), (Party.GROUP,)),
    Transition("decline", ("submitted",), "declined", frozenset({C}), (Party.GROUP,)),
    Transition(
        "propose_team",
        ("recruiting",),
        "team_proposed",
        frozenset({S, C}),
        (Party.GROUP, Party.COORDINATORS),
    ),
    Transition(
        "confirm_team",
        ("team_proposed",),
        "team_formed",
        frozenset({G}),
        (Party.MEMBERS, Party.COORDINATORS),
    ),
    # The group declines the proposed team, or asks for changes: back to recruiting.
    Transition(
        "reject_team",
        ("team_proposed",),
        "recruiting",
        frozenset({G}),
        (Party.MEMBERS, Party.COORDINATORS),
    ),
    # Nobody answered the proposal in time: back to recruiting, the coordinators decide.
    Transition(
        "expire_proposal",
        ("team_proposed",),
        "recruiting",
        frozenset({S}),
        (Party.GROUP, Party.COORDINATORS),
    ),
    Transition(
        "agree",
        ("team_formed",),
        "agreed",
        frozenset({G}),
        (Party.MEMBERS, Party.COORDINATORS),
    ),
    Transition(
        "deliver",
        ("agreed",),
        "delivered",
        frozenset({M, C}),
        (Party.GROUP, Party.COORDINATORS),
    ),
    Transition(
        "complete",
        ("delivered",),
        "completed",
        frozenset({C, G}),
        (Party.GROUP, Party.MEMBERS, Party.COORDINATORS),
    ),
    Transition(
        "withdraw",
        ("submitted", *_LIVE),
        "withdrawn",
        frozenset({G}),
        (Party.MEMBERS, Party.COORDINATORS),
    ),
    Transition(
        "pause",
        _LIVE,
        "paused",
        frozenset({C}),
        (Party.GROUP, Party.MEMBERS, Party.TEAM),
    ),
    # A paused project resumes where it was (the pause's audit row names it): recruiting
    # when it had no team yet (a proposal lapses), else its team, its work or its delivery.
    Transition("resume_recruiting", ("paused",), "recruiting", frozenset({C}), (Party.GROUP,)),
    Transition(
        "resume_team",
        ("paused",),
        "team_formed",
        frozenset({C}),
        (Party.GROUP, Party.MEMBERS, Party.TEAM),
    ),
    Transition(
        "resume_work",
        ("paused",),
        "agreed",
        frozenset({C}),
        (Party.GROUP, Party.MEMBERS, Party.TEAM),
    ),
    Transition(
        "resume_delivered",
        ("paused",),
        "delivered",
        frozenset({C}),
        (Party.GROUP, Party.MEMBERS, Party.TEAM),
    ),
    Transition(
        "cancel",
        ("submitted", *_LIVE, "paused"),
        "cancelled",
        frozenset({C}),
        (Party.GROUP, Party.MEMBERS, Party.TEAM),
    ),
)
TRANSITIONS: Mapping[str, Transition] = {t.event: t for t in _TRANSITIONS}

# States whose volunteers are busy (matching counts them against capacity).
HOLDING_CAPACITY: tuple[str, ...] = tuple(s.key for s in _STATES if s.holds_capacity)
FINAL: tuple[str, ...] = tuple(s.key for s in _STATES if s.final)
# States in which the project has a formed team: its channel, its menu, its calendar.
TEAM_STATES: tuple[str, ...] = ("team_formed", "agreed", "delivered")


def coordinator_label(status: str, locale: str) -> str:
    """A state's label as coordinators read it (the key itself if unknown)."""
    state = STATES.get(status)
    return state.coordinator(locale) if state else status


def group_label(status: str, locale: str) -> str:
    """A state's label as the group reads it in LINE (the key itself if unknown)."""
    state = STATES.get(status)
    return state.group(locale) if state else status


def allowed(event: str, status: str, role: Role) -> bool:
    """Whether `role` may fire `event` on a project in `status`."""
    row = TRANSITIONS.get(event)
    return row is not None and status in row.sources and role in row.by


class Refusal(StrEnum):
    """Why a transition did not happen."""

    UNKNOWN_EVENT = "unknown_event"
    NOT_ALLOWED = "not_allowed"  # this role may not make it
    WRONG_STATE = "wrong_state"  # the project is not in a source state (someone was first)
    STALE = "stale"  # the caller's version is old: someone changed the project meanwhile
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class Moved:
    """The outcome of `transition()`: the project's new state, or why it stayed."""

    ok: bool
    event: str
    project_id: int
    status: str  # the state the project is in now
    from_status: str | None = None
    version: int = 0
    tell: tuple[Party, ...] = ()
    refusal: Refusal | None = None


async def transition(
    session: AsyncSession,
    project_id: int,
    event: str,
    *,
    role: Role,
    actor: str,
    now: datetime,
    version: int | None = None,
    values: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None,
    audit_action: str | None = None,
) -> Moved:
    """Apply `event` to a project if the table allows it (caller's transaction).

    One conditional UPDATE moves the row (status in the event's sources, and the
    caller's `version` when given), bumps `version`, sets `values`, and an audit row
    records it. Returns who must be told; the caller writes those messages.
    """
    row = TRANSITIONS.get(event)
    if row is None:
        return Moved(False, event, project_id, "", refusal=Refusal.UNKNOWN_EVENT)
    await session.flush()
    found = await _status_version(session, project_id)
    if found is None:
        return Moved(False, event, project_id, "", refusal=Refusal.NOT_FOUND)
    before, before_version = found
    if role not in row.by:
        return Moved(
            False, event, project_id, before, before, before_version, (), Refusal.NOT_ALLOWED
        )
    conditions = [Project.id == project_id, Project.status.in_(row.sources)]
    if version is not None:
        conditions.append(Project.version == version)
    changes = {"status": row.target, "updated_at": now, **(values or {})}
    result = await session.execute(
        update(Project).where(*conditions).values(version=Project.version + 1, **changes),
        execution_options={"synchronize_session": False},
    )
    after = await _status_version(session, project_id)
    assert after is not None
    status, new_version = after
    if not result.rowcount:  # type: ignore[attr-defined]
        why = Refusal.WRONG_STATE if status not in row.sources else Refusal.STALE
        return Moved(False, event, project_id, status, before, new_version, (), why)
    # A Project already loaded in this session reads the new values (its relationships
    # stay loaded: no refresh, which would need lazy loads under asyncio).
    loaded = session.identity_map.get(identity_key(Project, project_id))
    if isinstance(loaded, Project):
        for name, value in {**changes, "version": new_version}.items():
            set_committed_value(loaded, name, value)
    await repo.audit(
        session,
        actor=actor,
        action=audit_action or event,
        subject_type="project",
        subject_id=project_id,
        detail={"from": before, "to": row.target, "by": role.value, **(detail or {})},
        at=now,
    )
    return Moved(True, event, project_id, row.target, before, new_version, row.tell)


async def _status_version(session: AsyncSession, project_id: int) -> tuple[str, int] | None:
    """A project's status and version as the database has them now."""
    found = (
        await session.execute(
            select(Project.status, Project.version).where(Project.id == project_id)
        )
    ).one_or_none()
    return None if found is None else (str(found[0]), int(found[1]))
