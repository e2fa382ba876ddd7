"""One parametrized check of every flow against LINE's limits and our own rules."""

from __future__ import annotations

import pytest

from bot import dialogue
from bot.conversation import engine
from bot.conversation.engine import FlowState
from bot.conversation.fields import MAX_OPTION_LABEL, ChoiceField, MultiChoiceField
from bot.conversation.flow import Flow
from bot.flows import FLOWS
from bot.i18n import Texts

ALL = sorted(FLOWS.values(), key=lambda f: f.id)


@pytest.mark.parametrize("flow", ALL, ids=lambda f: f.id)
def test_step_keys_are_unique(flow: Flow) -> None:
    keys = [s.key for s in flow.steps]
    assert len(keys) == len(set(keys))
    assert all("|" not in k and "~" not in k for k in keys)


@pytest.mark.parametrize("flow", ALL, ids=lambda f: f.id)
def test_every_text_exists_in_both_languages(flow: Flow) -> None:
    texts = [flow.title, flow.confirm_prompt, flow.confirm_label]
    if flow.intro:
        texts.append(flow.intro)
    for step in flow.steps:
        texts += [step.prompt, step.label]
        if isinstance(step.field, ChoiceField | MultiChoiceField):
            texts += [o.label for o in step.field.options]
    for t in texts:
        assert t.ja.strip() and t.en.strip(), t
        assert t.ja != t.en or t.ja.isascii() is False or len(t.ja) < 12, t


@pytest.mark.parametrize("flow", ALL, ids=lambda f: f.id)
def test_option_keys_unique_and_labels_fit(flow: Flow) -> None:
    for step in flow.steps:
        assert len(step.label.ja) <= 20 and len(step.label.en) <= 20, step.key
        if isinstance(step.field, ChoiceField | MultiChoiceField):
            keys = [o.key for o in step.field.options]
            assert len(keys) == len(set(keys)), step.key
            # A picked multi-choice option gets a "✓ " mark within LINE's 20.
            limit = MAX_OPTION_LABEL if isinstance(step.field, MultiChoiceField) else 20
            for option in step.field.options:
                for text in (option.label.ja, option.label.en):
                    assert len(text) <= limit, (step.key, text)


def _every_page(flow: Flow, state: FlowState, locale: str) -> list[engine.Reply]:
    replies = []
    for page in range(4):
        state.page = page
        replies.extend(engine.prompt(flow, state, locale))
    return replies


@pytest.mark.parametrize("locale", ["ja", "en"])
@pytest.mark.parametrize("flow", ALL, ids=lambda f: f.id)
def test_rendered_choices_fit_line(flow: Flow, locale: str) -> None:
    """Every step, on every page, with history and an answer: within LINE's limits."""
    replies = []
    for step in flow.steps:
        for history, answered in ((False, False), (True, True)):
            state = FlowState(flow=flow.id, version=flow.version, step=step.key)
            if history:
                state.history = ["x"]
            if answered and isinstance(step.field, MultiChoiceField):
                state.picking = [o.key for o in step.field.options]
            replies.extend(_every_page(flow, state, locale))
    for phase in ("confirm", "edit_menu"):
        state = FlowState(flow=flow.id, version=flow.version, phase=phase)
        replies.extend(_every_page(flow, state, locale))
    seen_keys: set[str] = set()
    for reply in replies:
        assert len(reply.choices) <= 13
        assert len(reply.text) <= 5000
        for choice in reply.choices:
            assert 1 <= len(choice.label) <= 20, choice.label
            assert len(choice.data) <= 300
            assert choice.display is None or len(choice.display) <= 300
            seen_keys.add(choice.data)
    # Paging shows every option of every choice step at some page.
    for step in flow.steps:
        if isinstance(step.field, ChoiceField | MultiChoiceField):
            for option in step.field.options:
                assert any(d.endswith(f"|{option.key}") and f"|{step.key}|" in d for d in seen_keys)


@pytest.mark.parametrize("texts", [dialogue.TXT, engine.TXT], ids=["dialogue", "engine"])
def test_every_dialogue_text_has_japanese_and_english(texts: type[Texts]) -> None:
    found = texts.all()
    assert len(found) > 10
    for name, text in found.items():
        assert text.ja.strip() and text.en.strip(), name


def test_side_flow_texts_have_japanese_and_english() -> None:
    from bot.flows import side

    found = side.TXT.all()
    assert len(found) > 10
    for name, text in found.items():
        assert text.ja.strip() and text.en.strip(), name
    for flow in side.SIDE_FLOWS:
        assert flow.side and not flow.confirm and len(flow.steps) == 1
        for t in (flow.cancelled, flow.not_text):
            assert t is None or (t.ja.strip() and t.en.strip())
