"""The conversation router: menus, language, help, and which flow an input goes to.

`handle` decides and returns what should happen (new state, replies, effects); it
reads the person's profile through a loader but never writes: the caller applies
the effects in the same transaction as the state, so a failure changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from bot import cases_chat, postback, work_chat
from bot.conversation import engine
from bot.conversation.engine import FlowState
from bot.conversation.flow import Flow
from bot.conversation.model import Choice, Panel, PostbackIn, Reply, TextIn, UserInput
from bot.events import Event
from bot.flows import FLOWS, side
from bot.flows.volunteer import VOLUNTEER_FLOW
from bot.i18n import T, Texts, fold
from bot.rules.states import group_label
from bot.work_chat import WorkEffect, WorkLookups

# ---------------------------------------------------------------- effects


@dataclass(frozen=True)
class SaveVolunteer:
    """Create or update the volunteer profile from the sign-up answers."""

    answers: dict[str, Any]


@dataclass(frozen=True)
class SetVolunteerStatus:
    """Set active / paused / inactive."""

    status: str


@dataclass(frozen=True)
class DeleteUserData:
    """Remove everything we hold about the person."""


@dataclass(frozen=True)
class SubmitRequest:
    """Save a group's request (and the group itself, the first time)."""

    answers: dict[str, Any]


@dataclass(frozen=True)
class AnswerQuestion:
    """A group answers a coordinator's question."""

    question_id: int
    text: str


@dataclass(frozen=True)
class RaiseHand:
    """A volunteer says they are interested in a recruiting project (立候補)."""

    project_id: int


@dataclass(frozen=True)
class AnswerInvitation:
    """A volunteer accepts or declines an invitation to a project team."""

    match_id: int
    accept: bool
    reason: str | None = None


@dataclass(frozen=True)
class ConfirmTeam:
    """A group agrees to the team proposed for its project."""

    project_id: int


# life-group (#13): the group's other answers to its team, and to a kickoff agreement.
@dataclass(frozen=True)
class RejectTeam:
    """A group declines the team proposed for its project, or asks for a change in words."""

    project_id: int
    change: str | None = None


@dataclass(frozen=True)
class AnswerAgreement:
    """A group confirms a kickoff agreement version, or asks for changes in words."""

    agreement_id: int
    confirm: bool
    comment: str | None = None


@dataclass(frozen=True)
class SetContactSharing:
    """Someone's answer to "may we share your contact details?" (asked once)."""

    share: bool
    contact: str | None = None


@dataclass(frozen=True)
class AnswerRsvp:
    """Someone answers a briefing-session (説明会) invitation."""

    phase_id: int
    answer: str  # yes | no


@dataclass(frozen=True)
class SetCohortOptOut:
    """The person (volunteer and/or group contact) opts out of, or back into, invitations
    to future cohorts (life-cohort, #13)."""

    opt_out: bool


@dataclass(frozen=True)
class RequestSlackCode:
    """A volunteer asks for a one-time code to link their Slack account (sent by push)."""


@dataclass(frozen=True)
class SetLanguage:
    """The person chose a language: their profile (volunteer and group contact) keeps it,
    so pushes, flex altTexts and their rich menu follow, not only this conversation."""

    locale: str


Effect = (
    SaveVolunteer
    | SetVolunteerStatus
    | DeleteUserData
    | SubmitRequest
    | AnswerQuestion
    | RaiseHand
    | AnswerInvitation
    | ConfirmTeam
    | AnswerRsvp
    | RequestSlackCode
    | SetCohortOptOut
    | RejectTeam
    | AnswerAgreement
    | SetContactSharing
    # life-work (#13): delivery, completion, feedback, hours, withdraw, capacity
    | WorkEffect
    | SetLanguage
    | cases_chat.CaseEffect  # the case catalogue (#14)
)


@dataclass(frozen=True)
class Profile:
    """What the router needs to know of a saved volunteer."""

    answers: dict[str, Any]
    status: str


@dataclass(frozen=True)
class GroupInfo:
    """What the router needs to know of a group whose contact this person is."""

    name: str
    # (project id, short challenge, status) newest first
    requests: tuple[tuple[int, str, str], ...] = ()
    # The newest unanswered coordinator question: (id, text).
    open_question: tuple[int, str] | None = None


@dataclass(frozen=True)
class Known:
    """Everything stored about the person that the router may need."""

    volunteer: Profile | None = None
    group: GroupInfo | None = None
    # Opted out of invitations to future cohorts (life-cohort, #13).
    cohort_opt_out: bool = False


@dataclass(frozen=True)
class OpenProject:
    """A recruiting project as a volunteer sees it in "open projects"."""

    project_id: int
    org_name: str
    summary: str
    reasons: tuple[str, ...] = ()
    raised: bool = False


@dataclass(frozen=True)
class Invitation:
    """Where an invitation to this person stands."""

    match_id: int
    project_id: int
    state: str  # invited | accepted | declined | expired | ...
    org_name: str


@dataclass(frozen=True)
class TeamStatus:
    """A project of this person's group, as far as confirming its team goes."""

    project_id: int
    status: str  # recruiting | team_proposed | team_formed | ...


@dataclass(frozen=True)
class AgreementStatus:
    """A kickoff agreement version as the group answering it sees it."""

    agreement_id: int
    version: int
    open: bool  # proposed and still the newest version


@dataclass(frozen=True)
class PhaseStatus:
    """A programme phase as an RSVP needs it: its title and time in each language."""

    phase_id: int
    title: dict[str, str]
    when: dict[str, str]
    open: bool


class Lookups(WorkLookups, cases_chat.CaseLookups, Protocol):
    """Read access the dialogue needs; calling it returns what is known about the person."""

    async def __call__(self) -> Known: ...

    async def open_projects(self, locale: str, limit: int = 5) -> list[OpenProject]: ...

    async def invitation(self, match_id: int) -> Invitation | None: ...

    async def team(self, project_id: int) -> TeamStatus | None: ...

    async def phase(self, phase_id: int) -> PhaseStatus | None: ...

    async def agreement(self, agreement_id: int) -> AgreementStatus | None: ...


KnownLoader = Lookups


@dataclass
class Result:
    """The decision for one event."""

    state: dict[str, Any]
    locale: str
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    # True when the conversation itself is to be deleted (after 退会).
    forget: bool = False


# ---------------------------------------------------------------- words and texts


def _words(*words: str) -> frozenset[str]:
    return frozenset(fold(w) for w in words)


MENU_WORDS: dict[str, frozenset[str]] = {
    "profile": _words("プロフィール", "登録内容", "登録情報", "profile", "my profile", "my data"),
    "edit": _words("変更", "編集", "プロフィール変更", "登録内容の変更", "edit", "edit profile"),
    "pause": _words("休止", "一時停止", "お休み", "pause"),
    "resume": _words("再開", "休止解除", "resume", "unpause"),
    "delete": _words(
        "退会", "削除", "データ削除", "データを削除", "delete", "delete my data", "unsubscribe"
    ),
    "open": _words(
        "募集中",
        "募集中のプロジェクト",
        "プロジェクト",
        "案件",
        "open projects",
        "projects",
        "open",
    ),
    "requests": _words("相談状況", "依頼状況", "相談の状況", "my requests", "requests", "status"),
    "request": _words("新しい相談", "相談する", "新規相談", "new request", "ask for help"),
    "group": _words("団体", "団体として相談", "団体登録", "group", "register a group"),
    "signup": _words(
        "登録", "ボランティア登録", "はじめる", "始める", "sign up", "signup", "register", "start"
    ),
    "help": _words("ヘルプ", "使い方", "メニュー", "help", "menu", "?", "？"),
    "slack": _words("Slack連携", "Slackと連携", "スラック連携", "link slack", "slack link"),
    # life-work (#13)
    "hours": _words("稼働記録", "時間を記録", "活動記録", "log hours", "hours"),
    "capacity": _words("同時参加数", "参加数", "capacity", "projects at a time"),
}
# Asks which language: answered with both choices (buttons through the postback codec).
LANG_ASK_WORDS = _words("言語", "言語設定", "言語切替", "language")
# life-cohort (#13): invitations to future cohorts, turned off and on again in words.
COHORT_WORDS: dict[bool, frozenset[str]] = {
    True: _words(
        "次回不要",
        "次回の案内不要",
        "案内不要",
        "案内停止",
        "次回の案内を停止",
        "no more invitations",
        "stop invitations",
        "opt out",
    ),
    False: _words(
        "案内再開",
        "次回も案内",
        "次回の案内を再開",
        "invite me again",
        "resume invitations",
        "opt in",
    ),
}
LANG_WORDS = {
    "en": _words("english", "英語", "in english", "english please"),
    "ja": _words("日本語", "japanese", "にほんご", "nihongo"),
}
# Conversations stored before the side flows (#12) kept a string in `pending`: the flow
# each becomes when loaded, and the parameter its reference fills.
LEGACY_PENDING: dict[str, tuple[Flow, str | None]] = {
    "delete": (side.DELETE_FLOW, None),
    "answer": (side.ANSWER_FLOW, side.QUESTION),
    "decline": (side.DECLINE_FLOW, side.MATCH),
    "team-change": (side.TEAM_CHANGE_FLOW, side.PROJECT),
    "agr-change": (side.AGREEMENT_CHANGE_FLOW, side.AGREEMENT),
    "contact": (side.CONTACT_FLOW, None),
    "missing": (side.MISSING_FLOW, side.PROJECT),
}
STATE_VERSION = 2  # 2: side flows in the flow's "under" slot, no `pending` (#12)


class _Texts(Texts):
    """What this module says, in Japanese and English (a missing one is a type error)."""

    greeting = T(
        ja=(
            "友だち追加ありがとうございます！「つなぐ」は、スキルを活かして地域の団体を"
            "応援するプロボノ・共助プログラムの窓口です。\n"
            "English is available: send “English” at any time."
        ),
        en=(
            "Thanks for adding Tsunagu! We connect people who want to use their skills "
            "with community groups that need them (pro bono / mutual aid).\n"
            "日本語に切り替えるには「日本語」と送ってください。"
        ),
    )
    welcome_back = T(
        ja="おかえりなさい、{name}さん。",
        en="Welcome back, {name}.",
    )
    resume = T(
        ja="おかえりなさい！前回の続きから再開します。",
        en="Welcome back! Let's continue where you left off.",
    )
    signed_up = T(
        ja=(
            "登録が完了しました。ありがとうございます！\n"
            "あなたに合う団体のプロジェクトが見つかったら、このLINEでご案内します。"
        ),
        en=(
            "You're signed up. Thank you!\n"
            "When a group's project fits you, we'll let you know here in LINE."
        ),
    )
    updated = T(ja="登録内容を更新しました。", en="Your profile has been updated.")
    already = T(
        ja="すでにボランティアとして登録済みです。",
        en="You are already signed up as a volunteer.",
    )
    menu = T(ja="ご用件を選んでください。", en="What would you like to do?")
    bad_button = T(
        ja="すみません、そのボタンは読み取れませんでした。いまのご案内はこちらです。",
        en="Sorry, that button could not be read. Here is where we were.",
    )
    not_understood = T(
        ja="すみません、うまく受け取れませんでした。下のメニューから選んでください。",
        en="Sorry, I didn't catch that. Please choose from the menu below.",
    )
    profile_head = T(ja="【あなたの登録内容】", en="[Your profile]")
    status = T(ja="状態: {status}", en="Status: {status}")
    active = T(ja="招待を受け付け中", en="open to invitations")
    paused = T(ja="休止中（招待は届きません）", en="paused (no invitations)")
    not_registered = T(
        ja="まだボランティア登録がありません。「登録」と送ると始められます。",
        en="You have not signed up yet. Send “sign up” to start.",
    )
    paused_now = T(
        ja="招待のお届けを休止しました。「再開」と送ればいつでも戻せます。",
        en="Invitations are paused. Send “resume” whenever you want them again.",
    )
    already_paused = T(ja="すでに休止中です。", en="Already paused.")
    resumed = T(
        ja="招待の受け付けを再開しました。おかえりなさい！",
        en="Invitations are back on. Welcome back!",
    )
    not_paused = T(ja="休止していません。招待を受け付け中です。", en="You are not paused.")
    deleted = T(
        ja=(
            "お預かりしていたデータをすべて削除しました。ご参加ありがとうございました。"
            "また参加したくなったら、いつでも話しかけてください。"
        ),
        en=(
            "Everything we held about you has been deleted. Thank you for taking part. "
            "You're welcome back any time: just send a message."
        ),
    )
    lang_set = T(ja="日本語でご案内します。", en="I'll continue in English.")
    lang_ask = T(
        ja="どちらの言語でご案内しましょうか？",
        en="Which language would you like? (You can switch at any time.)",
    )
    help = T(
        ja=(
            "【使い方】\n"
            "・登録: ボランティア登録を始める\n"
            "・募集中: あなたに合う募集中のプロジェクト\n"
            "・プロフィール: 登録内容を見る\n"
            "・変更: 登録内容を直す\n"
            "・休止 / 再開: 招待を止める・戻す\n"
            "・相談状況 / 新しい相談: 団体としてのご相談\n"
            "・退会: すべてのデータを削除\n"
            "・English / 日本語: 言語の切り替え\n"
            "・Slack連携: チームのSlackとつなぐコードを受け取る\n"
            "・稼働記録: チームでの活動時間を記録する\n"
            "・事例: これまでの取り組みの事例を探す（例: 事例 子育て 八王子）\n"
            "・同時参加数: 同時に参加するプロジェクトの数（1〜3）\n"
            "質問の途中では「戻る」でひとつ前へ、「やめる」で中止できます。"
        ),
        en=(
            "[How to use]\n"
            "• sign up: start volunteer sign-up\n"
            "• open projects: recruiting projects that suit you\n"
            "• profile: see what we hold about you\n"
            "• edit: change your profile\n"
            "• pause / resume: stop or restart invitations\n"
            "• my requests / new request: your group's requests\n"
            "• delete my data: delete everything\n"
            "• English / 日本語: switch language\n"
            "• link slack: get a code to link your team's Slack\n"
            "• log hours: record time you worked for your team\n"
            "• cases: find past projects (e.g. cases childcare Hachioji)\n"
            "• projects at a time: how many projects you take on at once (1 to 3)\n"
            "While answering, send “back” for the previous question or “cancel” to stop."
        ),
    )
    m_profile = T("プロフィール", "Profile")
    m_edit = T("変更", "Edit")
    m_pause = T("休止", "Pause")
    m_resume = T("再開", "Resume")
    m_delete = T("退会", "Delete my data")
    m_signup = T("ボランティア登録", "Volunteer sign-up")
    m_group = T("団体として相談", "Ask as a group")
    m_help = T("ヘルプ", "Help")
    m_cases = T("事例", "Cases")
    m_requests = T("相談状況", "My requests")
    m_open = T("募集中のプロジェクト", "Open projects")
    slack_code = T(
        "Slack連携のためのコードを、このあと別のメッセージでお送りします。",
        "We'll send you a code to link Slack in a separate message in a moment.",
    )
    open_head = T(
        "あなたに合いそうな募集中のプロジェクトです（合う順）:",
        "Recruiting projects that may suit you (best first):",
    )
    open_none = T(
        "いま、あなたに合う募集中のプロジェクトはありません。新しい募集があればお知らせします。",
        "No recruiting project fits you right now. We'll let you know when one does.",
    )
    open_paused = T(
        "休止中のため、プロジェクトのご案内を止めています。「再開」で戻せます。",
        "You are paused, so we are not showing projects. Send “resume” to turn it back on.",
    )
    hand_label = T("#{id} に興味あり", "Interested #{id}")
    hand_raised = T("✓ 興味ありと伝えました", "✓ You said you're interested")
    hand_done = T(
        "「{org}」のプロジェクトに興味ありと伝えました。コーディネーターからの連絡をお待ちください。",
        "We've told the coordinators you're interested in {org}'s project. They'll be in touch.",
    )
    hand_again = T("すでに興味ありと伝えてあります。", "You already said you're interested.")
    hand_closed = T(
        "このプロジェクトはいま募集していません。", "That project is not recruiting any more."
    )
    inv_accepted = T(
        "参加を承諾しました。ありがとうございます！チームがそろったら、このLINEでお知らせします。",
        "You've accepted, thank you! We'll let you know here when the team is complete.",
    )
    inv_declined = T(
        "辞退を承りました。ご連絡ありがとうございます。またの機会にぜひ！",
        "Thanks for letting us know. We hope to see you on another project!",
    )
    inv_closed = T(
        "この招待はすでに締め切られています（{state}）。",
        "This invitation is no longer open ({state}).",
    )
    inv_state_accepted = T("承諾済み", "accepted")
    inv_state_declined = T("辞退済み", "declined")
    inv_state_expired = T("期限切れ", "expired")
    team_confirmed = T(
        "チーム結成です！ありがとうございます。これからの予定はこのLINEとSlackでご案内します。",
        "The team is formed, thank you! We'll share the schedule here and in Slack.",
    )
    rsvp_yes = T(
        "{phase}（{when}）への参加を受け付けました。前日にリマインドをお送りします。",
        "You're on the list for the {phase} ({when}). We'll remind you the day before.",
    )
    rsvp_no = T(
        "{phase}（{when}）は不参加で承りました。ご連絡ありがとうございます。",
        "Noted that you can't come to the {phase} ({when}). Thank you for letting us know.",
    )
    # ---- life-cohort (#13)
    cohort_out = T(
        "承知しました。今後のプログラム（次の期）のご案内はお送りしません。"
        "再開したいときは「案内再開」と送るか、プロフィールのボタンからどうぞ。",
        "Done: we won't invite you to future programme cohorts. To be invited again, "
        "send “invite me again” or use the button under your profile.",
    )
    cohort_in = T(
        "承知しました。次のプログラム（次の期）の説明会のご案内をお送りします。",
        "Done: we'll invite you to the next cohort's briefing sessions.",
    )
    cohort_already_out = T(
        "すでに次の期のご案内は停止しています。", "You have already opted out of invitations."
    )
    cohort_already_in = T(
        "次の期のご案内はすでに受け取る設定です。",
        "You already receive the next cohort's invitations.",
    )
    cohort_nobody = T(
        "次の期のご案内は、ボランティアや団体として参加された方にお送りしています。",
        "Invitations to the next cohort go to people who took part as a volunteer or a group.",
    )
    cohort_status = T("次の期のご案内: {state}", "Next cohort's invitations: {state}")
    cohort_state_in = T("受け取る", "on")
    cohort_state_out = T("停止中", "off")
    cohort_button_out = T("次回の案内を停止", "No more invitations")
    cohort_button_in = T("案内を再開", "Invite me again")
    # ---- end life-cohort
    rsvp_closed = T(
        "この説明会の受付は終了しました。次の機会にぜひご参加ください。",
        "Sign-up for this session has closed. We hope to see you at the next one.",
    )
    # life-group (#13): declining the team, asking for a change, the kickoff agreement.
    team_declined = T(
        "このチームは辞退として承りました。事務局がチーム編成を見直し、改めてご連絡します。",
        "Noted: you decline this team. The office will rethink the team and be in touch.",
    )
    team_change_sent = T(
        "ご希望を事務局に伝えました。チーム編成を見直して、改めてご連絡します。",
        "Your wishes have been passed to the office. It will rethink the team and be in touch.",
    )
    agreement_confirmed = T(
        "合意案（第{v}版）を確定しました。チームにお伝えします。ありがとうございます！",
        "You confirmed the agreement (version {v}). We'll tell the team. Thank you!",
    )
    agreement_change_sent = T(
        "ご意見をチームに伝えました。新しい案が届いたら、またご確認ください。",
        "Your comments have been passed to the team. Please look at the new version when it comes.",
    )
    agreement_closed = T(
        "この合意案はすでに回答済みか、新しい版に置き換わっています。",
        "This agreement version was already answered or replaced by a newer one.",
    )
    contact_saved = T(
        "ありがとうございます。チームが結成されたら、この連絡先をお伝えします。",
        "Thank you. We'll pass these details on when the team forms.",
    )
    contact_not_shared = T(
        "承知しました。連絡先はお伝えせず、事務局を通じてやり取りします。",
        "Understood. We won't share your contact details; you'll talk through the office.",
    )
    team_not_ready = T(
        "このチームはいま確認できる状態ではありません。", "This team cannot be confirmed right now."
    )
    m_request = T("新しい相談", "New request")
    request_sent = T(
        ja=(
            "ご相談を受け付けました。ありがとうございます！\n"
            "事務局（コーディネーター）が内容を確認し、このLINEでご連絡します。"
            "「相談状況」でいつでも状況を確認できます。"
        ),
        en=(
            "Thank you, your request has been received!\n"
            "The programme office will review it and get back to you here. "
            "Send “my requests” at any time to see where it stands."
        ),
    )
    new_request_for = T("{name}として新しいご相談を受け付けます。", "A new request for {name}.")
    no_requests = T("まだご相談はありません。", "No requests yet.")
    requests_head = T("【{name} のご相談】", "[Requests of {name}]")
    answer_sent = T(
        "回答を事務局に伝えました。ありがとうございます！",
        "Thank you! Your answer has been passed to the programme office.",
    )
    m_lang = T("English", "日本語")
    # life-work (#13)
    m_hours = T("稼働記録", "Log hours")
    m_capacity = T("同時参加数", "Projects at a time")


TXT = _Texts


# ---------------------------------------------------------------- the router


@dataclass
class _Conv:
    """Mutable view of a conversation's stored state while one event is applied."""

    flow: FlowState | None
    locale: str

    def dump(self, last_ms: int) -> dict[str, Any]:
        return {
            "v": STATE_VERSION,
            "flow": self.flow.to_dict() if self.flow else None,
            "last_ms": last_ms,
        }


def _load_flow(stored: dict[str, Any] | None) -> FlowState | None:
    """A stored flow state, carried over to its flow's current version (None: none)."""
    if not stored or stored.get("flow") not in FLOWS:
        return None
    return engine.resume(FLOWS[stored["flow"]], stored)


async def _legacy_pending(conv: _Conv, pending: str, load: KnownLoader) -> None:
    """A conversation stored mid-exchange with an old string state (`answer:12`): the same
    exchange as a side flow over whatever flow was running."""
    kind, _, ref = pending.partition(":")
    if kind not in LEGACY_PENDING:
        return
    flow, param = LEGACY_PENDING[kind]
    params: dict[str, Any] = {param: int(ref) if ref.isdigit() else 0} if param else {}
    if flow is side.AGREEMENT_CHANGE_FLOW:
        agreement = await load.agreement(params[side.AGREEMENT])
        params[side.VERSION] = agreement.version if agreement else "-"
    conv.flow = engine.start(flow, conv.locale, params, over=conv.flow).state


class Dialogue:
    """Applies one event to one person's conversation."""

    def __init__(self, *, default_locale: str = "ja", resume_after_ms: int = 6 * 3600 * 1000):
        self.default_locale = default_locale
        self.resume_after_ms = resume_after_ms

    @staticmethod
    def answer_takes_a_while(event: Event) -> bool:
        """True if answering this event needs a matching run (open projects): worth a
        loading animation in the chat while it is prepared."""
        if event.kind == "postback":
            return postback.parse(event.data or "") == postback.Menu("open")
        return event.kind == "text" and _menu_word(fold(event.text or "")) == "open"

    def initial_locale(self, event: Event) -> str:
        """The locale of a new conversation: the platform's language when known."""
        if event.language and event.language.lower().startswith("en"):
            return "en"
        if event.language and event.language.lower().startswith("ja"):
            return "ja"
        return self.default_locale

    async def handle(
        self,
        stored: dict[str, Any] | None,
        locale: str,
        event: Event,
        load: KnownLoader,
    ) -> Result:
        """Decide what one event does to the conversation; never raises on bad input."""
        stored = stored or {}
        conv = _Conv(flow=_load_flow(stored.get("flow")), locale=locale)
        if stored.get("pending"):
            await _legacy_pending(conv, str(stored["pending"]), load)
        last_ms = int(stored.get("last_ms") or 0)
        result = Result(state={}, locale=locale)

        if event.kind == "unfollow":
            known = await load()
            if known.volunteer is not None and known.volunteer.status != "inactive":
                result.effects.append(SetVolunteerStatus("inactive"))
        elif event.kind == "follow":
            await self._on_follow(conv, result, load)
        elif event.input is not None:
            gap = last_ms and event.occurred_ms - last_ms > self.resume_after_ms
            await self._on_input(conv, result, event.input, bool(gap), load)
        else:
            result.replies.extend(self._menu_for(conv, await load()))

        result.locale = conv.locale
        result.state = conv.dump(max(last_ms, event.occurred_ms))
        return result

    # -- events

    async def _on_follow(self, conv: _Conv, result: Result, load: KnownLoader) -> None:
        known = await load()
        loc = conv.locale
        if known.volunteer is not None or known.group is not None:
            if known.volunteer is not None and known.volunteer.status == "inactive":
                result.effects.append(SetVolunteerStatus("active"))
            if known.volunteer is not None:
                name = str(known.volunteer.answers.get("display_name", ""))
            else:
                name = known.group.name if known.group else ""
            result.replies.append(Reply(TXT.welcome_back(loc, name=name)))
            if conv.flow is not None:
                result.replies.append(Reply(TXT.resume(loc)))
            result.replies.extend(await self._reprompt(conv, load))
            return
        result.replies.append(Reply(TXT.greeting(loc)))
        if conv.flow is not None:
            # Whatever was in progress (a question, a pending deletion) stays where it was.
            result.replies.append(Reply(TXT.resume(loc)))
            result.replies.extend(await self._reprompt(conv, load))
            return
        out = engine.start(FLOWS["welcome"], loc)
        conv.flow = out.state
        result.replies.extend(out.replies)

    async def _on_input(
        self, conv: _Conv, result: Result, inp: UserInput, gap: bool, load: KnownLoader
    ) -> None:
        word = fold(inp.text) if isinstance(inp, TextIn) else ""
        data = inp.data if isinstance(inp, PostbackIn) else ""
        pb = postback.parse(data)
        if data and pb is None:
            # Malformed, overlong or foreign button data: say so, and stay where we were.
            result.replies.append(Reply(TXT.bad_button(conv.locale)))
            result.replies.extend(await self._reprompt(conv, load))
            return

        if await self._on_global(conv, result, word, pb, load):
            return
        top = FLOWS[conv.flow.flow] if conv.flow is not None else None
        if isinstance(pb, postback.Delete) and top is side.DELETE_FLOW:
            # The buttons of the delete question before it was a flow (still in chats).
            inp = PostbackIn(postback.FlowAction(top.id, side.ANSWER, "pick", pb.answer).pack())
            pb = postback.parse(inp.data)
        if top is not side.DELETE_FLOW and (
            word in MENU_WORDS["delete"] or pb == postback.Menu("delete")
        ):
            # Deleting one's data is honoured from anywhere, even mid-question; saying
            # no returns to where the person was.
            self._side(conv, result, side.DELETE_FLOW)
            return
        if isinstance(pb, postback.Question):
            # A group answering a coordinator's question (after tapping "Answer").
            self._side(conv, result, side.ANSWER_FLOW, {side.QUESTION: pb.question_id})
            return
        in_flow = pb is None or isinstance(pb, postback.IN_FLOW)
        if conv.flow is not None and conv.flow.side and in_flow:
            # A side flow takes what is typed and its own buttons; other buttons still work.
            await self._on_flow(conv, conv.flow, result, inp, False, load)
            return
        if await self._on_button(conv, result, pb, word, load):
            return
        if conv.flow is not None:
            await self._on_flow(conv, conv.flow, result, inp, gap, load)
            return
        await self._on_menu(conv, result, inp, word, pb, load)

    async def _on_button(
        self,
        conv: _Conv,
        result: Result,
        pb: postback.Postback | None,
        word: str,
        load: KnownLoader,
    ) -> bool:
        """The buttons (and cohort words) understood wherever the person is; True if one."""
        if isinstance(pb, postback.Cohort) or _cohort_word(word) is not None:
            # life-cohort (#13): opting out of / back into the next cohort's invitations.
            await self._on_cohort(conv, result, pb, word, load)
        elif isinstance(pb, postback.AgreementAnswer):
            # life-group (#13): a kickoff agreement's buttons.
            await self._on_agreement(conv, result, pb, load)
        elif isinstance(pb, postback.ShareContact) and pb.answer == "yes":
            self._side(conv, result, side.CONTACT_FLOW)
        elif isinstance(pb, postback.ShareContact):
            result.effects.append(SetContactSharing(False))
            result.replies.append(Reply(TXT.contact_not_shared(conv.locale)))
            result.replies.extend(await self._reprompt(conv, load))
        elif isinstance(pb, postback.MATCHING):
            # Matching: invitations, raised hands, a group confirming its team.
            await self._on_matching(conv, result, pb, load)
        elif isinstance(pb, postback.WORK):
            # life-work (#13): delivery answers, completing, feedback, hours, withdraw, capacity.
            step = await work_chat.on_postback(pb, conv.locale, load)
            await self._work_step(conv, result, step, load)
        elif isinstance(pb, postback.CASES):
            # The case catalogue (#14): a search's next page, a group's answer on its case.
            answered = await cases_chat.on_postback(pb, conv.locale, load)
            await self._work_step(conv, result, answered, load)
        else:
            return False
        return True

    def _side(
        self, conv: _Conv, result: Result, flow: Flow, params: dict[str, Any] | None = None
    ) -> None:
        """Start a side flow over whatever runs now (it resumes when the side flow ends)."""
        out = engine.start(flow, conv.locale, params, over=conv.flow)
        conv.flow = out.state
        result.replies.extend(out.replies)

    async def _work_step(
        self,
        conv: _Conv,
        result: Result,
        step: work_chat.Step | cases_chat.Step,
        load: KnownLoader,
    ) -> None:
        """Apply what the work part (life-work, #13) or the case catalogue's (#14) decided."""
        result.replies.extend(step.replies)
        result.effects.extend(step.effects)
        if step.side is not None:
            self._side(conv, result, *step.side)
        elif step.flow is not None:
            conv.flow = step.flow.state
            result.replies.extend(step.flow.replies)
        elif step.reprompt:
            result.replies.extend(await self._reprompt(conv, load))

    async def _on_global(
        self,
        conv: _Conv,
        result: Result,
        word: str,
        pb: postback.Postback | None,
        load: KnownLoader,
    ) -> bool:
        """Language and help, understood everywhere; True when the input was one of them."""
        new_lang = _language_of(word, pb)
        if (
            new_lang is not None
            and not isinstance(pb, postback.Language)
            and conv.flow is not None
            and engine.waits_for_text(FLOWS[conv.flow.flow], conv.flow)
        ):
            # 「英語」 typed as the answer to a free-text question is that answer.
            return False
        if new_lang is not None:
            conv.locale = new_lang
            result.effects.append(SetLanguage(new_lang))
            result.replies.append(Reply(TXT.lang_set(new_lang)))
        elif word in LANG_ASK_WORDS:
            # Asked in both languages: whoever asks may not read the current one.
            result.replies.append(self._language_question())
            return True
        elif word in MENU_WORDS["help"] or pb == postback.Menu("help"):
            result.replies.append(Reply(TXT.help(conv.locale)))
        else:
            return False
        result.replies.extend(await self._reprompt(conv, load))
        return True

    async def _on_flow(
        self,
        conv: _Conv,
        state: FlowState,
        result: Result,
        inp: UserInput,
        gap: bool,
        load: KnownLoader,
    ) -> None:
        flow = FLOWS[state.flow]
        if gap and isinstance(inp, TextIn) and not flow.side:
            # After a long pause a typed line is more likely a new greeting than
            # the answer to an old question: say where we are and ask again.
            result.replies.append(Reply(TXT.resume(conv.locale)))
            result.replies.extend(engine.prompt(flow, state, conv.locale))
            return
        out = engine.advance(flow, state, inp, conv.locale)
        conv.flow = out.state or _load_flow(out.resumed)
        result.replies.extend(out.replies)
        if out.cancelled and flow.side:
            result.replies.extend(await self._reprompt(conv, load))
        elif out.cancelled:
            result.replies.extend(self._menu_for(conv, await load()))
        elif out.completed is not None and flow.side:
            await self._on_side_done(conv, result, flow, out.completed, load)
        elif out.completed is not None:
            await self._on_completed(conv, result, flow.id, out.completed, load)

    async def _on_matching(
        self, conv: _Conv, result: Result, pb: postback.Matching, load: KnownLoader
    ) -> None:
        loc = conv.locale
        if isinstance(pb, postback.Invitation):
            ref = pb.match_id
            invitation = await load.invitation(ref)
            if invitation is None or invitation.state != "invited":
                state = invitation.state if invitation else "expired"
                name = _invitation_state(state)(loc)
                result.replies.append(Reply(TXT.inv_closed(loc, state=name)))
            elif pb.answer == "yes":
                result.effects.append(AnswerInvitation(ref, True))
                result.replies.append(Reply(TXT.inv_accepted(loc)))
            else:
                self._side(conv, result, side.DECLINE_FLOW, {side.MATCH: ref})
                return
        elif isinstance(pb, postback.Hand):
            ref = pb.project_id
            projects = {p.project_id: p for p in await load.open_projects(loc, limit=50)}
            project = projects.get(ref)
            if project is None:
                result.replies.append(Reply(TXT.hand_closed(loc)))
            elif project.raised:
                result.replies.append(Reply(TXT.hand_again(loc)))
            else:
                result.effects.append(RaiseHand(ref))
                result.replies.append(Reply(TXT.hand_done(loc, org=project.org_name)))
        elif isinstance(pb, postback.Rsvp):
            ref, answer = pb.phase_id, pb.answer
            phase = await load.phase(ref)
            if phase is None or not phase.open:
                result.replies.append(Reply(TXT.rsvp_closed(loc)))
            else:
                result.effects.append(AnswerRsvp(ref, answer))
                text = (TXT.rsvp_yes if answer == "yes" else TXT.rsvp_no)(
                    loc, phase=phase.title.get(loc, ""), when=phase.when.get(loc, "")
                )
                result.replies.append(Reply(text))
        else:
            ref = pb.project_id
            team = await load.team(ref)
            if team is None or team.status != "team_proposed":
                result.replies.append(Reply(TXT.team_not_ready(loc)))
            elif pb.answer == "change":
                self._side(conv, result, side.TEAM_CHANGE_FLOW, {side.PROJECT: ref})
                return
            elif pb.answer == "no":
                result.effects.append(RejectTeam(ref))
                result.replies.append(Reply(TXT.team_declined(loc)))
            else:
                result.effects.append(ConfirmTeam(ref))
                result.replies.append(Reply(TXT.team_confirmed(loc)))
        result.replies.extend(await self._reprompt(conv, load))

    async def _on_cohort(
        self,
        conv: _Conv,
        result: Result,
        pb: postback.Postback | None,
        word: str,
        load: KnownLoader,
    ) -> None:
        """Turn the next cohort's invitations off or on (life-cohort, #13); the conversation
        goes on where it was."""
        loc = conv.locale
        opt_out = pb.answer == "out" if isinstance(pb, postback.Cohort) else _cohort_word(word)
        known = await load()
        if known.volunteer is None and known.group is None:
            result.replies.append(Reply(TXT.cohort_nobody(loc)))
        elif known.cohort_opt_out == opt_out:
            result.replies.append(
                Reply((TXT.cohort_already_out if opt_out else TXT.cohort_already_in)(loc))
            )
        else:
            result.effects.append(SetCohortOptOut(bool(opt_out)))
            result.replies.append(Reply((TXT.cohort_out if opt_out else TXT.cohort_in)(loc)))
        result.replies.extend(await self._reprompt(conv, load))

    async def _on_agreement(
        self, conv: _Conv, result: Result, pb: postback.AgreementAnswer, load: KnownLoader
    ) -> None:
        """A group's button under a kickoff agreement: confirm it, or say what to change."""
        loc = conv.locale
        agreement = await load.agreement(pb.agreement_id)
        if agreement is None or not agreement.open:
            result.replies.append(Reply(TXT.agreement_closed(loc)))
        elif pb.answer == "change":
            params = {side.AGREEMENT: pb.agreement_id, side.VERSION: agreement.version}
            self._side(conv, result, side.AGREEMENT_CHANGE_FLOW, params)
            return
        else:
            result.effects.append(AnswerAgreement(pb.agreement_id, True))
            result.replies.append(Reply(TXT.agreement_confirmed(loc, v=agreement.version)))
        result.replies.extend(await self._reprompt(conv, load))

    async def _on_side_done(
        self, conv: _Conv, result: Result, flow: Flow, answers: dict[str, Any], load: KnownLoader
    ) -> None:
        """A side flow's answer: what it does, then back to where the person was."""
        loc, words = conv.locale, answers.get(side.ANSWER)
        if flow is side.DELETE_FLOW and words == "yes":
            conv.flow = None
            result.effects.append(DeleteUserData())
            result.replies.append(Reply(TXT.deleted(loc)))
            result.forget = True
            return
        if flow is side.DELETE_FLOW:
            result.replies.append(Reply(side.TXT.delete_kept(loc)))
        elif flow is side.ANSWER_FLOW:
            result.effects.append(AnswerQuestion(int(answers[side.QUESTION]), str(words)))
            result.replies.append(Reply(TXT.answer_sent(loc)))
        elif flow is side.CONTACT_FLOW:
            result.effects.append(SetContactSharing(True, str(words)))
            result.replies.append(Reply(TXT.contact_saved(loc)))
        elif flow is side.MISSING_FLOW:
            project_id = int(answers[side.PROJECT])
            result.effects.append(work_chat.DeliveryMissing(project_id, str(words)))
            result.replies.append(Reply(work_chat.TXT.missing_sent(loc)))
        elif (said := cases_chat.on_completed(flow.id, answers, loc)) is not None:
            # The case catalogue (#14): a group's words asking for changes to its case.
            result.replies.extend(said.replies)
            result.effects.extend(said.effects)
        else:
            await self._on_change_done(conv, result, flow, answers, load)
        result.replies.extend(await self._reprompt(conv, load))

    async def _on_change_done(
        self, conv: _Conv, result: Result, flow: Flow, answers: dict[str, Any], load: KnownLoader
    ) -> None:
        """Declining an invitation, or asking for a change to a team or an agreement: each
        checked again now (it may have closed while the person typed)."""
        loc, words = conv.locale, answers.get(side.ANSWER)
        if flow is side.DECLINE_FLOW:
            match_id = int(answers[side.MATCH])
            invitation = await load.invitation(match_id)
            if invitation is None or invitation.state != "invited":
                name = _invitation_state(invitation.state if invitation else "expired")(loc)
                result.replies.append(Reply(TXT.inv_closed(loc, state=name)))
            else:
                reason = str(words) if words is not None else None
                result.effects.append(AnswerInvitation(match_id, False, reason))
                result.replies.append(Reply(TXT.inv_declined(loc)))
        elif flow is side.TEAM_CHANGE_FLOW:
            project_id = int(answers[side.PROJECT])
            team = await load.team(project_id)
            if team is None or team.status != "team_proposed":
                result.replies.append(Reply(TXT.team_not_ready(loc)))
            else:
                result.effects.append(RejectTeam(project_id, str(words)))
                result.replies.append(Reply(TXT.team_change_sent(loc)))
        elif flow is side.AGREEMENT_CHANGE_FLOW:
            agreement_id = int(answers[side.AGREEMENT])
            agreement = await load.agreement(agreement_id)
            if agreement is None or not agreement.open:
                result.replies.append(Reply(TXT.agreement_closed(loc)))
            else:
                result.effects.append(AnswerAgreement(agreement_id, False, str(words)))
                result.replies.append(Reply(TXT.agreement_change_sent(loc)))

    async def _on_completed(
        self,
        conv: _Conv,
        result: Result,
        flow_id: str,
        answers: dict[str, Any],
        load: KnownLoader,
    ) -> None:
        loc = conv.locale
        known = await load()
        if flow_id == "welcome":
            if answers.get("role") == "volunteer":
                await self._start_signup(conv, result, load)
            else:
                self._start_request(conv, result, known)
            return
        if flow_id == "volunteer":
            existed = known.volunteer is not None
            result.effects.append(SaveVolunteer(answers))
            result.replies.append(Reply((TXT.updated if existed else TXT.signed_up)(loc)))
            status = known.volunteer.status if known.volunteer else "active"
            after = Known(Profile(answers, status), known.group)
            result.replies.extend(self._menu_for(conv, after))
        elif (step := work_chat.on_completed(flow_id, answers, loc)) is not None:
            # life-work (#13): hours logged, feedback given.
            result.replies.extend(step.replies)
            result.effects.extend(step.effects)
            result.replies.extend(self._menu_for(conv, known))
        elif flow_id in ("group", "request"):
            result.effects.append(SubmitRequest(answers))
            result.replies.append(Reply(TXT.request_sent(loc)))
            name = str(answers.get("org_name") or (known.group.name if known.group else ""))
            after = Known(known.volunteer, known.group or GroupInfo(name))
            result.replies.extend(self._menu_for(conv, after))

    def _start_request(self, conv: _Conv, result: Result, known: Known) -> None:
        flow = FLOWS["request"] if known.group is not None else FLOWS["group"]
        out = engine.start(flow, conv.locale)
        conv.flow = out.state
        if known.group is not None:
            result.replies.append(Reply(TXT.new_request_for(conv.locale, name=known.group.name)))
        result.replies.extend(out.replies)

    async def _start_signup(self, conv: _Conv, result: Result, load: KnownLoader) -> None:
        known = await load()
        if known.volunteer is not None:
            result.replies.append(Reply(TXT.already(conv.locale)))
            result.replies.extend(self._menu_for(conv, known))
            return
        out = engine.start(VOLUNTEER_FLOW, conv.locale)
        conv.flow = out.state
        result.replies.extend(out.replies)

    async def _on_menu(
        self,
        conv: _Conv,
        result: Result,
        inp: UserInput,
        word: str,
        pb: postback.Postback | None,
        load: KnownLoader,
    ) -> None:
        loc = conv.locale
        command = pb.command if isinstance(pb, postback.Menu) else _menu_word(word)
        if await self._on_cases(conv, result, inp, command, load):
            return
        known = await load()
        profile = known.volunteer
        if command is None and known.group and known.group.open_question and word:
            # A group with an open question who just types: that is their answer.
            question = {side.QUESTION: known.group.open_question[0]}
            self._side(conv, Result({}, loc), side.ANSWER_FLOW, question)
            assert conv.flow is not None
            await self._on_flow(conv, conv.flow, result, inp, False, load)
            return
        if command == "signup":
            await self._start_signup(conv, result, load)
        elif command in ("group", "request"):
            self._start_request(conv, result, known)
        elif command == "open":
            await self._open_projects(conv, result, known, load)
        elif command == "requests":
            result.replies.append(Reply(self._requests_text(known, loc)))
            withdraw = work_chat.withdraw_reply(known.group.requests if known.group else (), loc)
            result.replies.extend([withdraw] if withdraw else self._menu_for(conv, known))
        elif command in ("hours", "capacity"):
            # life-work (#13): log hours (a short flow), projects at a time.
            step = await work_chat.on_menu(command, loc, load)
            await self._work_step(conv, result, step, load)
        elif command == "slack" and profile is not None:
            result.effects.append(RequestSlackCode())
            result.replies.append(Reply(TXT.slack_code(loc)))
        elif command in ("profile", "edit", "pause", "resume", "slack") and profile is None:
            result.replies.append(Reply(TXT.not_registered(loc)))
            result.replies.extend(self._menu_for(conv, known))
        elif command == "profile" and profile is not None:
            result.replies.extend(self._profile_replies(conv, profile, known))
        elif command == "edit" and profile is not None:
            out = engine.start(VOLUNTEER_FLOW, loc, profile.answers, at_confirm=True)
            conv.flow = out.state
            result.replies.extend(out.replies)
        elif command in ("pause", "resume") and profile is not None:
            self._set_paused(conv, result, known, profile, command == "pause")
        elif profile is None and known.group is None and conv.flow is None and command is None:
            # Someone we do not know yet (or who deleted their data) says hello.
            out = engine.start(FLOWS["welcome"], loc)
            conv.flow = out.state
            result.replies.append(Reply(TXT.greeting(loc)))
            result.replies.extend(out.replies)
        else:
            result.replies.append(Reply(TXT.not_understood(loc)))
            result.replies.extend(self._menu_for(conv, known))

    async def _on_cases(
        self,
        conv: _Conv,
        result: Result,
        inp: UserInput,
        command: str | None,
        load: KnownLoader,
    ) -> bool:
        """The case catalogue (#14): 事例, or 事例 with words to search for; True if it was."""
        words = cases_chat.search_words(inp.text) if isinstance(inp, TextIn) else None
        if command != "cases" and words is None:
            return False
        found = await cases_chat.on_search(words or "", 0, conv.locale, load)
        await self._work_step(conv, result, found, load)
        return True

    def _set_paused(
        self, conv: _Conv, result: Result, known: Known, profile: Profile, pause: bool
    ) -> None:
        loc = conv.locale
        if (profile.status == "paused") == pause:
            result.replies.append(Reply((TXT.already_paused if pause else TXT.not_paused)(loc)))
        else:
            status = "paused" if pause else "active"
            result.effects.append(SetVolunteerStatus(status))
            result.replies.append(Reply((TXT.paused_now if pause else TXT.resumed)(loc)))
            known = Known(Profile(profile.answers, status), known.group)
        result.replies.extend(self._menu_for(conv, known))

    async def _open_projects(
        self, conv: _Conv, result: Result, known: Known, load: KnownLoader
    ) -> None:
        loc = conv.locale
        if known.volunteer is None:
            result.replies.append(Reply(TXT.not_registered(loc)))
        elif known.volunteer.status == "paused":
            result.replies.append(Reply(TXT.open_paused(loc)))
        else:
            projects = await load.open_projects(loc, limit=5)
            if not projects:
                result.replies.append(Reply(TXT.open_none(loc)))
            else:
                lines = [TXT.open_head(loc)]
                choices: list[Choice] = []
                cards = []
                for p in projects:
                    mark = " ✓" if p.raised else ""
                    lines.append(f"\n#{p.project_id} {p.org_name}{mark}\n{p.summary}")
                    if p.reasons:
                        lines.append(" / ".join(p.reasons))
                    button: tuple[Choice, ...] = ()
                    if not p.raised:
                        label = TXT.hand_label(loc, id=p.project_id)
                        button = (Choice(label, postback.Hand(p.project_id).pack(), label),)
                        choices.extend(button)
                    notes = [" / ".join(p.reasons)] if p.reasons else []
                    if p.raised:
                        notes.append(TXT.hand_raised(loc))
                    cards.append(
                        Panel(
                            title=f"#{p.project_id} {p.org_name}",
                            kind="project",
                            body=p.summary,
                            note="\n".join(notes) or None,
                            buttons=button,
                        )
                    )
                result.replies.append(Reply("\n".join(lines), tuple(choices), tuple(cards)))
                return
        result.replies.extend(self._menu_for(conv, known))

    # -- rendering helpers

    async def _reprompt(self, conv: _Conv, load: KnownLoader) -> list[Reply]:
        if conv.flow is not None:
            return engine.prompt(FLOWS[conv.flow.flow], conv.flow, conv.locale)
        return self._menu_for(conv, await load())

    def _language_question(self) -> Reply:
        """Which language? Both buttons, the question in both languages; what was in
        progress stays where it was (the next answer goes on from there)."""
        return Reply(
            TXT.lang_ask("ja") + "\n" + TXT.lang_ask("en"),
            (
                Choice("日本語", postback.Language("ja").pack(), "日本語"),
                Choice("English", postback.Language("en").pack(), "English"),
            ),
        )

    def _menu_for(self, conv: _Conv, known: Known) -> list[Reply]:
        loc = conv.locale
        lang = "ja" if loc == "en" else "en"

        def item(text: T, command: str) -> Choice:
            label = text(loc)
            return Choice(label, postback.Menu(command).pack(), label)

        profile = known.volunteer
        items: list[Choice] = []
        if profile is None:
            items.append(item(TXT.m_signup, "signup"))
        else:
            items.append(item(TXT.m_profile, "profile"))
            items.append(item(TXT.m_edit, "edit"))
            paused = profile.status == "paused"
            items.append(item(TXT.m_resume, "resume") if paused else item(TXT.m_pause, "pause"))
        if known.group is None:
            # A volunteer who also speaks for a group can still type 「団体」 / "group".
            if profile is None:
                items.append(item(TXT.m_group, "group"))
        else:
            items.append(item(TXT.m_requests, "requests"))
            items.append(item(TXT.m_request, "request"))
        if profile is not None or known.group is not None:
            items.append(item(TXT.m_delete, "delete"))
        if profile is not None:
            items.append(item(TXT.m_open, "open"))
        items.append(item(TXT.m_cases, "cases"))
        items.append(item(TXT.m_help, "help"))
        items.append(Choice(TXT.m_lang(loc), postback.Language(lang).pack(), TXT.m_lang(loc)))
        if profile is not None:
            # life-work (#13): log hours, projects at a time.
            items.append(item(TXT.m_hours, "hours"))
            items.append(item(TXT.m_capacity, "capacity"))
        return [Reply(TXT.menu(loc), tuple(items))]

    def _profile_replies(self, conv: _Conv, profile: Profile, known: Known) -> list[Reply]:
        """The profile with the next cohort's invitations, then the menu ending with the
        button that turns them on or off (life-cohort, #13)."""
        loc, out = conv.locale, known.cohort_opt_out
        state = (TXT.cohort_state_out if out else TXT.cohort_state_in)(loc)
        text = self._profile_text(profile, loc) + "\n" + TXT.cohort_status(loc, state=state)
        label = (TXT.cohort_button_in if out else TXT.cohort_button_out)(loc)
        toggle = Choice(label, postback.Cohort("in" if out else "out").pack(), label)
        menu = self._menu_for(conv, known)
        menu[-1] = replace(menu[-1], choices=(*menu[-1].choices, toggle))
        return [Reply(text), *menu]

    def _profile_text(self, profile: Profile, loc: str) -> str:
        lines = [TXT.profile_head(loc)]
        lines.extend(engine.summary_lines(VOLUNTEER_FLOW, profile.answers, loc))
        status = TXT.paused(loc) if profile.status == "paused" else TXT.active(loc)
        lines.append(TXT.status(loc, status=status))
        return "\n".join(lines)

    def _requests_text(self, known: Known, loc: str) -> str:
        if known.group is None or not known.group.requests:
            return TXT.no_requests(loc)
        lines = [TXT.requests_head(loc, name=known.group.name)]
        for project_id, summary, status in known.group.requests:
            shown = group_label(status, loc)
            lines.append(f"#{project_id} {summary} — {shown}")
        return "\n".join(lines)


def _invitation_state(state: str) -> T:
    """The name of an invitation's state (one no longer open to an answer)."""
    names = {"accepted": TXT.inv_state_accepted, "declined": TXT.inv_state_declined}
    return names.get(state, TXT.inv_state_expired)


def _menu_word(word: str) -> str | None:
    for command, words in MENU_WORDS.items():
        if word in words:
            return command
    return None


def _cohort_word(word: str) -> bool | None:
    """True: a word opting out of future cohorts; False: back in; None: neither."""
    for opt_out, words in COHORT_WORDS.items():
        if word in words:
            return opt_out
    return None


def _language_of(word: str, pb: postback.Postback | None) -> str | None:
    if isinstance(pb, postback.Language):
        return pb.lang
    for lang, words in LANG_WORDS.items():
        if word in words:
            return lang
    return None
