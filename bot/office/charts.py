"""PNG charts of the impact report (matplotlib, Agg backend): each function takes the
report's data and returns PNG bytes, for the report's folder, the XLSX report, and Slack
or the App Home.

Japanese labels need a font with Japanese glyphs: a Noto CJK or IPA font installed on the
machine, else the IPAex Gothic that the `matplotlib-fontja` package ships. Without any,
the charts still render: their own titles and legends switch to English, and names from
the data (areas, companies) are drawn with the default font.
"""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from bot.fonts import bundled_cjk_font
from bot.i18n import T, Texts
from bot.office.report_data import ReportData

# Families tried in this order (Debian's fonts-noto-cjk, fonts-ipaexfont, fonts-ipafont).
CJK_FAMILIES = ("Noto Sans CJK JP", "Noto Sans JP", "IPAexGothic", "IPAGothic", "Noto Serif CJK JP")
DPI = 120
BLUE, GREY = "#3b7dd8", "#b8c4d6"


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    target = T("目標", "Target")
    actual = T("実績", "Actual")
    on_team = T("チーム参加者", "On teams")
    registered = T("登録者（全体）", "Registered (all)")
    funnel = T("ファネル", "Funnel")
    sector = T("支援先団体のセクター別", "Groups by sector")
    hours = T("チーム別の申告活動時間（週）", "Hours a week offered, by team")
    checkins = T("週次チェックイン", "Weekly check-ins")
    scores = T("評価（1〜5）", "Scores (1 to 5)")
    none = T("まだ記録がありません", "Nothing recorded yet")
    targets = T("目標と実績", "Targets and actuals")


TXT = _Texts


@functools.cache
def chart_font() -> tuple[str, bool]:
    """(font family, whether it draws Japanese): an installed CJK font, else the one
    matplotlib-fontja ships, else matplotlib's default."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FAMILIES:
        if name in names:
            return name, True
    bundled = bundled_cjk_font()
    if bundled is not None:
        font_manager.fontManager.addfont(str(bundled))
        return font_manager.FontProperties(fname=str(bundled)).get_name(), True
    return "DejaVu Sans", False


def _locale(locale: str) -> str:
    """The language the chart's own texts are drawn in (English without a CJK font)."""
    return locale if chart_font()[1] else "en"


def _png(draw: Callable[[Any], None], size: tuple[float, float] = (7, 3.6)) -> bytes:
    """Draw on a new figure and return it as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    family, _cjk = chart_font()
    with matplotlib.rc_context({"font.family": [family, "DejaVu Sans"]}), warnings.catch_warnings():
        # Names from the data may have glyphs the fallback font lacks: drawn as boxes.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig = Figure(figsize=size)
        ax = fig.subplots()
        draw(ax)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _empty(ax: Any, loc: str) -> None:
    ax.text(0.5, 0.5, TXT.none(loc), ha="center", va="center", fontsize=14, color="#666")
    ax.set_axis_off()


def _paired(
    ax: Any,
    labels: Sequence[str],
    first: Sequence[float],
    second: Sequence[float],
    names: tuple[str, str],
) -> None:
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], list(first), 0.4, label=names[0], color=BLUE)
    ax.bar([x + 0.2 for x in xs], list(second), 0.4, label=names[1], color=GREY)
    ax.set_xticks(list(xs), list(labels), rotation=20, ha="right")
    ax.legend()


def targets_png(data: ReportData) -> bytes:
    """Targets against actuals, side by side."""
    loc = _locale(data.locale)
    lines = [t for t in data.targets if t.target is not None or t.actual is not None]

    def draw(ax: Any) -> None:
        if not lines:
            return _empty(ax, loc)
        _paired(
            ax,
            [t.label(loc) for t in lines],
            [t.target or 0 for t in lines],
            [t.actual or 0 for t in lines],
            (TXT.target(loc), TXT.actual(loc)),
        )
        ax.set_title(TXT.targets(loc))
        return None

    return _png(draw)


def funnel_png(data: ReportData) -> bytes:
    """The funnel, top stage first."""
    loc = _locale(data.locale)
    stages = list(reversed(data.funnel))

    def draw(ax: Any) -> None:
        ax.barh([s.label(loc) for s in stages], [s.count for s in stages], color=BLUE)
        for i, s in enumerate(stages):
            ax.text(s.count, i, f" {s.count}", va="center")
        ax.set_title(TXT.funnel(loc))

    return _png(draw)


def breakdown_png(data: ReportData, key: str) -> bytes:
    """Participants by one attribute (occupation, age_band, area, company): on teams
    beside all registered volunteers."""
    loc = _locale(data.locale)
    b = next(b for b in data.breakdowns if b.key == key)
    labels = [r[0] if loc == data.locale else _latin(r[0], i) for i, r in enumerate(b.rows)]

    def draw(ax: Any) -> None:
        if not b.rows:
            return _empty(ax, loc)
        _paired(
            ax,
            labels,
            [r[1] for r in b.rows],
            [r[2] for r in b.rows],
            (TXT.on_team(loc), TXT.registered(loc)),
        )
        ax.set_title(b.title(loc))
        return None

    return _png(draw, (7, 3.8))


def _latin(text: str, index: int) -> str:
    """A label readable without a CJK font: itself if ASCII, else a number."""
    return text if text.isascii() else f"#{index + 1}"


def sectors_png(data: ReportData) -> bytes:
    """The supported groups by sector."""
    loc = _locale(data.locale)
    rows = [
        (name if loc == data.locale else _latin(name, i), n)
        for i, (name, n) in enumerate(data.sectors)
    ]

    def draw(ax: Any) -> None:
        if not any(n for _name, n in rows):
            return _empty(ax, loc)
        ax.bar([r[0] for r in rows], [r[1] for r in rows], color=BLUE)
        ax.tick_params(axis="x", labelrotation=20)
        ax.set_title(TXT.sector(loc))
        return None

    return _png(draw)


def hours_png(data: ReportData) -> bytes:
    """Hours by team: the hours worked as logged, or what members offered a week while
    nothing is logged yet."""
    loc = _locale(data.locale)
    logged: list[tuple[str, int | float]] = [(n, h) for n, h in data.worked_by_team if h]
    teams = logged or [(n, h) for n, h in data.hours_by_team if h]

    def draw(ax: Any) -> None:
        if not teams:
            return _empty(ax, loc)
        names = [n if loc == data.locale else _latin(n, i) for i, (n, _h) in enumerate(teams)]
        ax.barh(names, [h for _n, h in teams], color=BLUE)
        ax.invert_yaxis()
        ax.set_title(TXT.hours(loc))
        return None

    return _png(draw)


def feedback_png(data: ReportData) -> bytes:
    """The weekly check-ins by status, and the feedback scores once collected."""
    loc = _locale(data.locale)

    def draw(ax: Any) -> None:
        if data.scores:
            ax.bar([str(s) for s, _n in data.scores], [n for _s, n in data.scores], color=BLUE)
            ax.set_title(TXT.scores(loc))
            return None
        if not any(n for _label, n in data.checkins):
            return _empty(ax, loc)
        colours = ("#2e9d5b", "#e0b400", "#d64545", GREY, "#888888")
        labels = [
            lab if loc == data.locale else k
            for (lab, _n), k in zip(data.checkins, CHECKIN_KEYS, strict=False)
        ]
        ax.bar(labels, [n for _label, n in data.checkins], color=colours[: len(labels)])
        ax.set_title(TXT.checkins(loc))
        return None

    return _png(draw)


CHECKIN_KEYS = ("green", "yellow", "red", "asked", "missed")


def all_charts(data: ReportData) -> dict[str, bytes]:
    """Every chart of the report, by name (targets, funnel, the participants' breakdowns,
    sector, hours, feedback)."""
    charts = {"targets": targets_png(data), "funnel": funnel_png(data)}
    for b in data.breakdowns:
        charts[b.key] = breakdown_png(data, b.key)
    charts["sector"] = sectors_png(data)
    charts["hours"] = hours_png(data)
    charts["feedback"] = feedback_png(data)
    return charts
