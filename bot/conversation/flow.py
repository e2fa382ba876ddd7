"""A flow is frozen, typed data: steps with bilingual prompts, fields and data conditions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.conversation.fields import Field
from bot.i18n import T


@dataclass(frozen=True, slots=True)
class Equals:
    """True when the answer to `key` equals `value`."""

    key: str
    value: Any

    def holds(self, answers: Mapping[str, Any]) -> bool:
        """Evaluate against the answers so far."""
        return bool(answers.get(self.key) == self.value)


@dataclass(frozen=True, slots=True)
class Includes:
    """True when the multi-choice answer to `key` includes `value`."""

    key: str
    value: str

    def holds(self, answers: Mapping[str, Any]) -> bool:
        """Evaluate against the answers so far."""
        return self.value in (answers.get(self.key) or ())


@dataclass(frozen=True, slots=True)
class Not:
    """Negation of a condition."""

    inner: Condition

    def holds(self, answers: Mapping[str, Any]) -> bool:
        """Evaluate against the answers so far."""
        return not self.inner.holds(answers)


@dataclass(frozen=True, slots=True)
class AnyOf:
    """True when any of the conditions holds."""

    conditions: tuple[Condition, ...]

    def holds(self, answers: Mapping[str, Any]) -> bool:
        """Evaluate against the answers so far."""
        return any(c.holds(answers) for c in self.conditions)


Condition = Equals | Includes | Not | AnyOf


@dataclass(frozen=True)
class Step:
    """One question: key, prompt, field kind, and when it applies."""

    key: str
    prompt: T
    field: Field
    # Short name shown in the confirmation summary and the edit menu (at most 20 chars).
    label: T
    when: Condition | None = None
    optional: bool = False
    # Shown in confirmation but not offered for editing (e.g. the consent itself).
    editable: bool = True
    # Left out of the confirmation summary (e.g. consent, which is restated separately).
    summarised: bool = True
    # The skip button's own label and data, when not the engine's "Skip" (optional steps).
    skip_label: T | None = None
    skip_data: str | None = None

    def applies(self, answers: Mapping[str, Any]) -> bool:
        """True if this step is asked, given the answers so far."""
        return self.when is None or self.when.holds(answers)


@dataclass(frozen=True)
class Flow:
    """A conversation: ordered steps, then (optionally) a summary to confirm or edit."""

    id: str
    # Bump when steps change; stored state with an older version is carried over.
    version: int
    title: T
    steps: tuple[Step, ...]
    intro: T | None = None
    confirm: bool = True
    confirm_prompt: T = T(
        ja="この内容でよろしいですか？",
        en="Is this all correct?",
    )
    confirm_label: T = T(ja="登録する", en="Confirm")
    # A side flow (answering the office, deleting one's data...) may start while another
    # flow runs; when it ends or is cancelled the other flow resumes where it was.
    side: bool = False
    # Answers given when the flow starts (not asked), e.g. the question being answered;
    # prompts may show them as {name}.
    params: tuple[str, ...] = ()
    # What the flow says, when not the engine's words: on cancel, and on an input that is
    # not text or one of its buttons (then the question is asked again).
    cancelled: T | None = None
    not_text: T | None = None
    # Ask the question again after refusing an answer (a side flow's short exchanges
    # only say why).
    reask_invalid: bool = True

    def step(self, key: str) -> Step:
        """The step with this key."""
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(key)

    def has_step(self, key: str) -> bool:
        """True if the flow has a step with this key."""
        return any(s.key == key for s in self.steps)
