"""The programme office: `tsunagu export` of every kind in CSV and XLSX read back, personal
columns only for coordinators, deleted people never exported, targets from the programme
YAML, the dashboard's funnel, and `tsunagu report` for the Kawasaki demo programme checked
against the database."""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bot.conversation import engine
from bot.demo import demo_key
from bot.dialogue import DeleteUserData
from bot.effects import EffectContext, apply_effect
from bot.flows.volunteer import VOLUNTEER_FLOW
from bot.office import dashboard as office
from bot.office.exports import KINDS
from bot.programmes.schedule import ScheduleError, parse_programme, parse_targets
from handlers.cli import main as cli
from storage.db import make_engine, make_sessionmaker
from storage.models import CheckIn, Match, Phase, Programme, Project, Rsvp, Volunteer
from tests.support import query, scalar

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
# What a non-coordinator must never see in any export.
PERSONAL = ("お名前", "勤務先", "担当者名", "チームメンバー", "Name", "Employer", "Contact")


async def _setup(database_url: str) -> dict[str, Any]:
    """After `tsunagu demo`: one team formed with an employer and age bands, briefing
    answers, two check-ins, one volunteer and one group contact who deleted their data."""
    from sqlalchemy import delete, select

    eng = make_engine(database_url)
    maker = make_sessionmaker(eng)
    try:
        async with maker.begin() as s:
            vols = list((await s.scalars(select(Volunteer).order_by(Volunteer.id))).all())
            project = (await s.scalars(select(Project).order_by(Project.id))).first()
            assert project is not None
            vols[0].employer, vols[0].via_company, vols[0].age_band = "川崎電機", True, "40s"
            vols[1].employer, vols[1].via_company, vols[1].age_band = "川崎電機 ", False, "30s"
            vols[2].age_band = "60plus"
            # Accept proposed a first team; this test sets the team it checks itself.
            await s.execute(delete(Match).where(Match.project_id == project.id))
            for v in vols[:2]:
                s.add(Match(project_id=project.id, volunteer_id=v.id, state="accepted"))
            s.add(Match(project_id=project.id, volunteer_id=vols[2].id, state="declined"))
            project.status = "team_formed"
            phase = (
                await s.scalars(
                    select(Phase).where(Phase.kind == "briefing").order_by(Phase.starts_at)
                )
            ).first()
            assert phase is not None
            s.add(Rsvp(phase_id=phase.id, channel="line", user_key=vols[3].user_key, answer="yes"))
            s.add(Rsvp(phase_id=phase.id, channel="line", user_key="Ustranger", answer="no"))
            s.add(CheckIn(project_id=project.id, week=1, status="green", asked_at=NOW))
            s.add(CheckIn(project_id=project.id, week=2, status="red", asked_at=NOW))
            deleted_name = vols[4].display_name
            team_names = [vols[0].display_name, vols[1].display_name]
        async with maker.begin() as s:
            ctx = EffectContext("2026-11")
            await apply_effect(s, "line", demo_key("volunteer", 4), "ja", DeleteUserData(), ctx)
            await apply_effect(s, "line", demo_key("group", 3), "ja", DeleteUserData(), ctx)
    finally:
        await eng.dispose()
    return {"deleted": deleted_name, "team": team_names, "project": project.id}


@pytest.fixture
def demo(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    monkeypatch.chdir(tmp_path)  # no .env from the working copy
    monkeypatch.setenv("DATABASE_URL", database_url)
    # The sandbox's commands work on the sandbox's own database, never DATABASE_URL.
    monkeypatch.setenv("TSUNAGU_SANDBOX_DATABASE_URL", database_url)
    monkeypatch.setenv("TSUNAGU_SANDBOX", "on")
    assert cli(["demo"]) == 0
    facts = asyncio.run(_setup(database_url))
    yield facts


def _read(path: Path, fmt: str) -> list[list[Any]]:
    if fmt == "csv":
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
        return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    wb = load_workbook(path, read_only=True)
    rows = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    wb.close()
    return rows


def _count(database_url: str, sql: str) -> int:
    return int(scalar(database_url, sql))


def test_cli_exports_every_kind_in_both_formats(
    demo: dict[str, Any], database_url: str, tmp_path: Path
) -> None:
    expected = {
        "volunteers": _count(database_url, "SELECT count(*) FROM volunteers"),
        "groups": _count(database_url, "SELECT count(*) FROM organizations"),
        "projects": _count(database_url, "SELECT count(*) FROM projects"),
        "hours": _count(database_url, "SELECT count(*) FROM matches WHERE state = 'accepted'"),
        "attendance": _count(database_url, "SELECT count(*) FROM rsvps"),
        "feedback": _count(database_url, "SELECT count(*) FROM checkins"),
    }
    assert expected == {
        "volunteers": 17,
        "groups": 5,
        "projects": 5,
        "hours": 2,
        "attendance": 2,
        "feedback": 2,
    }
    for kind in KINDS:
        for fmt in ("csv", "xlsx"):
            out = tmp_path / f"{kind}.{fmt}"
            assert cli(["export", kind, "--format", fmt, "--out", str(out), "--personal"]) == 0
            rows = _read(out, fmt)
            headers = rows[0]
            assert headers == [c.header("ja") for c in KINDS[kind].columns], (kind, fmt)
            assert len(rows) - 1 == expected[kind], (kind, fmt)

    volunteers = _read(tmp_path / "volunteers.xlsx", "xlsx")
    by_id = {r[0]: dict(zip(volunteers[0], r, strict=True)) for r in volunteers[1:]}
    first = min(by_id)
    assert by_id[first]["勤務先"] == "川崎電機"
    assert by_id[first]["年代"] == "40代"
    assert by_id[first]["企業の制度で参加"] == "はい"
    assert by_id[first]["職業"] == query(
        database_url, "SELECT occupation FROM volunteers WHERE id = :i", i=first
    )[0][0].replace("employee", "会社員").replace("self_employed", "自営業・フリーランス")
    projects = _read(tmp_path / "projects.csv", "csv")
    team_row = next(r for r in projects[1:] if r[0] == str(demo["project"]))
    record = dict(zip(projects[0], team_row, strict=True))
    assert record["状態"] == "チーム結成"
    assert record["チーム人数"] == "2"
    assert record["チームメンバー"] == "、".join(demo["team"])
    feedback = _read(tmp_path / "feedback.csv", "csv")
    assert [r[4] for r in feedback[1:]] == ["順調", "要支援"]


def test_personal_columns_only_for_coordinators_and_deleted_people_never(
    demo: dict[str, Any], database_url: str, tmp_path: Path
) -> None:
    names = [r[0] for r in query(database_url, "SELECT display_name FROM volunteers")]
    contacts = [r[0] for r in query(database_url, "SELECT contact_name FROM organizations")]
    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"all-{fmt}.{'zip' if fmt == 'csv' else fmt}"
        assert cli(["export", "all", "--format", fmt, "--out", str(out)]) == 0
        text = _all_text(out, fmt)
        for header in PERSONAL:
            assert f"\x1f{header}\x1f" not in text, (fmt, header)
        for name in [*names, *contacts]:
            if name != "-":
                assert name not in text, (fmt, name)
        assert demo["deleted"] not in text

        personal = tmp_path / f"all-personal-{fmt}.{'zip' if fmt == 'csv' else fmt}"
        assert cli(["export", "all", "--format", fmt, "--out", str(personal), "--personal"]) == 0
        text = _all_text(personal, fmt)
        assert all(name in text for name in names)
        # The volunteer who deleted their data is gone, with or without personal columns;
        # the group whose contact left keeps its record without the person.
        assert demo["deleted"] not in text
        assert "\x1f-\x1f" not in text
        assert sum(1 for c in contacts if c != "-" and c in text) == 4


def _all_text(path: Path, fmt: str) -> str:
    """Every cell of an `all` export, separated by \\x1f so whole cells can be matched."""
    cells: list[str] = []
    if fmt == "csv":
        with zipfile.ZipFile(path) as zf:
            assert sorted(zf.namelist()) == sorted(f"{k}.csv" for k in KINDS)
            for name in zf.namelist():
                raw = zf.read(name)
                assert raw.startswith(b"\xef\xbb\xbf")
                for row in csv.reader(io.StringIO(raw.decode("utf-8-sig"))):
                    cells += row
    else:
        wb = load_workbook(path, read_only=True)
        assert wb.sheetnames == [k.title("ja") for k in KINDS.values()]
        for ws in wb.worksheets:
            for row in ws.iter_rows(values_only=True):
                cells += ["" if v is None else str(v) for v in row]
        wb.close()
    return "\x1f" + "\x1f".join(cells) + "\x1f"


def test_export_in_english_for_one_programme_and_polite_errors(
    demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.csv"
    args = ["export", "projects", "--programme", "kawasaki2017", "--format", "csv"]
    assert cli([*args, "--out", str(out), "--lang", "en"]) == 0
    rows = _read(out, "csv")
    assert rows[0][:4] == ["ID", "Programme", "Group ID", "Group"]
    assert {r[1] for r in rows[1:]} == {"kawasaki2017"} and len(rows) == 6
    capsys.readouterr()
    assert cli(["export", "groups", "--programme", "nowhere", "--out", str(out)]) == 1
    assert "プログラム nowhere が見つかりません" in capsys.readouterr().err
    assert cli(["export", "groups", "--programme", "nowhere", "--lang", "en"]) == 1
    assert "There is no programme nowhere" in capsys.readouterr().err


def test_a_formula_typed_by_a_group_is_exported_as_text(
    demo: dict[str, Any], database_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import create_engine, text

    from storage.db import sync_url

    eng = create_engine(sync_url(database_url))
    with eng.begin() as conn:
        conn.execute(text("UPDATE organizations SET activity = '=HYPERLINK(\"x\")' WHERE id = 1"))
    eng.dispose()
    out = tmp_path / "g.xlsx"
    assert cli(["export", "groups", "--out", str(out)]) == 0
    wb = load_workbook(out)
    ws = wb.worksheets[0]
    assert ws.cell(2, 7).value == '\'=HYPERLINK("x")'
    assert ws.cell(2, 7).data_type == "s"


# ---------------------------------------------------------------- targets and dashboard


def test_targets_in_the_programme_yaml_are_checked_in_both_languages() -> None:
    assert parse_targets({"participants": 30, "companies": "20"}) == {
        "participants": 30,
        "companies": 20,
    }
    for bad, ja, en in (
        ({"volunteers": 3}, "不明な目標の種類 volunteers", "unknown kind volunteers"),
        ({"teams": -1}, "0以上の整数", "a whole number, 0 or more"),
        ({"hours": "many"}, "0以上の整数", "a whole number"),
        ({"hours": True}, "0以上の整数", "a whole number"),
        ([30], "種類: 数", "kind: number"),
    ):
        with pytest.raises(ScheduleError) as caught:
            parse_targets(bad)
        assert ja in caught.value.text("ja") and en in caught.value.text("en")
    spec = parse_programme(
        {
            "programme": {"name": "せんだい", "slug": "sendai", "targets": {"teams": 4}},
            "phases": [{"key": "k", "kind": "kickoff", "starts": "2026-12-10 10:00"}],
        }
    )
    assert spec.targets == {"teams": 4}


def test_targets_against_actuals_and_the_funnel(demo: dict[str, Any], database_url: str) -> None:
    async def read() -> tuple[Any, Any]:
        eng = make_engine(database_url)
        try:
            async with make_sessionmaker(eng)() as s:
                from sqlalchemy import select

                pid = await s.scalar(select(Programme.id).where(Programme.slug == "kawasaki2017"))
                assert pid is not None
                board = await office.dashboard(s, NOW + timedelta(days=365))
                explicit = await office.dashboard(s, NOW, programme=pid)
                return board, explicit
        finally:
            await eng.dispose()

    board, explicit = asyncio.run(read())
    assert board.programme_name == explicit.programme_name == "プロボノチャレンジKAWASAKI 2017"
    lines = {t.key: (t.target, t.actual) for t in explicit.targets}
    # The YAML's targets against what the database holds.
    assert lines == {
        "participants": (18, 2),
        "companies": (5, 1),  # "川崎電機" and "川崎電機 " are one company
        "consultations": (5, 5),
        "applications": (5, 5),
        "teams": (5, 1),
        "hours": (540, 0),  # nothing logged in the demo yet
    }
    funnel = {s.key: s.count for s in explicit.funnel}
    assert funnel == {
        # The briefing's two answers and the two team members.
        "followers": 4,
        "volunteers": 3,
        "requests": 5,
        "accepted": 5,
        "teams": 1,
        "delivered": 0,
        "completed": 0,
    }
    all_time = {s.key: s.count for s in explicit.funnel_all_time}
    assert all_time["volunteers"] == _count(database_url, "SELECT count(*) FROM volunteers")
    assert all_time["followers"] == _count(
        database_url, "SELECT count(*) FROM conversations WHERE channel = 'line'"
    )
    assert [(a.project_id, a.reason) for a in explicit.actions] == [(demo["project"], "red")]
    # The next announcements of the demo programme's calendar, soonest first.
    sends = [a.send_at for a in explicit.upcoming]
    assert sends == sorted(sends) and len(sends) == 5
    assert {a.programme for a in explicit.upcoming} == {"プロボノチャレンジKAWASAKI 2017"}
    assert dict((s, n) for s, _label, n in explicit.by_state) == {
        "recruiting": 4,
        "team_formed": 1,
    }


def test_an_old_sign_up_in_progress_resumes_at_the_new_questions() -> None:
    stored = {
        "flow": "volunteer",
        "version": 1,
        "step": "experience_years",
        "phase": "ask",
        "answers": {
            "display_name": "花子",
            "area": "川崎市",
            "skills": ["accounting"],
            "occupation": "employee",
        },
        "history": ["display_name", "area", "skills", "occupation"],
    }
    state = engine.resume(VOLUNTEER_FLOW, stored)
    assert state.version == VOLUNTEER_FLOW.version == 3  # v3: contact sharing (#13)
    assert state.step == "employer"
    assert state.answers["occupation"] == "employee"


# ---------------------------------------------------------------- the impact report


def test_report_for_the_kawasaki_demo_matches_the_database(
    demo: dict[str, Any], database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "kawasaki.xlsx"
    assert cli(["report", "kawasaki2017", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    pngs = [Path(p) for p in printed if p.endswith(".png")]
    assert {p.stem for p in pngs} >= {"targets", "funnel", "occupation", "age_band"}
    for png in pngs:
        assert png.read_bytes().startswith(b"\x89PNG")
    with zipfile.ZipFile(out) as zf:
        charts = [n for n in zf.namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) >= 4  # targets, funnel, participants, check-ins

    wb = load_workbook(out)
    assert wb.sheetnames == ["概要", "実績", "参加者", "活動時間", "ふりかえり"]
    summary = {r[0]: r[1:4] for r in wb["概要"].iter_rows(min_row=4, values_only=True) if r[0]}
    consultations = _count(
        database_url,
        "SELECT count(*) FROM projects p JOIN programmes g ON g.id = p.programme_id "
        "WHERE g.slug = 'kawasaki2017'",
    )
    assert summary["相談件数"][:2] == (5, consultations)
    assert summary["プロボノ参加者"][:2] == (
        18,
        _count(
            database_url,
            "SELECT count(DISTINCT volunteer_id) FROM matches WHERE state = 'accepted'",
        ),
    )
    # Hours worked are the hours logged (none in the demo).
    assert summary["活動時間"][1] == _count(
        database_url, "SELECT coalesce(sum(minutes), 0) FROM hours_entries"
    )
    assert summary["チーム数"][2] == pytest.approx(1 / 5)

    results = list(wb["実績"].iter_rows(values_only=True))
    assert results[0] == ("ID", "団体の種類", "団体名", "支援内容", "成果物", "状態", "チーム人数")
    db_rows = query(
        database_url,
        "SELECT p.id, o.name, o.kind FROM projects p JOIN organizations o "
        "ON o.id = p.organization_id ORDER BY p.id",
    )
    kinds = {
        "voluntary": "任意団体",
        "npo": "NPO法人",
        "social_welfare": "社会福祉法人",
        "general_inc": "一般社団法人",
    }
    assert [(r[0], r[2], r[1]) for r in results[1:]] == [
        (i, name, kinds.get(kind, kind)) for i, name, kind in db_rows
    ]
    assert "課題整理ワークショップ" in results[1][3]
    assert results[1][6] == 2

    people = list(wb["参加者"].iter_rows(values_only=True))
    table = _section(people, "職業別")
    registered = dict(
        query(database_url, "SELECT occupation, count(*) FROM volunteers GROUP BY occupation")
    )
    assert table["会社員"][1] == registered.get("employee", 0)
    assert sum(row[1] for row in table.values()) == _count(
        database_url, "SELECT count(*) FROM volunteers"
    )
    assert sum(row[0] for row in table.values()) == 2
    ages = _section(people, "年代別")
    assert ages["40代"] == (1, 1) and ages["30代"] == (1, 1) and ages["60代以上"] == (0, 1)
    assert ages["未回答"] == (0, 14)
    via = _section(people, "企業からの参加")
    assert via["会社の制度で参加"] == (1, 1) and via["個人で参加"] == (1, 1)
    feedback = {r[0]: r[1] for r in wb["ふりかえり"].iter_rows(values_only=True) if r[0]}
    assert feedback["順調"] == 1 and feedback["要支援"] == 1
    hours = {r[0]: r[1] for r in wb["活動時間"].iter_rows(values_only=True)}
    pledged = _count(
        database_url,
        "SELECT sum(v.hours_per_week) FROM volunteers v JOIN matches m "
        "ON m.volunteer_id = v.id WHERE m.state = 'accepted'",
    )
    assert hours["チーム参加者の申告活動時間（週あたり合計）"] == pledged


def _section(rows: list[tuple[Any, ...]], title: str) -> dict[str, tuple[int, int]]:
    """One breakdown table of the participants sheet: label -> (on teams, registered)."""
    start = next(i for i, r in enumerate(rows) if r[0] == title)
    out: dict[str, tuple[int, int]] = {}
    for row in rows[start + 1 :]:
        if row[0] is None:
            break
        out[str(row[0])] = (int(row[1]), int(row[2]))
    return out


def test_report_of_an_unknown_programme_says_so(
    demo: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["report", "nowhere", "--lang", "en"]) == 1
    assert "There is no programme nowhere" in capsys.readouterr().err


def test_png_charts_from_the_report_data(demo: dict[str, Any], database_url: str) -> None:
    from PIL import Image

    from bot.office.charts import all_charts, chart_font
    from bot.office.report import gather

    async def data(locale: str) -> Any:
        eng = make_engine(database_url)
        try:
            async with make_sessionmaker(eng)() as s:
                return await gather(s, "kawasaki2017", locale)
        finally:
            await eng.dispose()

    # matplotlib-fontja's IPAex Gothic when the machine has no CJK font of its own.
    assert chart_font()[1]
    for locale in ("ja", "en"):
        report = asyncio.run(data(locale))
        assert dict(report.hours_by_team)[report.results[0].organization] == _count(
            database_url,
            "SELECT sum(v.hours_per_week) FROM volunteers v JOIN matches m "
            "ON m.volunteer_id = v.id WHERE m.state = 'accepted'",
        )
        charts = all_charts(report)
        assert set(charts) == {
            "targets", "funnel", "occupation", "age_band", "area", "company", "sector",
            "hours", "feedback",
        }  # fmt: skip
        for name, png in charts.items():
            image = Image.open(io.BytesIO(png))
            assert image.format == "PNG" and image.size[0] >= 800, name


def test_the_report_workbook_carries_png_charts(demo: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "r.xlsx"
    assert cli(["report", "kawasaki2017", "--out", str(out), "--lang", "en"]) == 0
    with zipfile.ZipFile(out) as zf:
        media = [n for n in zf.namelist() if n.startswith("xl/media/")]
        assert len(media) == 2 and all(zf.read(n).startswith(b"\x89PNG") for n in media)
