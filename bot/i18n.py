"""Bilingual text: every user-facing string exists in Japanese and English."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from babel.dates import format_skeleton

LOCALES = ("ja", "en")


@dataclass(frozen=True, slots=True)
class T:
    """A text in Japanese and English; call it with a locale (and format fields)."""

    ja: str
    en: str

    def __call__(self, locale: str, **fields: Any) -> str:
        text = self.en if locale == "en" else self.ja
        return text.format(**fields) if fields else text


class Texts:
    """A module's texts as class attributes (`TXT.greeting`): mypy refuses a missing one."""

    @classmethod
    def all(cls) -> dict[str, T]:
        """Every text by name, for the check that each has Japanese and English."""
        return {
            name: value
            for klass in reversed(cls.__mro__)
            for name, value in vars(klass).items()
            if isinstance(value, T)
        }


def normalise(text: str) -> str:
    """NFKC-normalise, trim and fold runs of white space (full- and half-width agree)."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def fold(text: str) -> str:
    """Normalise and case-fold, for comparing what someone typed with a label or a word."""
    return normalise(text).casefold()


def join_list(items: list[str], locale: str) -> str:
    """Join items the way each language lists them."""
    return ("、" if locale == "ja" else ", ").join(items)


# Dates and times come from CLDR through Babel, so each language reads its own way
# (2026年12月5日(土) / Sat, Dec 5, 2026). Times are on the 24-hour clock in both
# languages: programme calendars are written that way and the two must agree.
def day_text(at: datetime, locale: str, *, year: bool = True) -> str:
    """A local date with its weekday, in the reader's language."""
    return format_skeleton("yMMMEd" if year else "MMMEd", at, locale=_babel(locale))


def clock_text(at: datetime) -> str:
    """A local time of day, 24-hour (13:05)."""
    return f"{at:%H:%M}"


def when_text(at: datetime, locale: str, *, year: bool = True) -> str:
    """A local date with weekday and time of day."""
    return f"{day_text(at, locale, year=year)} {clock_text(at)}"


def short_when_text(at: datetime, locale: str) -> str:
    """A local date without year or weekday, and the time (12月5日 13:05 / Dec 5 13:05)."""
    return f"{format_skeleton('MMMd', at, locale=_babel(locale))} {clock_text(at)}"


def month_text(at: datetime, locale: str) -> str:
    """A month and year (2026年12月 / December 2026)."""
    return format_skeleton("yMMMM", at, locale=_babel(locale))


def _babel(locale: str) -> str:
    return "en" if locale == "en" else "ja"
