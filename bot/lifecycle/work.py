"""The work and the end of a project, as people ask for them (issue #13, life-work):
hours, delivery, completion, pause / resume / cancel, and the totals coordinators read.

Channels (the `/tsunagu` registry, the LINE dialogue's effects) call `Work`; every rule
(who may, which state, what is a valid entry) is the Lifecycle service's and the state
table's. Each method opens its own transaction and returns the answer to show the
person who asked, in their language.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox
from bot.cards import plain
from bot.i18n import T, Texts
from bot.lifecycle.service import Lifecycle
from bot.office.cases import CaseError, Cases
from bot.programmes.teams import post_to_team, programme_of
from bot.rules.records import Invalid, hours_text
from bot.rules.states import (
    HOLDING_CAPACITY,
    TEAM_STATES,
    Moved,
    Party,
    Refusal,
    Role,
    coordinator_label,
)
from bot.work_chat import (
    MAX_CAPACITY,
    CompleteByGroup,
    ConfirmDelivery,
    DeliveryMissing,
    LogHours,
    SaveFeedback,
    SetCapacity,
    WithdrawRequest,
    WorkEffect,
    WorkStatus,
)
from storage import repo
from storage.base import utcnow
from storage.db import after_commit
from storage.models import AuditEntry, Delivery, HoursEntry, Match, Project, Volunteer

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
URL = re.compile(r"^https?://\S+$")
# States in which members log hours: the team exists and the project is not over.
WORKING = TEAM_STATES


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    not_linked = T(
        "このSlackアカウントはまだLINEの登録とつながっていません。"
        "LINEで「Slack連携」と送り、届いたコードで `/tsunagu link コード` を実行してください。",
        "This Slack account is not linked to a volunteer in LINE yet. Send “link slack” in "
        "LINE and type `/tsunagu link CODE` with the code you receive.",
    )
    hours_usage = T(
        "使い方: `/tsunagu hours 3 団体とのヒアリング`（日付を付けるなら `2026-12-03`、"
        "相談を選ぶなら `#12`）",
        "Usage: `/tsunagu hours 3 hearing with the group` (add a date like `2026-12-03`, "
        "or `#12` to pick the project)",
    )
    no_project = T(
        "記録できるプロジェクトがありません（チームが結成され、終了していないものだけです）。",
        "There is no project to log hours on (only projects whose team formed and that "
        "have not ended).",
    )
    which = T(
        "どのプロジェクトの記録ですか？番号を付けてもう一度どうぞ: {choices}",
        "Which project is this for? Please try again with its number: {choices}",
    )
    not_member = T(
        "#{id} のチームのメンバーではないため記録できません。",
        "You are not on the team of #{id}, so this was not recorded.",
    )
    not_working = T(
        "#{id} はいま「{state}」のため、時間を記録できません。",
        "#{id} is “{state}” now, so hours cannot be logged on it.",
    )
    hours_ok = T(
        "⏱ #{id} に {day} の {hours}時間を記録しました。"
        "あなたの合計: {mine}時間（チーム合計 {total}時間）",
        "⏱ Logged {hours} h on {day} for #{id}. Your total: {mine} h (team: {total} h)",
    )
    mine = T(
        "あなたの記録: {lines}\n記録するには: `/tsunagu hours 3 内容`",
        "Your hours: {lines}\nTo log: `/tsunagu hours 3 what you did`",
    )
    mine_none = T(
        "まだ記録はありません。`/tsunagu hours 3 内容` で記録できます。",
        "No hours yet. Log some with `/tsunagu hours 3 what you did`.",
    )
    totals_head = T("*稼働時間の合計*", "*Hours logged*")
    totals_none = T("まだ稼働時間の記録はありません。", "No hours have been logged yet.")
    totals_line = T("• #{id} {org}（{state}）: {hours}時間", "• #{id} {org} ({state}): {hours} h")
    person_line = T("  – {name}: {hours}時間", "  – {name}: {hours} h")
    deleted_person = T("（退会した方）", "(deleted)")
    not_found = T("相談 #{id} が見つかりません。", "Request #{id} was not found.")
    # delivery
    deliver_usage = T(
        "使い方: チームのチャンネルで `/tsunagu deliver URL 内容`（URLか内容のどちらかは必須）",
        "Usage: in the team channel, `/tsunagu deliver URL note` (a link or a note at least)",
    )
    not_team_channel = T(
        "このコマンドはチームのチャンネルで使ってください。",
        "Please use this command in the team's channel.",
    )
    deliver_ok = T(
        "📦 #{id} の納品を記録しました。団体にLINEで確認をお願いしました。",
        "📦 Delivery recorded for #{id}. The group is asked in LINE to confirm it.",
    )
    team_delivered = T(
        "📦 納品を記録しました（<@{who}>）: {note} {link}\n団体の確認を待っています。{next}",
        "📦 Delivery recorded by <@{who}>: {note} {link}\nWaiting for the group to confirm.{next}",
    )
    next_results = T(
        "\n次は成果報告会です: {when}", "\nNext comes the results presentation: {when}"
    )
    # completion and state changes
    complete_ok = T(
        "✅ #{id} を完了にしました。メンバーと団体にお礼とアンケートを送ります。",
        "✅ #{id} is complete. Members and the group get thanks and a feedback question.",
    )
    changed = T("#{id}: {was} → {now}", "#{id}: {was} → {now}")
    refused_state = T(
        "#{id} はいま「{state}」のため、この操作はできません。",
        "#{id} is “{state}” now, so this cannot be done.",
    )
    refused_role = T("この操作はコーディネーターだけができます。", "Only coordinators can do this.")
    reason = T("理由: {text}", "Reason: {text}")
    team_confirmed = T(
        "✅ 団体が納品物の受け取りを確認しました。",
        "✅ The group confirmed it received the delivery.",
    )
    team_missing = T("✏️ 団体から納品物について: {text}", "✏️ The group on the delivery: {text}")
    case_new_voice = T(
        "#{id} に公開してよいふりかえりが届きました。事例の下書きは編集済みなので、"
        "必要なら `/tsunagu cases edit` で加えてください。",
        "#{id} got feedback that may be published. Its draft case was already edited, so add "
        "it with `/tsunagu cases edit` if it belongs there.",
    )
    feedback_note = T(
        "💬 {who}からふりかえりが届きました（評価 {score}/5）。",
        "💬 Feedback from {who} (score {score}/5).",
    )
    from_group = T("団体", "the group")
    from_member = T("メンバー", "a member")
    card_head = T("*チームと稼働*（合計 {hours}時間）", "*Team and hours* ({hours} h in all)")
    card_member = T(
        "• {name}: {hours}時間・同時参加 {busy}/{capacity}件",
        "• {name}: {hours} h, on {busy} of {capacity} project(s) at a time",
    )
    case_ready = T(
        "📝 #{id} の事例の下書き（事例 #{case}、非公開）ができました。"
        "合意内容・納品・公開可のふりかえりから書いています。確認してください。",
        "📝 A draft case (#{case}, not published) is ready for #{id}, written from the "
        "agreement, the delivery and the feedback people let us publish. Please review it.",
    )


TXT = _Texts


@dataclass(frozen=True, slots=True)
class HoursRequest:
    """`/tsunagu hours` as typed: hours, an optional day, project and note."""

    hours: str | None
    day: date | None
    project_id: int | None
    note: str
    bad_date: bool = False


def parse_hours(args: Sequence[str]) -> HoursRequest:
    """`3 hearing`, `2026-12-03 1.5 #12 call`: the first number is the hours, a
    YYYY-MM-DD word the day, `#N` the project; the rest is the note."""
    hours: str | None = None
    day: date | None = None
    project: int | None = None
    bad_date = False
    rest: list[str] = []
    for word in args:
        if day is None and not bad_date and DATE.match(word):
            try:
                day = date.fromisoformat(word)
            except ValueError:
                bad_date = True
        elif project is None and word.startswith("#") and word[1:].isdigit():
            project = int(word[1:])
        elif hours is None and not rest and re.fullmatch(r"[0-9０-９.．]+", word):
            hours = word
        else:
            rest.append(word)
    return HoursRequest(hours, day, project, " ".join(rest), bad_date)


class Work:
    """Hours, delivery, completion and plain state changes, for the channels."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        lifecycle: Lifecycle,
        *,
        clock: Callable[[], datetime] = utcnow,
        cases: Cases | None = None,
    ) -> None:
        self._maker = maker
        self.lifecycle = lifecycle
        self._clock = clock
        # Called once hours logged or a delivery recorded are committed (the App Home
        # shows both: handlers.slack.home).
        self.changed: list[Callable[[], None]] = []
        # What the coordinators' channel reads (cards, notes).
        self.locale = lifecycle.coordination.locale
        # The case catalogue: a completed project gets a draft case.
        self.cases = cases

    def _notify(self) -> None:
        self.lifecycle._notify()

    # ---------------------------------------------------------------- hours

    async def log_hours_slack(
        self, slack_user: str, channel: str | None, args: Sequence[str], locale: str
    ) -> str:
        """A linked member logs hours from Slack (the project from the channel, the
        number given, or their only current project)."""
        typed = parse_hours(args)
        if typed.hours is None:
            return await self.mine_text(slack_user, locale)
        if typed.bad_date:
            return Invalid("hours_format").text(locale) + "\n" + TXT.hours_usage(locale)
        async with self._maker.begin() as session:
            volunteer = await _volunteer_by_slack(session, slack_user)
            if volunteer is None:
                return TXT.not_linked(locale)
            project_id = typed.project_id or await _channel_project(session, channel)
            if project_id is None:
                mine = await _current_projects(session, volunteer.id)
                if not mine:
                    return TXT.no_project(locale)
                if len(mine) > 1:
                    choices = ", ".join(f"`#{pid}` {plain(name)}" for pid, name in mine)
                    return TXT.which(locale, choices=choices)
                project_id = mine[0][0]
            answer = await self.log_hours(
                session, project_id, volunteer.id, typed.hours, typed.day, typed.note, locale
            )
        return answer

    def _changed_on_commit(self, session: AsyncSession) -> None:
        for hook in self.changed:
            after_commit(session, hook)

    async def log_hours(
        self,
        session: AsyncSession,
        project_id: int,
        volunteer_id: int,
        hours: str,
        day: date | None,
        note: str,
        locale: str,
    ) -> str:
        """Check membership and state, then log (the caller's transaction)."""
        project = await repo.get_project(session, project_id)
        if project is None:
            return TXT.not_found(locale, id=project_id)
        if not await _is_member(session, project_id, volunteer_id):
            return TXT.not_member(locale, id=project_id)
        if project.status not in WORKING:
            state = coordinator_label(project.status, locale)
            return TXT.not_working(locale, id=project_id, state=state)
        row = await self.lifecycle.log_hours(
            session, project_id, volunteer_id, hours=hours, day=day, note=note
        )
        if isinstance(row, Invalid):
            return row.text(locale)
        self._changed_on_commit(session)
        totals = await self.lifecycle.totals(session, project_id)
        await repo.audit(
            session,
            actor=f"volunteer:{volunteer_id}",
            action="hours_logged",
            subject_type="project",
            subject_id=project_id,
            detail={"minutes": row.minutes, "day": row.day.isoformat()},
            at=self._clock(),
        )
        return TXT.hours_ok(
            locale,
            id=project_id,
            day=row.day.isoformat(),
            hours=hours_text(row.minutes),
            mine=hours_text(totals.per_volunteer.get(volunteer_id, 0)),
            total=totals.hours,
        )

    async def mine_text(self, slack_user: str, locale: str) -> str:
        """A member's own hours per project."""
        async with self._maker() as session:
            volunteer = await _volunteer_by_slack(session, slack_user)
            if volunteer is None:
                return TXT.not_linked(locale)
            rows = (
                await session.execute(
                    select(HoursEntry.project_id, func.sum(HoursEntry.minutes))
                    .where(HoursEntry.volunteer_id == volunteer.id)
                    .group_by(HoursEntry.project_id)
                    .order_by(HoursEntry.project_id)
                )
            ).all()
        if not rows:
            return TXT.mine_none(locale)
        lines = ", ".join(f"#{pid} {hours_text(int(m))}h" for pid, m in rows)
        return TXT.mine(locale, lines=lines)

    async def totals_text(self, locale: str, project_id: int | None = None) -> str:
        """Coordinators: hours per project (and per person), newest projects first."""
        async with self._maker() as session:
            query = (
                select(HoursEntry.project_id, HoursEntry.volunteer_id, func.sum(HoursEntry.minutes))
                .group_by(HoursEntry.project_id, HoursEntry.volunteer_id)
                .order_by(HoursEntry.project_id.desc())
            )
            if project_id is not None:
                if await session.get(Project, project_id) is None:
                    return TXT.not_found(locale, id=project_id)
                query = query.where(HoursEntry.project_id == project_id)
            rows = (await session.execute(query)).all()
            per: dict[int, list[tuple[int | None, int]]] = {}
            for pid, vid, minutes in rows:
                per.setdefault(int(pid), []).append((vid, int(minutes)))
            lines = [TXT.totals_head(locale)]
            for pid, people in per.items():
                project = await repo.get_project(session, pid)
                assert project is not None
                lines.append(
                    TXT.totals_line(
                        locale,
                        id=pid,
                        org=plain(project.organization.name),
                        state=coordinator_label(project.status, locale),
                        hours=hours_text(sum(m for _, m in people)),
                    )
                )
                for vid, minutes in people:
                    v = await session.get(Volunteer, vid) if vid is not None else None
                    name = plain(v.display_name) if v else TXT.deleted_person(locale)
                    lines.append(TXT.person_line(locale, name=name, hours=hours_text(minutes)))
        if not per:
            return TXT.totals_none(locale)
        return "\n".join(lines)

    async def card_section(self, project_id: int, locale: str) -> str | None:
        """For the coordinators' card: hours in all, and each member's hours and how many
        projects they hold of their capacity (None: no team and no hours yet)."""
        async with self._maker() as session:
            totals = await self.lifecycle.totals(session, project_id)
            members = [
                v
                for m, v in await repo.project_matches(session, project_id)
                if m.state == "accepted"
            ]
            if not members and not totals.minutes:
                return None
            lines = [TXT.card_head(locale, hours=totals.hours)]
            for v in members:
                busy = await session.scalar(
                    select(func.count(Match.id))
                    .join(Project, Project.id == Match.project_id)
                    .where(
                        Match.volunteer_id == v.id,
                        Match.state == "accepted",
                        Project.status.in_(HOLDING_CAPACITY),
                    )
                )
                lines.append(
                    TXT.card_member(
                        locale,
                        name=plain(v.display_name),
                        hours=hours_text(totals.per_volunteer.get(v.id, 0)),
                        busy=int(busy or 0),
                        capacity=v.capacity,
                    )
                )
        return "\n".join(lines)

    # ---------------------------------------------------------------- delivery

    async def deliver(
        self, actor: str, channel: str | None, args: Sequence[str], coordinator: bool, locale: str
    ) -> str:
        """`/tsunagu deliver URL note` in a team channel (a member or a coordinator)."""
        link = args[0] if args and URL.match(args[0]) else None
        note = " ".join(args[1:] if link else args).strip()
        if not link and not note:
            return TXT.deliver_usage(locale)
        async with self._maker.begin() as session:
            project_id = await _channel_project(session, channel)
            if project_id is None:
                return TXT.not_team_channel(locale)
            role = Role.COORDINATOR
            if not coordinator:
                volunteer = await _volunteer_by_slack(session, actor)
                if volunteer is None:
                    return TXT.not_linked(locale)
                if not await _is_member(session, project_id, volunteer.id):
                    return TXT.not_member(locale, id=project_id)
                role = Role.MEMBER
            moved = await self.lifecycle.record_delivery(
                session, project_id, actor=actor, role=role, note=note, link=link
            )
            if not moved.ok:
                return _refusal(moved, locale)
            self._changed_on_commit(session)
            project = await repo.get_project(session, project_id)
            assert project is not None
            # The group got the delivery card; the coordinators read the state change.
            if moved.event == "deliver":
                await self.lifecycle.tell(session, replace(moved, tell=(Party.COORDINATORS,)))
            _, phases = await programme_of(session, project)
            results = [p for p in phases if p.kind == "results" and p.cancelled_at is None]
            loc = self.lifecycle.coordination.locale
            nxt = (
                TXT.next_results(loc, when=self.lifecycle.coordination.local(results[0].starts_at))
                if results
                else ""
            )
            text = TXT.team_delivered(loc, who=actor, note=plain(note), link=link or "", next=nxt)
            await post_to_team(
                session,
                project_id,
                {"text": text},
                outbox.key_for("delivered", project_id, hashlib.sha256(text.encode()).hexdigest()),
            )
        self._notify()
        return TXT.deliver_ok(locale, id=project_id)

    # ---------------------------------------------------------------- completion, state

    async def complete(self, project_id: int, actor: str, role: Role, locale: str) -> str:
        """Complete a delivered project (a coordinator, or the group after delivery)."""
        async with self._maker.begin() as session:
            if await session.get(Project, project_id) is None:
                return TXT.not_found(locale, id=project_id)
            moved = await self.complete_in(session, project_id, actor=actor, role=role)
            if not moved.ok:
                return _refusal(moved, locale)
        self._notify()
        return TXT.complete_ok(locale, id=project_id)

    async def complete_in(
        self, session: AsyncSession, project_id: int, *, actor: str, role: Role
    ) -> Moved:
        """Complete in the caller's transaction: members and the group are thanked and
        asked for feedback, coordinators read the change, and the draft case is written."""
        moved = await self.lifecycle.complete(session, project_id, actor=actor, role=role)
        if not moved.ok:
            return moved
        # Members and the group were thanked; the coordinators read the state change.
        await self.lifecycle.tell(session, replace(moved, tell=(Party.COORDINATORS,)))
        await self.draft_case(session, project_id, actor)
        return moved

    async def draft_case(self, session: AsyncSession, project_id: int, actor: str) -> int | None:
        """Write the catalogue's draft case for a completed project (once) from its
        agreement, delivery and published feedback; coordinators are told it is ready."""
        if self.cases is None:
            return None
        try:
            async with session.begin_nested():
                case_id = await self.cases.draft_in(session, project_id, actor)
        except CaseError:
            return None  # it has one already (made by hand before completion)
        project = await repo.get_project(session, project_id)
        assert project is not None
        loc = self.lifecycle.coordination.locale
        await self.lifecycle.coordination.note(
            session,
            project,
            TXT.case_ready(loc, id=project_id, case=case_id),
            ("case-draft", project_id, case_id),
        )
        return case_id

    async def change(self, project_id: int, verb: str, actor: str, reason: str, locale: str) -> str:
        """`pause`, `resume`, `cancel` by a coordinator; everyone the table names is told."""
        async with self._maker.begin() as session:
            project = await session.get(Project, project_id)
            if project is None:
                return TXT.not_found(locale, id=project_id)
            event = verb
            if verb == "resume":
                event = await _resume_event(session, project_id)
            moved = await self.lifecycle.change_state(
                session,
                project_id,
                event,
                role=Role.COORDINATOR,
                actor=actor,
                reason=reason.strip()[:500] or None,
            )
            if not moved.ok:
                return _refusal(moved, locale)
        self._notify()
        text = TXT.changed(
            locale,
            id=project_id,
            was=coordinator_label(moved.from_status or "", locale),
            now=coordinator_label(moved.status, locale),
        )
        if reason.strip():
            text += "\n" + TXT.reason(locale, text=plain(reason.strip()[:500]))
        return text

    # ---------------------------------------------------------------- LINE (bot.work_chat)

    async def status_for(
        self, session: AsyncSession, channel: str, user_key: str, project_id: int
    ) -> WorkStatus | None:
        """A person's relation to a project: its group's contact, or a team member."""
        project = await repo.get_project(session, project_id)
        if project is None:
            return None
        open_delivery = await session.scalar(
            select(func.count(Delivery.id)).where(
                Delivery.project_id == project_id, Delivery.confirmed_at.is_(None)
            )
        )
        org = project.organization
        role = None
        if org.channel == channel and org.user_key == user_key:
            role = "group"
        else:
            volunteer = await repo.get_volunteer(session, channel, user_key)
            if volunteer is not None and await _is_member(session, project_id, volunteer.id):
                role = "member"
        if role is None:
            return None
        return WorkStatus(project_id, role, project.status, org.name, bool(open_delivery))

    async def projects_for(
        self, session: AsyncSession, channel: str, user_key: str
    ) -> list[tuple[int, str]]:
        """The projects a volunteer can log hours on now."""
        volunteer = await repo.get_volunteer(session, channel, user_key)
        return [] if volunteer is None else await _current_projects(session, volunteer.id)

    async def apply(
        self, session: AsyncSession, channel: str, user_key: str, effect: WorkEffect
    ) -> None:
        """Write what the LINE dialogue decided (the inbox's transaction), checking again
        who the person is: a stale or foreign effect writes nothing."""
        if isinstance(effect, SetCapacity):
            volunteer = await repo.get_volunteer(session, channel, user_key)
            if volunteer is not None and 1 <= effect.projects <= MAX_CAPACITY:
                volunteer.capacity = effect.projects
                await repo.audit(
                    session,
                    actor=f"volunteer:{volunteer.id}",
                    action="capacity",
                    subject_type="volunteer",
                    subject_id=volunteer.id,
                    detail={"capacity": effect.projects},
                    at=self._clock(),
                )
            return
        status = await self.status_for(session, channel, user_key, effect.project_id)
        if status is None:
            return
        pid = effect.project_id
        if status.role == "member" and isinstance(effect, LogHours):
            volunteer = await repo.get_volunteer(session, channel, user_key)
            assert volunteer is not None
            a = effect.answers
            await self.log_hours(
                session,
                pid,
                volunteer.id,
                str(a["hours"]),
                date.fromisoformat(str(a["day"])),
                str(a.get("note") or ""),
                volunteer.locale,
            )
        elif isinstance(effect, SaveFeedback):
            await self._feedback(session, channel, user_key, status, effect.answers)
        elif status.role != "group":
            return
        elif isinstance(effect, ConfirmDelivery):
            # The coordinators' thread is told by confirm_delivery; the team here.
            await self.lifecycle.confirm_delivery(session, pid)
            await self._tell_team(session, pid, TXT.team_confirmed, "delivery-ok", thread=False)
        elif isinstance(effect, DeliveryMissing):
            await self._tell_team(
                session, pid, TXT.team_missing, "delivery-missing", text=plain(effect.text)
            )
        elif isinstance(effect, CompleteByGroup):
            await self.lifecycle.confirm_delivery(session, pid)  # completing says it arrived
            await self.complete_in(session, pid, actor="group", role=Role.GROUP)
        elif isinstance(effect, WithdrawRequest):
            await self.lifecycle.change_state(
                session, pid, "withdraw", role=Role.GROUP, actor="group"
            )

    async def _feedback(
        self,
        session: AsyncSession,
        channel: str,
        user_key: str,
        status: WorkStatus,
        answers: dict[str, object],
    ) -> None:
        if status.status != "completed":
            return
        if status.role == "group":
            org = await repo.get_organization(session, channel, user_key)
            assert org is not None
            author: tuple[Literal["volunteer", "organization"], int] = ("organization", org.id)
        else:
            volunteer = await repo.get_volunteer(session, channel, user_key)
            assert volunteer is not None
            author = ("volunteer", volunteer.id)
        row = await self.lifecycle.record_feedback(
            session,
            status.project_id,
            author_type=author[0],
            author_id=author[1],
            score=int(str(answers.get("score") or 0)),
            words=str(answers.get("words") or "") or None,
            publish=str(answers.get("publish") or "no"),
        )
        if isinstance(row, Invalid):
            return
        await repo.audit(
            session,
            actor=f"{author[0]}:{author[1]}",
            action="feedback",
            subject_type="project",
            subject_id=status.project_id,
            detail={"score": row.score, "publish": row.publish},
            at=self._clock(),
        )
        project = await repo.get_project(session, status.project_id)
        assert project is not None
        loc = self.lifecycle.coordination.locale
        who = TXT.from_group(loc) if author[0] == "organization" else TXT.from_member(loc)
        await self.lifecycle.coordination.note(
            session,
            project,
            TXT.feedback_note(loc, who=who, score=row.score),
            ("feedback", status.project_id, author[0], author[1], row.score),
        )
        # Words people let us publish belong in the case drafted at completion.
        refreshed = None
        if row.publish != "no" and self.cases is not None:
            refreshed = await self.cases.refresh_draft_in(session, status.project_id)
        if refreshed == "edited":
            await self.lifecycle.coordination.note(
                session,
                project,
                TXT.case_new_voice(loc, id=status.project_id),
                ("case-voice", status.project_id, author[0], author[1]),
            )

    async def _tell_team(
        self,
        session: AsyncSession,
        project_id: int,
        message: T,
        why: str,
        *,
        thread: bool = True,
        **fields: object,
    ) -> None:
        """A line in the team channel (and in the coordinators' thread)."""
        project = await repo.get_project(session, project_id)
        assert project is not None
        coordination = self.lifecycle.coordination
        words = message(coordination.locale, **fields)
        # The same words about the same project are one message (a retried event).
        digest = hashlib.sha256(words.encode()).hexdigest()[:16]
        key = outbox.key_for(why, project_id, digest)
        await post_to_team(session, project_id, {"text": words}, key)
        if thread:
            await coordination.note(session, project, words, (why, project_id, key))


# ---------------------------------------------------------------- queries


async def _volunteer_by_slack(session: AsyncSession, slack_user: str) -> Volunteer | None:
    found: Volunteer | None = await session.scalar(
        select(Volunteer).where(Volunteer.slack_user_id == slack_user)
    )
    return found


async def _channel_project(session: AsyncSession, channel: str | None) -> int | None:
    if not channel:
        return None
    found = await session.scalar(select(Project.id).where(Project.team_channel_id == channel))
    return int(found) if found is not None else None


async def _is_member(session: AsyncSession, project_id: int, volunteer_id: int) -> bool:
    found = await session.scalar(
        select(Match.id).where(
            Match.project_id == project_id,
            Match.volunteer_id == volunteer_id,
            Match.state == "accepted",
        )
    )
    return found is not None


async def _current_projects(session: AsyncSession, volunteer_id: int) -> list[tuple[int, str]]:
    """The projects a volunteer works on now: (id, group name)."""
    rows = await session.scalars(
        select(Project)
        .join(Match, Match.project_id == Project.id)
        .where(
            Match.volunteer_id == volunteer_id,
            Match.state == "accepted",
            Project.status.in_(WORKING),
        )
        .order_by(Project.id)
    )
    out = []
    for project in rows:
        org = await repo.get_project(session, project.id)
        assert org is not None
        out.append((project.id, org.organization.name))
    return out


async def current_projects(session: AsyncSession, volunteer_id: int) -> list[tuple[int, str]]:
    """The projects a volunteer can log hours on now: (id, group name)."""
    return await _current_projects(session, volunteer_id)


async def _resume_event(session: AsyncSession, project_id: int) -> str:
    """Back where the pause found the project: recruiting before its team formed (a
    proposal lapses), else its team, its work or its delivery."""
    detail = await session.scalar(
        select(AuditEntry.detail)
        .where(
            AuditEntry.subject_type == "project",
            AuditEntry.subject_id == project_id,
            AuditEntry.action == "pause",
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    was = (detail or {}).get("from") if isinstance(detail, dict) else None
    if was in (None, "recruiting", "team_proposed"):
        return "resume_recruiting"
    return {"team_formed": "resume_team", "delivered": "resume_delivered"}.get(
        str(was), "resume_work"
    )


def _refusal(moved: Moved, locale: str) -> str:
    if moved.refusal is Refusal.NOT_FOUND:
        return TXT.not_found(locale, id=moved.project_id)
    if moved.refusal is Refusal.NOT_ALLOWED:
        return TXT.refused_role(locale)
    state = coordinator_label(moved.status, locale)
    return TXT.refused_state(locale, id=moved.project_id, state=state)


__all__ = ["TXT", "HoursRequest", "Work", "current_projects", "parse_hours"]
