"""Weekly check-ins in team channels after kickoff, and flags for coordinators.

`run_checkins(now)` is a scheduled job (hourly): for every formed team whose programme's
kickoff has started, it asks week N's check-in once (a unique project/week row), marks
the previous unanswered one `missed`, and flags the team in the coordinator channel when
two check-ins in a row went unanswered. A 🔴 answer flags the team too, once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox
from bot.cards import Button, Card, plain
from bot.coordination import ActionResult, Coordination
from bot.i18n import T, Texts
from bot.programmes.calendar import local_when
from bot.programmes.teams import TEAM_STATUSES, post_to_team
from storage import repo
from storage.base import utcnow
from storage.models import CheckIn, Phase, Project

log = logging.getLogger(__name__)

GREEN, YELLOW, RED = "checkin_green", "checkin_yellow", "checkin_red"
ANSWERS = {GREEN: "green", YELLOW: "yellow", RED: "red"}
WEEK = timedelta(days=7)


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    title = T("📋 第{week}週のチェックイン", "📋 Week {week} check-in")
    body = T(
        "チームの状況はいかがですか？チャンネルのどなたでも回答できます。",
        "How is the team doing? Anyone in this channel can answer.",
    )
    green = T("🟢 順調", "🟢 On track")
    yellow = T("🟡 要注意", "🟡 Needs attention")
    red = T("🔴 行き詰まり", "🔴 Stuck")
    asked = T("第{week}週・{at} 送信", "Week {week} · asked {at}")
    answered = T(
        "{answer} — <@{who}> さんが {at} に回答しました",
        "{answer} — answered by <@{who}> at {at}",
    )
    flag_red = T(
        "🔴 *{org}* チーム（#{id}）が第{week}週のチェックインで「行き詰まり」と回答しました"
        "（<@{who}>）。チャンネル: {channel}",
        "🔴 The *{org}* team (#{id}) answered “stuck” to its week {week} check-in "
        "(<@{who}>). Channel: {channel}",
    )
    flag_missed = T(
        "⚠️ *{org}* チーム（#{id}）のチェックインが2回続けて未回答です（第{a}週・第{b}週）。"
        "チャンネル: {channel}",
        "⚠️ The *{org}* team (#{id}) has missed two check-ins in a row (weeks {a} and {b}). "
        "Channel: {channel}",
    )
    not_found = T("このチェックインは見つかりませんでした。", "This check-in could not be found.")
    wrong_channel = T(
        "このチェックインには、チームのチャンネルから回答してください。",
        "Please answer this check-in in the team's channel.",
    )
    closed = T(
        "このチェックインは締め切られました。最新のチェックインに回答してください。",
        "This check-in is closed. Please answer the latest one.",
    )


TXT = _Texts

# The answers a check-in takes, as the card shows them once answered.
_ANSWER_TEXTS = {"green": TXT.green, "yellow": TXT.yellow, "red": TXT.red}


class CheckIns:
    """Weekly check-ins: the job that asks them and the buttons that answer them."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        coordination: Coordination,
        *,
        notify: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
        team_locale: Callable[[str | None], str] | None = None,
    ) -> None:
        self._maker = maker
        self.coordination = coordination
        # Flags are read in the coordinator channel: its language.
        self.locale = coordination.locale
        # The check-in itself is read in the team's channel: that channel's language.
        self._team_locale = team_locale or (lambda _channel: coordination.locale)
        self._notify = notify
        self._clock = clock

    # ---------------------------------------------------------------- the job

    async def run_checkins(self, now: datetime | None = None) -> int:
        """Ask this week's check-in of every team past kickoff (once per project and
        week); returns how many were asked now."""
        now = now or self._clock()
        async with self._maker() as session:
            due = await self._due(session, now)
        asked = 0
        for project_id, week in due:
            try:
                async with self._maker.begin() as session:
                    asked += await self._ask(session, project_id, week, now)
            except IntegrityError:
                # Another process asked this week's check-in at the same moment.
                log.info("checkins: project %d week %d already asked", project_id, week)
        if asked:
            self._notify()
        return asked

    async def _due(self, session: AsyncSession, now: datetime) -> list[tuple[int, int]]:
        """(project, week) for formed teams whose programme's kickoff is a week or more past
        and whose programme has not ended."""
        projects = (
            await session.execute(
                select(Project.id, Project.programme_id).where(
                    Project.status.in_(TEAM_STATUSES), Project.programme_id.is_not(None)
                )
            )
        ).all()
        if not projects:
            return []
        phases = (
            await session.scalars(
                select(Phase).where(
                    Phase.programme_id.in_({p for _, p in projects}),
                    Phase.cancelled_at.is_(None),
                )
            )
        ).all()
        by_programme: dict[int, list[Phase]] = defaultdict(list)
        for phase in phases:
            by_programme[phase.programme_id].append(phase)
        out = []
        for project_id, programme_id in projects:
            mine = by_programme.get(programme_id, []) if programme_id is not None else []
            kickoffs = [p.starts_at for p in mine if p.kind == "kickoff" and p.starts_at <= now]
            if not kickoffs:
                continue
            kickoff = min(kickoffs)
            # The programme's last phase after kickoff (results, report) ends the check-ins.
            later = [p for p in mine if p.starts_at > kickoff]
            if later:
                last = max(later, key=lambda p: p.starts_at)
                if now >= (last.ends_at or last.starts_at):
                    continue
            week = int((now - kickoff) / WEEK)
            if week >= 1:
                out.append((project_id, week))
        return sorted(out)

    async def _ask(self, session: AsyncSession, project_id: int, week: int, now: datetime) -> int:
        taken = await session.scalar(
            select(CheckIn.id).where(CheckIn.project_id == project_id, CheckIn.week == week)
        )
        if taken is not None:
            return 0
        project = await repo.get_project(session, project_id)
        if project is None:
            return 0
        earlier = list(
            await session.scalars(
                select(CheckIn)
                .where(CheckIn.project_id == project_id, CheckIn.week < week)
                .order_by(CheckIn.week.desc())
            )
        )
        for old in earlier:
            if old.status == "asked":
                old.status = "missed"
        checkin = CheckIn(project_id=project_id, week=week, status="asked", asked_at=now)
        session.add(checkin)
        await session.flush()
        await post_to_team(
            session,
            project_id,
            {"card": self.card(checkin, self._team_locale(project.team_channel_id)).to_dict()},
            outbox.key_for("checkin", project_id, week),
        )
        # Two unanswered in a row, neither already part of a flagged pair: one flag.
        if (
            len(earlier) >= 2
            and earlier[0].status == earlier[1].status == "missed"
            and not (earlier[0].flagged or earlier[1].flagged)
        ):
            earlier[0].flagged = True
            await self._flag(
                session,
                project,
                TXT.flag_missed(
                    self.locale,
                    org=plain(project.organization.name),
                    id=project.id,
                    a=earlier[1].week,
                    b=earlier[0].week,
                    channel=_channel(project),
                ),
                ("missed", earlier[0].id),
            )
        log.info("checkins: asked project %d week %d", project_id, week)
        return 1

    # ---------------------------------------------------------------- answers

    async def answer(
        self,
        checkin_id: int,
        action_id: str,
        user: str,
        channel_id: str,
        message_ts: str,
        *,
        locale: str | None = None,
    ) -> ActionResult:
        """A button in the team channel: record the answer, update the message in place,
        and flag a 🔴 to coordinators (once). A refusal is told in `locale`, the language
        of the person who clicked (only they read it); else the channel's."""
        loc = locale or self._team_locale(channel_id or None)
        status = ANSWERS.get(action_id)
        now = self._clock()
        async with self._maker.begin() as session:
            checkin = await session.get(CheckIn, checkin_id, with_for_update=True)
            if checkin is None or status is None:
                return ActionResult(False, TXT.not_found(loc))
            project = await repo.get_project(session, checkin.project_id)
            if project is None:
                return ActionResult(False, TXT.not_found(loc))
            if not channel_id or project.team_channel_id != channel_id:
                return ActionResult(False, TXT.wrong_channel(loc))
            newer = await session.scalar(
                select(CheckIn.id).where(
                    CheckIn.project_id == checkin.project_id, CheckIn.week > checkin.week
                )
            )
            if checkin.status == "missed" or newer is not None:
                return ActionResult(False, TXT.closed(loc))
            checkin.status = status
            checkin.answered_by = user
            checkin.answered_at = now
            if status == "red" and not checkin.flagged:
                checkin.flagged = True
                await self._flag(
                    session,
                    project,
                    TXT.flag_red(
                        self.locale,
                        org=plain(project.organization.name),
                        id=project.id,
                        week=checkin.week,
                        who=user,
                        channel=_channel(project),
                    ),
                    ("red", checkin.id),
                )
            if message_ts:
                await post_to_team(
                    session,
                    project.id,
                    {
                        "card": self.card(checkin, self._team_locale(channel_id)).to_dict(),
                        "ts": message_ts,
                    },
                    outbox.key_for("checkin-answer", checkin.id, status, user, now.isoformat()),
                    kind="update",
                )
            await repo.audit(
                session,
                actor=user,
                action="checkin",
                subject_type="project",
                subject_id=project.id,
                detail={"week": checkin.week, "status": status},
                at=now,
            )
        log.info("checkins: project %d week %d answered", checkin.project_id, checkin.week)
        self._notify()
        return ActionResult(True)

    # ---------------------------------------------------------------- rendering

    def card(self, checkin: CheckIn, loc: str) -> Card:
        """The check-in message in `loc`: the question, the three buttons, who answered."""
        title = TXT.title(loc, week=checkin.week)
        value = str(checkin.id)
        buttons = (
            Button(TXT.green(loc), GREEN, value, "primary"),
            Button(TXT.yellow(loc), YELLOW, value),
            Button(TXT.red(loc), RED, value, "danger"),
        )
        if checkin.answered_by and checkin.status in ("green", "yellow", "red"):
            context = TXT.answered(
                loc,
                answer=_ANSWER_TEXTS[checkin.status](loc),
                who=checkin.answered_by,
                at=self._local(checkin.answered_at, loc),
            )
        else:
            context = TXT.asked(loc, week=checkin.week, at=self._local(checkin.asked_at, loc))
        return Card(
            title=title,
            fallback=f"{title}: {TXT.body(loc)}",
            body=TXT.body(loc),
            buttons=buttons,
            context=context,
        )

    def _local(self, at: datetime | None, loc: str) -> str:
        return local_when(at, self.coordination.tz, loc) if at else "-"

    async def _flag(
        self, session: AsyncSession, project: Project, text: str, why: tuple[object, ...]
    ) -> None:
        """A line in the coordinator channel (top level, so it is seen)."""
        channel = self.coordination.channel
        log.info("checkins: project %d flagged (%s)", project.id, why[0])
        if not channel:
            return
        await outbox.enqueue(
            session,
            channel="slack",
            kind="post",
            target=channel,
            payload={"text": text},
            key=outbox.key_for("checkin-flag", *why),
        )


def _channel(project: Project) -> str:
    return f"<#{project.team_channel_id}>" if project.team_channel_id else f"#{project.id}"
