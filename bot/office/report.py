"""The impact report of a programme: an XLSX workbook (summary with targets against
actuals, the results table as Kawasaki publishes it, who took part, hours, feedback) with
charts, and the same charts as PNG images (matplotlib) for Slack and the App Home."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.conversation.fields import Option
from bot.i18n import T, Texts
from bot.office.dashboard import funnel, targets
from bot.office.exports import ExportError, safe
from bot.office.labels import NOT_GIVEN, hours_value, joined, many, one, state_label
from bot.office.report_data import Breakdown, ReportData, ResultRow
from bot.taxonomy import (
    AGE_BANDS,
    COMPANY_PROGRAMME,
    MENUS,
    OCCUPATIONS,
    ORG_KINDS,
    SECTORS,
)
from storage import office as store

TOP_AREAS = 15


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    summary = T("概要", "Summary")
    results = T("実績", "Results")
    participants = T("参加者", "Participants")
    hours = T("活動時間", "Hours")
    feedback = T("ふりかえり", "Feedback")
    title = T("{name} 成果報告", "{name}: impact report")
    target = T("目標", "Target")
    actual = T("実績", "Actual")
    rate = T("達成率", "Achieved")
    item = T("項目", "Item")
    funnel = T("ファネル", "Funnel")
    count = T("人数・件数", "Count")
    not_recorded = T("未記録", "Not recorded")
    org_kind = T("団体の種類", "Type of group")
    org = T("団体名", "Group")
    support = T("支援内容", "What was supported")
    deliverable = T("成果物", "Deliverable")
    status = T("状態", "Status")
    team = T("チーム人数", "Team size")
    on_team = T("チーム参加者", "On teams")
    registered = T("登録者（全体）", "Registered (all)")
    occupation = T("職業別", "By occupation")
    age_band = T("年代別", "By age band")
    area = T("地域別", "By area")
    company = T("企業からの参加", "Through employers")
    employers = T("参加企業", "Companies")
    sector = T("支援先団体のセクター別", "Groups by sector")
    others = T("その他の地域", "Other areas")
    pledged = T(
        "チーム参加者の申告活動時間（週あたり合計）", "Hours a week offered by team members"
    )
    worked = T("活動時間（記録）", "Hours worked (recorded)")
    hours_note = T(
        "活動時間の記録はまだありません（メンバーがLINEかSlackで記録します）。",
        "No hours worked are logged yet (members log them in LINE or Slack).",
    )
    per_team = T("チームごと", "Per team")
    offered = T("申告（週あたり）", "Offered (a week)")
    checkins = T("週次チェックイン", "Weekly check-ins")
    scores = T("評価（1〜5）", "Scores (1 to 5)")
    testimonials = T("掲載可能な声", "Published testimonials")
    feedback_note = T(
        "団体・ボランティアの評価と声はまだ集めていません。",
        "Scores and testimonials from groups and volunteers are not collected yet.",
    )


TXT = _Texts
CHECKIN_LABELS = {
    "green": T("順調", "Green"),
    "yellow": T("注意", "Yellow"),
    "red": T("要支援", "Red"),
    "asked": T("未回答", "Not answered"),
    "missed": T("回答なし", "Missed"),
}


def _by_options(
    options: tuple[Option, ...],
    team: dict[str | None, int],
    everyone: dict[str | None, int],
    locale: str,
) -> tuple[tuple[str, int, int], ...]:
    rows = [(o.label(locale), team.get(o.key, 0), everyone.get(o.key, 0)) for o in options]
    known = {o.key for o in options}
    other_team = sum(n for k, n in team.items() if k not in known)
    other_all = sum(n for k, n in everyone.items() if k not in known)
    if other_all or other_team:
        rows.append((NOT_GIVEN(locale), other_team, other_all))
    return tuple(rows)


def _areas(
    team: dict[str | None, int], everyone: dict[str | None, int], locale: str
) -> tuple[tuple[str, int, int], ...]:
    ranked = sorted(everyone, key=lambda k: (-everyone[k], str(k)))
    top = ranked[:TOP_AREAS]
    rows = [(str(k) if k else NOT_GIVEN(locale), team.get(k, 0), everyone[k]) for k in top]
    rest = ranked[TOP_AREAS:]
    if rest:
        rows.append(
            (
                TXT.others(locale),
                sum(team.get(k, 0) for k in rest),
                sum(everyone[k] for k in rest),
            )
        )
    return tuple(rows)


def _as_choice(counts: dict[str | None, int]) -> dict[str | None, int]:
    """Counts keyed by a stored boolean (as text), keyed by COMPANY_PROGRAMME's yes/no."""
    out: dict[str | None, int] = {}
    for key, n in counts.items():
        choice = None if key is None else ("yes" if key in ("1", "True", "true") else "no")
        out[choice] = out.get(choice, 0) + n
    return out


async def gather(session: AsyncSession, slug: str, locale: str) -> ReportData:
    """The report's numbers for one programme, from the database."""
    programme = await store.programme_id(session, slug)
    if programme is None:
        raise ExportError(T(f"プログラム {slug} が見つかりません", f"There is no programme {slug}"))
    row = await store.programme_row(session, programme)
    results_rows = await store.results_table(session, programme)
    sizes = await store.team_sizes(session, [r.id for r in results_rows])
    results = [
        ResultRow(
            project_id=r.id,
            org_kind=one(ORG_KINDS, r.kind, locale),
            organization=r.name,
            support=joined(
                [many(MENUS, r.menus, locale), *([r.menu_other] if r.menu_other else [])],
                locale,
            ),
            deliverable=r.deliverable or "",
            status=state_label(r.status, locale),
            team_size=sizes.get(r.id, 0),
        )
        for r in results_rows
    ]

    async def split(column: str) -> tuple[dict[str | None, int], dict[str | None, int]]:
        on_team = await store.breakdown(session, column, programme, on_team=True)
        everyone = await store.breakdown(session, column, programme, on_team=False)
        return on_team, everyone

    occupation = await split("occupation")
    age = await split("age_band")
    area = await split("area")
    company = await split("via_company")
    via = (_as_choice(company[0]), _as_choice(company[1]))
    employers = await store.breakdown(session, "employer", programme, on_team=True)
    sectors = await store.sector_counts(session, programme)
    checkins = await store.checkin_counts(session, programme)
    ids = [r.id for r in results_rows]
    hours_by_project = await store.pledged_hours_by_project(session, ids)
    worked = await store.logged_minutes_by_project(session, ids)
    return ReportData(
        programme=str(row.name),
        slug=slug,
        locale=locale,
        targets=await targets(session, programme),
        funnel=await funnel(session, programme),
        results=results,
        breakdowns=[
            Breakdown(
                "occupation",
                TXT.occupation,
                _by_options(OCCUPATIONS, occupation[0], occupation[1], locale),
            ),
            Breakdown("age_band", TXT.age_band, _by_options(AGE_BANDS, age[0], age[1], locale)),
            Breakdown("area", TXT.area, _areas(area[0], area[1], locale)),
            Breakdown(
                "company",
                TXT.company,
                _by_options(COMPANY_PROGRAMME, via[0], via[1], locale),
            ),
        ],
        employers=sorted(
            ((str(k), n) for k, n in employers.items() if k), key=lambda kv: (-kv[1], kv[0])
        ),
        sectors=[(o.label(locale), sectors.get(o.key, 0)) for o in SECTORS]
        + ([(NOT_GIVEN(locale), sectors[None])] if sectors.get(None) else []),
        pledged_hours=await store.pledged_hours(session, programme),
        hours_by_team=[(r.organization, hours_by_project.get(r.project_id, 0)) for r in results],
        worked_hours=hours_value(await store.logged_minutes(session, programme)),
        worked_by_team=[
            (r.organization, hours_value(worked.get(r.project_id, 0))) for r in results
        ],
        checkins=[(CHECKIN_LABELS[k](locale), checkins.get(k, 0)) for k in CHECKIN_LABELS],
    )


# ---------------------------------------------------------------- the workbook


def _picture(ws: Any, png: bytes, anchor: str) -> None:
    """A PNG chart placed on a sheet (where the workbook has no chart of its own)."""
    from openpyxl.drawing.image import Image

    ws.add_image(Image(io.BytesIO(png)), anchor)


def write_xlsx(data: ReportData, out: Path) -> None:
    """The report as an XLSX workbook: bar charts of its own, and the PNG charts of the
    sectors and the hours by team."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font

    from bot.office.charts import hours_png, sectors_png

    loc = data.locale
    bold = Font(bold=True)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = TXT.summary(loc)
    ws.append([TXT.title(loc, name=data.programme)])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([])
    ws.append([TXT.item(loc), TXT.target(loc), TXT.actual(loc), TXT.rate(loc)])
    for cell in ws[3]:
        cell.font = bold
    first = ws.max_row + 1
    for line in data.targets:
        ws.append(
            [
                line.label(loc),
                line.target,
                line.actual if line.actual is not None else TXT.not_recorded(loc),
                line.ratio,
            ]
        )
        ws.cell(ws.max_row, 4).number_format = "0%"
    last = ws.max_row
    chart = BarChart()
    chart.title = f"{TXT.target(loc)} / {TXT.actual(loc)}"
    chart.add_data(
        Reference(ws, min_col=2, max_col=3, min_row=3, max_row=last), titles_from_data=True
    )
    chart.set_categories(Reference(ws, min_col=1, min_row=first, max_row=last))
    ws.add_chart(chart, "F3")
    ws.append([])
    ws.append([TXT.funnel(loc), TXT.count(loc)])
    ws.cell(ws.max_row, 1).font = bold
    head = ws.max_row
    for stage in data.funnel:
        ws.append([stage.label(loc), stage.count])
    funnel_chart = BarChart()
    funnel_chart.type = "bar"
    funnel_chart.title = TXT.funnel(loc)
    funnel_chart.add_data(
        Reference(ws, min_col=2, min_row=head, max_row=ws.max_row), titles_from_data=True
    )
    funnel_chart.set_categories(Reference(ws, min_col=1, min_row=head + 1, max_row=ws.max_row))
    ws.add_chart(funnel_chart, "F20")
    ws.column_dimensions["A"].width = 28

    results = wb.create_sheet(TXT.results(loc))
    results.append(
        [
            "ID",
            TXT.org_kind(loc),
            TXT.org(loc),
            TXT.support(loc),
            TXT.deliverable(loc),
            TXT.status(loc),
            TXT.team(loc),
        ]
    )
    for cell in results[1]:
        cell.font = bold
    for r in data.results:
        results.append(
            [
                r.project_id,
                r.org_kind,
                safe(r.organization),
                safe(r.support),
                safe(r.deliverable),
                r.status,
                r.team_size,
            ]
        )
    for col, width in zip("ABCDEFG", (6, 18, 28, 40, 30, 16, 10), strict=True):
        results.column_dimensions[col].width = width

    people = wb.create_sheet(TXT.participants(loc))
    row_at = 1
    for i, b in enumerate(data.breakdowns):
        people.cell(row_at, 1, b.title(loc)).font = bold
        people.cell(row_at, 2, TXT.on_team(loc)).font = bold
        people.cell(row_at, 3, TXT.registered(loc)).font = bold
        top = row_at
        for label, team, everyone in b.rows:
            row_at += 1
            people.cell(row_at, 1, safe(label))
            people.cell(row_at, 2, team)
            people.cell(row_at, 3, everyone)
        chart = BarChart()
        chart.title = b.title(loc)
        chart.height, chart.width = 7, 14
        chart.add_data(
            Reference(people, min_col=2, max_col=3, min_row=top, max_row=row_at),
            titles_from_data=True,
        )
        chart.set_categories(Reference(people, min_col=1, min_row=top + 1, max_row=row_at))
        people.add_chart(chart, f"E{1 + i * 15}")
        row_at += 2
    people.cell(row_at, 1, TXT.employers(loc)).font = bold
    people.cell(row_at, 2, TXT.on_team(loc)).font = bold
    for name, n in data.employers:
        row_at += 1
        people.cell(row_at, 1, safe(name))
        people.cell(row_at, 2, n)
    row_at += 2
    people.cell(row_at, 1, TXT.sector(loc)).font = bold
    people.cell(row_at, 2, TXT.count(loc)).font = bold
    for name, n in data.sectors:
        row_at += 1
        people.cell(row_at, 1, name)
        people.cell(row_at, 2, n)
    people.column_dimensions["A"].width = 24

    _picture(people, sectors_png(data), f"E{1 + len(data.breakdowns) * 15}")

    hours = wb.create_sheet(TXT.hours(loc))
    hours.append([TXT.pledged(loc), data.pledged_hours])
    hours.append([TXT.worked(loc), data.worked_hours])
    if not data.worked_hours:
        hours.append([TXT.hours_note(loc)])
    hours.append([])
    hours.append([TXT.per_team(loc), TXT.offered(loc), TXT.worked(loc)])
    for cell in hours[hours.max_row]:
        cell.font = bold
    offered = dict(data.hours_by_team)
    for name, worked in data.worked_by_team:
        hours.append([name, offered.get(name, 0), worked])
    hours.column_dimensions["A"].width = 44
    hours.column_dimensions["C"].width = 20
    _picture(hours, hours_png(data), "E1")

    feedback = wb.create_sheet(TXT.feedback(loc))
    feedback.append([TXT.checkins(loc), TXT.count(loc)])
    for cell in feedback[1]:
        cell.font = bold
    for label, n in data.checkins:
        feedback.append([label, n])
    chart = BarChart()
    chart.title = TXT.checkins(loc)
    chart.add_data(
        Reference(feedback, min_col=2, min_row=1, max_row=feedback.max_row), titles_from_data=True
    )
    chart.set_categories(Reference(feedback, min_col=1, min_row=2, max_row=feedback.max_row))
    feedback.add_chart(chart, "D1")
    feedback.append([])
    feedback.append([TXT.scores(loc), TXT.not_recorded(loc)])
    feedback.append([TXT.testimonials(loc), TXT.not_recorded(loc)])
    feedback.append([TXT.feedback_note(loc)])
    feedback.column_dimensions["A"].width = 30
    wb.save(out)


# ---------------------------------------------------------------- PNG charts


def write_pngs(data: ReportData, folder: Path) -> list[Path]:
    """The report's charts (bot/office/charts.py) as PNG files in `folder`."""
    from bot.office.charts import all_charts

    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name, png in all_charts(data).items():
        path = folder / f"{name}.png"
        path.write_bytes(png)
        paths.append(path)
    return paths


async def write_report(
    maker: async_sessionmaker[AsyncSession],
    slug: str,
    out: Path,
    *,
    locale: str = "ja",
    charts: Path | None = None,
) -> ReportData:
    """Gather a programme's numbers and write the XLSX (and the PNG charts into
    `charts`, default a folder beside the workbook)."""
    async with maker() as session:
        data = await gather(session, slug, locale)
    write_xlsx(data, out)
    data.charts = write_pngs(data, charts or out.with_name(out.stem + "-charts"))
    return data
