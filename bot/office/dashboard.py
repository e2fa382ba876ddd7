"""The office's numbers as neutral data: targets against actuals, the funnel, projects by
state with the ones needing action first. The App Home, a Slack command and the impact
report only render what these return."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import T
from bot.office.labels import PROJECT_STATES, hours_value
from bot.programmes.schedule import TARGET_KINDS
from storage import office as store
from storage import programmes as programme_store

# The funnel, in order: who the bot reached, who signed up, and how far requests went.
FUNNEL: dict[str, T] = {
    "followers": T("LINE友だち", "LINE followers"),
    "volunteers": T("ボランティア登録", "Volunteers signed up"),
    "requests": T("相談", "Requests"),
    "accepted": T("受付", "Accepted"),
    "teams": T("チーム結成", "Teams formed"),
    "delivered": T("納品", "Delivered"),
    "completed": T("完了", "Completed"),
}
# What needs action, most urgent first: the Home lists it in this order (oldest first
# within a reason). Work past its agreed end comes first, then a team in trouble, a
# proposal the group let lapse, a request waiting for a decision, a proposal not answered.
ACTIONS: dict[str, T] = {
    "overdue": T("納品予定日を過ぎて未納品", "Delivery overdue (past the agreed end date)"),
    "red": T("チェックインが赤", "Red check-in"),
    "late_proposal": T("チーム提案の回答期限切れ", "Team proposal past its deadline, not answered"),
    "decide": T("受付の判断待ち", "Waiting for a decision"),
    "confirm": T("団体のチーム確認待ち", "Team proposal not confirmed"),
}
URGENCY = {reason: rank for rank, reason in enumerate(ACTIONS)}


@dataclass(frozen=True)
class Stage:
    """One step of the funnel."""

    key: str
    label: T
    count: int


@dataclass(frozen=True)
class TargetLine:
    """One target against what happened; `actual` None where nothing is recorded yet."""

    key: str
    label: T
    target: int | None
    actual: int | float | None

    @property
    def ratio(self) -> float | None:
        """Actual over target (None without both)."""
        if self.target in (None, 0) or self.actual is None:
            return None
        return self.actual / self.target


@dataclass(frozen=True)
class ActionItem:
    """A project waiting on the office."""

    project_id: int
    reason: str  # ACTIONS key
    label: T
    organization: str
    status: str
    since: datetime
    # The team's Slack channel, where the team records the delivery (overdue ones).
    channel: str | None = None


@dataclass(frozen=True)
class NextAnnouncement:
    """An announcement still to go out."""

    announcement_id: int
    send_at: datetime
    programme: str
    phase: T
    audience: tuple[str, ...]


@dataclass(frozen=True)
class Dashboard:
    """What a coordinator's dashboard shows."""

    programme_id: int | None
    programme_name: str | None
    funnel: tuple[Stage, ...]
    funnel_all_time: tuple[Stage, ...]
    by_state: tuple[tuple[str, T, int], ...]
    actions: tuple[ActionItem, ...]
    targets: tuple[TargetLine, ...]
    dead_letters: int
    sectors: dict[str | None, int] = field(default_factory=dict)
    upcoming: tuple[NextAnnouncement, ...] = ()


def _sum(counts: dict[str, int], states: tuple[str, ...]) -> int:
    return sum(n for s, n in counts.items() if s in states)


async def funnel(
    session: AsyncSession, programme: int | None, counts: dict[str, int] | None = None
) -> tuple[Stage, ...]:
    """The funnel for a programme (people it reached and its projects) or all time;
    `counts` are its projects by state when the caller has them already."""
    if counts is None:
        counts = await store.project_status_counts(session, programme)
    if programme is None:
        followers = await store.followers(session)
        volunteers = await store.count_volunteers(session)
    else:
        followers, volunteers = await store.reached(session, programme)
    values = {
        "followers": followers,
        "volunteers": volunteers,
        "requests": sum(counts.values()),
        "accepted": sum(n for s, n in counts.items() if s not in store.NOT_ACCEPTED),
        "teams": _sum(counts, store.FORMED),
        "delivered": _sum(counts, store.DELIVERED),
        "completed": _sum(counts, store.COMPLETED),
    }
    return tuple(Stage(k, label, values[k]) for k, label in FUNNEL.items())


async def actuals(
    session: AsyncSession, programme: int, counts: dict[str, int] | None = None
) -> dict[str, int | float | None]:
    """What a programme achieved, per TARGET_KINDS key (None: not recorded yet).

    participants: volunteers on its teams; companies: their distinct employers;
    consultations: requests from groups in it; applications: those accepted;
    teams: projects whose team formed; hours: hours logged on its projects.
    """
    if counts is None:
        counts = await store.project_status_counts(session, programme)
    return {
        "participants": await store.participants(session, programme),
        "companies": await store.companies(session, programme),
        "consultations": sum(counts.values()),
        "applications": sum(n for s, n in counts.items() if s not in store.NOT_ACCEPTED),
        "teams": _sum(counts, store.FORMED),
        "hours": hours_value(await store.logged_minutes(session, programme)),
    }


async def targets(
    session: AsyncSession, programme: int, counts: dict[str, int] | None = None
) -> tuple[TargetLine, ...]:
    """A programme's targets against its actuals, in TARGET_KINDS order; kinds without a
    target are listed too (target None), so the office sees what it could aim for."""
    row = await store.programme_row(session, programme)
    goal = dict(row.targets or {})
    done = await actuals(session, programme, counts)
    return tuple(TargetLine(k, label, goal.get(k), done[k]) for k, label in TARGET_KINDS.items())


async def action_items(
    session: AsyncSession, programme: int | None, now: datetime, limit: int
) -> tuple[ActionItem, ...]:
    """What waits on the office, most urgent first (ACTIONS order), oldest first within a
    reason: overdue deliveries, red check-ins, lapsed proposals, decisions, proposals."""
    items: dict[int, ActionItem] = {}
    for r in await store.overdue_deliveries(session, programme, now.date(), limit):
        since = datetime.combine(r.end_date, time(), tzinfo=UTC)
        items[r.id] = ActionItem(
            r.id, "overdue", ACTIONS["overdue"], r.name, r.status, since, r.team_channel_id
        )
    for r in await store.late_proposals(session, programme, now, limit):
        items.setdefault(
            r.id,
            ActionItem(
                r.id,
                "late_proposal",
                ACTIONS["late_proposal"],
                r.name,
                r.status,
                r.proposal_expires_at,
            ),
        )
    waiting = await store.needing_action(session, programme, limit)
    red = await store.red_projects(session, [r.id for r in waiting])
    for r in waiting:
        reason = "decide" if r.status == "submitted" else "confirm"
        if r.id in red and r.status not in ("submitted", "team_proposed"):
            reason = "red"
        items.setdefault(
            r.id, ActionItem(r.id, reason, ACTIONS[reason], r.name, r.status, r.updated_at)
        )
    ordered = sorted(
        items.values(), key=lambda i: (URGENCY[i.reason], _naive(i.since), i.project_id)
    )
    return tuple(ordered[:limit])


def _naive(at: datetime) -> datetime:
    """A stored time comparable with any other (SQLite gives them without a zone)."""
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


async def dashboard(
    session: AsyncSession, now: datetime, programme: int | None = None, limit: int = 10
) -> Dashboard:
    """Everything a coordinator's dashboard shows, for the running programme (or the one
    given) and all time."""
    if programme is None:
        programme = await store.running_programme(session, now)
    name = None
    lines: tuple[TargetLine, ...] = ()
    counts = await store.project_status_counts(session, programme)
    if programme is not None:
        name = str((await store.programme_row(session, programme)).name)
        lines = await targets(session, programme, counts)
    order = list(PROJECT_STATES)
    by_state = tuple(
        (s, PROJECT_STATES.get(s, T(s, s)), n)
        for s, n in sorted(
            counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99
        )
    )
    items = await action_items(session, programme, now, limit)
    upcoming = tuple(
        NextAnnouncement(
            a.id,
            a.send_at,
            a.phase.programme.name,
            T(a.phase.title_ja, a.phase.title_en),
            tuple(a.audience),
        )
        for a in await programme_store.upcoming(session, states=("scheduled",), limit=5)
    )
    return Dashboard(
        programme_id=programme,
        programme_name=name,
        funnel=await funnel(session, programme, counts) if programme is not None else (),
        funnel_all_time=await funnel(session, None),
        by_state=by_state,
        actions=tuple(items),
        targets=lines,
        dead_letters=await store.dead_letters(session),
        sectors=await store.sector_counts(session, programme),
        upcoming=upcoming,
    )
