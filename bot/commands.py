"""The `/tsunagu` commands as a table: verb, who may use it, usage, help (ja/en), handler.

Every channel that takes commands (Slack's slash command, the console) parses a line into
a `CommandRequest` and calls `Commands.run`; the answer is a neutral `CommandReply` that
the channel renders. Help, `help VERB` and the answer to an unknown verb are generated
from `REGISTRY`: adding a verb is one `Command` entry and its handler function.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.budget import Budget
from bot.cards import Card
from bot.coordination import TXT as COORDINATION_TXT
from bot.coordination import Coordination
from bot.i18n import T, Texts, fold
from bot.languages import PersonLanguages
from bot.lifecycle.kickoff import TXT as KICKOFF_TXT
from bot.lifecycle.kickoff import AgreementForm, Kickoff
from bot.lifecycle.work import Work
from bot.matching.service import Matching
from bot.office.cases import STATES as CASE_STATES
from bot.office.cases import CaseError
from bot.office.exports import ExportError
from bot.office.service import CaseForm, ExportRequest, Files, Office
from bot.programmes.cohort import AttendanceSheet
from bot.programmes.service import Programmes
from bot.programmes.teams import TXT as TEAM_TXT
from bot.programmes.teams import TeamChannels
from bot.programmes.views import ProgrammeView, programme_view
from bot.rules.states import Role as LifeRole

PREFIX = "/tsunagu"


class Role(enum.Enum):
    """Who may use a verb. Team members and anyone pass the gate; the team service
    itself decides what a person may do in a team channel."""

    COORDINATOR = "coordinator"
    TEAM = "team"
    ANYONE = "anyone"


@dataclass
class Services:
    """The core services commands call; a verb whose service is off is not offered."""

    coordination: Coordination | None = None
    matching: Matching | None = None
    programmes: Programmes | None = None
    teams: TeamChannels | None = None
    budget: Budget | None = None
    office: Office | None = None
    # life-group (#13): the kickoff agreement from a team channel.
    kickoff: Kickoff | None = None
    # life-work (#13): hours, delivery, completion, pause / resume / cancel.
    work: Work | None = None
    languages: PersonLanguages | None = None


@dataclass(frozen=True)
class CommandRequest:
    """One typed command: who, the words after the verb, the reader's language, where."""

    actor: str
    verb: str
    args: tuple[str, ...]
    # What followed the verb, its line breaks kept (for `progress` notes).
    rest: str
    locale: str
    channel: str | None
    coordinator: bool

    @classmethod
    def parse(
        cls, text: str, *, actor: str, locale: str, channel: str | None, coordinator: bool
    ) -> CommandRequest:
        """`project 12` as a request; an empty line asks for help."""
        stripped = text.strip()
        words = stripped.split()
        verb = words[0].lower() if words else "help"
        rest = stripped[len(words[0]) :] if words else ""
        return cls(actor, verb, tuple(words[1:]), rest, locale, channel, coordinator)

    def number(self, i: int = 0) -> int:
        """The i-th argument as a number (`#12` or `12`); the registry checked it."""
        return int(self.args[i].lstrip("#"))


@dataclass(frozen=True)
class CommandReply:
    """What to show the person who typed the command (only them).

    `card` and `programmes` are neutral data each channel renders its own way; `later`
    is work that takes seconds, run after `text` is shown, its result told privately.
    `files` is like `later` but its result is files handed to the person privately (in
    Slack, their DM). `refused` asks the channel to write the refusal to the audit log."""

    text: str
    card: Card | None = None
    programmes: tuple[ProgrammeView, ...] | None = None
    later: Callable[[], Awaitable[str]] | None = None
    files: Callable[[], Awaitable[Files]] | None = None
    # A case's edit form (a modal in Slack), opened for the coordinator who asked.
    case_form: CaseForm | None = None
    refused: bool = False
    # life-cohort (#13): a phase's attendance, with the way to record who attended.
    attendance: AttendanceSheet | None = None
    # life-group (#13): a form the channel opens for the person (the kickoff agreement).
    form: AgreementForm | None = None


Handler = Callable[["Commands", CommandRequest], Awaitable[CommandReply]]


@dataclass(frozen=True)
class Command:
    """One verb of `/tsunagu`."""

    verb: str
    usage: T  # the arguments, e.g. "12" (shown as `/tsunagu verb 12`)
    help: T
    handler: Handler
    role: Role = Role.COORDINATOR
    aliases: tuple[str, ...] = ()
    # Services that must be on for the verb to be offered (attribute names of Services).
    requires: tuple[str, ...] = ("coordination",)
    # How many leading arguments must be numbers, and how many arguments at least.
    numbers: int = 0
    min_args: int = 0

    def usage_line(self, locale: str) -> str:
        args = self.usage(locale)
        return f"{PREFIX} {self.verb}" + (f" {args}" if args else "")

    def available(self, services: Services) -> bool:
        return all(getattr(services, name) is not None for name in self.requires)

    def fits(self, request: CommandRequest) -> bool:
        """The arguments are enough, and the numbers are numbers."""
        if len(request.args) < max(self.min_args, self.numbers):
            return False
        return all(a.lstrip("#").isdigit() for a in request.args[: self.numbers])


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    heading = T("*/tsunagu の使い方*", "*/tsunagu commands*")
    team_heading = T("*チームのコマンド*（どなたでも）", "*Team commands* (anyone)")
    verb_help = T("`{usage}`\n{help}", "`{usage}`\n{help}")
    aliases = T("（別名: {names}）", "(also: {names})")
    usage = T("使い方: `{usage}`", "Usage: `{usage}`")
    unknown = T(
        "「{text}」はわかりませんでした。`/tsunagu help` をご覧ください。",
        "I don't know “{text}”. See `/tsunagu help`.",
    )
    did_you_mean = T("もしかして: {verbs}", "Did you mean: {verbs}")
    proposed = T(
        "チーム案をコーディネーターチャンネルに投稿しました。",
        "The team proposal is posted in the coordinator channel.",
    )
    forming = T("チーム編成を計算しています…", "Forming teams…")
    programmes = T("プログラム", "Programmes")
    preparing = T(
        "準備しています… できたらDMでファイルをお送りします。",
        "Preparing… the file comes to your DM when it is ready.",
    )
    cases_found = T("事例 {count} 件:", "{count} cases:")
    cases_none = T(
        "「{words}」に合う事例はありません。言葉を減らしてお試しください。",
        "No case matches “{words}”. Try fewer words.",
    )
    case_form = T("事例 #{id} の編集画面を開きます。", "Opening case #{id} for editing.")
    case_moved = T("事例 #{id} は「{state}」になりました。", "Case #{id} is now: {state}.")
    case_asked = T(
        "事例 #{id} の公開について、団体に LINE でお聞きしました。"
        "答えはコーディネーターのチャンネル（そのプロジェクトのスレッド）に届きます。",
        "The group was asked in LINE whether case #{id} may be published; its answer will "
        "come to the coordinators' channel (the project's thread).",
    )
    lang_set = T(
        "これからは日本語でお答えします（Slackの言語設定より優先します）。",
        "From now on I'll answer you in English (this wins over your Slack language).",
    )
    lang_now = T(
        "いまの言語: 日本語。英語にするには `/tsunagu lang en`。",
        "Your language now: English. For Japanese: `/tsunagu lang ja`.",
    )
    lang_cleared = T(
        "言語の指定を外しました。これからはSlackの言語設定に合わせてお答えします。",
        "Your language choice is cleared: I'll follow your Slack language again.",
    )
    lang_unknown = T(
        "「{text}」は選べません。"
        "`/tsunagu lang ja`（日本語）、`/tsunagu lang en`（English）、"
        "`/tsunagu lang auto`（Slackの設定に従う）です。",
        "I can't switch to “{text}”. "
        "Use `/tsunagu lang ja` (日本語), `/tsunagu lang en` (English) "
        "or `/tsunagu lang auto` (follow Slack).",
    )


TXT = _Texts

# What `/tsunagu lang` understands, folded.
LANG_NAMES = {
    "ja": ("ja", "jp", "japanese", "日本語", "にほんご", "nihongo"),
    "en": ("en", "english", "英語", "えいご", "eigo"),
}
# Words that clear the choice, folded.
LANG_CLEAR = ("auto", "reset", "clear", "自動", "じどう", "リセット")


# ---------------------------------------------------------------- handlers


def _coordination(c: Commands) -> Coordination:
    # The registry offers a verb only when the services it requires are on.
    assert c.services.coordination is not None
    return c.services.coordination


def _matching(c: Commands) -> Matching:
    assert c.services.matching is not None
    return c.services.matching


def _programmes(c: Commands) -> Programmes:
    assert c.services.programmes is not None
    return c.services.programmes


def _teams(c: Commands) -> TeamChannels:
    assert c.services.teams is not None
    return c.services.teams


async def _projects(c: Commands, r: CommandRequest) -> CommandReply:
    return CommandReply(await _coordination(c).projects_text())


async def _project(c: Commands, r: CommandRequest) -> CommandReply:
    card = await _coordination(c).card_for(r.number())
    if card is None:
        return CommandReply(COORDINATION_TXT.not_found(r.locale, id=r.args[0]))
    if c.services.work is not None:  # life-work (#13): hours and members' capacity
        extra = await c.services.work.card_section(r.number(), c.services.work.locale)
        if extra:
            card = dataclasses.replace(card, sections=(*card.sections, extra))
    return CommandReply(card.fallback, card=card)


async def _match(c: Commands, r: CommandRequest) -> CommandReply:
    outcome = await _matching(c).propose(r.number(), r.actor)
    return CommandReply(outcome.message or TXT.proposed(r.locale))


async def _teams_all(c: Commands, r: CommandRequest) -> CommandReply:
    async def solve() -> str:
        return (await _matching(c).propose_all(r.actor)).message

    # A solve can take seconds: acknowledged first, the result told privately.
    return CommandReply(TXT.forming(r.locale), later=solve)


async def _volunteers(c: Commands, r: CommandRequest) -> CommandReply:
    return CommandReply(await _coordination(c).volunteers_text())


async def _outbox(c: Commands, r: CommandRequest) -> CommandReply:
    return CommandReply(await _coordination(c).outbox_text())


async def _quota(c: Commands, r: CommandRequest) -> CommandReply:
    assert c.services.budget is not None
    return CommandReply(await c.services.budget.text(r.locale))


async def _programme(c: Commands, r: CommandRequest) -> CommandReply:
    items = await _programmes(c).programmes()
    views = tuple(programme_view(p) for p in items)
    return CommandReply(TXT.programmes(r.locale), programmes=views)


async def _schedule(c: Commands, r: CommandRequest) -> CommandReply:
    return CommandReply(await _programmes(c).schedule_text(r.locale))


async def _attendance(c: Commands, r: CommandRequest) -> CommandReply:
    programmes = _programmes(c)
    sheet = await programmes.attendance_sheet(r.number(), r.locale)
    text = await programmes.attendance_text(r.number(), r.locale)
    return CommandReply(text, attendance=sheet)


async def _assign(c: Commands, r: CommandRequest) -> CommandReply:
    outcome = await _programmes(c).assign(r.number(), r.args[1], r.actor)
    return CommandReply(outcome.message)


async def _cancel(c: Commands, r: CommandRequest) -> CommandReply:
    outcome = await _programmes(c).cancel_announcement(r.number(), r.actor)
    return CommandReply(outcome.message)


async def _link(c: Commands, r: CommandRequest) -> CommandReply:
    return CommandReply(await _teams(c).link(r.actor, " ".join(r.args)))


async def _lang(c: Commands, r: CommandRequest) -> CommandReply:
    assert c.services.languages is not None
    if not r.args:
        return CommandReply(TXT.lang_now(r.locale))
    word = fold(" ".join(r.args))
    if word in LANG_CLEAR:
        await c.services.languages.forget(r.actor)
        return CommandReply(TXT.lang_cleared(r.locale))
    chosen = next((loc for loc, names in LANG_NAMES.items() if word in names), None)
    if chosen is None:
        return CommandReply(TXT.lang_unknown(r.locale, text=" ".join(r.args)[:40]))
    await c.services.languages.choose(r.actor, chosen)
    # Said in the language just chosen.
    return CommandReply(TXT.lang_set(chosen))


async def _progress(c: Commands, r: CommandRequest) -> CommandReply:
    return CommandReply(await _teams(c).add_note(r.channel or "", r.actor, r.rest, locale=r.locale))


async def _log(c: Commands, r: CommandRequest) -> CommandReply:
    teams = _teams(c)
    if r.args and r.args[0].lstrip("#").isdigit():
        # Another team's log, by number: for coordinators.
        if not r.coordinator:
            return CommandReply(COORDINATION_TXT.refused(r.locale), refused=True)
        return CommandReply(await teams.log_text(r.number(), locale=r.locale))
    project_id = await teams.project_in(r.channel or "")
    if project_id is None:
        return CommandReply(TEAM_TXT.not_team_channel(r.locale))
    return CommandReply(await teams.log_text(project_id, locale=r.locale))


def _office(c: Commands) -> Office:
    assert c.services.office is not None
    return c.services.office


async def _export(c: Commands, r: CommandRequest) -> CommandReply:
    try:
        wanted = ExportRequest.parse(r.args)
    except ExportError as exc:
        return CommandReply(exc.text(r.locale) + "\n" + TXT.usage(r.locale, usage=_usage(c, r)))

    async def write() -> Files:
        # Personal columns (names, employers, contacts) only for coordinators.
        return await _office(c).export(wanted, personal=r.coordinator, locale=r.locale)

    return CommandReply(TXT.preparing(r.locale), files=write)


def _usage(c: Commands, r: CommandRequest) -> str:
    command = c.find(r.verb)
    return command.usage_line(r.locale) if command else PREFIX


async def _report(c: Commands, r: CommandRequest) -> CommandReply:
    slug = r.args[0] if r.args else None

    async def write() -> Files:
        return await _office(c).report(slug, r.locale)

    return CommandReply(TXT.preparing(r.locale), files=write)


# `cases consent ID` asks the group in LINE; `cases consented ID` records a consent given
# another way (a group without LINE); the others are plain moves.
CASE_MOVES = {"publish": "case_publish", "withdraw": "case_withdraw"}


async def _cases(c: Commands, r: CommandRequest) -> CommandReply:
    """`cases WORDS` searches (coordinators also see drafts); coordinators also have
    `cases edit ID` (the form), `cases consent|publish|withdraw ID` and `cases export`
    (the site and JSON)."""
    office, first = _office(c), (r.args[0].lower() if r.args else "")
    if r.coordinator and first == "export" and len(r.args) == 1:

        async def site() -> Files:
            return await office.case_site(r.locale)

        return CommandReply(TXT.preparing(r.locale), files=site)
    numbered = len(r.args) == 2 and r.args[1].lstrip("#").isdigit()
    if r.coordinator and numbered and first == "edit":
        try:
            form = await office.case_form(r.number(1), r.locale)
        except CaseError as exc:
            return CommandReply(exc.text(r.locale))
        return CommandReply(TXT.case_form(r.locale, id=form.case_id), case_form=form)
    if r.coordinator and numbered and first in (*CASE_MOVES, "consent", "consented"):
        case_id = r.number(1)
        try:
            if first == "consent":
                state = await office.cases.ask_consent(case_id, r.actor)
            elif first == "consented":
                state = await office.cases.record_consent(case_id, r.actor)
            else:
                state = await office.cases.move(case_id, CASE_MOVES[first], r.actor)
        except CaseError as exc:
            return CommandReply(exc.text(r.locale))
        moved = CASE_STATES[state](r.locale)
        if first == "consent":
            return CommandReply(TXT.case_asked(r.locale, id=case_id))
        return CommandReply(TXT.case_moved(r.locale, id=case_id, state=moved))
    words = " ".join(r.args)
    found = await office.cases.search(words, drafts=r.coordinator, limit=20)
    if not found:
        return CommandReply(TXT.cases_none(r.locale, words=words[:50]))
    lines = [TXT.cases_found(r.locale, count=len(found))]
    lines += [f"• {case.line(r.locale)}" for case in found]
    return CommandReply("\n".join(lines))


# life-group (#13): `/tsunagu agree` opens the kickoff agreement form in a team channel.
async def _agree(c: Commands, r: CommandRequest) -> CommandReply:
    kickoff = c.services.kickoff
    assert kickoff is not None  # the registry offers the verb only with the service
    found = await kickoff.form(r.channel or "", r.actor, coordinator=r.coordinator, locale=r.locale)
    if isinstance(found, str):
        return CommandReply(found)
    return CommandReply(KICKOFF_TXT.opening(r.locale), form=found)


async def _help(c: Commands, r: CommandRequest) -> CommandReply:
    return c.help_reply(r)


# ---------------------------------------------------------------- life-work (#13)


def _work(c: Commands) -> Work:
    assert c.services.work is not None
    return c.services.work


async def _hours(c: Commands, r: CommandRequest) -> CommandReply:
    work = _work(c)
    if r.coordinator and (not r.args or (len(r.args) == 1 and r.args[0].startswith("#"))):
        # Coordinators read the totals (`#12`: one project's); members log with a number.
        if r.args and r.args[0][1:].isdigit():
            return CommandReply(await work.totals_text(r.locale, int(r.args[0][1:])))
        if not r.args:
            return CommandReply(await work.totals_text(r.locale))
    return CommandReply(await work.log_hours_slack(r.actor, r.channel, r.args, r.locale))


async def _deliver(c: Commands, r: CommandRequest) -> CommandReply:
    return CommandReply(await _work(c).deliver(r.actor, r.channel, r.args, r.coordinator, r.locale))


async def _complete(c: Commands, r: CommandRequest) -> CommandReply:
    text = await _work(c).complete(r.number(), r.actor, LifeRole.COORDINATOR, r.locale)
    return CommandReply(text)


async def _state_change(c: Commands, r: CommandRequest) -> CommandReply:
    verb = "cancel" if r.verb in ("cancel-project", "中止") else r.verb
    reason = " ".join(r.args[1:])
    return CommandReply(await _work(c).change(r.number(), verb, r.actor, reason, r.locale))


LIFE_WORK_TEAM: tuple[Command, ...] = (
    Command(
        "hours",
        T("[時間 内容 [日付] [#相談番号]]", "[HOURS NOTE [DATE] [#ID]]"),
        T(
            "稼働時間を記録（例: `3 団体とのヒアリング`、`2026-12-03 1.5 資料作り`）。"
            "コーディネーターは引数なしで合計（`#12` で相談ごと・人ごと）",
            "log hours (e.g. `3 hearing with the group`, `2026-12-03 1.5 slides`); "
            "coordinators without arguments see the totals (`#12`: per person)",
        ),
        _hours,
        role=Role.TEAM,
        requires=("work",),
    ),
    Command(
        "deliver",
        T("URL 内容", "URL NOTE"),
        T(
            "チームのチャンネルで納品を記録し、団体にLINEで確認を依頼",
            "in the team channel: record the delivery; the group confirms it in LINE",
        ),
        _deliver,
        role=Role.TEAM,
        requires=("work",),
        min_args=1,
    ),
)


# Coordinators' verbs come before `help` in the registry, team verbs after it.
LIFE_WORK_COORDINATOR: tuple[Command, ...] = (
    Command(
        "complete",
        T("相談番号", "PROJECT_ID"),
        T(
            "納品済みの相談を完了（お礼・アンケート・事例の下書き）",
            "complete a delivered project (thanks, feedback, a case draft)",
        ),
        _complete,
        requires=("work",),
        numbers=1,
    ),
    Command(
        "pause",
        T("相談番号 [理由]", "PROJECT_ID [REASON]"),
        T("相談を一時停止（団体とメンバーに通知）", "pause a project (group and members told)"),
        _state_change,
        requires=("work",),
        numbers=1,
    ),
    Command(
        "resume",
        T("相談番号 [理由]", "PROJECT_ID [REASON]"),
        T(
            "一時停止した相談を再開（チーム結成前なら募集に戻る）",
            "resume a paused project (back to recruiting if it had no team yet)",
        ),
        _state_change,
        requires=("work",),
        numbers=1,
    ),
    Command(
        "cancel-project",
        T("相談番号 [理由]", "PROJECT_ID [REASON]"),
        T(
            "相談を中止（団体とメンバーに通知、メンバーの枠は空く）",
            "cancel a project (group and members told, members free again)",
        ),
        _state_change,
        requires=("work",),
        numbers=1,
    ),
)


NONE = T("", "")

REGISTRY: tuple[Command, ...] = (
    Command(
        "projects",
        NONE,
        T("相談の一覧（状態と経過日数）", "requests with status and age"),
        _projects,
    ),
    Command(
        "project",
        T("12", "12"),
        T("相談 #12 のカードを表示", "show the card of request #12"),
        _project,
        numbers=1,
    ),
    Command(
        "match",
        T("12", "12"),
        T(
            "相談 #12 のチーム案（候補と理由）を作る",
            "propose a team (candidates with reasons) for #12",
        ),
        _match,
        requires=("matching",),
        numbers=1,
    ),
    Command(
        "teams",
        NONE,
        T(
            "募集中のすべての相談でチームを一括編成",
            "form teams for all recruiting projects at once",
        ),
        _teams_all,
        requires=("matching",),
    ),
    Command(
        "volunteers",
        NONE,
        T(
            "ボランティアの人数（スキル・地域・状態別）",
            "volunteer counts by skill, area and status",
        ),
        _volunteers,
    ),
    Command(
        "outbox",
        NONE,
        T(
            "配信状況と送れなかったメッセージ",
            "delivery status and messages that could not be sent",
        ),
        _outbox,
    ),
    Command(
        "quota",
        NONE,
        T(
            "LINE の今月の配信枠（残りと保留中のお知らせ）",
            "this month's LINE message budget (left, and what waits)",
        ),
        _quota,
        requires=("budget",),
    ),
    Command(
        "programme",
        NONE,
        T(
            "プログラムとフェーズの一覧・作成・編集",
            "list, create and edit programmes and their phases",
        ),
        _programme,
        aliases=("program",),
        requires=("programmes",),
    ),
    Command(
        "schedule",
        NONE,
        T(
            "送信予定のお知らせ、送れなかったもの、説明会の出欠",
            "scheduled announcements, missed ones, briefing RSVPs",
        ),
        _schedule,
        requires=("programmes",),
    ),
    Command(
        "attendance",
        T("フェーズ番号", "PHASE_ID"),
        T(
            "フェーズ（説明会・オリエンテーション・キックオフ・発表会・ふりかえり）の出欠と"
            "出席の記録（番号は `/tsunagu schedule` に出ます）",
            "RSVPs for a phase of any kind (briefing, orientation, kickoff, presentation, "
            "wrap-up) and recording who attended (ids are shown by `/tsunagu schedule`)",
        ),
        _attendance,
        requires=("programmes",),
        numbers=1,
    ),
    Command(
        "assign",
        T("相談番号 プログラム名（英字）", "PROJECT_ID PROGRAMME_SLUG"),
        T("相談をプログラムに入れる（例: `12 kawasaki2017`）", "put a project in a programme"),
        _assign,
        requires=("programmes",),
        numbers=1,
        min_args=2,
    ),
    Command(
        "cancel",
        T("お知らせ番号", "ANNOUNCEMENT_ID"),
        T(
            "お知らせを取り消す（番号は `/tsunagu schedule` に出ます）",
            "cancel an announcement (ids are shown by `/tsunagu schedule`)",
        ),
        _cancel,
        requires=("programmes",),
        numbers=1,
    ),
    # life-work (#13)
    *LIFE_WORK_COORDINATOR,
    Command(
        "export",
        T(
            "volunteers|groups|projects|hours|attendance|feedback|all [プログラム] [csv|xlsx]",
            "volunteers|groups|projects|hours|attendance|feedback|all [PROGRAMME] [csv|xlsx]",
        ),
        T(
            "一覧をCSV（Excel用）かXLSXで書き出してDMに送る",
            "export a list as CSV (for Excel) or XLSX, sent to your DM",
        ),
        _export,
        requires=("office",),
        min_args=1,
    ),
    Command(
        "report",
        T("[プログラム]", "[PROGRAMME]"),
        T(
            "プログラムの成果報告書（XLSXとグラフ）をDMに送る",
            "a programme's impact report (XLSX and charts), sent to your DM",
        ),
        _report,
        requires=("office",),
    ),
    Command(
        "help",
        T("[コマンド]", "[COMMAND]"),
        T("この説明（コマンド名を付けると詳しく）", "this help (name a command for details)"),
        _help,
        role=Role.ANYONE,
        requires=(),
    ),
    Command(
        "cases",
        T("ことば…", "WORDS…"),
        T(
            "事例を探す（コーディネーターは下書きも。`cases edit 3` で編集、"
            "`cases consent 3` で団体に LINE で同意を依頼、`cases consented 3` で LINE 以外で"
            "いただいた同意を記録、`cases publish 3` で公開、`cases export` でサイトとJSON）",
            "search the case catalogue (coordinators also see drafts; `cases edit 3` edits, "
            "`cases consent 3` asks the group in LINE, `cases consented 3` records a consent "
            "given another way, `cases publish 3` publishes, `cases export` gives the site "
            "and JSON)",
        ),
        _cases,
        role=Role.ANYONE,
        requires=("office",),
        min_args=1,
    ),
    Command(
        "link",
        T("コード", "CODE"),
        T(
            "LINEで届いたコードでSlackとLINEをつなぐ",
            "link Slack with LINE using the code you got in LINE",
        ),
        _link,
        role=Role.ANYONE,
        requires=("teams",),
    ),
    Command(
        "lang",
        T("ja|en|auto", "ja|en|auto"),
        T(
            "あなたへの返事の言語（Slackの言語設定より優先。auto で解除）",
            "the language of answers to you (wins over your Slack language; auto clears it)",
        ),
        _lang,
        role=Role.ANYONE,
        aliases=("language", "言語"),
        requires=("languages",),
    ),
    Command(
        "progress",
        T("内容", "TEXT"),
        T("チームのチャンネルで進捗を記録", "record progress in your team channel"),
        _progress,
        role=Role.TEAM,
        requires=("teams",),
    ),
    Command(
        "log",
        T("[相談番号]", "[PROJECT_ID]"),
        T(
            "チームのチャンネルで記録の一覧（コーディネーターは番号を付けて他のチームも）",
            "the team's log in its channel (coordinators: any team's, by number)",
        ),
        _log,
        role=Role.TEAM,
        requires=("teams",),
    ),
    # life-group (#13)
    Command(
        "agree",
        NONE,
        T(
            "チームのチャンネルで活動内容の合意案（成果物・範囲・基準・打ち合わせ・終了日）を"
            "団体に提案（見直しも同じ）",
            "in the team channel: propose the kickoff agreement to the group (deliverable, "
            "scope, success measures, meetings, end date; also to re-scope)",
        ),
        _agree,
        role=Role.TEAM,
        requires=("kickoff",),
    ),
    # life-work (#13)
    *LIFE_WORK_TEAM,
)


@dataclass
class Commands:
    """The registry bound to this deployment's services: dispatch and generated help."""

    services: Services
    registry: tuple[Command, ...] = field(default=REGISTRY)

    def offered(self, *, coordinator: bool = True) -> list[Command]:
        """The verbs this deployment offers to this person, in the registry's order."""
        return [
            c
            for c in self.registry
            if c.available(self.services) and (coordinator or c.role is not Role.COORDINATOR)
        ]

    def find(self, verb: str) -> Command | None:
        verb = verb.lower()
        for command in self.offered():
            if verb == command.verb or verb in command.aliases:
                return command
        return None

    def help_text(self, locale: str, *, coordinator: bool = True) -> str:
        """Every offered verb, coordinators' first, then those for team members."""
        offered = self.offered(coordinator=coordinator)
        lines: list[str] = []
        staff = (
            [c for c in offered if c.role is Role.COORDINATOR or c.verb == "help"]
            if coordinator
            else []
        )
        team = [c for c in offered if c not in staff and c.verb != "help"]
        if staff:
            lines.append(TXT.heading(locale))
            lines += [self._line(c, locale) for c in staff]
        if team:
            lines.append(TXT.team_heading(locale))
            lines += [self._line(c, locale) for c in team]
        return "\n".join(lines)

    def verb_help(self, command: Command, locale: str) -> str:
        text = TXT.verb_help(locale, usage=command.usage_line(locale), help=command.help(locale))
        if command.aliases:
            text += "\n" + TXT.aliases(locale, names=", ".join(command.aliases))
        return text

    @staticmethod
    def _line(command: Command, locale: str) -> str:
        return f"• `{command.usage_line(locale)}` {command.help(locale)}"

    def unknown(self, typed: str, locale: str, *, coordinator: bool = True) -> str:
        """The answer to a verb not in the table, with the nearest verbs offered."""
        text = TXT.unknown(locale, text=typed[:50])
        names = [n for c in self.offered(coordinator=coordinator) for n in (c.verb, *c.aliases)]
        near = difflib.get_close_matches(typed.split()[0].lower() if typed else "", names, n=3)
        if near:
            text += "\n" + TXT.did_you_mean(locale, verbs=", ".join(f"`{v}`" for v in near))
        return text

    async def run(self, request: CommandRequest) -> CommandReply:
        """Answer one command: check who may, check the arguments, call the handler."""
        command = self.find(request.verb)
        loc = request.locale
        if command is None or (command.role is Role.COORDINATOR and not request.coordinator):
            if not request.coordinator:
                return CommandReply(COORDINATION_TXT.refused(loc), refused=True)
            typed = " ".join((request.verb, *request.args))
            return CommandReply(self.unknown(typed, loc))
        if not command.fits(request):
            return CommandReply(TXT.usage(loc, usage=command.usage_line(loc)))
        return await command.handler(self, request)

    def help_reply(self, request: CommandRequest) -> CommandReply:
        """`help` (what this person may use) or `help VERB`."""
        loc = request.locale
        if request.args:
            named = self.find(request.args[0])
            if named is not None and named.role is Role.COORDINATOR and not request.coordinator:
                return CommandReply(COORDINATION_TXT.refused(loc), refused=True)
            if named is not None:
                return CommandReply(self.verb_help(named, loc))
            return CommandReply(self.unknown(request.args[0], loc, coordinator=request.coordinator))
        text = self.help_text(loc, coordinator=request.coordinator)
        if not text:  # nothing here is for someone who is not a coordinator
            return CommandReply(COORDINATION_TXT.refused(loc), refused=True)
        return CommandReply(text)
