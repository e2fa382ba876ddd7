"""The work and the end of a project in LINE (issue #13, life-work): the dialogue's part
for delivery answers, the group completing or withdrawing, feedback, logging hours and a
volunteer's capacity.

Like the rest of the dialogue it decides and never writes: it returns replies, effects
(applied by `bot.lifecycle.work.Work.apply` in the inbox's transaction) and where the
conversation goes next. Every button is checked against what is stored now (whose
project, which state): a second tap, an old card or someone else's button gets a polite
answer and the conversation stays where it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from bot import postback
from bot.conversation import engine
from bot.conversation.flow import Flow
from bot.conversation.model import Choice, Reply
from bot.flows.side import MISSING_FLOW
from bot.flows.work import FEEDBACK_FLOW, HOURS_FLOW, PROJECT
from bot.i18n import T, Texts
from bot.rules.states import TEAM_STATES

MAX_CAPACITY = 3
# A group may withdraw a request until it is completed (the state table's `withdraw`).
WITHDRAWABLE = ("submitted", "recruiting", "team_proposed", "team_formed", "agreed", "delivered")

# ---------------------------------------------------------------- effects


@dataclass(frozen=True)
class ConfirmDelivery:
    """The group received the delivery."""

    project_id: int


@dataclass(frozen=True)
class DeliveryMissing:
    """The group says what is missing from the delivery (words to the team channel)."""

    project_id: int
    text: str


@dataclass(frozen=True)
class CompleteByGroup:
    """The group completes its project after the delivery."""

    project_id: int


@dataclass(frozen=True)
class SaveFeedback:
    """Feedback on a completed project (score, words, may we publish)."""

    project_id: int
    answers: dict[str, Any]


@dataclass(frozen=True)
class LogHours:
    """A member's hours, day and note from the LINE flow."""

    project_id: int
    answers: dict[str, Any]


@dataclass(frozen=True)
class WithdrawRequest:
    """The group withdraws a request."""

    project_id: int


@dataclass(frozen=True)
class SetCapacity:
    """A volunteer's number of projects at a time (1-3)."""

    projects: int


WorkEffect = (
    ConfirmDelivery
    | DeliveryMissing
    | CompleteByGroup
    | SaveFeedback
    | LogHours
    | WithdrawRequest
    | SetCapacity
)
WORK_EFFECTS = (
    ConfirmDelivery,
    DeliveryMissing,
    CompleteByGroup,
    SaveFeedback,
    LogHours,
    WithdrawRequest,
    SetCapacity,
)


# ---------------------------------------------------------------- what it reads


@dataclass(frozen=True)
class WorkStatus:
    """This person's relation to a project: its group's contact or a team member."""

    project_id: int
    role: str  # group | member
    status: str
    org_name: str
    delivery_open: bool = False  # a delivery waits for the group's confirmation


class WorkLookups(Protocol):
    """Read access this part needs (bot.effects.SessionLookups implements it)."""

    async def work(self, project_id: int) -> WorkStatus | None: ...

    async def work_projects(self) -> list[tuple[int, str]]: ...

    async def capacity(self) -> int | None: ...


class _Texts(Texts):
    """What this part says, in Japanese and English."""

    not_yours = T(
        "このボタンはいまは使えません（ほかの方宛て、または終わったご案内です）。",
        "This button cannot be used now (it is someone else's, or that step is over).",
    )
    delivery_ok = T(
        "受け取りの確認をありがとうございます。チームと事務局に伝えました。\n"
        "これでプロジェクトを完了にしてよければ「完了にする」を押してください。",
        "Thank you for confirming; the team and the office know.\n"
        "If the project is done, tap “Complete”.",
    )
    delivery_closed = T(
        "この納品はすでに確認済みか、いまは確認できる状態ではありません。",
        "This delivery is already confirmed, or cannot be confirmed now.",
    )
    complete_label = T("完了にする", "Complete")
    delivery_received = T("受け取りを確認", "Received it")
    delivery_missing = T("足りない点を伝える", "Something's missing")
    missing_sent = T(
        "チームに伝えました。修正版が届いたら、またこのLINEでお知らせします。",
        "We've told the team. You'll hear here when a new version is delivered.",
    )
    completed = T(
        "プロジェクトを完了にしました。本当にありがとうございました！",
        "The project is complete. Thank you so much!",
    )
    feedback_closed = T(
        "このアンケートはいまは回答できません（プロジェクトが完了していません）。",
        "This feedback cannot be given now (the project is not complete).",
    )
    feedback_thanks = T(
        "ご回答ありがとうございました！今後のプログラムに活かします。",
        "Thank you for your feedback! It will shape the next programme.",
    )
    feedback_label = T("アンケートに答える", "Give feedback")
    hours_none = T(
        "いま記録できるプロジェクトはありません（チームが結成され、終了していないものだけです）。",
        "There is no project to log hours on now (only ones whose team formed and that "
        "have not ended).",
    )
    hours_which = T("どのプロジェクトの記録ですか？", "Which project are these hours for?")
    hours_closed = T(
        "このプロジェクトにはいま時間を記録できません。",
        "Hours cannot be logged on this project now.",
    )
    hours_ok = T(
        "{hours}時間（{day}）を記録しました。おつかれさまでした！",
        "Logged {hours} h on {day}. Thank you for your work!",
    )
    withdraw_label = T("#{id} を取り下げ", "Withdraw #{id}")
    withdraw_hint = T(
        "ご相談を取り下げる場合は、下のボタンから選べます。",
        "To withdraw a request, use the buttons below.",
    )
    withdraw_confirm = T(
        "ご相談 #{id} を取り下げます。チームと事務局にお知らせし、元には戻せません。"
        "よろしいですか？",
        "This withdraws request #{id}. The team and the office will be told, and it cannot "
        "be undone. Withdraw?",
    )
    withdraw_yes = T("取り下げる", "Withdraw")
    withdraw_no = T("取り下げない", "Keep it")
    withdrawn = T(
        "ご相談 #{id} を取り下げました。ご連絡ありがとうございました。",
        "Request #{id} is withdrawn. Thank you for letting us know.",
    )
    withdraw_kept = T("取り下げはしませんでした。", "Nothing was withdrawn.")
    withdraw_closed = T(
        "このご相談はいまは取り下げできません（すでに終了しています）。",
        "This request can no longer be withdrawn (it has ended).",
    )
    capacity_now = T(
        "同時に参加できるプロジェクト数: いま {n} 件です。変えるなら選んでください（1〜3）。",
        "Projects at a time: {n} now. Pick a new number if you like (1 to 3).",
    )
    capacity_set = T(
        "同時に参加できるプロジェクト数を {n} 件にしました。",
        "You can now be on {n} project(s) at a time.",
    )
    capacity_label = T("{n}件", "{n} at a time")
    not_registered = T(
        "まだボランティア登録がありません。「登録」と送ると始められます。",
        "You have not signed up yet. Send “sign up” to start.",
    )


TXT = _Texts


E = TypeVar("E")  # the effects a part of the dialogue decides


@dataclass
class PartStep(Generic[E]):
    """What the dialogue does next: replies, effects, where the conversation goes (the
    dialogue's parts answer with it: this one, and the case catalogue's)."""

    replies: list[Reply] = field(default_factory=list)
    effects: list[E] = field(default_factory=list)
    flow: engine.Outcome | None = None  # a flow this started
    # A side flow to start over whatever runs, with its parameters (#12).
    side: tuple[Flow, dict[str, Any]] | None = None
    # Follow with where the person was (their flow's question or the menu).
    reprompt: bool = True


# This part's steps.
Step = PartStep[WorkEffect]


def _button(text: str, pb: postback.Postback) -> Choice:
    return Choice(text[:20], pb.pack(), text)


# ---------------------------------------------------------------- buttons


async def on_postback(pb: postback.Work, loc: str, load: WorkLookups) -> Step:
    """Answer one of this part's buttons."""
    if isinstance(pb, postback.Capacity):
        return await _capacity(pb.projects, loc, load)
    w = await load.work(pb.project_id)
    if isinstance(pb, postback.DeliveryAnswer):
        if w is None or w.role != "group":
            return Step([Reply(TXT.not_yours(loc))])
        if w.status != "delivered" or not w.delivery_open:
            return Step([Reply(TXT.delivery_closed(loc))])
        if pb.answer == "missing":
            return Step(side=(MISSING_FLOW, {PROJECT: w.project_id}))
        finish = _button(TXT.complete_label(loc), postback.Finish(w.project_id))
        return Step(
            [Reply(TXT.delivery_ok(loc), (finish,))],
            [ConfirmDelivery(w.project_id)],
            reprompt=False,
        )
    if isinstance(pb, postback.Finish):
        if w is None or w.role != "group":
            return Step([Reply(TXT.not_yours(loc))])
        if w.status != "delivered":
            return Step([Reply(TXT.delivery_closed(loc))])
        return Step([Reply(TXT.completed(loc))], [CompleteByGroup(w.project_id)], reprompt=False)
    if isinstance(pb, postback.FeedbackStart):
        if w is None:
            return Step([Reply(TXT.not_yours(loc))])
        if w.status != "completed":
            return Step([Reply(TXT.feedback_closed(loc))])
        return Step(flow=engine.start(FEEDBACK_FLOW, loc, {PROJECT: w.project_id}))
    if isinstance(pb, postback.HoursFor):
        if w is None or w.role != "member":
            return Step([Reply(TXT.not_yours(loc))])
        if w.status not in TEAM_STATES:
            return Step([Reply(TXT.hours_closed(loc))])
        return Step(flow=engine.start(HOURS_FLOW, loc, {PROJECT: w.project_id}))
    # Withdraw: asked first, then confirmed.
    if w is None or w.role != "group":
        return Step([Reply(TXT.not_yours(loc))])
    if w.status not in WITHDRAWABLE:
        return Step([Reply(TXT.withdraw_closed(loc))])
    if pb.answer == "ask":
        yes = _button(TXT.withdraw_yes(loc), postback.Withdraw(w.project_id, "yes"))
        no = _button(TXT.withdraw_no(loc), postback.Withdraw(w.project_id, "no"))
        text = TXT.withdraw_confirm(loc, id=w.project_id)
        return Step([Reply(text, (yes, no))], reprompt=False)
    if pb.answer == "no":
        return Step([Reply(TXT.withdraw_kept(loc))])
    return Step([Reply(TXT.withdrawn(loc, id=w.project_id))], [WithdrawRequest(w.project_id)])


async def _capacity(n: int, loc: str, load: WorkLookups) -> Step:
    current = await load.capacity()
    if current is None:
        return Step([Reply(TXT.not_registered(loc))])
    if not 1 <= n <= MAX_CAPACITY:
        return capacity_question(current, loc)
    return Step([Reply(TXT.capacity_set(loc, n=n))], [SetCapacity(n)])


def capacity_question(current: int, loc: str) -> Step:
    """How many projects at a time, with a button for each choice."""
    choices = tuple(
        _button(TXT.capacity_label(loc, n=n), postback.Capacity(n))
        for n in range(1, MAX_CAPACITY + 1)
    )
    return Step([Reply(TXT.capacity_now(loc, n=current), choices)], reprompt=False)


# ---------------------------------------------------------------- menu words


async def on_menu(command: str, loc: str, load: WorkLookups) -> Step:
    """`hours` (稼働記録) and `capacity` (同時参加数) from the menu or typed."""
    if command == "capacity":
        current = await load.capacity()
        if current is None:
            return Step([Reply(TXT.not_registered(loc))])
        return capacity_question(current, loc)
    projects = await load.work_projects()
    if not projects:
        return Step([Reply(TXT.hours_none(loc))])
    if len(projects) == 1:
        return Step(flow=engine.start(HOURS_FLOW, loc, {PROJECT: projects[0][0]}))
    choices = tuple(
        _button(f"#{pid} {name}", postback.HoursFor(pid)) for pid, name in projects[:12]
    )
    return Step([Reply(TXT.hours_which(loc), choices)], reprompt=False)


def withdraw_reply(requests: tuple[tuple[int, str, str], ...], loc: str) -> Reply | None:
    """Under 相談状況: a withdraw button for each request that may still be withdrawn."""
    choices = tuple(
        _button(TXT.withdraw_label(loc, id=pid), postback.Withdraw(pid, "ask"))
        for pid, _, status in requests
        if status in WITHDRAWABLE
    )
    return Reply(TXT.withdraw_hint(loc), choices[:12]) if choices else None


# ---------------------------------------------------------------- typed answers


def on_completed(flow_id: str, answers: dict[str, Any], loc: str) -> Step | None:
    """A work flow's answers: hours logged, or feedback saved (None: not ours)."""
    project_id = int(answers.get(PROJECT) or 0)
    if flow_id == HOURS_FLOW.id:
        text = TXT.hours_ok(loc, hours=answers["hours"], day=answers["day"])
        return Step([Reply(text)], [LogHours(project_id, dict(answers))])
    if flow_id == FEEDBACK_FLOW.id:
        return Step([Reply(TXT.feedback_thanks(loc))], [SaveFeedback(project_id, dict(answers))])
    return None


def feedback_button(project_id: int, loc: str) -> Choice:
    """The button under the thanks message that starts the feedback questions."""
    return _button(TXT.feedback_label(loc), postback.FeedbackStart(project_id))


def delivery_buttons(project_id: int, loc: str) -> tuple[Choice, ...]:
    """The buttons under the delivery card: received, or something is missing."""
    return (
        _button(TXT.delivery_received(loc), postback.DeliveryAnswer(project_id, "ok")),
        _button(TXT.delivery_missing(loc), postback.DeliveryAnswer(project_id, "missing")),
    )
