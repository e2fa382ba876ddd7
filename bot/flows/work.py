"""The work and the end of a project in LINE (issue #13, life-work): logging hours, and
the short feedback after completion. The project they are about is put in the flow's
answers under `project` when the flow starts (it is not a question)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.conversation.fields import ChoiceField, Field, Invalid, Option, TextField
from bot.conversation.flow import Flow, Step
from bot.i18n import T, fold, normalise
from bot.lifecycle.records import ERRORS, MAX_HOURS_PER_ENTRY, hours_to_minutes

PROJECT = "project"  # the answers' key holding the project id
ZONE = ZoneInfo("Asia/Tokyo")  # where the programmes run: what "today" means

_DAY = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$|^(\d{1,2})[/月](\d{1,2})日?$")
TODAY_WORDS = frozenset(fold(w) for w in ("今日", "きょう", "today"))
YESTERDAY_WORDS = frozenset(fold(w) for w in ("昨日", "きのう", "yesterday"))

MSG_DAY = T(
    "日付は「今日」「昨日」か、2026-12-03 や 12/3 の形でお願いします。",
    "Please give the day as “today”, “yesterday”, or like 2026-12-03 or 12/3.",
)


def today() -> date:
    """Today where the programmes run."""
    return datetime.now(ZONE).date()


@dataclass(frozen=True)
class HoursField(Field):
    """Hours as a decimal (1.5, １．５, "2時間"): more than 0, at most 24."""

    presets: tuple[str, ...] = ("1", "2", "3")

    def parse_text(self, text: str) -> str:
        value = normalise(text).lower()
        for unit in ("時間", "hours", "hour", "hrs", "h"):
            value = value.removesuffix(unit).strip()
        minutes = hours_to_minutes(value, date.min, date.max)
        if not isinstance(minutes, int):
            raise Invalid(ERRORS[minutes.reason])
        return value

    def display(self, value: Any, locale: str) -> str:
        return f"{value}時間" if locale == "ja" else f"{value} h"


@dataclass(frozen=True)
class DayField(Field):
    """A day on or before today: 今日, 昨日, 2026-12-03, 12/3 (this year)."""

    def parse_text(self, text: str) -> str:
        value = fold(normalise(text))
        now = today()
        if value in TODAY_WORDS:
            return now.isoformat()
        if value in YESTERDAY_WORDS:
            return (now - timedelta(days=1)).isoformat()
        match = _DAY.match(normalise(text))
        if match is None:
            raise Invalid(MSG_DAY)
        try:
            if match.group(1):
                day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            else:
                day = date(now.year, int(match.group(4)), int(match.group(5)))
        except ValueError:
            raise Invalid(MSG_DAY) from None
        if day > now:
            raise Invalid(ERRORS["hours_future"])
        return day.isoformat()

    def parse_key(self, key: str) -> str:
        return self.parse_text(key)


HOURS_FLOW = Flow(
    id="hours",
    version=1,
    title=T("稼働記録", "Log hours"),
    confirm_label=T("記録する", "Log it"),
    steps=(
        Step(
            key="hours",
            prompt=T(
                f"何時間活動しましたか？（例: 1.5、1回{MAX_HOURS_PER_ENTRY}時間まで）",
                f"How many hours did you work? (e.g. 1.5; at most {MAX_HOURS_PER_ENTRY} per entry)",
            ),
            label=T("時間", "Hours"),
            field=HoursField(),
        ),
        Step(
            key="day",
            prompt=T(
                "いつの活動ですか？（「今日」「昨日」か、12/3 のように）",
                "Which day? (“today”, “yesterday”, or like 12/3)",
            ),
            label=T("日付", "Day"),
            field=DayField(),
        ),
        Step(
            key="note",
            prompt=T(
                "何をしましたか？ひとことどうぞ（なければ「スキップ」）。",
                "What did you do? A few words (or tap Skip).",
            ),
            label=T("内容", "Note"),
            field=TextField(max_len=500, multiline=True),
            optional=True,
        ),
    ),
)

SCORES = tuple(Option(str(n), T(str(n), str(n))) for n in range(1, 6))
PUBLISH_OPTIONS = (
    Option("named", T("名前つきで公開可", "Publish with name"), ("名前つき", "named")),
    Option("anonymous", T("匿名なら公開可", "Publish anonymously"), ("匿名", "anonymous")),
    Option("no", T("公開しない", "Do not publish"), ("非公開", "no", "not")),
)

FEEDBACK_FLOW = Flow(
    id="feedback",
    version=1,
    title=T("ふりかえり", "Feedback"),
    intro=T(
        "ふりかえりのアンケートです（3問、1分ほど）。",
        "A short look back (3 questions, about a minute).",
    ),
    confirm_label=T("送る", "Send"),
    steps=(
        Step(
            key="score",
            prompt=T(
                "今回のプロジェクトはいかがでしたか？ 1（よくなかった）〜5（とてもよかった）",
                "How did the project go? 1 (poorly) to 5 (very well)",
            ),
            label=T("評価", "Score"),
            field=ChoiceField(options=SCORES),
        ),
        Step(
            key="words",
            prompt=T(
                "ひとことお願いします（よかったこと、次への提案など。なければ「スキップ」）。",
                "A few words, please: what went well, what to do better (or tap Skip).",
            ),
            label=T("ひとこと", "Words"),
            field=TextField(max_len=1000, multiline=True),
            optional=True,
        ),
        Step(
            key="publish",
            prompt=T(
                "このことばを事例集などで紹介してもよいですか？",
                "May we quote your words, e.g. in the programme's case studies?",
            ),
            label=T("公開", "Publish"),
            field=ChoiceField(options=PUBLISH_OPTIONS),
        ),
    ),
)
