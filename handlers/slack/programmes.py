"""Slack UI for the programme calendar: the listing `/tsunagu programme` shows (the
verbs themselves are in bot.commands), and the modals to create a programme and to add,
edit or delete phases.

Listeners only translate Block Kit in and out; the work is bot.programmes.service.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.cards import plain
from bot.i18n import T, Texts
from bot.programmes.schedule import (
    KINDS,
    TARGET_KINDS,
    ProgrammeSpec,
    ScheduleError,
    describe_offset,
    is_slug,
    zone,
)
from bot.programmes.service import Programmes, phase_spec
from bot.programmes.views import PhaseView, ProgrammeView, programme_view
from handlers.slack.gate import CoordinatorGate

log = logging.getLogger(__name__)

Body = dict[str, Any]

NEW_PROGRAMME, ADD_PHASE, EDIT_PHASE, DELETE_PHASE = (
    "programme_new",
    "phase_add",
    "phase_edit",
    "phase_delete",
)
EDIT_PROGRAMME = "programme_edit"
# The largest target the modal takes (a typo guard, far above any programme's numbers).
MAX_TARGET = 1_000_000
PROGRAMME_VIEW, PHASE_VIEW = "programme_modal", "phase_modal"


class _UiTexts(Texts):
    """UI: texts in Japanese and English."""

    title = T("プログラム", "Programmes")
    none = T(
        "まだプログラムがありません。下のボタンで作るか、"
        "`tsunagu programme import FILE` で取り込めます。",
        "No programmes yet. Create one with the button below, or `tsunagu programme import FILE`.",
    )
    new = T("新しいプログラム", "New programme")
    add_phase = T("フェーズを追加", "Add phase")
    edit = T("編集", "Edit")
    delete = T("削除", "Delete")
    confirm_delete = T(
        "このフェーズを削除し、未送信のお知らせを取り消しますか？",
        "Delete this phase and cancel its unsent announcements?",
    )
    yes_delete = T("削除する", "Delete")
    cancel = T("キャンセル", "Cancel")
    save = T("保存", "Save")
    programme_modal = T("新しいプログラム", "New programme")
    programme_edit = T("プログラムを編集", "Edit programme")
    edit_programme = T("名前と目標を編集", "Edit name and targets")
    targets_head = T(
        "*目標*（空欄は目標なし。事務局のホームで実績と並べて表示します）",
        "*Targets* (leave empty for none; the office's Home shows them against actuals)",
    )
    target = T("目標: {kind}", "Target: {kind}")
    bad_target = T(
        "0以上の整数で入力してください（{max}まで）。",
        "Please enter a whole number, 0 or more (at most {max}).",
    )
    saved = T("プログラム「{name}」を保存しました。", "Saved programme “{name}”.")
    gone = T(
        "このプログラムはもうありません。`/tsunagu programme` で確かめてください。",
        "This programme no longer exists. Check with `/tsunagu programme`.",
    )
    phase_modal = T("フェーズ", "Phase")
    name = T("プログラム名", "Programme name")
    slug = T(
        "短い英字名（チャンネル名に使います。例: kawasaki2026）",
        "Short ASCII name (used in channel names, e.g. kawasaki2026)",
    )
    timezone = T("タイムゾーン", "Time zone")
    kind = T("種類", "Kind")
    title_ja = T("名前（日本語・任意）", "Title in Japanese (optional)")
    title_en = T("名前（英語・任意）", "Title in English (optional)")
    start_date = T("開始日", "Start date")
    start_time = T("開始時刻", "Start time")
    end_date = T("終了日（任意）", "End date (optional)")
    end_time = T("終了時刻（任意）", "End time (optional)")
    place = T("場所（任意）", "Place (optional)")
    url = T("オンラインのURL（任意）", "Online link (optional)")
    description = T("説明（任意）", "Description (optional)")
    defaults = T("お知らせ", "Announcements")
    defaults_option = T(
        "この種類の標準のお知らせを予定する（例: 7日前・前日18:00）",
        "Schedule this kind's usual announcements (e.g. 7 days before, the day before at 18:00)",
    )
    rsvp_option = T(
        "出欠を受け付ける（説明会・キックオフ・発表会など）",
        "Take RSVPs (briefing, kickoff, presentation, ...)",
    )
    groups_option = T(
        "団体にもお知らせする（キックオフ・成果発表）",
        "Tell the groups too (kickoff, presentation)",
    )
    scope = T("対象", "For")
    scope_all = T("すべてのチーム（プログラム全体）", "Every team (the whole programme)")
    scope_one = T("#{id} {org} のチームだけ", "Only #{id} {org}'s team")
    scope_hint = T(
        "1チーム向けのフェーズは、そのチームのチャンネルとメンバー、コーディネーターにだけ届きます。",
        "A phase for one team reaches only that team's channel and members, and the coordinators.",
    )
    for_team = T("（#{id} のチームのみ）", " (team #{id} only)")
    need_date = T("開始日を選んでください。", "Please pick the start date.")
    bad_end = T("終了は開始より後にしてください。", "The end must be after the start.")
    bad_url = T(
        "http:// か https:// で始まるURLを入れてください。",
        "Please give a link starting with http:// or https://.",
    )
    bad_slug = T(
        "英小文字・数字・ハイフンで2〜24文字にしてください。",
        "Use 2 to 24 lower-case letters, digits or hyphens.",
    )
    slug_taken = T("その名前はもう使われています。", "That name is already taken.")
    empty = T("入力してください。", "Please write something.")
    created = T(
        "プログラム「{name}」を作りました。`/tsunagu programme` でフェーズを追加できます。",
        "Created programme “{name}”. Add phases with `/tsunagu programme`.",
    )
    phases_none = T("フェーズはまだありません。", "No phases yet.")
    menus = T("メニュー", "Menus")
    cancelled_state = T("（削除済み）", "(deleted)")


UI = _UiTexts

_URL = re.compile(r"^https?://\S+$")
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def _text(value: str, limit: int = 75) -> dict[str, Any]:
    value = value if len(value) <= limit else value[: limit - 1] + "…"
    return {"type": "plain_text", "text": value or " ", "emoji": True}


def _input(
    block_id: str,
    label: str,
    element: dict[str, Any],
    *,
    optional: bool = False,
) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _text(label, 2000),
        "element": {"action_id": "v", **element},
        "optional": optional,
    }


def _value(values: dict[str, Any], block_id: str) -> Any:
    """What one input block of a submitted modal holds (text, date, time, option...)."""
    state = (values.get(block_id) or {}).get("v") or {}
    kind = state.get("type")
    if kind == "datepicker":
        return state.get("selected_date")
    if kind == "timepicker":
        return state.get("selected_time")
    if kind in ("static_select", "radio_buttons"):
        return ((state.get("selected_option") or {}).get("value")) or None
    if kind == "checkboxes":
        return [o.get("value") for o in state.get("selected_options") or []]
    value = state.get("value")
    return value.strip() if isinstance(value, str) else value


def target_block(kind: str) -> str:
    """The block id of a target's number input."""
    return f"target_{kind}"


def _target_inputs(locale: str, targets: dict[str, int]) -> list[dict[str, Any]]:
    """One number input per target kind, prefilled with the programme's target."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": UI.targets_head(locale)}}
    ]
    for kind, label in TARGET_KINDS.items():
        element: dict[str, Any] = {
            "type": "number_input",
            "is_decimal_allowed": False,
            "min_value": "0",
            "max_value": str(MAX_TARGET),
        }
        if kind in targets:
            element["initial_value"] = str(targets[kind])
        text = UI.target(locale, kind=label(locale))
        blocks.append(_input(target_block(kind), text, element, optional=True))
    return blocks


def programme_modal(
    locale: str, channel: str, programme: ProgrammeView | None = None
) -> dict[str, Any]:
    """The modal to create a programme, or to edit one's name and targets (its short
    name and time zone stay: channel names and phase times depend on them)."""
    name: dict[str, Any] = {"type": "plain_text_input", "max_length": 120}
    if programme is None:
        blocks = [
            _input("name", UI.name(locale), name),
            _input("slug", UI.slug(locale), {"type": "plain_text_input", "max_length": 24}),
            _input(
                "timezone",
                UI.timezone(locale),
                {"type": "plain_text_input", "initial_value": "Asia/Tokyo", "max_length": 40},
            ),
        ]
    else:
        blocks = [_input("name", UI.name(locale), {**name, "initial_value": programme.name})]
    blocks += _target_inputs(locale, dict(programme.targets) if programme else {})
    title = (UI.programme_edit if programme else UI.programme_modal)(locale)
    return {
        "type": "modal",
        "callback_id": PROGRAMME_VIEW,
        "private_metadata": f"{channel}|{programme.id if programme else ''}",
        "title": _text(title, 24),
        "submit": _text(UI.save(locale), 24),
        "close": _text(UI.cancel(locale), 24),
        "blocks": blocks,
    }


def parse_targets_form(
    values: dict[str, Any], locale: str
) -> tuple[dict[str, int], dict[str, str]]:
    """The modal's targets (empty inputs are no target) and, by block, what is wrong."""
    targets: dict[str, int] = {}
    errors: dict[str, str] = {}
    for kind in TARGET_KINDS:
        raw = _value(values, target_block(kind))
        if raw is None or str(raw).strip() == "":
            continue
        text = str(raw).strip().translate(_FULLWIDTH)
        if not text.isascii() or not text.isdigit() or int(text) > MAX_TARGET:
            errors[target_block(kind)] = UI.bad_target(locale, max=f"{MAX_TARGET:,}")
            continue
        targets[kind] = int(text)
    return targets, errors


def _scope_select(
    locale: str, phase: PhaseView | None, teams: Sequence[tuple[int, str]]
) -> dict[str, Any]:
    """Whom a phase is for: the whole programme, or one of its teams."""
    everyone = {"text": _text(UI.scope_all(locale)), "value": "all"}
    scopes = [everyone] + [
        {"text": _text(UI.scope_one(locale, id=i, org=org)), "value": str(i)}
        for i, org in teams[:99]
    ]
    current = phase.project_id if phase is not None else None
    return {
        "type": "static_select",
        "options": scopes,
        "initial_option": next((o for o in scopes if o["value"] == str(current)), everyone),
    }


def _phase_elements(locale: str, phase: PhaseView | None, tz: tzinfo) -> dict[str, dict[str, Any]]:
    """The phase modal's input elements by block id, filled from `phase` when editing."""
    text = {"type": "plain_text_input"}
    kinds = [{"text": _text(label(locale)), "value": key} for key, label in KINDS.items()]
    options = [
        {"text": _text(UI.defaults_option(locale)), "value": "defaults"},
        {"text": _text(UI.rsvp_option(locale)), "value": "rsvp"},
        # life-group (#13): the groups are an audience of the usual announcements.
        {"text": _text(UI.groups_option(locale)), "value": "groups"},
    ]
    el: dict[str, dict[str, Any]] = {
        "kind": {"type": "static_select", "options": kinds, "initial_option": kinds[0]},
        "start_date": {"type": "datepicker"},
        "start_time": {"type": "timepicker", "initial_time": "10:00"},
        "end_date": {"type": "datepicker"},
        "end_time": {"type": "timepicker"},
        "title_ja": {**text, "max_length": 120},
        "title_en": {**text, "max_length": 120},
        "place": {**text, "max_length": 200},
        "url": {**text, "max_length": 300},
        "description": {**text, "multiline": True, "max_length": 1000},
        "options": {
            "type": "checkboxes",
            "options": options,
            "initial_options": [options[0], options[2]],
        },
    }
    if phase is None:
        return el
    el["kind"]["initial_option"] = next(k for k in kinds if k["value"] == phase.kind)
    for prefix, at in (("start", phase.starts_at), ("end", phase.ends_at)):
        if at is not None:
            local = at.astimezone(tz)
            el[f"{prefix}_date"]["initial_date"] = local.strftime("%Y-%m-%d")
            el[f"{prefix}_time"]["initial_time"] = local.strftime("%H:%M")
    for block, value in (
        ("title_ja", phase.title_ja),
        ("title_en", phase.title_en),
        ("place", phase.place),
        ("url", phase.url),
        ("description", phase.description(locale)),
    ):
        if value:
            el[block]["initial_value"] = value
    initial = ([options[0]] if phase.announces else []) + ([options[1]] if phase.rsvp else [])
    initial += [options[2]] if phase.announces else []
    el["options"].pop("initial_options")
    if initial:
        el["options"]["initial_options"] = initial
    return el


# The phase modal's blocks, in order: (block id, label, may be left empty).
PHASE_BLOCKS = (
    ("kind", UI.kind, False),
    ("title_ja", UI.title_ja, True),
    ("title_en", UI.title_en, True),
    ("start_date", UI.start_date, False),
    ("start_time", UI.start_time, False),
    ("end_date", UI.end_date, True),
    ("end_time", UI.end_time, True),
    ("place", UI.place, True),
    ("url", UI.url, True),
    ("description", UI.description, True),
    ("options", UI.defaults, True),
)


def phase_modal(
    locale: str,
    programme: ProgrammeView,
    channel: str,
    phase: PhaseView | None = None,
    teams: Sequence[tuple[int, str]] = (),
) -> dict[str, Any]:
    """The modal to add a phase to a programme, or edit one; `teams` are the projects
    (id, group) a phase can be meant for alone."""
    el = _phase_elements(locale, phase, zone(programme.timezone))
    blocks = [
        _input(block, label(locale), el[block], optional=optional)
        for block, label, optional in PHASE_BLOCKS
    ]
    scope = {
        **_input("scope", UI.scope(locale), _scope_select(locale, phase, teams)),
        "hint": _text(UI.scope_hint(locale), 2000),
    }
    blocks.insert(1, scope)
    return {
        "type": "modal",
        "callback_id": PHASE_VIEW,
        "private_metadata": f"{programme.id}|{phase.id if phase else ''}|{channel}",
        "title": _text(UI.phase_modal(locale), 24),
        "submit": _text(UI.save(locale), 24),
        "close": _text(UI.cancel(locale), 24),
        "blocks": blocks,
    }


def _button(action_id: str, label: str, value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": _text(label), "value": value, **extra}


def _phase_blocks(phase: PhaseView, tz: tzinfo, locale: str) -> list[dict[str, Any]]:
    """One phase of the listing: what, when, where, its announcements; edit and delete."""
    when = phase.starts_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    text = f"#{phase.id} *{plain(phase.title(locale))}* — {when}"
    if phase.project_id is not None:
        text += UI.for_team(locale, id=phase.project_id)
    if phase.place:
        text += f"\n{plain(phase.place)}"
    anns = ", ".join(describe_offset(a, locale) for a in phase.scheduled)
    if anns:
        text += f"\n📣 {anns}"
    confirm = {
        "title": _text(UI.delete(locale), 100),
        "text": _text(UI.confirm_delete(locale), 300),
        "confirm": _text(UI.yes_delete(locale), 30),
        "deny": _text(UI.cancel(locale), 30),
    }
    buttons = [
        _button(EDIT_PHASE, UI.edit(locale), str(phase.id)),
        _button(DELETE_PHASE, UI.delete(locale), str(phase.id), style="danger", confirm=confirm),
    ]
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
        {"type": "actions", "elements": buttons},
    ]


def programme_blocks(programmes: Sequence[ProgrammeView], locale: str) -> list[dict[str, Any]]:
    """`/tsunagu programme`: each programme with its phases and their buttons."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _text(UI.title(locale), 150)},
    ]
    if not programmes:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": UI.none(locale)}})
    for programme in programmes[:5]:
        tz = zone(programme.timezone)
        head = f"*{plain(programme.name)}*  `{programme.slug}`  ({programme.timezone})"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": head}})
        if not programme.live:
            none = {"type": "mrkdwn", "text": UI.phases_none(locale)}
            blocks.append({"type": "context", "elements": [none]})
        for phase in programme.live[:12]:
            blocks += _phase_blocks(phase, tz, locale)
        add = _button(ADD_PHASE, UI.add_phase(locale), str(programme.id), style="primary")
        edit = _button(EDIT_PROGRAMME, UI.edit_programme(locale), str(programme.id))
        blocks.append({"type": "actions", "elements": [add, edit]})
        blocks.append({"type": "divider"})
    new = _button(NEW_PROGRAMME, UI.new(locale), "new")
    blocks.append({"type": "actions", "elements": [new]})
    return blocks[:50]


def parse_phase_form(
    values: dict[str, Any], programme: ProgrammeView, locale: str
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The phase modal's values as phase_spec arguments, or errors by block id."""
    errors: dict[str, str] = {}
    tz = zone(programme.timezone)
    kind = _value(values, "kind") or "other"
    start_date, start_time = _value(values, "start_date"), _value(values, "start_time") or "10:00"
    if not start_date:
        errors["start_date"] = UI.need_date(locale)
        return None, errors
    starts = datetime.fromisoformat(f"{start_date}T{start_time}").replace(tzinfo=tz)
    ends = None
    end_date, end_time = _value(values, "end_date"), _value(values, "end_time")
    if end_date or end_time:
        ends = datetime.fromisoformat(f"{end_date or start_date}T{end_time or start_time}").replace(
            tzinfo=tz
        )
        if ends <= starts:
            errors["end_time" if end_time else "end_date"] = UI.bad_end(locale)
    url = _value(values, "url") or None
    if url and not _URL.match(url):
        errors["url"] = UI.bad_url(locale)
    if errors:
        return None, errors
    options = _value(values, "options") or []
    scope = _value(values, "scope")
    return (
        {
            "project": int(scope) if scope and scope.isdigit() else None,
            "kind": kind,
            "title_ja": _value(values, "title_ja") or "",
            "title_en": _value(values, "title_en") or "",
            "starts": starts,
            "ends": ends,
            "place": _value(values, "place") or None,
            "url": url,
            "description": _value(values, "description") or None,
            "rsvp": "rsvp" in options,
            "reminders": None if "defaults" in options else (),
            "groups": "groups" in options,
        },
        {},
    )


class ProgrammeUI:
    """The programme editor: its buttons and modals, registered on the Slack app."""

    def __init__(
        self,
        app: AsyncApp,
        gate: CoordinatorGate,
        programmes: Programmes,
        *,
        on_saved: Callable[[], None] | None = None,
    ) -> None:
        # Called after a programme is saved from its modal (the App Home shows targets).
        self.on_saved = on_saved or (lambda: None)
        self.gate = gate
        self.client = gate.client
        self.programmes = programmes
        app.action(NEW_PROGRAMME)(self._on_new)
        app.action(EDIT_PROGRAMME)(self._on_edit_programme)
        app.action(ADD_PHASE)(self._on_add)
        app.action(EDIT_PHASE)(self._on_edit)
        app.action(DELETE_PHASE)(self._on_delete)
        app.view(PROGRAMME_VIEW)(self._on_programme)
        app.view(PHASE_VIEW)(self._on_phase)

    async def _views(self) -> list[ProgrammeView]:
        return [programme_view(p) for p in await self.programmes.programmes()]

    async def _allowed(self, body: Body) -> tuple[str, str | None, str] | None:
        """(user, channel, the user's locale) for a coordinator; else refused."""
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        if not await self.gate.is_coordinator(user):
            await self.gate.refuse(user, channel, body)
            return None
        return user, channel, await self.gate.locale_of(user, channel)

    async def _on_new(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        who = await self._allowed(body)
        if who is None:
            return
        await self.client.views_open(
            trigger_id=body["trigger_id"], view=programme_modal(who[2], who[1] or "")
        )

    async def _on_edit_programme(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        who = await self._allowed(body)
        if who is None:
            return
        wanted = int(body["actions"][0]["value"])
        programme = next((p for p in await self._views() if p.id == wanted), None)
        if programme is None:
            await self.gate.tell(who[0], who[1], UI.gone(who[2]))
            return
        await self.client.views_open(
            trigger_id=body["trigger_id"], view=programme_modal(who[2], who[1] or "", programme)
        )

    async def _on_add(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        who = await self._allowed(body)
        if who is None:
            return
        programme_id = int(body["actions"][0]["value"])
        programme = next((p for p in await self._views() if p.id == programme_id), None)
        if programme is None:
            await self.gate.tell(who[0], who[1], UI.none(who[2]))
            return
        teams = await self.programmes.teams_of(programme.id)
        await self.client.views_open(
            trigger_id=body["trigger_id"],
            view=phase_modal(who[2], programme, who[1] or "", teams=teams),
        )

    async def _on_edit(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        who = await self._allowed(body)
        if who is None:
            return
        phase_id = int(body["actions"][0]["value"])
        for programme in await self._views():
            phase = programme.phase(phase_id)
            if phase is not None:
                teams = await self.programmes.teams_of(programme.id)
                await self.client.views_open(
                    trigger_id=body["trigger_id"],
                    view=phase_modal(who[2], programme, who[1] or "", phase, teams),
                )
                return
        await self.gate.tell(who[0], who[1], UI.cancelled_state(who[2]))

    async def _on_delete(self, ack: AsyncAck, body: Body, respond: AsyncRespond) -> None:
        await ack()
        who = await self._allowed(body)
        if who is None:
            return
        outcome = await self.programmes.delete_phase(int(body["actions"][0]["value"]), who[0])
        if body.get("response_url") and (body.get("container") or {}).get("is_ephemeral"):
            # The private list the button was on is drawn again without the phase,
            # with what happened on top (as Slack replaces an ephemeral message).
            blocks = programme_blocks(await self._views(), who[2])
            said = outcome.text(who[2])  # in the clicker's language
            note = {"type": "section", "text": {"type": "mrkdwn", "text": said}}
            await respond(text=said, blocks=[note, *blocks][:50], replace_original=True)
            return
        await self.gate.tell(who[0], who[1], outcome.text(who[2]))

    async def _programme_errors(self, values: Body, loc: str, editing: bool) -> dict[str, str]:
        """What is wrong with a programme's name and targets, and a new one's short name
        and time zone, by block."""
        name, slug = _value(values, "name") or "", (_value(values, "slug") or "").lower()
        errors = parse_targets_form(values, loc)[1]
        if not name:
            errors["name"] = UI.empty(loc)
        if editing:
            return errors
        if not is_slug(slug):
            errors["slug"] = UI.bad_slug(loc)
        try:
            zone(_value(values, "timezone") or "Asia/Tokyo")
        except ScheduleError as exc:
            errors["timezone"] = exc.text(loc)
        if not errors and any(p.slug == slug for p in await self.programmes.programmes()):
            errors["slug"] = UI.slug_taken(loc)
        return errors

    async def _on_programme(self, ack: AsyncAck, body: Body, view: Body) -> None:
        user = body["user"]["id"]
        loc = await self.gate.locale_of(user)
        values = view.get("state", {}).get("values", {})
        channel_text, _, programme_text = str(view.get("private_metadata", "")).partition("|")
        editing = int(programme_text) if programme_text.isdigit() else None
        errors = await self._programme_errors(values, loc, editing is not None)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        channel = channel_text or None
        await ack()
        if not await self.gate.is_coordinator(user):
            await self.gate.refuse(user, channel, body)
            return
        name, targets = _value(values, "name"), parse_targets_form(values, loc)[0]
        if editing is not None:
            saved = await self.programmes.save_settings(editing, name, targets, user)
            answer = (UI.saved if saved else UI.gone)(loc, name=plain(name))
        else:
            slug = _value(values, "slug").lower()
            tz_name = _value(values, "timezone") or "Asia/Tokyo"
            spec = ProgrammeSpec(name=name, slug=slug, timezone=tz_name, targets=targets)
            await self.programmes.import_spec(spec, actor=user)
            answer = UI.created(loc, name=plain(name))
        self.on_saved()
        await self.gate.tell(user, channel, answer)

    async def _on_phase(self, ack: AsyncAck, body: Body, view: Body) -> None:
        user = body["user"]["id"]
        programme_text, phase_text, channel = (
            [*str(view.get("private_metadata", "")).split("|"), "", "", ""]
        )[:3]
        loc = await self.gate.locale_of(user, channel or None)
        wanted = int(programme_text) if programme_text.isdigit() else 0
        programme = next((p for p in await self._views() if p.id == wanted), None)
        if programme is None:
            await ack()
            await self.gate.tell(user, channel or None, UI.none(loc))
            return
        fields, errors = parse_phase_form(view.get("state", {}).get("values", {}), programme, loc)
        if errors or fields is None:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        if not await self.gate.is_coordinator(user):
            await self.gate.refuse(user, channel or None, body)
            return
        outcome = await self.programmes.save_phase(
            programme.id,
            phase_spec(**fields),
            user,
            phase_id=int(phase_text) if phase_text else None,
        )
        await self.gate.tell(user, channel or None, outcome.text(loc))
