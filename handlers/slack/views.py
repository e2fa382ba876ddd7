"""Block Kit views: pure functions from neutral data (cards, forms) to blocks and modals."""

from __future__ import annotations

from typing import Any

from bot.cards import Button, Card
from bot.conversation.fields import Option
from bot.coordination import NeedsForm
from bot.i18n import T, Texts
from bot.lifecycle.kickoff import AgreementForm, AgreementInput
from bot.office.cases import FIELDS as CASE_FIELDS
from bot.office.cases import PARTNER_KINDS
from bot.office.cases import STATES as CASE_STATES
from bot.office.cases import TEXTS as CASE_TEXTS
from bot.office.service import CASE_INPUTS, CaseForm
from bot.programmes.cohort import AttendanceSheet
from bot.taxonomy import INTERESTS, LANGUAGES, MODES, SKILLS

ASK_VIEW, DECLINE_VIEW, REJECT_VIEW = "ask_question", "decline_reason", "match_reject"
NEEDS_VIEW, NEEDS_ACTION = "project_needs", "value"
# The needs modal's input blocks, by NeedsForm field (errors are reported per block).
NEEDS_BLOCKS = {
    "required": "needs_required",
    "optional": "needs_optional",
    "team_min": "needs_team_min",
    "team_max": "needs_team_max",
    "hours_per_week": "needs_hours",
    "mode": "needs_mode",
    "languages": "needs_languages",
}
INPUT_BLOCK, INPUT_ACTION = "text_block", "text"


class _ModalTexts(Texts):
    """MODAL: texts in Japanese and English."""

    ask_title = T("団体への質問", "Ask the group")
    ask_label = T("質問（団体にLINEで届きます）", "Question (sent to the group in LINE)")
    decline_title = T("見送りの理由", "Reason to decline")
    decline_label = T(
        "理由（団体にLINEで丁寧にお伝えします）",
        "Reason (the group receives it in LINE)",
    )
    send = T("送信", "Send")
    reject_title = T("候補を見送る", "Reject candidate")
    reject_label = T(
        "理由（任意。例: 地域が遠い、時間が合わない。次の提案に反映します）",
        "Reason (optional, e.g. too far, times don't fit; used for the next suggestions)",
    )
    reject = T("見送る", "Reject")
    decline = T("見送る", "Decline")
    cancel = T("キャンセル", "Cancel")
    empty = T("入力してください。", "Please write something.")
    needs_title = T("条件を編集", "Edit needs")
    needs_save = T("保存", "Save")
    needs_intro = T(
        "相談 #{id} に必要なスキルと体制です。保存すると候補の提案を計算し直します。",
        "What request #{id} needs. Saving recomputes the suggested candidates.",
    )
    needs_required = T(
        "必要スキル（チームの誰かが必ず持つ）", "Required skills (someone must hold each)"
    )
    needs_optional = T("あれば良いスキル", "Nice-to-have skills")
    needs_team_min = T("最小人数（1〜10）", "Minimum team size (1-10)")
    needs_team_max = T("最大人数（1〜10）", "Maximum team size (1-10)")
    needs_hours_per_week = T("1人あたり週の活動時間（1〜40）", "Hours a week per person (1-40)")
    needs_mode = T("実施の形", "Mode")
    needs_languages = T(
        "翻訳の言語（翻訳・通訳のスキルを選んだとき）", "Translation languages (with translation)"
    )
    needs_pick = T("選んでください", "Choose")


MODAL = _ModalTexts
# Each needs input's label (the block names of NEEDS_BLOCKS).
NEEDS_LABELS = {
    "required": MODAL.needs_required,
    "optional": MODAL.needs_optional,
    "team_min": MODAL.needs_team_min,
    "team_max": MODAL.needs_team_max,
    "hours_per_week": MODAL.needs_hours_per_week,
    "mode": MODAL.needs_mode,
    "languages": MODAL.needs_languages,
}


def render_card(card: Card) -> list[dict[str, Any]]:
    """A neutral card as Block Kit blocks (within Slack's limits)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(card.title, 150)}}
    ]
    if card.fields:
        fields = [
            {"type": "mrkdwn", "text": clip(f"*{name}*\n{value}", 2000)}
            for name, value in card.fields[:10]
        ]
        blocks.append({"type": "section", "fields": fields})
    for section in card.sections:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": clip(section, 3000)}})
    if card.body:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": clip(card.body, 3000)}}
        )
    for i, row in enumerate(card.rows[:12]):
        blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": clip(row.text, 3000)}})
        if row.context:
            blocks.append(
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": clip(row.context, 3000)}],
                }
            )
        if row.buttons:
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"row_{i}",
                    "elements": [_button(b) for b in row.buttons[:5]],
                }
            )
    if card.buttons:
        elements = [_button(b) for b in card.buttons[:25]]
        blocks.append({"type": "actions", "block_id": "card_actions", "elements": elements})
    if card.context:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(card.context, 3000)}]}
        )
    return blocks


def _button(button: Button) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(button.label, 75)},
        "action_id": button.action_id,
        "value": button.value,
    }
    if button.style:
        element["style"] = button.style
    return element


def render_text_modal(
    callback_id: str,
    metadata: str,
    title: str,
    label: str,
    submit: str,
    close: str,
    *,
    optional: bool = False,
) -> dict[str, Any]:
    """A modal with one multi-line text input."""
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": clip(title, 24)},
        "submit": {"type": "plain_text", "text": clip(submit, 24)},
        "close": {"type": "plain_text", "text": clip(close, 24)},
        "blocks": [
            {
                "type": "input",
                "block_id": INPUT_BLOCK,
                "optional": optional,
                "label": {"type": "plain_text", "text": clip(label, 2000)},
                "element": {
                    "type": "plain_text_input",
                    "action_id": INPUT_ACTION,
                    "multiline": True,
                    "max_length": 1000,
                },
            }
        ],
    }


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": clip(text, 75)}, "value": value}


def _options(table: tuple[Option, ...], locale: str) -> dict[str, dict[str, Any]]:
    """A taxonomy (skills, languages, modes) as Block Kit options, by key."""
    return {o.key: _option(o.key, o.label(locale)) for o in table}


def _pick(
    block: str,
    keys: tuple[str, ...],
    table: dict[str, dict[str, Any]],
    locale: str,
    *,
    optional: bool,
) -> dict[str, Any]:
    """A multi-select input of the needs modal, with what is chosen now."""
    element: dict[str, Any] = {
        "type": "multi_static_select",
        "action_id": NEEDS_ACTION,
        "placeholder": {"type": "plain_text", "text": MODAL.needs_pick(locale)},
        "options": list(table.values()),
    }
    chosen = [table[k] for k in keys if k in table]
    if chosen:
        element["initial_options"] = chosen
    return {
        "type": "input",
        "block_id": NEEDS_BLOCKS[block],
        "optional": optional,
        "label": {"type": "plain_text", "text": NEEDS_LABELS[block](locale)},
        "element": element,
    }


def _number(block: str, value: int | None, lo: int, hi: int, locale: str) -> dict[str, Any]:
    """A whole-number input of the needs modal, between lo and hi."""
    element: dict[str, Any] = {
        "type": "number_input",
        "action_id": NEEDS_ACTION,
        "is_decimal_allowed": False,
        "min_value": str(lo),
        "max_value": str(hi),
    }
    if value is not None:
        element["initial_value"] = str(value)
    return {
        "type": "input",
        "block_id": NEEDS_BLOCKS[block],
        "label": {"type": "plain_text", "text": NEEDS_LABELS[block](locale)},
        "element": element,
    }


def _mode(form: NeedsForm, locale: str) -> dict[str, Any]:
    modes = _options(MODES, locale)
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": NEEDS_ACTION,
        "options": list(modes.values()),
    }
    if form.mode in modes:
        element["initial_option"] = modes[form.mode]
    return {
        "type": "input",
        "block_id": NEEDS_BLOCKS["mode"],
        "label": {"type": "plain_text", "text": MODAL.needs_mode(locale)},
        "element": element,
    }


def render_needs_modal(form: NeedsForm, channel: str, locale: str) -> dict[str, Any]:
    """The "Edit needs" modal: skills (multi-selects), team size, hours, mode."""
    skills = _options(SKILLS, locale)
    intro = MODAL.needs_intro(locale, id=form.project_id)
    return {
        "type": "modal",
        "callback_id": NEEDS_VIEW,
        "private_metadata": f"{form.project_id}:{form.version}|{channel}",
        "title": {"type": "plain_text", "text": clip(MODAL.needs_title(locale), 24)},
        "submit": {"type": "plain_text", "text": clip(MODAL.needs_save(locale), 24)},
        "close": {"type": "plain_text", "text": clip(MODAL.cancel(locale), 24)},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": intro}},
            _pick("required", form.required, skills, locale, optional=False),
            _pick("optional", form.optional, skills, locale, optional=True),
            _number("team_min", form.team_min, 1, 10, locale),
            _number("team_max", form.team_max, 1, 10, locale),
            _number("hours_per_week", form.hours_per_week, 1, 40, locale),
            _mode(form, locale),
            _pick("languages", form.languages, _options(LANGUAGES, locale), locale, optional=True),
        ],
    }


def parse_needs(view: dict[str, Any]) -> NeedsForm | None:
    """The needs form from a submitted modal (None if its metadata is not ours)."""
    values = view.get("state", {}).get("values", {})

    def state(field: str) -> dict[str, Any]:
        return dict(values.get(NEEDS_BLOCKS[field], {}).get(NEEDS_ACTION) or {})

    def keys(field: str) -> tuple[str, ...]:
        return tuple(str(o.get("value", "")) for o in state(field).get("selected_options") or [])

    def number(field: str) -> int | None:
        text = str(state(field).get("value") or "").strip()
        return int(text) if text.isdigit() else None

    ids, _, _ = str(view.get("private_metadata", "")).partition("|")
    project, _, version = ids.partition(":")
    if not project.isdigit() or not version.isdigit():
        return None
    mode = state("mode").get("selected_option") or {}
    return NeedsForm(
        project_id=int(project),
        version=int(version),
        required=keys("required"),
        optional=keys("optional"),
        team_min=number("team_min"),
        team_max=number("team_max"),
        hours_per_week=number("hours_per_week"),
        mode=str(mode.get("value", "")),
        languages=keys("languages"),
    )


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, 3000)}}


def project_id_of(value: str) -> int:
    """`"12:3"` (project id and version on the button) -> 12."""
    return int(value.split(":", 1)[0])


# ---------------------------------------------------------------- the case form

CASE_VIEW, CASE_ACTION = "case_edit", "value"
SHORT_INPUTS = ("title", "area", "year", "period")


class _CaseModalTexts(Texts):
    """CASE_MODAL: texts in Japanese and English."""

    title = T("事例 #{id} を編集", "Edit case #{id}")
    save = T("保存", "Save")
    year = T("年", "Year")
    state = T(
        "状態: *{state}*。保存後、団体が同意していれば "
        "`/tsunagu cases publish {id}` で公開します。",
        "State: *{state}*. After saving, `/tsunagu cases publish {id}` publishes it once "
        "the group has consented.",
    )
    partners_hint = T(
        "1行に1つ「名前 / 種別」（種別: {kinds}）", "One a line, “name / kind” (kinds: {kinds})"
    )


CASE_MODAL = _CaseModalTexts


def case_block(key: str) -> str:
    """The block id of a case form input (errors are reported per block)."""
    return f"case_{key}"


def _case_input(key: str, value: str, locale: str) -> dict[str, Any]:
    label = CASE_MODAL.year(locale) if key == "year" else CASE_FIELDS[key](locale)
    element: dict[str, Any]
    if key == "field":
        options = _options(INTERESTS, locale)
        element = {
            "type": "static_select",
            "action_id": CASE_ACTION,
            "options": list(options.values()),
        }
        if value in options:
            element["initial_option"] = options[value]
    else:
        element = {
            "type": "plain_text_input",
            "action_id": CASE_ACTION,
            "multiline": key not in SHORT_INPUTS,
            "max_length": CASE_TEXTS.get(key, 1000),
        }
        if value:
            element["initial_value"] = value
    block: dict[str, Any] = {
        "type": "input",
        "block_id": case_block(key),
        "optional": key not in ("title", "area", "field", "year"),
        "label": {"type": "plain_text", "text": clip(label, 2000)},
        "element": element,
    }
    if key == "partners":
        kinds = "、" if locale == "ja" else ", "
        names = kinds.join(o.label(locale) for o in PARTNER_KINDS)
        hint = CASE_MODAL.partners_hint(locale, kinds=names)
        block["hint"] = {"type": "plain_text", "text": clip(hint, 2000)}
    return block


def render_case_modal(form: CaseForm, locale: str) -> dict[str, Any]:
    """A case's edit form: Chiba's fields as they read now (最終更新日 moves on save)."""
    state = CASE_STATES[form.status](locale)
    blocks = [_text(CASE_MODAL.state(locale, state=state, id=form.case_id))]
    blocks += [_case_input(k, form.values.get(k, ""), locale) for k in CASE_INPUTS]
    return {
        "type": "modal",
        "callback_id": CASE_VIEW,
        "private_metadata": f"{form.case_id}:{form.version}",
        "title": {
            "type": "plain_text",
            "text": clip(CASE_MODAL.title(locale, id=form.case_id), 24),
        },
        "submit": {"type": "plain_text", "text": CASE_MODAL.save(locale)},
        "close": {"type": "plain_text", "text": MODAL.cancel(locale)},
        "blocks": blocks,
    }


def parse_case(view: dict[str, Any]) -> tuple[int, int, dict[str, str]] | None:
    """(case id, version, the inputs as text) from a submitted case form."""
    case_text, _, version_text = str(view.get("private_metadata", "")).partition(":")
    if not case_text.isdigit() or not version_text.isdigit():
        return None
    values = view.get("state", {}).get("values", {})
    out: dict[str, str] = {}
    for key in CASE_INPUTS:
        entry = values.get(case_block(key), {}).get(CASE_ACTION) or {}
        chosen = entry.get("selected_option") or {}
        out[key] = str(chosen.get("value") if chosen else entry.get("value") or "")
    return int(case_text), int(version_text), out


# ---- life-cohort (#13): attendance for every phase kind

ATTENDANCE_ACTION, ATTENDANCE_VIEW = "attendance_mark", "attendance_record"
ATTENDANCE_BLOCK, ATTENDANCE_PICK = "attendance_people", "present"
# Slack's limit on a multi-select's options.
_MAX_OPTIONS = 100


class _AttendanceTexts(Texts):
    """ATTENDANCE: texts in Japanese and English."""

    mark = T("出席を記録", "Record attendance")
    title = T("出席の記録", "Record attendance")
    save = T("記録する", "Save")
    label = T("出席した人（選ばれなかった人は欠席）", "Who attended (the others were absent)")
    intro = T("{phase}（{date}）", "{phase} ({date})")
    nobody = T(
        "まだ記録できる人がいません（案内・回答・チームのメンバーがいません）。",
        "Nobody to record yet: no one was invited, answered, or is on a team for it.",
    )


ATTENDANCE = _AttendanceTexts


def attendance_blocks(
    text: str, sheet: AttendanceSheet | None, locale: str
) -> list[dict[str, Any]]:
    """The attendance list, with a button opening the modal to record who attended."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, 3000)}}
    ]
    if sheet is not None and sheet.people:
        label = ATTENDANCE.mark(locale)
        button = {
            "type": "button",
            "action_id": ATTENDANCE_ACTION,
            "text": {"type": "plain_text", "text": label},
            "value": str(sheet.phase_id),
        }
        blocks.append({"type": "actions", "elements": [button]})
    return blocks


def attendance_modal(sheet: AttendanceSheet, channel: str, locale: str) -> dict[str, Any]:
    """Tick who attended; those already recorded as attended start ticked."""
    people = sheet.people[:_MAX_OPTIONS]
    options = [_option(p.key, clip(p.name, 75)) for p in people]
    picker: dict[str, Any] = {
        "type": "multi_static_select",
        "action_id": ATTENDANCE_PICK,
        "placeholder": {"type": "plain_text", "text": MODAL.needs_pick(locale)},
        "options": options,
    }
    ticked = [o for o, p in zip(options, people, strict=True) if p.state == "attended"]
    if ticked:
        picker["initial_options"] = ticked
    intro = ATTENDANCE.intro(locale, phase=sheet.title, date=sheet.when)
    return {
        "type": "modal",
        "callback_id": ATTENDANCE_VIEW,
        "private_metadata": f"{sheet.phase_id}|{channel}",
        "title": {"type": "plain_text", "text": ATTENDANCE.title(locale)},
        "submit": {"type": "plain_text", "text": ATTENDANCE.save(locale)},
        "close": {"type": "plain_text", "text": MODAL.cancel(locale)},
        "blocks": [
            {"type": "section", "text": {"type": "plain_text", "text": clip(intro, 3000)}},
            {
                "type": "input",
                "block_id": ATTENDANCE_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": ATTENDANCE.label(locale)},
                "element": picker,
            },
        ],
    }


def parse_attendance(view: dict[str, Any]) -> tuple[int, str, set[str]] | None:
    """(phase id, channel, the ticked people's keys) from a submitted attendance modal."""
    phase_text, _, channel = str(view.get("private_metadata", "")).partition("|")
    if not phase_text.isdigit():
        return None
    values = view.get("state", {}).get("values", {})
    picked = (values.get(ATTENDANCE_BLOCK) or {}).get(ATTENDANCE_PICK) or {}
    chosen = {str(o.get("value", "")) for o in picked.get("selected_options") or ()}
    return int(phase_text), channel, chosen


# ---- end life-cohort
# ---------------------------------------------------------------- life-group (#13): the agreement

AGREEMENT_VIEW, AGREEMENT_ACTION = "kickoff_agreement", "value"


class _AgreementTexts(Texts):
    """AGREEMENT_TEXT: texts in Japanese and English."""

    title = T("活動内容の合意案", "Kickoff agreement")
    rescope = T(
        "第{v}版をもとに見直します。送信すると第{n}版として団体に届きます。",
        "Re-scoping from version {v}. Sending makes it version {n} for the group.",
    )
    intro = T(
        "団体にLINEで届き、団体が確定するとプロジェクトは「合意済み」になります。",
        "The group receives it in LINE; once it confirms, the project is agreed.",
    )
    deliverable = T("成果物（例: Facebook運用マニュアル）", "Deliverable (e.g. a Facebook manual)")
    scope = T("範囲（やること・やらないこと）", "Scope (what is in and out)")
    success_measures = T("成功の基準", "Success measures")
    meeting_rhythm = T("打ち合わせの頻度（例: 毎週火曜の夜）", "Meeting rhythm (e.g. Tuesdays)")
    end_date = T("終了予定日", "End date")
    send = T("団体に送る", "Send to the group")


AGREEMENT_TEXT = _AgreementTexts


def render_agreement_modal(form: AgreementForm, locale: str) -> dict[str, Any]:
    """The kickoff agreement form, prefilled from the newest version when re-scoping."""
    t = AGREEMENT_TEXT
    intro = t.intro(locale)
    if form.version:
        intro = t.rescope(locale, v=form.version, n=form.version + 1) + "\n" + intro
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "plain_text", "text": clip(intro, 3000)}}
    ]
    fields = (
        ("deliverable", t.deliverable),
        ("scope", t.scope),
        ("success_measures", t.success_measures),
        ("meeting_rhythm", t.meeting_rhythm),
    )
    for name, label in fields:
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": AGREEMENT_ACTION,
            "multiline": name != "deliverable",
            "max_length": 1000,
        }
        if getattr(form, name):
            element["initial_value"] = getattr(form, name)
        blocks.append(
            {
                "type": "input",
                "block_id": name,
                "label": {"type": "plain_text", "text": label(locale)},
                "element": element,
            }
        )
    picker: dict[str, Any] = {"type": "datepicker", "action_id": AGREEMENT_ACTION}
    if form.end_date:
        picker["initial_date"] = form.end_date
    blocks.append(
        {
            "type": "input",
            "block_id": "end_date",
            "label": {"type": "plain_text", "text": t.end_date(locale)},
            "element": picker,
        }
    )
    return {
        "type": "modal",
        "callback_id": AGREEMENT_VIEW,
        "private_metadata": f"{form.project_id}|{form.channel}",
        "title": {"type": "plain_text", "text": clip(t.title(locale), 24)},
        "submit": {"type": "plain_text", "text": clip(t.send(locale), 24)},
        "close": {"type": "plain_text", "text": clip(MODAL.cancel(locale), 24)},
        "blocks": blocks,
    }


def parse_agreement(view: dict[str, Any]) -> AgreementInput | None:
    """The submitted agreement form (None: not a form we opened)."""
    project, _, channel = str(view.get("private_metadata", "")).partition("|")
    if not project.isdigit():
        return None
    values = view.get("state", {}).get("values", {})

    def value(block: str) -> str:
        got = values.get(block, {}).get(AGREEMENT_ACTION, {})
        return str(got.get("value") or got.get("selected_date") or "").strip()

    return AgreementInput(
        int(project),
        channel,
        value("deliverable"),
        value("scope"),
        value("success_measures"),
        value("meeting_rhythm"),
        value("end_date"),
    )
