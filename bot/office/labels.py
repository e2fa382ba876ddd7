"""Readable values for the office's tables: option labels, project states, dates."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.conversation.fields import Option
from bot.i18n import T
from bot.rules.states import STATES
from bot.taxonomy import label

# Every project state's short label, from the one state machine (bot/lifecycle).
PROJECT_STATES: dict[str, T] = {key: state.short for key, state in STATES.items()}
NOT_GIVEN = T("未回答", "Not given")
VOLUNTEER_STATES: dict[str, T] = {
    "active": T("活動中", "Active"),
    "paused": T("休止中", "Paused"),
    "inactive": T("ブロック済み", "Unfollowed"),
}


def state_label(status: str, locale: str) -> str:
    """A project state's label (the key itself if unknown)."""
    text = PROJECT_STATES.get(status)
    return text(locale) if text else status


# Labels looked up once per (options, key, locale): exports read millions of them.
_LABELS: dict[tuple[int, str, str], str] = {}


def cached_label(options: tuple[Option, ...], key: str, locale: str) -> str:
    """An option's label (the key itself if unknown), memoised."""
    memo = (id(options), key, locale)
    found = _LABELS.get(memo)
    if found is None:
        found = label(options, key, locale)
        if len(_LABELS) < 10_000:  # keys are taxonomy keys; unknown free text is rare
            _LABELS[memo] = found
    return found


def one(options: tuple[Option, ...], key: Any, locale: str) -> str:
    """One option's label; empty for no answer."""
    return "" if key is None else cached_label(options, str(key), locale)


def many(options: tuple[Option, ...], keys: Any, locale: str) -> str:
    """Several options' labels joined in the reader's way."""
    return joined([cached_label(options, str(k), locale) for k in keys or ()], locale)


def joined(items: list[str], locale: str) -> str:
    """Items joined with 、 (ja) or , (en)."""
    return ("、" if locale == "ja" else ", ").join(items)


def local(at: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A stored UTC time as a naive local time (what a spreadsheet shows)."""
    return None if at is None else at.astimezone(tz).replace(tzinfo=None, microsecond=0)


def yes_no(value: bool | None, locale: str) -> str:
    """はい/いいえ (Yes/No), empty for no answer."""
    if value is None:
        return ""
    return T("はい", "Yes")(locale) if value else T("いいえ", "No")(locale)


def hours_value(minutes: int) -> int | float:
    """Logged minutes as hours to one decimal (a whole number when whole): 90 -> 1.5."""
    hours = round(minutes / 60, 1)
    return int(hours) if hours == int(hours) else hours
