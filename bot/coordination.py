"""Coordinators' work on group requests: the card, accept / ask / decline, the lists.

Every decision is one transaction: the status change (one winner when two people
click at once), the audit entry, and the messages it causes (LINE push to the
group, Slack card update) written to the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox, postback
from bot.cards import Button, Card, plain, summary_of
from bot.conversation.model import Choice, Reply
from bot.i18n import T, Texts, join_list
from bot.rules.states import Role, coordinator_label, transition
from bot.taxonomy import INTERESTS, LANGUAGES, MENUS, MODES, ORG_KINDS, PERIODS, SKILLS, label
from storage import matching_repo, repo
from storage.base import utcnow
from storage.models import Organization, Project

log = logging.getLogger(__name__)

ACCEPT, ASK, DECLINE = "project_accept", "project_ask", "project_decline"
EDIT_NEEDS = "project_edit_needs"
# Statuses in which coordinators may still change what a project needs.
EDITABLE = ("submitted", "recruiting")
TEAM_LIMITS = (1, 10)
HOURS_LIMITS = (1, 40)


# The longest a click waits for its turn on a request (another click deciding it).
DECIDE_WAIT_S = 2.0


class Turns:
    """Per-key asyncio locks that disappear when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, key: int, wait_s: float) -> AsyncIterator[bool]:
        """Wait up to `wait_s` seconds for this key's turn; yields False if it did not come."""
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        got = False
        try:
            try:
                async with asyncio.timeout(wait_s):
                    await lock.acquire()
                got = True
            except TimeoutError:
                pass
            yield got
        finally:
            if got:
                lock.release()
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    card_title = T("新しい相談: {org}", "New request: {org}")
    f_kind = T("団体の種類", "Kind")
    f_area = T("地域", "Area")
    f_fields = T("活動分野", "Fields")
    f_menus = T("希望メニュー", "Menus")
    f_period = T("希望時期", "Period")
    f_mode = T("実施の形", "Mode")
    f_status = T("状態", "Status")
    challenge = T("*課題*\n{text}", "*Challenge*\n{text}")
    activity = T("*活動内容*\n{text}", "*Activities*\n{text}")
    needs = T(
        "*困りごと* ひと: {p} / もの: {t} / おかね: {m}",
        "*Needs* people: {p} / things: {t} / money: {m}",
    )
    accept = T("受け付ける", "Accept")
    ask = T("質問する", "Ask a question")
    decline = T("見送る", "Decline")
    suggest = T("候補を提案", "Suggest candidates")
    ctx_submitted = T("#{id} ・ 受付 {at}", "#{id} · received {at}")
    ctx_accepted = T("✅ {who} が {at} に受け付けました", "✅ Accepted by {who} at {at}")
    ctx_declined = T(
        "🚫 {who} が {at} に見送りました（理由: {reason}）",
        "🚫 Declined by {who} at {at} (reason: {reason})",
    )
    already = T(
        "この相談はすでに {who} が{what}しています（{at}）。",
        "This request was already {what} by {who} ({at}).",
    )
    busy = T(
        "別のコーディネーターがいまこの相談 #{id} を処理しています。"
        "結果はまもなくカードに表示されます。",
        "Another coordinator is deciding request #{id} right now. "
        "The card will show the result in a moment.",
    )
    what_recruiting = T("受付", "accepted")
    what_declined = T("見送り", "declined")
    not_found = T("相談 #{id} が見つかりません。", "Request #{id} was not found.")
    not_open = T(
        "相談 #{id} はすでに審査済みのため、質問できません。",
        "Request #{id} has already been decided; no more questions.",
    )
    asked_thread = T("❓ {who} から団体へ質問: {q}", "❓ {who} asked the group: {q}")
    answer_thread = T("💬 団体からの回答: {a}", "💬 The group answered: {a}")
    # To the group, in LINE (their locale).
    g_accepted = T(
        "ご相談「{summary}」を受け付けました。これからボランティアの募集を始めます。"
        "チームが決まりしだい、このLINEでお知らせします。",
        "Your request “{summary}” has been accepted. We are now recruiting volunteers "
        "and will let you know here when a team is ready.",
    )
    g_declined = T(
        "ご相談「{summary}」について検討しましたが、今回はお受けすることができませんでした。\n"
        "理由: {reason}\nご相談いただきありがとうございました。内容を変えて、"
        "いつでも改めてご相談いただけます。",
        "We looked carefully at your request “{summary}” but cannot take it on this time.\n"
        "Reason: {reason}\nThank you for asking. You're welcome to send a new request "
        "at any time.",
    )
    g_question = T(
        "ご相談「{summary}」について、事務局から質問です:\n{q}\n\n"
        "このトークに返信する形でお答えください。",
        "The programme office has a question about your request “{summary}”:\n{q}\n\n"
        "Please reply here in this chat.",
    )
    g_answer_button = T("回答する", "Answer")
    refused = T(
        "申し訳ありません。この操作はコーディネーターのみが行えます。",
        "Sorry, only coordinators can do this.",
    )
    edit_needs = T("条件を編集", "Edit needs")
    needs_line = T(
        "*必要スキル* {req}　*あれば* {opt}\n*人数* {lo}〜{hi}人　*活動* 週{hours}時間・{mode}",
        "*Required* {req}   *Nice to have* {opt}\n*Team* {lo}-{hi}   *Load* {hours} h/week, {mode}",
    )
    not_editable = T(
        "相談 #{id} は現在「{status}」のため、条件は変更できません。",
        "Request #{id} is now “{status}”; its needs can no longer be changed.",
    )
    edit_conflict = T(
        "申し訳ありません。編集している間に、相談 #{id} は {who} によって更新されました（{at}）。"
        "お手数ですが、カードの「条件を編集」からもう一度開いて、最新の内容でご確認ください。",
        "Sorry, request #{id} was updated by {who} ({at}) while you were editing. "
        "Please open “Edit needs” on the card again to see the latest values.",
    )
    edited_thread = T("✏️ {who} が条件を変更しました: {what}", "✏️ {who} changed the needs: {what}")
    unchanged_thread = T(
        "✏️ {who} が条件を確認しました（変更なし）", "✏️ {who} reviewed the needs (no change)"
    )
    f_required = T("必要スキル", "Required skills")
    f_optional = T("あれば良いスキル", "Nice-to-have skills")
    f_team = T("人数", "Team size")
    f_hours = T("週あたりの時間", "Hours a week")
    f_languages = T("翻訳の言語", "Translation languages")
    e_required = T(
        "必要スキルを1つ以上選んでください。", "Please choose at least one required skill."
    )
    e_both = T(
        "{skills} が必要スキルとあれば良いスキルの両方に入っています。どちらか一方にしてください。",
        "{skills} is both required and nice to have; please keep it in one list only.",
    )
    e_number = T("{lo}〜{hi}の数字を入力してください。", "Please enter a number from {lo} to {hi}.")
    e_order = T(
        "最小人数が最大人数を超えています（最小 ≦ 最大）。",
        "The minimum is larger than the maximum (min must be at most max).",
    )
    e_unknown = T("選べない項目が含まれています。", "Please choose from the list.")


TXT = _Texts


@dataclass(frozen=True)
class NeedsForm:
    """What a coordinator sets for a project: skills, team size range, load, mode.

    `version` is the project's version the form was opened at: the edit wins only if
    nobody changed the project since. Numbers are None when left empty or not numbers.
    """

    project_id: int
    version: int
    required: tuple[str, ...]
    optional: tuple[str, ...]
    team_min: int | None
    team_max: int | None
    hours_per_week: int | None
    mode: str
    languages: tuple[str, ...] = ()


_SKILL_KEYS = frozenset(o.key for o in SKILLS)
_MODE_KEYS = frozenset(o.key for o in MODES)
_LANGUAGE_KEYS = frozenset(o.key for o in LANGUAGES)


def check_needs(form: NeedsForm, locale: str) -> dict[str, str]:
    """Problems with a needs form, by field name (empty if it can be saved)."""
    errors: dict[str, str] = {}
    if not form.required:
        errors["required"] = TXT.e_required(locale)
    if not set(form.required) <= _SKILL_KEYS:
        errors["required"] = TXT.e_unknown(locale)
    if not set(form.optional) <= _SKILL_KEYS:
        errors["optional"] = TXT.e_unknown(locale)
    both = [s for s in form.required if s in form.optional]
    if both and "optional" not in errors:
        skills = join_list([label(SKILLS, s, locale) for s in both], locale)
        errors["optional"] = TXT.e_both(locale, skills=skills)
    lo, hi = TEAM_LIMITS
    for name, value in (("team_min", form.team_min), ("team_max", form.team_max)):
        if value is None or not lo <= value <= hi:
            errors[name] = TXT.e_number(locale, lo=lo, hi=hi)
    if (
        "team_min" not in errors
        and "team_max" not in errors
        and form.team_min is not None
        and form.team_max is not None
        and form.team_min > form.team_max
    ):
        errors["team_min"] = TXT.e_order(locale)
    h_lo, h_hi = HOURS_LIMITS
    if form.hours_per_week is None or not h_lo <= form.hours_per_week <= h_hi:
        errors["hours_per_week"] = TXT.e_number(locale, lo=h_lo, hi=h_hi)
    if form.mode not in _MODE_KEYS:
        errors["mode"] = TXT.e_unknown(locale)
    if not set(form.languages) <= _LANGUAGE_KEYS:
        errors["languages"] = TXT.e_unknown(locale)
    return errors


def needs_text(project: Project, locale: str) -> str:
    """Card lines of what a project needs (skills, languages, team size, load, mode)."""
    text = TXT.needs_line(
        locale,
        req=join_list([label(SKILLS, s, locale) for s in project.required_skills], locale) or "-",
        opt=join_list([label(SKILLS, s, locale) for s in project.optional_skills], locale) or "-",
        lo=project.team_min,
        hi=project.team_max,
        hours=project.hours_per_week,
        mode=label(MODES, project.mode, locale),
    )
    if project.languages:
        names = join_list([label(LANGUAGES, k, locale) for k in project.languages], locale)
        text += f"\n*{TXT.f_languages(locale)}* {names}"
    return text


def _needs_values(project: Project) -> dict[str, Any]:
    return {
        "required_skills": list(project.required_skills),
        "optional_skills": list(project.optional_skills),
        "team_min": project.team_min,
        "team_max": project.team_max,
        "hours_per_week": project.hours_per_week,
        "mode": project.mode,
        "languages": list(project.languages),
    }


def _changes(old: dict[str, Any], new: dict[str, Any], locale: str) -> list[str]:
    """What changed, as "必要スキル: A → B" lines in the reader's language."""

    def skills(keys: list[str]) -> str:
        return join_list([label(SKILLS, s, locale) for s in keys], locale) or "-"

    out = []
    for key, name in (
        ("required_skills", TXT.f_required),
        ("optional_skills", TXT.f_optional),
    ):
        if sorted(old[key]) != sorted(new[key]):
            out.append(f"{name(locale)}: {skills(old[key])} → {skills(new[key])}")
    if (old["team_min"], old["team_max"]) != (new["team_min"], new["team_max"]):
        out.append(
            f"{TXT.f_team(locale)}: {old['team_min']}〜{old['team_max']}"
            f" → {new['team_min']}〜{new['team_max']}"
        )
    if old["hours_per_week"] != new["hours_per_week"]:
        out.append(f"{TXT.f_hours(locale)}: {old['hours_per_week']} → {new['hours_per_week']}")
    if sorted(old["languages"]) != sorted(new["languages"]):
        names = [
            join_list([label(LANGUAGES, k, locale) for k in old["languages"]], locale) or "-",
            join_list([label(LANGUAGES, k, locale) for k in new["languages"]], locale) or "-",
        ]
        out.append(f"{TXT.f_languages(locale)}: {names[0]} → {names[1]}")
    if old["mode"] != new["mode"]:
        out.append(
            f"{TXT.f_mode(locale)}: {label(MODES, old['mode'], locale)}"
            f" → {label(MODES, new['mode'], locale)}"
        )
    return out


@dataclass
class ActionResult:
    """What happened, and the line to tell the person who acted.

    `said` writes that line in any language: a channel shows it in the language of the
    person who acted (only they read it); `message` is it in the service's language."""

    ok: bool
    message: str = ""
    said: Callable[[str], str] | None = None

    @classmethod
    def told(cls, ok: bool, said: Callable[[str], str], locale: str) -> ActionResult:
        """A result whose line each reader can read in their own language."""
        return cls(ok, said(locale), said)

    def text(self, locale: str) -> str:
        """The line for a reader of `locale`."""
        return self.said(locale) if self.said is not None else self.message


# What other services do when a project starts recruiting (join the running programme,
# announce it to volunteers) and after its needs were edited (withdraw suggestions that
# no longer fit); each runs in the transaction that made the change.
OnRecruiting = Callable[[AsyncSession, Project], Awaitable[object]]
OnNeedsChanged = Callable[[AsyncSession, Project, str, datetime], Awaitable[object]]


@dataclass
class ProjectHooks:
    """The services Coordination calls into, in the order they run.

    Coordination is built before the services that use it (matching, programmes), so the
    composition root hands it this object at construction and adds the hooks once the
    services exist (bot/services.py). Without hooks a decision only records itself.
    """

    recruiting: list[OnRecruiting] = field(default_factory=list)
    needs_changed: list[OnNeedsChanged] = field(default_factory=list)


class Coordination:
    """The coordinators' operations; the Slack handler calls these after checking who acts."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        *,
        locale: str,
        timezone: str,
        coordinator_channel: str,
        notify: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
        hooks: ProjectHooks | None = None,
    ) -> None:
        self._maker = maker
        self.locale = locale
        self.tz = ZoneInfo(timezone)
        self.channel = coordinator_channel
        self._notify = notify
        self._clock = clock
        self.hooks = hooks if hooks is not None else ProjectHooks()
        self._turns = Turns()

    def local(self, at: datetime | None) -> str:
        """A UTC time as the programme's local time."""
        if at is None:
            return "-"
        return at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")

    # ---------------------------------------------------------------- the card

    def card(self, project: Project, org: Organization) -> Card:
        """The coordinators' card for a request, with buttons while it awaits a decision."""
        loc = self.locale
        fields = (
            (TXT.f_kind(loc), label(ORG_KINDS, org.kind, loc)),
            (TXT.f_area(loc), plain(org.area)),
            (TXT.f_fields(loc), join_list([label(INTERESTS, k, loc) for k in org.fields], loc)),
            (
                TXT.f_menus(loc),
                join_list([label(MENUS, k, loc) for k in project.menus], loc)
                + (f"（{plain(project.menu_other)}）" if project.menu_other else ""),
            ),
            (TXT.f_period(loc), label(PERIODS, project.period, loc)),
            (TXT.f_mode(loc), label(MODES, project.mode, loc)),
            (TXT.f_status(loc), coordinator_label(project.status, loc)),
        )
        sections = [TXT.challenge(loc, text=plain(project.challenge))]
        sections.append(TXT.activity(loc, text=plain(org.activity)))
        if org.needs_people or org.needs_things or org.needs_money:
            sections.append(
                TXT.needs(
                    loc,
                    p=plain(org.needs_people or "-"),
                    t=plain(org.needs_things or "-"),
                    m=plain(org.needs_money or "-"),
                )
            )
        sections.append(needs_text(project, loc))
        value = f"{project.id}:{project.version}"
        buttons: tuple[Button, ...] = ()
        edit = Button(TXT.edit_needs(loc), EDIT_NEEDS, value)
        if project.status == "submitted":
            context = TXT.ctx_submitted(loc, id=project.id, at=self.local(project.created_at))
            buttons = (
                Button(TXT.accept(loc), ACCEPT, value, "primary"),
                Button(TXT.ask(loc), ASK, value),
                Button(TXT.decline(loc), DECLINE, value, "danger"),
                edit,
            )
        elif project.status == "declined":
            context = TXT.ctx_declined(
                loc,
                who=_mention(project.decided_by),
                at=self.local(project.decided_at),
                reason=plain(project.decline_reason or "-"),
            )
        else:
            context = TXT.ctx_accepted(
                loc, who=_mention(project.decided_by), at=self.local(project.decided_at)
            )
            if project.status == "recruiting":
                buttons = (
                    Button(TXT.suggest(loc), "project_suggest", str(project.id), "primary"),
                    edit,
                )
        title = TXT.card_title(loc, org=org.name)  # a plain_text header: no markup
        return Card(
            title=title,
            fallback=f"{title}: {summary_of(project.challenge, 80)}",
            fields=fields,
            sections=tuple(sections),
            buttons=buttons,
            context=context,
        )

    async def post_new_card(
        self, session: AsyncSession, project: Project, org: Organization
    ) -> None:
        """Queue the card of a just-submitted request for the coordinator channel."""
        if not self.channel:
            return
        await outbox.enqueue(
            session,
            channel="slack",
            kind="post",
            target=self.channel,
            payload={"card": self.card(project, org).to_dict()},
            key=outbox.key_for("project-card", project.id),
            ref_type="project_card",
            ref_id=project.id,
        )

    async def card_for(self, project_id: int) -> Card | None:
        """The current card of a project (for `/tsunagu project ID`)."""
        async with self._maker() as session:
            project = await repo.get_project(session, project_id)
            if project is None:
                return None
            return self.card(project, project.organization)

    # ---------------------------------------------------------------- decisions

    async def accept(self, project_id: int, actor: str) -> ActionResult:
        """Accept a request: it starts recruiting and the group hears so in LINE."""
        return await self._decide(project_id, actor, "recruiting", None)

    async def decline(self, project_id: int, actor: str, reason: str) -> ActionResult:
        """Decline a request with a reason the group reads."""
        return await self._decide(project_id, actor, "declined", reason.strip() or "-")

    async def _decide(
        self, project_id: int, actor: str, to_status: str, reason: str | None
    ) -> ActionResult:
        # Clicks on one request in this process take turns on an asyncio lock, holding no
        # database connection while they wait; across processes the row is taken with
        # NOWAIT, and a click that finds it taken lets its connection go and looks again
        # shortly. Every wait ends within DECIDE_WAIT_S with the decision, "already
        # decided" or "being decided right now" (issue #16: 100 clicks emptied the pool).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DECIDE_WAIT_S
        async with self._turns.turn(project_id, DECIDE_WAIT_S) as mine:
            if not mine:
                return ActionResult.told(
                    False, lambda loc: TXT.busy(loc, id=project_id), self.locale
                )
            pause = 0.02
            while True:
                try:
                    return await self._decide_once(project_id, actor, to_status, reason)
                except repo.RowBusy:
                    left = deadline - loop.time()
                    if left <= 0:
                        log.info(
                            "coordination: project %d busy; click answered as busy", project_id
                        )
                        return ActionResult.told(
                            False, lambda loc: TXT.busy(loc, id=project_id), self.locale
                        )
                    await asyncio.sleep(min(pause, left))
                    pause = min(pause * 2, 0.2)

    async def _decide_once(
        self, project_id: int, actor: str, to_status: str, reason: str | None
    ) -> ActionResult:
        now = self._clock()
        async with self._maker.begin() as session:
            await repo.lock_project_nowait(session, project_id)
            # Whatever else the winner touches (the group, volunteers it announces to) is
            # waited for at most this long; the transaction then fails instead of hanging.
            await repo.bound_lock_waits(session, DECIDE_WAIT_S)
            moved = await transition(
                session,
                project_id,
                "accept" if to_status == "recruiting" else "decline",
                role=Role.COORDINATOR,
                actor=actor,
                now=now,
                values={"decided_by": actor, "decided_at": now, "decline_reason": reason},
                detail={"reason": reason} if reason else {},
            )
            project = await repo.get_project(session, project_id)
            if project is None:
                return ActionResult.told(
                    False, lambda loc: TXT.not_found(loc, id=project_id), self.locale
                )
            if not moved.ok:
                return ActionResult.told(False, partial(self._already, project), self.locale)
            org = project.organization
            summary = summary_of(project.challenge)
            if to_status == "recruiting":
                text = TXT.g_accepted(org.locale, summary=summary)
            else:
                text = TXT.g_declined(org.locale, summary=summary, reason=reason or "-")
            await self._push_group(session, org, [Reply(text)], ("decision", project.id))
            await self._update_card(session, project, org)
            if to_status == "recruiting":
                for on_recruiting in self.hooks.recruiting:
                    await on_recruiting(session, project)
        self._notify()
        return ActionResult(True)

    def _already(self, project: Project, loc: str) -> str:
        if project.status == "submitted":
            return TXT.not_open(loc, id=project.id)
        # Declined, or accepted (whatever state the project has reached since).
        what = TXT.what_declined if project.status == "declined" else TXT.what_recruiting
        return TXT.already(
            loc,
            who=_mention(project.decided_by),
            what=what(loc),
            at=self.local(project.decided_at),
        )

    async def record_refusal(self, actor: str, kind: str, what: str) -> None:
        """Audit an action, modal or command refused to someone who is not a coordinator."""
        async with self._maker.begin() as session:
            await repo.audit(
                session,
                actor=actor,
                action="refused",
                subject_type=kind[:24],
                subject_id=None,
                detail={"what": what},
            )

    async def can_ask(self, project_id: int) -> ActionResult:
        """Whether a question can still be asked (before opening the modal)."""
        async with self._maker() as session:
            project = await repo.get_project(session, project_id)
            if project is None:
                return ActionResult.told(
                    False, lambda loc: TXT.not_found(loc, id=project_id), self.locale
                )
            if project.status != "submitted":
                return ActionResult.told(False, partial(self._already, project), self.locale)
            return ActionResult(True)

    async def ask(self, project_id: int, actor: str, question: str) -> ActionResult:
        """Send a coordinator's question to the group in LINE; note it in the card's thread."""
        now = self._clock()
        async with self._maker.begin() as session:
            project = await repo.get_project(session, project_id)
            if project is None:
                return ActionResult.told(
                    False, lambda loc: TXT.not_found(loc, id=project_id), self.locale
                )
            if project.status != "submitted":
                return ActionResult.told(False, partial(self._already, project), self.locale)
            row = await repo.add_question(session, project.id, actor, question.strip(), now)
            org = project.organization
            await repo.audit(
                session,
                actor=actor,
                action="ask",
                subject_type="project",
                subject_id=project.id,
                detail={"question_id": row.id},
                at=now,
            )
            text = TXT.g_question(org.locale, summary=summary_of(project.challenge), q=row.question)
            answer = TXT.g_answer_button(org.locale)
            await self._push_group(
                session,
                org,
                [Reply(text, (Choice(answer, postback.Question(row.id).pack(), answer),))],
                ("question", row.id),
            )
            await self._thread(
                session,
                project,
                TXT.asked_thread(self.locale, who=_mention(actor), q=plain(row.question)),
                ("question-thread", row.id),
            )
        self._notify()
        return ActionResult(True)

    async def record_answer(self, session: AsyncSession, question_id: int, answer: str) -> bool:
        """Store a group's answer and post it in the card's thread (caller's transaction)."""
        row = await repo.answer_question(session, question_id, answer, self._clock())
        if row is None:
            return False
        project = await repo.get_project(session, row.project_id)
        if project is None:
            return False
        await self._thread(
            session,
            project,
            TXT.answer_thread(self.locale, a=plain(answer)),
            ("answer", question_id),
        )
        return True

    async def reply_in_thread(self, channel: str, ts: str, text: str, *, key: str) -> None:
        """Answer in a Slack thread (e.g. help when mentioned), through the outbox."""
        if not channel or not ts:
            return
        async with self._maker.begin() as session:
            await outbox.enqueue(
                session,
                channel="slack",
                kind="thread",
                target=channel,
                payload={"text": text, "thread_ts": ts},
                key=outbox.key_for("thread-reply", key or ts),
            )
        self._notify()

    # ---------------------------------------------------------------- needs

    async def needs_form(self, project_id: int) -> NeedsForm | ActionResult:
        """The current needs of a project to edit, or why they cannot be edited now."""
        async with self._maker() as session:
            project = await repo.get_project(session, project_id)
            if project is None:
                return ActionResult.told(
                    False, lambda loc: TXT.not_found(loc, id=project_id), self.locale
                )
            if project.status not in EDITABLE:
                return ActionResult.told(False, partial(self._not_editable, project), self.locale)
            return NeedsForm(
                project_id=project.id,
                version=project.version,
                required=tuple(project.required_skills),
                optional=tuple(project.optional_skills),
                team_min=project.team_min,
                team_max=project.team_max,
                hours_per_week=project.hours_per_week,
                mode=project.mode,
                languages=tuple(project.languages),
            )

    def _not_editable(self, project: Project, loc: str) -> str:
        shown = coordinator_label(project.status, loc)
        return TXT.not_editable(loc, id=project.id, status=shown)

    async def edit_needs(self, form: NeedsForm, actor: str) -> ActionResult:
        """Save a coordinator's needs for a project (if nobody changed it meanwhile):
        audit, a note in the card's thread, the cards updated, suggestions recomputed."""
        loc = self.locale
        if check_needs(form, loc):
            return ActionResult.told(False, TXT.e_unknown, loc)
        now = self._clock()
        async with self._maker.begin() as session:
            project = await repo.get_project(session, form.project_id)
            if project is None:
                return ActionResult.told(
                    False, lambda lc: TXT.not_found(lc, id=form.project_id), loc
                )
            old = _needs_values(project)
            new = {
                "required_skills": list(form.required),
                "optional_skills": list(form.optional),
                "team_min": form.team_min,
                "team_max": form.team_max,
                "hours_per_week": form.hours_per_week,
                "mode": form.mode,
                "languages": list(form.languages),
            }
            won = await matching_repo.update_project_needs(
                session,
                form.project_id,
                version=form.version,
                statuses=EDITABLE,
                values=new,
                now=now,
            )
            if not won:
                if project.status not in EDITABLE:
                    return ActionResult.told(
                        False, partial(self._not_editable, project), self.locale
                    )
                last = await matching_repo.last_audit(session, "project", project.id)
                who = _mention(last.actor if last else None)
                at = self.local(last.at if last else project.updated_at)
                pid = project.id
                return ActionResult.told(
                    False, lambda lc: TXT.edit_conflict(lc, id=pid, who=who, at=at), loc
                )
            project = await repo.get_project(session, form.project_id)
            assert project is not None
            changed = _changes(old, new, loc)
            await repo.audit(
                session,
                actor=actor,
                action="edit_needs",
                subject_type="project",
                subject_id=project.id,
                detail={"from": old, "to": new},
                at=now,
            )
            text = (
                TXT.edited_thread(loc, who=_mention(actor), what=" / ".join(changed))
                if changed
                else TXT.unchanged_thread(loc, who=_mention(actor))
            )
            await self._thread(session, project, text, ("needs", project.id, project.version))
            org = project.organization
            await self._update_card(session, project, org)
            for on_needs_changed in self.hooks.needs_changed:
                await on_needs_changed(session, project, actor, now)
        self._notify()
        return ActionResult(True)

    # ---------------------------------------------------------------- lists

    async def projects_text(self) -> str:
        """`/tsunagu projects`: recent requests with status and age."""
        loc = self.locale
        now = self._clock()
        async with self._maker() as session:
            rows = await repo.list_projects(session)
        if not rows:
            return T("相談はまだありません。", "No requests yet.")(loc)
        lines = [T("*相談一覧*（新しい順）", "*Requests* (newest first)")(loc)]
        for p in rows:
            days = max(0, (now - p.created_at).days)
            age = T("{d}日前", "{d} days ago")(loc, d=days)
            lines.append(
                f"#{p.id} {plain(p.organization.name)} — "
                f"{coordinator_label(p.status, loc)}"
                f" — {plain(summary_of(p.challenge, 40))} ({age})"
            )
        return "\n".join(lines)

    async def volunteers_text(self) -> str:
        """`/tsunagu volunteers`: counts by status, skill and area."""
        loc = self.locale
        async with self._maker() as session:
            counts = await repo.volunteer_counts(session)
        status_names = {
            "active": T("受付中", "active"),
            "paused": T("休止中", "paused"),
            "inactive": T("ブロック/退会", "inactive"),
        }
        total = sum(counts["status"].values())
        lines = [T("*ボランティア* 合計 {n}人", "*Volunteers* {n} in all")(loc, n=total)]
        lines.append(
            " / ".join(
                f"{status_names.get(s, T(s, s))(loc)}: {n}"
                for s, n in sorted(counts["status"].items())
            )
            or "-"
        )
        top_skills = sorted(counts["skill"].items(), key=lambda kv: (-kv[1], kv[0]))[:15]
        lines.append(T("*スキル別（受付中）*", "*By skill (active)*")(loc))
        lines.append(join_list([f"{label(SKILLS, k, loc)} {n}" for k, n in top_skills], loc) or "-")
        top_areas = sorted(counts["area"].items(), key=lambda kv: (-kv[1], kv[0]))[:15]
        lines.append(T("*地域別（受付中）*", "*By area (active)*")(loc))
        lines.append(join_list([f"{plain(a)} {n}" for a, n in top_areas], loc) or "-")
        return "\n".join(lines)

    async def outbox_text(self) -> str:
        """`/tsunagu outbox`: delivery backlog and the messages that could not be sent."""
        loc = self.locale
        async with self._maker() as session:
            counts = await repo.outbox_counts(session)
            dead = await repo.dead_letters(session)
        lines = [
            T(
                "*配信状況* 送信待ち {p} / 送信中 {s} / 送信済み {d} / 失敗 {x}",
                "*Delivery* waiting {p} / sending {s} / sent {d} / failed {x}",
            )(
                loc,
                p=counts.get("pending", 0),
                s=counts.get("sending", 0),
                d=counts.get("sent", 0),
                x=counts.get("dead", 0),
            )
        ]
        for row in dead:
            lines.append(
                f"• #{row.id} {row.channel} {row.kind} ({self.local(row.created_at)}): "
                f"{row.last_error or '-'}"
            )
        return "\n".join(lines)

    # ---------------------------------------------------------------- helpers

    async def _push_group(
        self,
        session: AsyncSession,
        org: Organization,
        replies: list[Reply],
        why: tuple[object, ...],
    ) -> None:
        if org.user_key.startswith("deleted:"):
            return  # the contact deleted their data: nobody to tell in LINE
        await outbox.enqueue(
            session,
            channel=org.channel,
            kind="push",
            target=org.user_key,
            # The answer to the group's own request (accepted, a question, declined):
            # never held back for the LINE message budget.
            payload=outbox.replies_payload(replies, urgent=True),
            key=outbox.key_for("group-push", *why),
        )

    async def _update_card(
        self, session: AsyncSession, project: Project, org: Organization
    ) -> None:
        if not self.channel:
            return
        await outbox.enqueue(
            session,
            channel="slack",
            kind="update",
            target=self.channel,
            payload={"card": self.card(project, org).to_dict()},
            key=outbox.key_for("card-update", project.id, project.version),
            ref_type="project_card",
            ref_id=project.id,
        )

    async def note(
        self, session: AsyncSession, project: Project, text: str, why: tuple[object, ...]
    ) -> None:
        """Post a line in the project card's thread (caller's transaction)."""
        await self._thread(session, project, text, why)

    async def _thread(
        self, session: AsyncSession, project: Project, text: str, why: tuple[object, ...]
    ) -> None:
        if not self.channel:
            return
        await outbox.enqueue(
            session,
            channel="slack",
            kind="thread",
            target=self.channel,
            payload={"text": text},
            key=outbox.key_for("thread", *why),
            ref_type="project_card",
            ref_id=project.id,
        )


def _mention(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else "-"


Authorizer = Callable[[str], Awaitable[bool]]
