"""The programme office as one service the channels call: the dashboard (App Home), a
person's own page, exports and the impact report as files, and the case catalogue.

Files are written into a temporary folder and handed over as neutral `Files`; the channel
uploads them and calls `Files.cleanup()`. Writing a workbook and drawing charts is CPU
work, done in a worker thread so the server keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import T, Texts
from bot.office import dashboard as board
from bot.office.cases import PARTNER_KINDS, TEXTS, CaseError, Cases, check_fields
from bot.office.exports import ALL, FORMATS, KINDS, ExportError, export
from bot.office.labels import hours_value, state_label
from bot.office.report import gather, write_pngs, write_xlsx
from storage import office as store
from storage.base import utcnow


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    export_done = T(
        "{what} を書き出しました（{rows} 行）。", "Here is the {what} export ({rows} rows)."
    )
    everything = T("すべての一覧", "everything")
    report_done = T(
        "{name} の報告書（XLSX）とグラフです。",
        "The impact report of {name} (XLSX) and its charts.",
    )
    site_done = T(
        "公開中の事例 {count} 件のサイト（zip）と cases.json です。",
        "The site of the {count} published cases (zip) and cases.json.",
    )
    partners_form = T(
        "1行に1つ「名前 / 種別」で書いてください（種別: {kinds}）",
        "One a line as “name / kind” (kinds: {kinds})",
    )
    no_programme = T(
        "実施中のプログラムがありません。`/tsunagu report プログラム名` で指定してください。",
        "No programme is running. Name one: `/tsunagu report PROGRAMME`.",
    )


TXT = _Texts


def _state(status: str) -> T:
    return T(state_label(status, "ja"), state_label(status, "en"))


@dataclass(frozen=True)
class OfficeFile:
    """One file to hand to a person: where it is, its name and title."""

    path: Path
    name: str
    title: str


@dataclass
class Files:
    """Files to hand over with a message; `cleanup()` removes them once sent."""

    text: str
    files: tuple[OfficeFile, ...] = ()
    folder: Path | None = None

    def cleanup(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


# The case form's inputs: Chiba's fields a coordinator writes (最終更新日 moves by itself).
CASE_INPUTS = (
    "title",
    "area",
    "field",
    "year",
    "partners",
    *[k for k in TEXTS if k not in ("title", "area")],
)


@dataclass(frozen=True)
class CaseForm:
    """A case as its edit form shows it: every input as text (partners one a line,
    `name / kind`), the version the edit is made on, and its state."""

    case_id: int
    version: int
    status: str
    values: dict[str, str]


def partner_lines(partners: list[dict[str, Any]], locale: str) -> str:
    labels = {o.key: o.label(locale) for o in PARTNER_KINDS}
    return "\n".join(
        f"{p.get('name')} / {labels.get(str(p.get('kind')), p.get('kind'))}" for p in partners
    )


def parse_partners(text: str) -> list[dict[str, str]] | None:
    """`name / kind` lines as partners (None if a line has no kind)."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, slash, kind = line.replace("／", "/").rpartition("/")
        if not slash:
            return None
        out.append({"name": name.strip(), "kind": kind.strip()})
    return out


@dataclass(frozen=True)
class TeamLine:
    """One of a person's teams, for their own page, with the hours they logged on it."""

    project_id: int
    organization: str
    status: T
    channel: str | None
    hours: int | float = 0


@dataclass(frozen=True)
class MemberPage:
    """What someone who is not a coordinator sees on their own page: their teams with
    their states and the hours they logged on each (and in all), and what their teams
    will be told next."""

    linked: bool
    teams: tuple[TeamLine, ...] = ()
    hours: int | float = 0
    upcoming: tuple[board.NextAnnouncement, ...] = ()


@dataclass(frozen=True)
class ExportRequest:
    """`export KIND [PROGRAMME] [csv|xlsx]` read in any order after the kind."""

    kind: str
    programme: str | None
    fmt: str

    @classmethod
    def parse(cls, args: tuple[str, ...]) -> ExportRequest:
        """The kind first; then a format (csv, xlsx) and a programme slug, either order."""
        kind = args[0].lower() if args else ""
        if kind not in (*KINDS, ALL):
            names = ", ".join([*KINDS, ALL])
            raise ExportError(
                T(f"出力できるのは {names} です（{kind[:30]}）", f"Exports are: {names}")
            )
        fmt, programme = "xlsx", None
        for word in args[1:3]:
            if word.lower() in FORMATS:
                fmt = word.lower()
            else:
                programme = word
        return cls(kind, programme, fmt)


@dataclass
class Office:
    """The office's operations for the channels (Slack's App Home and commands)."""

    maker: async_sessionmaker[AsyncSession]
    timezone: str = "Asia/Tokyo"
    clock: Callable[[], datetime] = utcnow
    cases: Cases = field(init=False)

    def __post_init__(self) -> None:
        self.cases = Cases(self.maker, timezone=self.timezone)

    async def dashboard(self) -> board.Dashboard:
        """The coordinators' dashboard for the running programme and all time."""
        async with self.maker() as session:
            return await board.dashboard(session, self.clock())

    async def member_page(self, slack_user_id: str) -> MemberPage:
        """A person's own page once their Slack is linked: their teams with the hours they
        logged on each, their hours in all (on any project, past teams too), and the
        next announcements to their teams."""
        async with self.maker() as session:
            found = await store.member_teams(session, slack_user_id)
            if found is None:
                return MemberPage(linked=False)
            volunteer, rows = found
            ids = [r.id for r in rows]
            logged = await store.logged_minutes_by_project(session, ids, volunteer)
            total = await store.logged_minutes_of(session, volunteer)
            coming = await store.team_announcements(session, ids)
        teams = tuple(
            TeamLine(
                r.id,
                r.name,
                _state(r.status),
                r.slack_channel_id,
                hours_value(logged.get(r.id, 0)),
            )
            for r in rows
        )
        upcoming = tuple(
            board.NextAnnouncement(a.id, a.send_at, a.name, T(a.title_ja, a.title_en), ())
            for a in coming
        )
        return MemberPage(linked=True, teams=teams, hours=hours_value(total), upcoming=upcoming)

    async def export(self, request: ExportRequest, *, personal: bool, locale: str) -> Files:
        """One export as a file in a fresh folder (a zip of CSVs for `all csv`)."""
        folder = Path(tempfile.mkdtemp(prefix="tsunagu-export-"))
        stamp = self.clock().strftime("%Y%m%d-%H%M")
        suffix = "zip" if request.kind == ALL and request.fmt == "csv" else request.fmt
        scope = f"-{request.programme}" if request.programme else ""
        name = f"tsunagu-{request.kind}{scope}-{stamp}.{suffix}"
        try:
            result = await export(
                self.maker,
                request.kind,
                folder / name,
                fmt=request.fmt,
                programme=request.programme,
                personal=personal,
                locale=locale,
                timezone=self.timezone,
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        what = TXT.everything(locale) if request.kind == ALL else KINDS[request.kind].title(locale)
        text = TXT.export_done(locale, what=what, rows=sum(result.rows.values()))
        return Files(text, (OfficeFile(folder / name, name, name),), folder)

    async def running_slug(self) -> str | None:
        """The slug of the running programme (the report's default)."""
        async with self.maker() as session:
            programme = await store.running_programme(session, self.clock())
            if programme is None:
                return None
            return str((await store.programme_row(session, programme)).slug)

    async def report(self, slug: str | None, locale: str) -> Files:
        """The impact report of a programme (default the running one): the XLSX with its
        charts, and each chart as a PNG."""
        slug = slug or await self.running_slug()
        if slug is None:
            raise ExportError(TXT.no_programme)
        async with self.maker() as session:
            data = await gather(session, slug, locale)
        folder = Path(tempfile.mkdtemp(prefix="tsunagu-report-"))
        name = f"tsunagu-report-{slug}-{self.clock().strftime('%Y%m%d')}.xlsx"
        try:
            await asyncio.to_thread(write_xlsx, data, folder / name)
            pngs = await asyncio.to_thread(write_pngs, data, folder / "charts")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        files = [OfficeFile(folder / name, name, name)]
        files += [OfficeFile(p, f"{slug}-{p.name}", p.stem) for p in pngs]
        return Files(TXT.report_done(locale, name=data.programme), tuple(files), folder)

    async def case_site(self, locale: str) -> Files:
        """The published catalogue as the city's site (a zip of the HTML pages) and JSON."""
        from bot.office.case_site import write_site

        published = await self.cases.published()
        folder = Path(tempfile.mkdtemp(prefix="tsunagu-cases-"))
        try:
            site = await asyncio.to_thread(
                write_site, published, folder / "site", timezone=self.timezone, now=self.clock()
            )
            archive = await asyncio.to_thread(
                shutil.make_archive, str(folder / "tsunagu-cases"), "zip", folder / "site"
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        files = (
            OfficeFile(Path(archive), "tsunagu-cases.zip", "tsunagu-cases.zip"),
            OfficeFile(site.json_path, "cases.json", "cases.json"),
        )
        return Files(TXT.site_done(locale, count=site.pages), files, folder)

    async def case_form(self, case_id: int, locale: str) -> CaseForm:
        """A case's edit form as it reads now (CaseError if there is no such case)."""
        case = await self.cases.get(case_id)
        values = {k: str(getattr(case, k) or "") for k in CASE_INPUTS if k != "partners"}
        values["partners"] = partner_lines(list(case.partners or []), locale)
        return CaseForm(case.id, case.version, case.status, values)

    async def save_case(
        self, case_id: int, version: int, values: dict[str, str], actor: str
    ) -> dict[str, T]:
        """Save an edited form; returns the errors per input (empty when saved). An edit
        made on a stale copy is refused with the reason, nothing is overwritten."""
        changes: dict[str, Any] = {k: v for k, v in values.items() if k != "partners"}
        partners = parse_partners(values.get("partners", ""))
        kinds = T(
            "、".join(o.label.ja for o in PARTNER_KINDS),
            ", ".join(o.label.en for o in PARTNER_KINDS),
        )
        errors = check_fields(changes)
        if partners is None:
            errors["partners"] = T(
                TXT.partners_form("ja", kinds=kinds("ja")),
                TXT.partners_form("en", kinds=kinds("en")),
            )
        else:
            changes["partners"] = partners
            errors |= check_fields({"partners": partners})
        if errors:
            return errors
        try:
            await self.cases.edit(case_id, changes, actor, version=version)
        except CaseError as exc:
            return {"title": exc.text}
        return {}
