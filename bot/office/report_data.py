"""The impact report's data (bot/office/report.py gathers it; bot/office/charts.py and the
report's writers draw it), kept apart so the charts need not import the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.i18n import T
from bot.office.dashboard import Stage, TargetLine


@dataclass(frozen=True)
class Breakdown:
    """Volunteers counted by one attribute: (label, on teams, registered) rows."""

    key: str
    title: T
    rows: tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class ResultRow:
    """One line of the results table."""

    project_id: int
    org_kind: str
    organization: str
    support: str
    deliverable: str
    status: str
    team_size: int


@dataclass
class ReportData:
    """Everything the report shows, in the reader's language."""

    programme: str
    slug: str
    locale: str
    targets: tuple[TargetLine, ...]
    funnel: tuple[Stage, ...]
    results: list[ResultRow]
    breakdowns: list[Breakdown]
    employers: list[tuple[str, int]]
    sectors: list[tuple[str, int]]
    pledged_hours: int
    checkins: list[tuple[str, int]]
    # Hours a week offered per team (group name, hours); scores 1-5 with their counts
    # once feedback is collected (issue #13).
    hours_by_team: list[tuple[str, int]] = field(default_factory=list)
    # Hours worked as logged (hours_entries, issue #13): in all, and per team.
    worked_hours: int | float = 0
    worked_by_team: list[tuple[str, int | float]] = field(default_factory=list)
    scores: list[tuple[int, int]] = field(default_factory=list)
    charts: list[Path] = field(default_factory=list)
