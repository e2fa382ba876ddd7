"""A programme's calendar as text: its phases with local dates, in Japanese or English."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.i18n import T, Texts, day_text, when_text
from storage.models import Phase, Programme


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    head = T("📅 {name} の日程", "📅 {name}: the calendar")
    none = T(
        "日程はキックオフでご相談して決めます。", "The schedule will be agreed at the kickoff."
    )
    empty = T("日程はまだ登録されていません。", "No dates have been set yet.")


TXT = _Texts


def zone(name: str | None) -> ZoneInfo:
    """The programme's time zone (Asia/Tokyo when unknown)."""
    try:
        return ZoneInfo(name or "Asia/Tokyo")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Asia/Tokyo")


def local_when(at: datetime, tz: ZoneInfo, locale: str, *, with_time: bool = True) -> str:
    """A stored UTC time as a local date (with weekday) and time."""
    local = at.astimezone(tz) if at.tzinfo else at.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)
    return when_text(local, locale) if with_time else day_text(local, locale)


def calendar_text(programme: Programme | None, phases: Sequence[Phase], locale: str) -> str:
    """The programme's phases, one line each with the local date, time and place."""
    if programme is None:
        return TXT.none(locale)
    tz = zone(programme.timezone)
    lines = [TXT.head(locale, name=programme.name)]
    shown = sorted((p for p in phases if p.cancelled_at is None), key=lambda p: p.starts_at)
    for phase in shown:
        title = phase.title_en if locale == "en" else phase.title_ja
        line = f"• {local_when(phase.starts_at, tz, locale)} {title}"
        if phase.ends_at is not None:
            same_day = phase.ends_at.astimezone(tz).date() == phase.starts_at.astimezone(tz).date()
            end = (
                f"{phase.ends_at.astimezone(tz):%H:%M}"
                if same_day
                else local_when(phase.ends_at, tz, locale)
            )
            line = line.replace(f" {title}", f"–{end} {title}", 1)
        where = phase.place or phase.url
        if where:
            line += f"（{where}）" if locale != "en" else f" ({where})"
        lines.append(line)
    if not shown:
        lines.append(TXT.empty(locale))
    return "\n".join(lines)
