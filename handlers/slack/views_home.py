"""The App Home as Block Kit: the coordinators' dashboard and a person's own page, pure
functions from the office's neutral data (bot/office) to a `home` view."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.cards import Button
from bot.coordination import ACCEPT, ASK, DECLINE
from bot.i18n import T, Texts
from bot.matching.service import SUGGEST
from bot.office.dashboard import ActionItem, Dashboard, NextAnnouncement, Stage, TargetLine
from bot.office.labels import one
from bot.office.service import MemberPage
from bot.taxonomy import SECTORS
from handlers.slack.views import _button, _text, clip

HOME_EXPORT, HOME_REPORT, HOME_REFRESH = "home_export", "home_report", "home_refresh"
# The outbox's state (what `/tsunagu outbox` answers) sent to the coordinator's DM, and a
# link to a team's channel (Slack opens the URL; the click is only acknowledged).
HOME_OUTBOX, HOME_CHANNEL = "home_outbox", "home_channel"


class _HomeTexts(Texts):
    """HOME: texts in Japanese and English."""

    title = T("プログラム事務局", "Programme office")
    running = T("実施中: *{name}*", "Running: *{name}*")
    no_running = T("実施中のプログラムはありません。", "No programme is running.")
    funnel = T("*ファネル（このプログラム）*", "*Funnel (this programme)*")
    funnel_all = T("*ファネル（累計）*", "*Funnel (all time)*")
    action = T("*対応が必要*", "*Needs action*")
    nothing = T("対応待ちの相談はありません。", "No request is waiting on the office.")
    dead = T(
        "⚠️ 送れなかったメッセージ: *{n}* 件",
        "⚠️ Messages that could not be sent: *{n}*",
    )
    outbox = T("配信状況を見る", "Show the delivery state")
    channel = T("チャンネルを開く", "Open the channel")
    due = T("納品予定 {day}", "due {day}")
    states = T("*状態別の相談*", "*Requests by state*")
    upcoming = T("*次のお知らせ*", "*Next announcements*")
    no_upcoming = T("予定されたお知らせはありません。", "No announcement is scheduled.")
    targets = T("*目標と実績*", "*Targets and actuals*")
    not_set = T("目標なし", "no target")
    not_recorded = T("未記録", "not recorded")
    sectors = T("*団体の種別*", "*Groups by sector*")
    no_sector = T("未回答", "Not given")
    overdue = T("（予定時刻を過ぎて未送信）", "(past its time, not sent)")
    export = T("全データを書き出す（XLSX）", "Export everything (XLSX)")
    report = T("成果報告書", "Impact report")
    refresh = T("更新", "Refresh")
    accept = T("受け付ける", "Accept")
    ask = T("質問する", "Ask")
    decline = T("見送る", "Decline")
    suggest = T("候補を提案", "Suggest team")
    updated = T("{at} 時点", "As of {at}")
    mine = T("あなたのページ", "Your page")
    my_teams = T("*あなたのチーム*", "*Your teams*")
    no_teams = T("まだチームに入っていません。", "You are not on a team yet.")
    team_hours = T("あなたの記録 {h}時間", "you logged {h} h")
    hours = T("*あなたの活動時間*（記録の合計）: {h}時間", "*Your hours* (logged in all): {h} h")
    how_to_log = T(
        "記録するには: チームのチャンネルで `/tsunagu hours 3 内容`、またはLINEで「稼働記録」",
        "To log: `/tsunagu hours 3 what you did` in the team channel, or “稼働記録” in LINE",
    )
    team_upcoming = T("*チームへの次のお知らせ*", "*Next announcements to your teams*")
    not_linked = T(
        "LINE のボランティア登録とまだつながっていません。LINE で「Slack連携」と送ると届く"
        "コードを `/tsunagu link コード` で入力してください。",
        "Your Slack is not linked with your volunteer sign-up in LINE yet. Send “Slack連携” "
        "in LINE and type the code you get as `/tsunagu link CODE`.",
    )


HOME = _HomeTexts
# Each reason's buttons: the actions the project's own card offers for it, and labels.
ACTION_BUTTONS: dict[str, tuple[tuple[str, T], ...]] = {
    "decide": ((ACCEPT, HOME.accept), (ASK, HOME.ask), (DECLINE, HOME.decline)),
    "confirm": ((SUGGEST, HOME.suggest),),
    "late_proposal": ((SUGGEST, HOME.suggest),),
    "red": ((SUGGEST, HOME.suggest),),
    "overdue": (),
}


def _home_button(label: str, action_id: str, value: str, style: str | None = None) -> Button:
    return Button(label, action_id, value, style)


def _channel_button(label: str, channel: str) -> dict[str, Any]:
    """A button that opens a Slack channel (its click reaches the app too: acknowledged)."""
    return {
        "type": "button",
        "action_id": HOME_CHANNEL,
        "text": {"type": "plain_text", "text": clip(label, 75)},
        "url": f"https://slack.com/app_redirect?channel={channel}",
        "value": channel,
    }


def _funnel_line(stages: tuple[Stage, ...], locale: str) -> str:
    return " → ".join(f"{s.label(locale)} *{s.count}*" for s in stages)


def _target_line(line: TargetLine, locale: str) -> str:
    actual = HOME.not_recorded(locale) if line.actual is None else str(line.actual)
    goal = HOME.not_set(locale) if line.target is None else str(line.target)
    ratio = f" ({line.ratio:.0%})" if line.ratio is not None else ""
    return f"• {line.label(locale)}: {actual} / {goal}{ratio}"


def _action_blocks(item: ActionItem, locale: str, tz: ZoneInfo) -> list[dict[str, Any]]:
    since = _at(item.since, tz)
    if item.reason == "overdue":
        since = HOME.due(locale, day=_at(item.since, UTC, "%Y-%m-%d"))
    text = f"*#{item.project_id}* {item.organization} — {item.label(locale)} ({since})"
    elements = [
        _button(_home_button(label(locale), a, str(item.project_id)))
        for a, label in ACTION_BUTTONS[item.reason]
    ]
    if item.channel:
        elements.append(_channel_button(HOME.channel(locale), item.channel))
    blocks = [_text(text)]
    if elements:
        block_id = f"home_action_{item.project_id}"
        blocks.append({"type": "actions", "block_id": block_id, "elements": elements})
    return blocks


def _aware(moment: datetime) -> datetime:
    """Times from the database are UTC (SQLite gives them without a zone)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _at(moment: datetime, tz: ZoneInfo | Any, fmt: str = "%m/%d %H:%M") -> str:
    return _aware(moment).astimezone(tz).strftime(fmt)


def _heading_blocks(board: Dashboard, locale: str, at: str) -> list[dict[str, Any]]:
    running = board.programme_name
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": HOME.title(locale)}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": HOME.updated(locale, at=at)}],
        },
        _text(HOME.running(locale, name=running) if running else HOME.no_running(locale)),
    ]
    if board.funnel:
        blocks.append(_text(HOME.funnel(locale) + "\n" + _funnel_line(board.funnel, locale)))
    everything = _funnel_line(board.funnel_all_time, locale)
    blocks.append(_text(HOME.funnel_all(locale) + "\n" + everything))
    return blocks


def _needs_action(board: Dashboard, locale: str, tz: ZoneInfo, budget: str) -> list[dict[str, Any]]:
    """Messages that could not be sent first (people are not being reached), then the
    projects most urgent first (bot.office.dashboard.ACTIONS), then the LINE budget."""
    blocks = [{"type": "divider"}, _text(HOME.action(locale))]
    if board.dead_letters:
        outbox = _home_button(HOME.outbox(locale), HOME_OUTBOX, "outbox", "danger")
        blocks += [
            _text(HOME.dead(locale, n=board.dead_letters)),
            {"type": "actions", "block_id": "home_dead", "elements": [_button(outbox)]},
        ]
    if not board.actions:
        blocks.append(_text(HOME.nothing(locale)))
    for item in board.actions[:10]:
        blocks += _action_blocks(item, locale, tz)
    if budget:
        blocks.append(_text(budget))
    return blocks


def _announcement_line(a: NextAnnouncement, locale: str, tz: ZoneInfo, now: datetime) -> str:
    late = HOME.overdue(locale) if _aware(a.send_at) < now else ""
    return f"• {_at(a.send_at, tz)} {a.programme} — {a.phase(locale)} (#{a.announcement_id}){late}"


def _overview(board: Dashboard, locale: str, tz: ZoneInfo, now: datetime) -> list[dict[str, Any]]:
    states = "\n".join(f"• {label(locale)}: {n}" for _, label, n in board.by_state) or "—"
    upcoming = "\n".join(_announcement_line(a, locale, tz, now) for a in board.upcoming)
    blocks = [
        {"type": "divider"},
        _text(HOME.states(locale) + "\n" + states),
        _text(HOME.upcoming(locale) + "\n" + (upcoming or HOME.no_upcoming(locale))),
    ]
    if board.targets:
        lines = "\n".join(_target_line(t, locale) for t in board.targets)
        blocks.append(_text(HOME.targets(locale) + "\n" + lines))
    if board.sectors:
        sectors = ", ".join(
            f"{one(SECTORS, k, locale) if k else HOME.no_sector(locale)} {n}"
            for k, n in board.sectors.items()
        )
        blocks.append(_text(HOME.sectors(locale) + "\n" + sectors))
    return blocks


def render_home(
    board: Dashboard, locale: str, tz: ZoneInfo, now: datetime, budget: str = ""
) -> dict[str, Any]:
    """The coordinators' App Home: funnel, what needs action (with its buttons), requests
    by state, next announcements, targets against actuals, and the office's files."""
    blocks = _heading_blocks(board, locale, _at(now, tz, "%Y-%m-%d %H:%M"))
    blocks += _needs_action(board, locale, tz, budget)
    blocks += _overview(board, locale, tz, _aware(now))
    files = [
        _home_button(HOME.export(locale), HOME_EXPORT, "all xlsx", "primary"),
        _home_button(HOME.report(locale), HOME_REPORT, ""),
        _home_button(HOME.refresh(locale), HOME_REFRESH, "refresh"),
    ]
    elements = [_button(b) for b in files]
    blocks.append({"type": "actions", "block_id": "home_files", "elements": elements})
    return {"type": "home", "blocks": blocks[:100]}


def render_member_home(
    page: MemberPage, locale: str, tz: ZoneInfo, now: datetime
) -> dict[str, Any]:
    """The App Home of someone who is not a coordinator: their teams with their states
    and the hours they logged on each, their hours in all, and what their teams are told
    next."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": HOME.mine(locale)}}
    ]
    if not page.linked:
        blocks.append(_text(HOME.not_linked(locale)))
        return {"type": "home", "blocks": blocks}
    teams = [
        f"• #{t.project_id} {t.organization} — {t.status(locale)}"
        + (f"・{HOME.team_hours(locale, h=t.hours)}" if t.hours else "")
        + (f" <#{t.channel}>" if t.channel else "")
        for t in page.teams[:40]
    ]
    blocks.append(_text(HOME.my_teams(locale) + "\n" + ("\n".join(teams) or HOME.no_teams(locale))))
    blocks.append(_text(HOME.hours(locale, h=page.hours)))
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": HOME.how_to_log(locale)}]}
    )
    if page.upcoming:
        lines = "\n".join(_announcement_line(a, locale, tz, _aware(now)) for a in page.upcoming)
        blocks.append(_text(HOME.team_upcoming(locale) + "\n" + lines))
    return {"type": "home", "blocks": blocks}
