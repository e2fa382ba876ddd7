"""The engine: a pure function (flow, state, input) -> (new state, neutral replies).

It owns everything every flow shares: asking one thing at a time, validation and
retry messages, back, cancel, skipping optional steps, multi-select with paging,
the confirmation summary and editing any one answer from it. Flows never do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from bot import postback
from bot.conversation.fields import (
    ChoiceField,
    Invalid,
    MultiChoiceField,
    NumberField,
    TextField,
    WordsField,
)
from bot.conversation.flow import Flow, Step
from bot.conversation.model import Choice, MediaIn, Panel, PostbackIn, Reply, TextIn, UserInput
from bot.i18n import T, Texts, fold

MAX_CHOICES = 13  # LINE quick reply items
CONFIRM = postback.CONFIRM_STEP  # the "step" of the confirmation summary in postback data
BACK = postback.Go("back").pack()
CANCEL = postback.Go("cancel").pack()


def _words(*words: str) -> frozenset[str]:
    return frozenset(fold(w) for w in words)


BACK_WORDS = _words("戻る", "もどる", "前へ", "ひとつ前", "back", "previous", "prev")
CANCEL_WORDS = _words("キャンセル", "やめる", "やめます", "中止", "cancel", "quit", "stop")
DONE_WORDS = _words("完了", "おわり", "終わり", "以上", "done", "finish", "finished")
SKIP_WORDS = _words("スキップ", "なし", "特になし", "skip", "none", "n/a")
KEEP_WORDS = _words("変更しない", "そのまま", "keep", "no change", "unchanged")
CONFIRM_WORDS = _words("はい", "登録", "登録する", "確定", "yes", "confirm", "ok", "submit")
EDIT_WORDS = _words("修正", "修正する", "訂正", "edit", "change", "fix")


class _Texts(Texts):
    """What this module says, in Japanese and English (a missing one is a type error)."""

    back = T(ja="◀ 戻る", en="◀ Back")
    skip = T(ja="スキップ", en="Skip")
    keep = T(ja="変更しない", en="Keep as is")
    done = T(ja="完了 ✔", en="Done ✔")
    more = T(ja="他の選択肢 ▶", en="More ▶")
    edit = T(ja="修正する", en="Edit")
    cancel = T(ja="やめる", en="Cancel")
    picked = T(ja="選択中: {items}", en="Selected: {items}")
    picked_none = T(ja="（まだ選ばれていません）", en="(nothing selected yet)")
    multi_hint = T(
        ja="複数選べます。選び終えたら「完了」を押してください。",
        en="You can pick several. Tap Done when finished.",
    )
    current = T(ja="現在の回答: {value}", en="Current answer: {value}")
    first = T(
        ja="これが最初の質問です。やめる場合は「やめる」と送ってください。",
        en="This is the first question. To stop, send “cancel”.",
    )
    stale = T(
        ja="そのボタンは前の質問のものです。いまの質問はこちらです。",
        en="That button belongs to an earlier question. Here is the current one.",
    )
    cancelled = T(
        ja="入力を中止しました。ここまでの回答は保存していません。",
        en="Stopped. Nothing you entered so far has been saved.",
    )
    confirm_or_edit = T(
        ja="「{confirm}」か「修正する」を選んでください。項目名を送るとその項目を直せます。",
        en="Please choose “{confirm}” or “Edit”. Send an item's name to change that item.",
    )
    pick_item = T(
        ja="どの項目を直しますか？",
        en="Which item would you like to change?",
    )
    media = T(
        ja="{what}ありがとうございます。ただ、この質問には文字かボタンで答えてください。",
        en="Thanks for the {what}. For this question, please answer with text or a button.",
    )
    summary_head = T(ja="【{title}】", en="[{title}]")


TXT = _Texts

MEDIA_NAMES = {
    "sticker": T(ja="スタンプ", en="sticker"),
    "image": T(ja="画像", en="image"),
    "video": T(ja="動画", en="video"),
    "audio": T(ja="音声", en="voice message"),
    "file": T(ja="ファイル", en="file"),
    "location": T(ja="位置情報", en="location"),
}


@dataclass
class FlowState:
    """Where a person is in a flow; stored as plain data with the flow's version."""

    flow: str
    version: int
    phase: str = "ask"  # ask | confirm | edit_menu
    step: str | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    page: int = 0
    picking: list[str] = field(default_factory=list)
    # True while changing one answer from the summary: answering returns to the summary.
    editing: bool = False
    # A side flow (Flow.side) and the flow it was started over, to resume when it ends
    # (stored as that flow's own state: a "return to" slot).
    side: bool = False
    under: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for storage."""
        # By hand rather than dataclasses.asdict, whose recursive deep copy was a visible
        # part of a webhook event's CPU time (bench/README.md). Answers hold scalars and lists of
        # strings; the lists are copied so the stored data never aliases this state.
        return {
            "flow": self.flow,
            "version": self.version,
            "phase": self.phase,
            "step": self.step,
            "answers": {k: list(v) if isinstance(v, list) else v for k, v in self.answers.items()},
            "history": list(self.history),
            "page": self.page,
            "picking": list(self.picking),
            "editing": self.editing,
            "side": self.side,
            "under": self.under,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FlowState:
        """Rebuild from stored data."""
        return cls(**data)


@dataclass
class Outcome:
    """What one input did: the new state (None once the flow ended) and the replies."""

    state: FlowState | None
    replies: list[Reply]
    completed: dict[str, Any] | None = None
    cancelled: bool = False
    # The stored state of the flow a side flow was started over, once the side flow ended:
    # the caller resumes it (engine.resume with its flow) and asks its question again.
    resumed: dict[str, Any] | None = None


# ---------------------------------------------------------------- starting, resuming


def start(
    flow: Flow,
    locale: str,
    answers: dict[str, Any] | None = None,
    *,
    at_confirm: bool = False,
    over: FlowState | None = None,
) -> Outcome:
    """Begin a flow (optionally pre-filled, e.g. editing a saved profile from its summary).

    `over` is the flow running now, when a side flow starts: it resumes when the side flow
    ends. A side flow started over another side flow replaces it (one exchange at a time).
    """
    state = FlowState(flow=flow.id, version=flow.version, answers=dict(answers or {}))
    if over is not None and flow.side:
        state.under = over.under if over.side else over.to_dict()
    state.side = flow.side
    _prune(flow, state)
    unanswered = _first_unanswered(flow, state.answers)
    if at_confirm and flow.confirm and unanswered is None:
        state.phase = "confirm"
        return Outcome(state, [_summary(flow, state, locale)])
    # Editing a saved profile that lacks an answer (a step added since): ask what is
    # missing, then return to the summary; answered steps are not walked through again.
    state.editing = at_confirm and flow.confirm
    first = unanswered or flow.steps[0]
    state.step = first.key
    _enter_step(flow, state)
    replies = [Reply(flow.intro(locale))] if flow.intro is not None else []
    replies.append(_ask(flow, state, locale))
    return Outcome(state, replies)


def resume(flow: Flow, stored: dict[str, Any]) -> FlowState:
    """Load stored state; if the flow changed since, keep the answers that still fit."""
    state = FlowState.from_dict(stored)
    if state.version == flow.version and (state.step is None or flow.has_step(state.step)):
        return state
    kept = {
        k: v
        for k, v in state.answers.items()
        if k in flow.params or (flow.has_step(k) and flow.step(k).field.valid(v))
    }
    fresh = FlowState(flow=flow.id, version=flow.version, answers=kept)
    fresh.side, fresh.under = state.side, state.under
    _prune(flow, fresh)
    nxt = _first_unanswered(flow, fresh.answers)
    if nxt is None and flow.confirm:
        fresh.phase = "confirm"
    else:
        fresh.step = (nxt or flow.steps[0]).key
        fresh.history = [s.key for s in _applicable(flow, fresh.answers) if s.key in fresh.answers][
            : _index(flow, fresh.step)
        ]
        _enter_step(flow, fresh)
    return fresh


def prompt(flow: Flow, state: FlowState, locale: str) -> list[Reply]:
    """The current question (or summary) again, e.g. after a language switch."""
    if state.phase == "confirm":
        return [_summary(flow, state, locale)]
    if state.phase == "edit_menu":
        return [_edit_menu(flow, state, locale)]
    return [_ask(flow, state, locale)]


# ---------------------------------------------------------------- advancing


def waits_for_text(flow: Flow, state: FlowState) -> bool:
    """True when the current question takes free words (a message to the office, a
    multi-line description): a typed 「英語」 alone is then the answer, not a language
    switch. A short one-line answer (a name, a city) or a choice is not: there the
    greeting's promise holds, “send English at any time”."""
    if state.phase != "ask" or state.step is None or not flow.has_step(state.step):
        return False
    fld = flow.step(state.step).field
    return isinstance(fld, WordsField) or (isinstance(fld, TextField) and fld.multiline)


def advance(flow: Flow, state: FlowState, inp: UserInput, locale: str) -> Outcome:
    """Apply one input to the state; never raises on bad input, answers it politely.

    When a side flow ends (done or cancelled), the outcome carries the flow it was started
    over in `resumed`."""
    out = _advance(flow, state, inp, locale)
    if out.state is None and state.under is not None:
        out.resumed = dict(state.under)
    return out


def _advance(flow: Flow, state: FlowState, inp: UserInput, locale: str) -> Outcome:
    state = replace(
        state,
        answers=dict(state.answers),
        history=list(state.history),
        picking=list(state.picking),
    )
    command = _command(flow, state, inp)
    if command == "cancel":
        return Outcome(None, [Reply((flow.cancelled or TXT.cancelled)(locale))], cancelled=True)
    if command == "back":
        return _back(flow, state, locale)
    if isinstance(inp, MediaIn) and flow.not_text is not None:
        return Outcome(state, [Reply(flow.not_text(locale)), *prompt(flow, state, locale)])
    if isinstance(inp, MediaIn):
        what = MEDIA_NAMES.get(inp.kind, MEDIA_NAMES["file"])(locale)
        return Outcome(state, [Reply(TXT.media(locale, what=what)), *prompt(flow, state, locale)])
    if state.phase == "confirm":
        return _on_confirm(flow, state, inp, locale)
    if state.phase == "edit_menu":
        return _on_edit_menu(flow, state, inp, locale)
    return _on_answer(flow, state, inp, locale)


def _command(flow: Flow, state: FlowState, inp: UserInput) -> str | None:
    if isinstance(inp, PostbackIn):
        pb = postback.parse(inp.data)
        return pb.command if isinstance(pb, postback.Go) else None
    if isinstance(inp, TextIn):
        word = fold(inp.text)
        if word in BACK_WORDS:
            return "back"
        if word in CANCEL_WORDS:
            return "cancel"
    return None


def _parse_postback(flow: Flow, data: str) -> tuple[str, str, str] | None:
    """The step, verb and argument of a button of this flow; None for any other data."""
    pb = postback.parse(data)
    if not isinstance(pb, postback.FlowAction) or pb.flow != flow.id:
        return None
    return pb.step, pb.verb, pb.arg


def _button(flow: Flow, step: str, verb: str, arg: str = "") -> str:
    return postback.FlowAction(flow.id, step, verb, arg).pack()


def _stale(flow: Flow, state: FlowState, locale: str) -> Outcome:
    said = flow.not_text or TXT.stale
    return Outcome(state, [Reply(said(locale)), *prompt(flow, state, locale)])


def _own_data(step: Step, data: str) -> tuple[str, str] | None:
    """A skip button with its own data (not `f|...`): ("skip", "")."""
    if step.optional and step.skip_data == data:
        return "skip", ""
    return None


def _on_answer(flow: Flow, state: FlowState, inp: UserInput, locale: str) -> Outcome:
    assert state.step is not None
    step = flow.step(state.step)
    fld = step.field
    try:
        if isinstance(inp, PostbackIn):
            own = _own_data(step, inp.data)
            parsed = (step.key, *own) if own else _parse_postback(flow, inp.data)
            if parsed is None or parsed[0] != step.key:
                return _stale(flow, state, locale)
            _, verb, arg = parsed
            if verb == "more":  # another page of choices
                state.page += 1
                return Outcome(state, [_ask(flow, state, locale)])
            if verb == "skip" and step.optional:
                return _accept(flow, state, step, None, locale)
            if verb == "keep" and step.key in state.answers:
                return _accept(flow, state, step, state.answers[step.key], locale)
            if verb == "toggle" and isinstance(fld, MultiChoiceField):
                fld.parse_key(arg)
                if arg in state.picking:
                    state.picking.remove(arg)
                else:
                    state.picking.append(arg)
                state.picking = [o.key for o in fld.options if o.key in state.picking]
                return Outcome(state, [_ask(flow, state, locale)])
            if verb == "done" and isinstance(fld, MultiChoiceField):
                fld.check_count(state.picking)
                return _accept(flow, state, step, list(state.picking), locale)
            if verb == "pick":
                return _accept(flow, state, step, fld.parse_key(arg), locale)
            return _stale(flow, state, locale)

        assert isinstance(inp, TextIn)
        word = fold(inp.text)
        if step.optional and word in SKIP_WORDS:
            return _accept(flow, state, step, None, locale)
        if word in KEEP_WORDS and step.key in state.answers:
            return _accept(flow, state, step, state.answers[step.key], locale)
        if isinstance(fld, MultiChoiceField):
            if word in DONE_WORDS:
                fld.check_count(state.picking)
                return _accept(flow, state, step, list(state.picking), locale)
            picked = set(state.picking) | set(fld.parse_text(inp.text))
            state.picking = [o.key for o in fld.options if o.key in picked]
            return Outcome(state, [_ask(flow, state, locale)])
        return _accept(flow, state, step, fld.parse_text(inp.text), locale)
    except Invalid as bad:
        again = [_ask(flow, state, locale)] if flow.reask_invalid else []
        return Outcome(state, [Reply(bad.text(locale)), *again])


def _accept(flow: Flow, state: FlowState, step: Step, value: Any, locale: str) -> Outcome:
    # A skipped optional step is stored as None: answered, with nothing to say.
    state.answers[step.key] = value
    _prune(flow, state)
    if state.editing:
        nxt = _first_unanswered(flow, state.answers)
        if nxt is not None:
            state.step = nxt.key
            _enter_step(flow, state)
            return Outcome(state, [_ask(flow, state, locale)])
        return _to_confirm(flow, state, locale)
    if not state.history or state.history[-1] != step.key:
        state.history.append(step.key)
    nxt = _next_applicable(flow, state.answers, after=step.key)
    if nxt is not None:
        state.step = nxt.key
        _enter_step(flow, state)
        return Outcome(state, [_ask(flow, state, locale)])
    if flow.confirm:
        return _to_confirm(flow, state, locale)
    return Outcome(None, [], completed=_final_answers(flow, state))


def _to_confirm(flow: Flow, state: FlowState, locale: str) -> Outcome:
    state.phase = "confirm"
    state.step = None
    state.editing = False
    state.page = 0
    state.picking = []
    return Outcome(state, [_summary(flow, state, locale)])


def _back(flow: Flow, state: FlowState, locale: str) -> Outcome:
    editing = state.phase == "ask" and state.editing
    if state.phase == "edit_menu" or (editing and _first_unanswered(flow, state.answers) is None):
        return _to_confirm(flow, state, locale)
    if state.phase == "ask" and state.step is not None and state.history:
        # Steps answered after the current one stay in history; drop back to the previous.
        idx = _index(flow, state.step)
        while state.history and _index(flow, state.history[-1]) >= idx:
            state.history.pop()
    if not state.history:
        if state.phase == "confirm":
            # Editing a saved profile starts at its summary: back there means leave.
            return Outcome(None, [Reply(TXT.cancelled(locale))], cancelled=True)
        return Outcome(state, [Reply(TXT.first(locale)), *prompt(flow, state, locale)])
    previous = state.history.pop()
    state.phase = "ask"
    state.step = previous
    _enter_step(flow, state)
    return Outcome(state, [_ask(flow, state, locale)])


def _on_confirm(flow: Flow, state: FlowState, inp: UserInput, locale: str) -> Outcome:
    if isinstance(inp, PostbackIn):
        parsed = _parse_postback(flow, inp.data)
        if parsed is None or parsed[0] != CONFIRM:
            return _stale(flow, state, locale)
        _, verb, arg = parsed
        if verb == "confirm":
            return Outcome(None, [], completed=_final_answers(flow, state))
        if verb == "edit":
            state.phase = "edit_menu"
            state.page = 0
            return Outcome(state, [_edit_menu(flow, state, locale)])
        if verb == "item":
            return _edit_step(flow, state, arg, locale)
        return _stale(flow, state, locale)
    assert isinstance(inp, TextIn)
    word = fold(inp.text)
    if word in CONFIRM_WORDS or word == fold(flow.confirm_label(locale)):
        return Outcome(None, [], completed=_final_answers(flow, state))
    if word in EDIT_WORDS:
        state.phase = "edit_menu"
        state.page = 0
        return Outcome(state, [_edit_menu(flow, state, locale)])
    target = _step_by_label(flow, state, word)
    if target is not None:
        return _edit_step(flow, state, target.key, locale)
    hint = TXT.confirm_or_edit(locale, confirm=flow.confirm_label(locale))
    return Outcome(state, [Reply(hint), _summary(flow, state, locale)])


def _on_edit_menu(flow: Flow, state: FlowState, inp: UserInput, locale: str) -> Outcome:
    if isinstance(inp, PostbackIn):
        parsed = _parse_postback(flow, inp.data)
        if parsed is None or parsed[0] != CONFIRM:
            return _stale(flow, state, locale)
        _, verb, arg = parsed
        if verb == "item":
            return _edit_step(flow, state, arg, locale)
        if verb == "more":
            state.page += 1
            return Outcome(state, [_edit_menu(flow, state, locale)])
        if verb == "confirm":
            return Outcome(None, [], completed=_final_answers(flow, state))
        return _stale(flow, state, locale)
    assert isinstance(inp, TextIn)
    target = _step_by_label(flow, state, fold(inp.text))
    if target is not None:
        return _edit_step(flow, state, target.key, locale)
    return Outcome(state, [Reply(TXT.pick_item(locale)), _edit_menu(flow, state, locale)])


def _edit_step(flow: Flow, state: FlowState, key: str, locale: str) -> Outcome:
    if not flow.has_step(key):
        return _stale(flow, state, locale)
    step = flow.step(key)
    if not step.editable or not step.applies(state.answers):
        return _stale(flow, state, locale)
    state.phase = "ask"
    state.step = key
    state.editing = True
    _enter_step(flow, state)
    return Outcome(state, [_ask(flow, state, locale)])


# ---------------------------------------------------------------- rendering


def _ask(flow: Flow, state: FlowState, locale: str) -> Reply:
    assert state.step is not None
    step = flow.step(state.step)
    fld = step.field
    params = {k: state.answers.get(k, "-") for k in flow.params}
    lines = [step.prompt(locale, **params)]
    if isinstance(fld, MultiChoiceField):
        lines.append(TXT.multi_hint(locale))
        if state.picking:
            lines.append(TXT.picked(locale, items=fld.display(state.picking, locale)))
        else:
            lines.append(TXT.picked_none(locale))
    elif step.key in state.answers and state.answers[step.key] is not None:
        shown = fld.display(state.answers[step.key], locale)
        lines.append(TXT.current(locale, value=shown))
    return Reply("\n".join(lines), _choices(flow, step, state, locale))


def _choices(flow: Flow, step: Step, state: FlowState, locale: str) -> tuple[Choice, ...]:
    fld = step.field
    options: list[Choice] = []
    fixed: list[Choice] = []
    if isinstance(fld, MultiChoiceField):
        for o in fld.options:
            mark = "✓ " if o.key in state.picking else ""
            label = o.label(locale)
            options.append(Choice(mark + label, _button(flow, step.key, "toggle", o.key), label))
        fixed.append(Choice(TXT.done(locale), _button(flow, step.key, "done"), TXT.done(locale)))
    elif isinstance(fld, ChoiceField):
        for o in fld.options:
            label = o.label(locale)
            options.append(Choice(label, _button(flow, step.key, "pick", o.key), label))
    elif isinstance(fld, NumberField):
        for n in fld.presets:
            label = fld.display(n, locale)
            options.append(Choice(label, _button(flow, step.key, "pick", str(n)), label))
    answered = state.answers.get(step.key) is not None
    if answered and not isinstance(fld, MultiChoiceField):
        fixed.append(Choice(TXT.keep(locale), _button(flow, step.key, "keep"), TXT.keep(locale)))
    if step.optional:
        skip = (step.skip_label or TXT.skip)(locale)
        fixed.append(Choice(skip, step.skip_data or _button(flow, step.key, "skip"), skip))
    if state.history or state.editing:
        fixed.append(Choice(TXT.back(locale), BACK, TXT.back(locale)))
    return _paged(options, fixed, state.page, _button(flow, step.key, "more"), locale)


def _paged(
    options: list[Choice], fixed: list[Choice], page: int, more_data: str, locale: str
) -> tuple[Choice, ...]:
    if len(options) + len(fixed) <= MAX_CHOICES:
        return (*options, *fixed)
    per_page = MAX_CHOICES - len(fixed) - 1
    pages = math.ceil(len(options) / per_page)
    page %= pages
    shown = options[page * per_page : (page + 1) * per_page]
    more = Choice(TXT.more(locale), more_data, TXT.more(locale))
    return (*shown, more, *fixed)


def _summary(flow: Flow, state: FlowState, locale: str) -> Reply:
    lines = [TXT.summary_head(locale, title=flow.title(locale))]
    fields: list[tuple[str, str]] = []
    for step in _applicable(flow, state.answers):
        if not step.summarised:
            continue
        value = state.answers.get(step.key)
        shown = "-" if value is None else step.field.display(value, locale)
        lines.append(f"・{step.label(locale)}: {shown}")
        fields.append((step.label(locale), shown))
    lines.append("")
    lines.append(flow.confirm_prompt(locale))
    choices = (
        Choice(
            flow.confirm_label(locale),
            _button(flow, CONFIRM, "confirm"),
            flow.confirm_label(locale),
        ),
        Choice(TXT.edit(locale), _button(flow, CONFIRM, "edit"), TXT.edit(locale)),
        Choice(TXT.cancel(locale), CANCEL, TXT.cancel(locale)),
    )
    panel = Panel(
        title=flow.title(locale),
        kind="summary",
        fields=tuple(fields),
        note=flow.confirm_prompt(locale),
        buttons=choices,
    )
    return Reply("\n".join(lines), choices, (panel,))


def _edit_menu(flow: Flow, state: FlowState, locale: str) -> Reply:
    options = [
        Choice(s.label(locale), _button(flow, CONFIRM, "item", s.key), s.label(locale))
        for s in _applicable(flow, state.answers)
        if s.editable
    ]
    fixed = [Choice(TXT.back(locale), BACK, TXT.back(locale))]
    return Reply(
        TXT.pick_item(locale),
        _paged(options, fixed, state.page, _button(flow, CONFIRM, "more"), locale),
    )


def summary_lines(flow: Flow, answers: dict[str, Any], locale: str) -> list[str]:
    """The `label: value` lines of saved answers, for showing a profile."""
    lines = []
    for step in _applicable(flow, answers):
        if not step.summarised:
            continue
        value = answers.get(step.key)
        shown = "-" if value is None else step.field.display(value, locale)
        lines.append(f"・{step.label(locale)}: {shown}")
    return lines


# ---------------------------------------------------------------- helpers


def _index(flow: Flow, key: str) -> int:
    for i, step in enumerate(flow.steps):
        if step.key == key:
            return i
    return len(flow.steps)


def _applicable(flow: Flow, answers: dict[str, Any]) -> list[Step]:
    return [s for s in flow.steps if s.applies(answers)]


def _first_unanswered(flow: Flow, answers: dict[str, Any]) -> Step | None:
    return next((s for s in _applicable(flow, answers) if s.key not in answers), None)


def _next_applicable(flow: Flow, answers: dict[str, Any], after: str) -> Step | None:
    idx = _index(flow, after)
    return next((s for s in flow.steps[idx + 1 :] if s.applies(answers)), None)


def _prune(flow: Flow, state: FlowState) -> None:
    """Drop answers of steps that no longer apply (e.g. languages once translation is gone)."""
    for step in flow.steps:
        if step.key in state.answers and not step.applies(state.answers):
            del state.answers[step.key]


def _enter_step(flow: Flow, state: FlowState) -> None:
    state.phase = "ask"
    state.page = 0
    assert state.step is not None
    current = state.answers.get(state.step)
    state.picking = list(current) if isinstance(current, list) else []


def _step_by_label(flow: Flow, state: FlowState, word: str) -> Step | None:
    for step in _applicable(flow, state.answers):
        if step.editable and word in (fold(step.label.ja), fold(step.label.en)):
            return step
    return None


def _final_answers(flow: Flow, state: FlowState) -> dict[str, Any]:
    applicable = {s.key for s in _applicable(flow, state.answers)}
    # Keys that are no step's are context the flow was started with (e.g. the project a
    # feedback flow is about): they are kept.
    return {k: v for k, v in state.answers.items() if k in applicable or not flow.has_step(k)}
