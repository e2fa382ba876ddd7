"""Field kinds: each validates and normalises one answer, and says how to show it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.i18n import T, fold, join_list, normalise

# A quick-reply label is at most 20 characters on LINE; multi-choice options get a
# two-character "✓ " mark when picked, so their own labels stay within 18.
MAX_OPTION_LABEL = 18


class Invalid(Exception):
    """An answer that does not fit the question; carries the polite message to show."""

    def __init__(self, message: T, **fields: Any) -> None:
        super().__init__(message.en)
        self.message = message
        self.fields = fields

    def text(self, locale: str) -> str:
        """The message in the locale."""
        return self.message(locale, **self.fields)


@dataclass(frozen=True, slots=True)
class Option:
    """One choice: a stable key stored in the database, a label per language, synonyms."""

    key: str
    label: T
    synonyms: tuple[str, ...] = ()

    def matches(self, folded: str) -> bool:
        """True if the folded text names this option."""
        if folded in (fold(self.label.ja), fold(self.label.en), self.key.casefold()):
            return True
        return any(folded == fold(s) for s in self.synonyms)


MSG_EMPTY = T(
    ja="空のメッセージでした。もう一度入力してください。", en="That was empty. Please try again."
)
MSG_TOO_LONG = T(
    ja="{max}文字以内でお願いします（いま{n}文字です）。",
    en="Please keep it within {max} characters (that was {n}).",
)
MSG_TOO_SHORT = T(
    ja="もう少し詳しく教えてください（{min}文字以上）。",
    en="Please tell us a little more (at least {min} characters).",
)
MSG_NOT_NUMBER = T(
    ja="数字で答えてください（例: {example}）。",
    en="Please answer with a number (for example {example}).",
)
MSG_OUT_OF_RANGE = T(
    ja="{min}から{max}までの数字でお願いします。",
    en="Please give a number from {min} to {max}.",
)
MSG_NOT_OFFERED = T(
    ja="「{given}」は選択肢にありません。下のボタンから選んでください。",
    en='"{given}" is not one of the choices. Please pick one of the buttons below.',
)
MSG_NOT_OFFERED_MANY = T(
    ja="「{given}」は選択肢にありません。下のボタンから選ぶか、選択肢の名前で入力してください。",
    en='"{given}" is not among the choices. Tap the buttons below or type their names.',
)
MSG_TOO_FEW = T(
    ja="少なくとも{min}つ選んでから「完了」を押してください。",
    en="Please pick at least {min} before tapping Done.",
)
MSG_TOO_MANY = T(
    ja="選べるのは{max}つまでです。",
    en="You can pick up to {max}.",
)


@dataclass(frozen=True)
class Field:
    """Base of every field kind."""

    def parse_text(self, text: str) -> Any:
        """Validate and normalise typed text, or raise Invalid."""
        raise NotImplementedError

    def parse_key(self, key: str) -> Any:
        """Validate a value sent by a button, or raise Invalid."""
        return self.parse_text(key)

    def display(self, value: Any, locale: str) -> str:
        """Show a stored value to a person."""
        return str(value)

    def valid(self, value: Any) -> bool:
        """True if a stored value still fits (used when a flow changes under a conversation)."""
        try:
            self.parse_key(value) if not isinstance(value, list) else self.check_keys(value)
        except (Invalid, TypeError, ValueError):
            return False
        return True

    def check_keys(self, value: list[str]) -> None:
        """Validate a list value (only multi-choice has lists)."""
        raise Invalid(MSG_EMPTY)


@dataclass(frozen=True)
class TextField(Field):
    """Free text, NFKC-normalised, with a length range."""

    max_len: int = 100
    min_len: int = 1
    multiline: bool = False

    def parse_text(self, text: str) -> str:
        if self.multiline:
            lines = [normalise(line) for line in text.splitlines()]
            value = "\n".join(line for line in lines if line)
        else:
            value = normalise(text)
        if not value:
            raise Invalid(MSG_EMPTY)
        if len(value) > self.max_len:
            raise Invalid(MSG_TOO_LONG, max=self.max_len, n=len(value))
        if len(value) < self.min_len:
            raise Invalid(MSG_TOO_SHORT, min=self.min_len)
        return value


@dataclass(frozen=True)
class WordsField(Field):
    """Words passed on as typed (trimmed, not normalised): an answer to the office, a
    change asked for. Empty text is refused with `empty`; `clip` cuts an overlong answer
    (normalised) instead of refusing it."""

    max_len: int = 2000
    empty: T = MSG_EMPTY
    clip: bool = False

    def parse_text(self, text: str) -> str:
        if not normalise(text):
            raise Invalid(self.empty)
        if self.clip:
            return normalise(text)[: self.max_len]
        value = text.strip()
        if len(value) > self.max_len:
            raise Invalid(MSG_TOO_LONG, max=self.max_len, n=len(value))
        return value


_NUMBER = re.compile(r"^\D{0,4}?(\d{1,5})(?:\.\d+)?\s*\D{0,10}$")


@dataclass(frozen=True)
class NumberField(Field):
    """A whole number in a range; accepts full-width digits and a unit ("10時間", "3 years")."""

    min: int = 0
    max: int = 100
    unit: T = T(ja="", en="")
    # The unit for exactly one ("1 year"), where a language has a singular.
    unit_one: T | None = None
    presets: tuple[int, ...] = ()

    def parse_text(self, text: str) -> int:
        value = normalise(text)
        if not value:
            raise Invalid(MSG_EMPTY)
        match = _NUMBER.match(value)
        if match is None:
            example = self.presets[0] if self.presets else self.min
            raise Invalid(MSG_NOT_NUMBER, example=example)
        number = int(match.group(1))
        if not self.min <= number <= self.max:
            raise Invalid(MSG_OUT_OF_RANGE, min=self.min, max=self.max)
        return number

    def parse_key(self, key: str) -> int:
        return self.parse_text(str(key))

    def display(self, value: Any, locale: str) -> str:
        unit = self.unit_one if value == 1 and self.unit_one is not None else self.unit
        return f"{value}{unit(locale)}"


@dataclass(frozen=True)
class ChoiceField(Field):
    """Exactly one of a fixed set of options."""

    options: tuple[Option, ...] = ()
    # Said instead of "not one of the choices" (e.g. "please choose Delete or Keep").
    refuse: T | None = None

    def option(self, key: str) -> Option | None:
        """The option with this key, if any."""
        return next((o for o in self.options if o.key == key), None)

    def parse_text(self, text: str) -> str:
        folded = fold(text)
        if not folded:
            raise Invalid(MSG_EMPTY)
        for option in self.options:
            if option.matches(folded):
                return option.key
        if self.refuse is not None:
            raise Invalid(self.refuse)
        raise Invalid(MSG_NOT_OFFERED, given=normalise(text)[:40])

    def parse_key(self, key: str) -> str:
        if self.option(key) is None:
            raise Invalid(MSG_NOT_OFFERED, given=str(key)[:40])
        return key

    def display(self, value: Any, locale: str) -> str:
        option = self.option(str(value))
        return option.label(locale) if option else str(value)


_SPLIT = re.compile(r"[,、，;；/／\n]+")


@dataclass(frozen=True)
class MultiChoiceField(Field):
    """Several of a fixed set: tap to toggle, or type names separated by 、 or commas."""

    options: tuple[Option, ...] = ()
    min: int = 1
    max: int | None = None

    def option(self, key: str) -> Option | None:
        """The option with this key, if any."""
        return next((o for o in self.options if o.key == key), None)

    def parse_text(self, text: str) -> list[str]:
        """Parse typed names into option keys (in the order of the options)."""
        pieces = [fold(p) for p in _SPLIT.split(normalise(text))]
        pieces = [p for p in pieces if p]
        if not pieces:
            raise Invalid(MSG_EMPTY)
        found: set[str] = set()
        unknown: list[str] = []
        for piece in pieces:
            option = next((o for o in self.options if o.matches(piece)), None)
            if option is None:
                unknown.append(piece)
            else:
                found.add(option.key)
        if unknown:
            raise Invalid(MSG_NOT_OFFERED_MANY, given="、".join(unknown)[:60])
        return [o.key for o in self.options if o.key in found]

    def parse_key(self, key: str) -> list[str]:
        if self.option(key) is None:
            raise Invalid(MSG_NOT_OFFERED, given=str(key)[:40])
        return [key]

    def check_keys(self, value: list[str]) -> None:
        if any(self.option(k) is None for k in value):
            raise Invalid(MSG_NOT_OFFERED, given="?")
        self.check_count(value)

    def check_count(self, value: list[str]) -> None:
        """Raise Invalid if the selection is too small or too large."""
        if len(value) < self.min:
            raise Invalid(MSG_TOO_FEW, min=self.min)
        if self.max is not None and len(value) > self.max:
            raise Invalid(MSG_TOO_MANY, max=self.max)

    def display(self, value: Any, locale: str) -> str:
        labels = []
        for key in value or []:
            option = self.option(key)
            labels.append(option.label(locale) if option else str(key))
        return join_list(labels, locale)


@dataclass(frozen=True)
class ConsentField(ChoiceField):
    """Agreement to a notice; only "agree" is accepted, anything else explains why it is needed."""

    refusal: T = field(default=T(ja="", en=""))

    def parse_text(self, text: str) -> str:
        return self._only_agree(super().parse_text(text))

    def parse_key(self, key: str) -> str:
        return self._only_agree(super().parse_key(key))

    def _only_agree(self, key: str) -> str:
        if key != "agree":
            raise Invalid(self.refusal)
        return key
