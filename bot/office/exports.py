"""Exports for the programme office: volunteers, groups, projects, hours, attendance and
feedback, as CSV (UTF-8 with BOM, so Excel in Japan opens it) or XLSX.

Rows stream from the database a batch at a time into the file (CSV, or the streaming
XLSX writer in bot/office/xlsx.py), so an export of 100,000 volunteers never holds them
all in memory. Columns with
personal data (names, employers, contact people) are written only when the caller says
the reader is a coordinator; a deleted person has no row and is never exported.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import T
from bot.office.labels import (
    VOLUNTEER_STATES,
    hours_value,
    joined,
    local,
    many,
    one,
    state_label,
    yes_no,
)
from bot.programmes.schedule import KINDS as PHASE_KINDS
from bot.taxonomy import (
    AGE_BANDS,
    AVAILABILITY,
    INTERESTS,
    LANGUAGES,
    MENUS,
    MODES,
    OCCUPATIONS,
    ORG_KINDS,
    PERIODS,
    SECTORS,
    skill_label,
)
from storage import office as store

FORMATS = ("csv", "xlsx")
# A spreadsheet would run text starting with these as a formula (CSV/formula injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """One exported column: its header in ja/en, how to read it, whether it is personal."""

    key: str
    header: T
    value: Callable[[dict[str, Any], str, ZoneInfo], Any]
    personal: bool = False


@dataclass(frozen=True)
class Kind:
    """One kind of export: its sheet name, columns and the query that streams its rows."""

    key: str
    title: T
    columns: tuple[Column, ...]
    batches: Callable[[AsyncSession, int | None], AsyncIterator[list[dict[str, Any]]]]

    def visible(self, personal: bool) -> tuple[Column, ...]:
        """The columns this reader may see."""
        return tuple(c for c in self.columns if personal or not c.personal)


class ExportError(ValueError):
    """An export that cannot be made; the message says why in ja and en."""

    def __init__(self, text: T) -> None:
        super().__init__(text("en"))
        self.text = text


@dataclass
class ExportResult:
    """What an export wrote: the file and the rows per kind."""

    path: Path
    format: str
    rows: dict[str, int] = field(default_factory=dict)


def _c(
    key: str,
    ja: str,
    en: str,
    value: Callable[[dict[str, Any], str, ZoneInfo], Any] | None = None,
    *,
    personal: bool = False,
) -> Column:
    return Column(key, T(ja, en), value or (lambda r, _l, _z: r[key]), personal)


def _contact(r: dict[str, Any], key: str) -> str:
    # A group whose contact deleted their data keeps its record, but not the person.
    if str(r.get("user_key") or "").startswith("deleted:"):
        return ""
    return str(r[key] or "")


VOLUNTEERS = Kind(
    "volunteers",
    T("ボランティア", "Volunteers"),
    (
        _c("id", "ID", "ID"),
        _c("display_name", "お名前", "Name", personal=True),
        _c(
            "status",
            "状態",
            "Status",
            lambda r, lo, _z: VOLUNTEER_STATES.get(r["status"], T(r["status"], r["status"]))(lo),
        ),
        _c("area", "地域", "Area"),
        _c(
            "occupation",
            "職業",
            "Occupation",
            lambda r, lo, _z: one(OCCUPATIONS, r["occupation"], lo),
        ),
        _c("age_band", "年代", "Age band", lambda r, lo, _z: one(AGE_BANDS, r["age_band"], lo)),
        _c("employer", "勤務先", "Employer", personal=True),
        _c(
            "via_company",
            "企業の制度で参加",
            "Via employer's programme",
            lambda r, lo, _z: yes_no(r["via_company"], lo),
        ),
        _c(
            "skills",
            "スキル",
            "Skills",
            lambda r, lo, _z: joined([skill_label(s, lo) for s in r["skills"]], lo),
        ),
        _c("skills_other", "その他のスキル", "Other skills", personal=True),
        _c(
            "languages",
            "翻訳の言語",
            "Languages",
            lambda r, lo, _z: many(LANGUAGES, r["languages"], lo),
        ),
        _c("experience_years", "経験年数", "Years of experience"),
        _c("hours_per_week", "活動時間/週", "Hours a week"),
        _c(
            "availability",
            "活動できる時間帯",
            "Availability",
            lambda r, lo, _z: many(AVAILABILITY, r["availability"], lo),
        ),
        _c("mode", "参加の形", "Mode", lambda r, lo, _z: one(MODES, r["mode"], lo)),
        _c(
            "interests",
            "関心分野",
            "Interests",
            lambda r, lo, _z: many(INTERESTS, r["interests"], lo),
        ),
        _c(
            "slack_linked",
            "Slack連携",
            "Slack linked",
            lambda r, lo, _z: yes_no(r["slack_user_id"] is not None, lo),
        ),
        _c("created_at", "登録日時", "Signed up", lambda r, _l, z: local(r["created_at"], z)),
    ),
    store.volunteer_batches,
)

GROUPS = Kind(
    "groups",
    T("団体", "Groups"),
    (
        _c("id", "ID", "ID"),
        _c("name", "団体名", "Group"),
        _c("kind", "団体の種類", "Kind", lambda r, lo, _z: one(ORG_KINDS, r["kind"], lo)),
        _c("sector", "セクター", "Sector", lambda r, lo, _z: one(SECTORS, r["sector"], lo)),
        _c("fields", "活動分野", "Fields", lambda r, lo, _z: many(INTERESTS, r["fields"], lo)),
        _c("area", "活動地域", "Area"),
        _c("activity", "活動内容", "Activities"),
        _c("strengths", "団体の強み", "Strengths"),
        _c("needs_people", "必要なこと（ひと）", "Needs: people"),
        _c("needs_things", "必要なこと（もの）", "Needs: things"),
        _c("needs_money", "必要なこと（おかね）", "Needs: money"),
        _c("requests", "相談件数", "Requests"),
        _c(
            "contact_name",
            "担当者名",
            "Contact",
            lambda r, _l, _z: _contact(r, "contact_name"),
            personal=True,
        ),
        _c(
            "contact_role",
            "担当者の役割",
            "Contact's role",
            lambda r, _l, _z: _contact(r, "contact_role"),
            personal=True,
        ),
        _c("created_at", "登録日時", "Registered", lambda r, _l, z: local(r["created_at"], z)),
    ),
    store.organization_batches,
)

PROJECTS = Kind(
    "projects",
    T("プロジェクト", "Projects"),
    (
        _c("id", "ID", "ID"),
        _c("programme", "プログラム", "Programme"),
        _c("organization_id", "団体ID", "Group ID"),
        _c("organization_name", "団体名", "Group"),
        _c(
            "organization_kind",
            "団体の種類",
            "Kind of group",
            lambda r, lo, _z: one(ORG_KINDS, r["organization_kind"], lo),
        ),
        _c(
            "organization_sector",
            "セクター",
            "Sector",
            lambda r, lo, _z: one(SECTORS, r["organization_sector"], lo),
        ),
        _c("status", "状態", "Status", lambda r, lo, _z: state_label(r["status"], lo)),
        _c("menus", "支援メニュー", "Menus", lambda r, lo, _z: many(MENUS, r["menus"], lo)),
        _c("menu_other", "その他の支援", "Other support"),
        _c("challenge", "課題", "Challenge"),
        _c("period", "希望時期", "Period", lambda r, lo, _z: one(PERIODS, r["period"], lo)),
        _c("mode", "実施の形", "Mode", lambda r, lo, _z: one(MODES, r["mode"], lo)),
        _c("deliverable", "成果物", "Deliverable"),
        _c("team_size", "チーム人数", "Team size", lambda r, _l, _z: len(r["team"])),
        _c(
            "team",
            "チームメンバー",
            "Team members",
            lambda r, lo, _z: joined([name for _id, name in r["team"]], lo),
            personal=True,
        ),
        _c("team_channel_name", "チームチャンネル", "Team channel"),
        _c("created_at", "相談日時", "Submitted", lambda r, _l, z: local(r["created_at"], z)),
        _c("decided_at", "決定日時", "Decided", lambda r, _l, z: local(r["decided_at"], z)),
    ),
    store.project_batches,
)

HOURS = Kind(
    "hours",
    T("活動時間", "Hours"),
    (
        _c("project_id", "プロジェクトID", "Project ID"),
        _c("programme", "プログラム", "Programme"),
        _c("organization_name", "団体名", "Group"),
        _c("volunteer_id", "ボランティアID", "Volunteer ID"),
        _c("display_name", "お名前", "Name", personal=True),
        _c("hours_per_week", "申告した活動時間/週", "Hours a week offered"),
        _c(
            "hours_worked",
            "活動時間（記録）",
            "Hours worked (recorded)",
            lambda r, _l, _z: hours_value(int(r.get("minutes_worked") or 0)),
        ),
    ),
    store.hours_batches,
)

ATTENDANCE = Kind(
    "attendance",
    T("出欠", "Attendance"),
    (
        _c("programme", "プログラム", "Programme"),
        _c("phase_key", "回のキー", "Session key"),
        _c(
            "phase",
            "回",
            "Session",
            lambda r, lo, _z: r["title_ja"] if lo == "ja" else r["title_en"],
        ),
        _c(
            "phase_kind",
            "種類",
            "Kind",
            lambda r, lo, _z: (
                PHASE_KINDS[r["phase_kind"]](lo)
                if r["phase_kind"] in PHASE_KINDS
                else r["phase_kind"]
            ),
        ),
        _c("starts_at", "日時", "When", lambda r, _l, z: local(r["starts_at"], z)),
        _c(
            "answer",
            "回答",
            "Answer",
            lambda r, lo, _z: (
                T("参加", "Yes")(lo) if r["answer"] == "yes" else T("不参加", "No")(lo)
            ),
        ),
        _c("answered_at", "回答日時", "Answered", lambda r, _l, z: local(r["answered_at"], z)),
        _c("volunteer_id", "ボランティアID", "Volunteer ID"),
        _c("display_name", "お名前", "Name", personal=True),
    ),
    store.attendance_batches,
)

FEEDBACK = Kind(
    "feedback",
    T("チェックイン", "Check-ins"),
    (
        _c("project_id", "プロジェクトID", "Project ID"),
        _c("programme", "プログラム", "Programme"),
        _c("organization_name", "団体名", "Group"),
        _c("week", "週", "Week"),
        _c(
            "status",
            "状況",
            "Status",
            lambda r, lo, _z: {
                "green": T("順調", "Green"),
                "yellow": T("注意", "Yellow"),
                "red": T("要支援", "Red"),
                "asked": T("未回答", "Not answered"),
                "missed": T("回答なし", "Missed"),
            }.get(r["status"], T(r["status"], r["status"]))(lo),
        ),
        _c("asked_at", "送信日時", "Asked", lambda r, _l, z: local(r["asked_at"], z)),
        _c("answered_at", "回答日時", "Answered", lambda r, _l, z: local(r["answered_at"], z)),
    ),
    store.feedback_batches,
)

KINDS: dict[str, Kind] = {
    k.key: k for k in (VOLUNTEERS, GROUPS, PROJECTS, HOURS, ATTENDANCE, FEEDBACK)
}
ALL = "all"


def safe(value: Any) -> Any:
    """A cell value a spreadsheet shows as text: strings that would start a formula get
    a leading apostrophe; an empty string is no value (XLSX then writes no cell)."""
    if isinstance(value, str):
        if not value:
            return None
        if value.startswith(_FORMULA_START):
            return "'" + value
    return value


async def _rows(
    session: AsyncSession,
    kind: Kind,
    programme: int | None,
    columns: tuple[Column, ...],
    locale: str,
    tz: ZoneInfo,
) -> AsyncIterator[list[list[Any]]]:
    async for batch in kind.batches(session, programme):
        yield [[safe(c.value(r, locale, tz)) for c in columns] for r in batch]


async def export(
    maker: async_sessionmaker[AsyncSession],
    kind: str,
    out: Path,
    *,
    fmt: str = "xlsx",
    programme: str | None = None,
    personal: bool = False,
    locale: str = "ja",
    timezone: str = "Asia/Tokyo",
) -> ExportResult:
    """Write one kind (or `all`) to `out` as CSV or XLSX; `all` as CSV is a zip of one
    CSV per kind. `personal` is True only when the reader is a coordinator."""
    if fmt not in FORMATS:
        raise ExportError(
            T(f"形式は csv か xlsx です（{fmt}）", f"The format is csv or xlsx ({fmt})")
        )
    if kind != ALL and kind not in KINDS:
        names = ", ".join([*KINDS, ALL])
        raise ExportError(T(f"出力できるのは {names} です", f"Exports are: {names}"))
    kinds = list(KINDS.values()) if kind == ALL else [KINDS[kind]]
    tz = ZoneInfo(timezone)
    result = ExportResult(out, fmt)
    async with maker() as session:
        programme_id = None
        if programme is not None:
            programme_id = await store.programme_id(session, programme)
            if programme_id is None:
                raise ExportError(
                    T(
                        f"プログラム {programme} が見つかりません",
                        f"There is no programme {programme}",
                    )
                )
        if fmt == "xlsx":
            await _xlsx(session, kinds, out, programme_id, personal, locale, tz, result)
        elif len(kinds) == 1:
            with out.open("w", encoding="utf-8-sig", newline="") as fh:
                result.rows[kinds[0].key] = await _csv(
                    session, kinds[0], fh, programme_id, personal, locale, tz
                )
        else:
            with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for k in kinds:
                    with (
                        zf.open(f"{k.key}.csv", "w") as raw,
                        io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fh,
                    ):
                        result.rows[k.key] = await _csv(
                            session, k, fh, programme_id, personal, locale, tz
                        )
    return result


async def _csv(
    session: AsyncSession,
    kind: Kind,
    fh: Any,
    programme: int | None,
    personal: bool,
    locale: str,
    tz: ZoneInfo,
) -> int:
    columns = kind.visible(personal)
    writer = csv.writer(fh)
    writer.writerow([c.header(locale) for c in columns])
    count = 0
    async for rows in _rows(session, kind, programme, columns, locale, tz):
        writer.writerows(rows)
        count += len(rows)
    return count


async def _xlsx(
    session: AsyncSession,
    kinds: list[Kind],
    out: Path,
    programme: int | None,
    personal: bool,
    locale: str,
    tz: ZoneInfo,
    result: ExportResult,
) -> None:
    from bot.office.xlsx import Workbook

    wb = Workbook(out)
    try:
        for kind in kinds:
            columns = kind.visible(personal)
            ws = wb.create_sheet(kind.title(locale))
            ws.append([c.header(locale) for c in columns])
            count = 0
            async for rows in _rows(session, kind, programme, columns, locale, tz):
                for row in rows:
                    ws.append(row)
                count += len(rows)
            result.rows[kind.key] = count
    finally:
        wb.save()
