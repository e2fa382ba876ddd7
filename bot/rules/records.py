"""Validation of what people record in a project's second half (hours, agreements,
feedback): typed values in, a typed value or a bilingual reason out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from bot.i18n import T

MAX_HOURS_PER_ENTRY = Decimal(24)
PUBLISH = ("named", "anonymous", "no")
CONSENT = ("unknown", "yes", "no")

ERRORS = {
    "hours_format": T(
        "時間は数字で入力してください（例: 1.5）。", "Please give the hours as a number (e.g. 1.5)."
    ),
    "hours_range": T(
        "1回の記録は0時間より多く24時間以下でお願いします。",
        "One entry must be more than 0 and at most 24 hours.",
    ),
    "hours_future": T(
        "未来の日付には記録できません。今日までの日付を指定してください。",
        "Hours cannot be logged for a future date; please give today or an earlier day.",
    ),
    "score": T("1から5の数字でお答えください。", "Please answer with a number from 1 to 5."),
    "publish": T(
        "公開の方法は「名前つき」「匿名」「公開しない」から選んでください。",
        "Please choose named, anonymous or not published.",
    ),
    "agreement_empty": T(
        "成果物・範囲・成功の基準・打ち合わせの頻度をすべて書いてください。",
        "Please fill in the deliverable, scope, success measures and meeting rhythm.",
    ),
    "agreement_past": T(
        "終了日は今日以降の日付にしてください。", "The end date must be today or later."
    ),
}


@dataclass(frozen=True, slots=True)
class Invalid:
    """A refused input: the reason's key in ERRORS (read in the person's language)."""

    reason: str

    def text(self, locale: str) -> str:
        """The polite reason, in the reader's language."""
        return ERRORS[self.reason](locale)


def hours_to_minutes(hours: str | Decimal | float, day: date, today: date) -> int | Invalid:
    """Hours as typed (decimal, "1.5" or "１．５") to whole minutes: 0 < h <= 24, not future."""
    try:
        value = Decimal(str(hours).strip().translate(_FULLWIDTH))
    except InvalidOperation:
        return Invalid("hours_format")
    if not value.is_finite():
        return Invalid("hours_format")
    if value <= 0 or value > MAX_HOURS_PER_ENTRY:
        return Invalid("hours_range")
    if day > today:
        return Invalid("hours_future")
    minutes = int((value * 60).to_integral_value())
    return minutes if minutes > 0 else Invalid("hours_range")


_FULLWIDTH = str.maketrans("０１２３４５６７８９．", "0123456789.")


def hours_text(minutes: int) -> str:
    """Minutes as hours for reading (90 -> "1.5")."""
    return f"{Decimal(minutes) / 60:.2f}".rstrip("0").rstrip(".")
