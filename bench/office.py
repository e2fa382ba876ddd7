"""The programme office at scale: dashboard data, case search and the full XLSX export on a
synthetic database of 100,000 volunteers, 10,000 groups, 10,000 projects and 10,000
cases, each beside a naive baseline (ORM load-all) measured in the same run.

    .venv/bin/python bench/office.py                 # builds var/bench-office.sqlite3 once
    .venv/bin/python bench/office.py --rebuild       # builds it again
    .venv/bin/python bench/office.py --database-url postgresql://postgres@127.0.0.1/bench_office

Targets (issue #14): dashboard data <= 200 ms median; case search <= 50 ms median; full
XLSX export <= 10 s with peak RSS <= 300 MB. Each export runs in its own process
(`tsunagu export all`, and the baseline here with --naive-export), so its peak RSS is its
own (os.wait4).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, func, insert, select  # noqa: E402

from bot.taxonomy import (  # noqa: E402
    AGE_BANDS,
    INTERESTS,
    MENUS,
    OCCUPATIONS,
    ORG_KINDS,
    SECTORS,
    SKILLS,
)
from storage.db import sync_url  # noqa: E402
from storage.models import (  # noqa: E402
    Case,
    CheckIn,
    Conversation,
    Match,
    Organization,
    Phase,
    Programme,
    Project,
    Rsvp,
    Volunteer,
    VolunteerSkill,
)

SEED = 20261204
VOLUNTEERS, GROUPS, PROJECTS, PROGRAMMES = 100_000, 10_000, 10_000, 10
CASES = 10_000
# (words, filters) a coordinator or a visitor might search for; timed each --runs times.
SEARCHES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("子育て 八王子", {}),
    ("チラシ", {}),
    ("ﾁﾗｼ ポスター", {}),
    ("会計", {"year": 2024}),
    ("", {"field": "environment"}),
    ("ワークショップ", {"area": "仙台市"}),
    ("譲渡会 来場者", {}),
    ("見つからない言葉", {}),
)
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
CACHE = REPO / "var" / "bench-office.sqlite3"
# Bump when the synthetic data changes, so a cached database is rebuilt.
DATA_VERSION = "2"
STATES = (
    ("submitted", 0.08),
    ("recruiting", 0.30),
    ("team_proposed", 0.05),
    ("team_formed", 0.35),
    ("declined", 0.07),
    ("agreed", 0.05),
    ("delivered", 0.05),
    ("completed", 0.05),
)
AREAS = ("川崎市中原区", "川崎市高津区", "八王子市", "仙台市青葉区", "千葉市美浜区", "和光市")
EMPLOYERS = tuple(f"株式会社サンプル{i:03d}" for i in range(300))


def _chunks(rows: list[dict[str, Any]], size: int = 5000) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def build(url: str) -> None:
    """Create the synthetic database with bulk inserts (a few seconds on SQLite)."""
    from storage.migrate import upgrade

    upgrade(url)
    rnd = random.Random(SEED)
    eng = create_engine(sync_url(url))
    skills = [o.key for o in SKILLS]
    t0 = time.perf_counter()
    with eng.begin() as conn:
        if conn.execute(select(func.count()).select_from(Volunteer)).scalar_one():
            raise SystemExit(f"{url} already holds data: use an empty database or --rebuild")
        conn.execute(
            insert(Programme),
            [
                {
                    "id": p + 1,
                    "name": f"プログラム{p + 1}",
                    "slug": f"prog{p + 1}",
                    "timezone": "Asia/Tokyo",
                    "menus": [],
                    "targets": {"participants": 3000, "teams": 800, "consultations": 1000},
                    "version": 1,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for p in range(PROGRAMMES)
            ],
        )
        phases = []
        for p in range(PROGRAMMES):
            start = NOW + timedelta(days=60 * (p - PROGRAMMES + 2))
            for k, kind in enumerate(("briefing", "kickoff", "presentation")):
                phases.append(
                    {
                        "id": p * 3 + k + 1,
                        "programme_id": p + 1,
                        "key": kind,
                        "kind": kind,
                        "title_ja": kind,
                        "title_en": kind,
                        "starts_at": start + timedelta(days=20 * k),
                        "rsvp": kind == "briefing",
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                )
        conn.execute(insert(Phase), phases)
        vols, vskills, convs = [], [], []
        for i in range(VOLUNTEERS):
            occupation = rnd.choice(OCCUPATIONS).key
            employed = occupation in ("employee", "public_sector") and rnd.random() < 0.5
            vols.append(
                {
                    "id": i + 1,
                    "channel": "line",
                    "user_key": f"U{i:032x}",
                    "locale": "ja",
                    "display_name": f"ボランティア {i}",
                    "area": rnd.choice(AREAS),
                    "occupation": occupation,
                    "age_band": rnd.choice(AGE_BANDS).key if rnd.random() < 0.7 else None,
                    "employer": rnd.choice(EMPLOYERS) if employed else None,
                    "via_company": (rnd.random() < 0.4) if employed else None,
                    "experience_years": rnd.randint(0, 30),
                    "hours_per_week": rnd.randint(1, 10),
                    "availability": ["weekend"],
                    "mode": "either",
                    "interests": [rnd.choice(INTERESTS).key],
                    "languages": [],
                    "status": "active",
                    "consent_version": "2026-11",
                    "consented_at": NOW,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
            for pos, skill in enumerate(rnd.sample(skills, rnd.randint(1, 3))):
                vskills.append({"volunteer_id": i + 1, "skill": skill, "position": pos})
            convs.append(
                {
                    "channel": "line",
                    "user_key": f"U{i:032x}",
                    "locale": "ja",
                    "state": {},
                    "last_event_ms": 0,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
        for rows in _chunks(vols):
            conn.execute(insert(Volunteer), rows)
        for rows in _chunks(vskills):
            conn.execute(insert(VolunteerSkill), rows)
        for rows in _chunks(convs):
            conn.execute(insert(Conversation), rows)
        orgs = [
            {
                "id": g + 1,
                "channel": "line",
                "user_key": f"G{g:032x}",
                "locale": "ja",
                "name": f"団体{g}",
                "kind": rnd.choice(ORG_KINDS).key,
                "sector": rnd.choice(SECTORS).key,
                "fields": [rnd.choice(INTERESTS).key],
                "area": rnd.choice(AREAS),
                "activity": "地域の子どもの居場所づくり",
                "contact_name": f"担当 {g}",
                "contact_role": "代表",
                "consent_version": "2026-11",
                "consented_at": NOW,
                "created_at": NOW,
                "updated_at": NOW,
            }
            for g in range(GROUPS)
        ]
        for rows in _chunks(orgs):
            conn.execute(insert(Organization), rows)
        names, weights = zip(*STATES, strict=True)
        projects, matches, checkins = [], [], []
        match_id = 0
        for p in range(PROJECTS):
            status = rnd.choices(names, weights)[0]
            projects.append(
                {
                    "id": p + 1,
                    "organization_id": rnd.randint(1, GROUPS),
                    "status": status,
                    "challenge": "活動の目的と優先順位を整理したい",
                    "menus": [rnd.choice(MENUS).key],
                    "period": "within_3m",
                    "mode": "either",
                    "required_skills": [],
                    "optional_skills": [],
                    "team_min": 2,
                    "team_max": 5,
                    "hours_per_week": 3,
                    "languages": [],
                    "tuning": {},
                    "version": 1,
                    "programme_id": rnd.randint(1, PROGRAMMES),
                    "created_at": NOW - timedelta(days=rnd.randint(0, 300)),
                    "updated_at": NOW - timedelta(days=rnd.randint(0, 300)),
                }
            )
            if status in ("team_formed", "agreed", "delivered", "completed"):
                for v in rnd.sample(range(1, VOLUNTEERS + 1), 3):
                    match_id += 1
                    matches.append(
                        {
                            "id": match_id,
                            "project_id": p + 1,
                            "volunteer_id": v,
                            "state": "accepted",
                            "score": 0.5,
                            "breakdown": {},
                            "raised_hand": False,
                            "version": 1,
                            "created_at": NOW,
                            "updated_at": NOW,
                        }
                    )
                for week in (1, 2):
                    checkins.append(
                        {
                            "project_id": p + 1,
                            "week": week,
                            "status": rnd.choice(("green", "green", "yellow", "red")),
                            "asked_at": NOW,
                            "flagged": False,
                        }
                    )
        for rows in _chunks(projects):
            conn.execute(insert(Project), rows)
        for rows in _chunks(matches):
            conn.execute(insert(Match), rows)
        for rows in _chunks(checkins):
            conn.execute(insert(CheckIn), rows)
        rsvps = [
            {
                "phase_id": (v % PROGRAMMES) * 3 + 1,
                "channel": "line",
                "user_key": f"U{v:032x}",
                "answer": "yes" if v % 3 else "no",
                "answered_at": NOW,
            }
            for v in range(0, VOLUNTEERS, 5)
        ]
        for rows in _chunks(rsvps):
            conn.execute(insert(Rsvp), rows)
        for rows in _chunks(_cases(rnd, projects)):
            conn.execute(insert(Case), rows)
    if eng.dialect.name == "postgresql":
        # What autovacuum would do shortly after a bulk load: the planner's statistics.
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    eng.dispose()
    print(f"built {url} in {time.perf_counter() - t0:.1f} s", flush=True)


def _cases(rnd: random.Random, projects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """10,000 cases (80 % published) with texts of a few hundred characters, their
    search text folded by the core's own function."""
    from bot.matching.areas import place
    from bot.office.cases import search_text
    from storage.models import Case as CaseModel

    activities = (
        "子育て中の親子が集まるひろばの運営",
        "保護犬の譲渡会としつけ教室",
        "里山の手入れと自然体験会",
        "高齢者の見守りと配食サービス",
        "多文化のまちの交流の場づくり",
        "障害のある人の就労支援カフェ",
    )
    outcomes = (
        "譲渡会の来場者が前回の倍になり、新しい家族が見つかりました。",
        "会計ソフトの導入で、月末の作業が半日から1時間になりました。",
        "チラシとポスターで、イベントの参加者が3割増えました。",
        "ワークショップで目的と優先順位を共有し、来年度の計画ができました。",
        "ホームページを公開し、問い合わせが月10件を超えました。",
    )
    rows = []
    for i in range(CASES):
        area = rnd.choice(AREAS)
        menu = rnd.choice(MENUS)
        group = f"団体{rnd.randint(0, GROUPS - 1)}"
        text = {
            "title": f"{group} × {menu.label.ja}",
            "area": area,
            "area_key": place(area).key,
            "field": rnd.choice(INTERESTS).key,
            "year": rnd.randint(2015, 2026),
            "partners": [
                {"name": group, "kind": rnd.choice(SECTORS).key},
                {"name": "プロボノチーム", "kind": "probono"},
            ],
            "background": f"{group}は{rnd.choice(activities)}を続けています。"
            + "活動を広げたいが、担い手と時間が足りないという課題がありました。" * 2,
            "activities": f"{menu.label.ja}について、3人のプロボノチームが約1か月支援しました。"
            + "ヒアリング、チームでの検討、提案と納品を行いました。",
            "outcome": rnd.choice(outcomes) + rnd.choice(outcomes),
            "period": "2か月",
            "cost": "プロボノ（無償）",
            "contact": "事務局までお問い合わせください。",
            "tips": "最初のヒアリングで全員の思いを聞き、論点を共有しておいたこと。",
            "en": {"title": f"{group} x {menu.label.en}"},
        }
        case = CaseModel(**text)
        rows.append(
            {
                **text,
                "id": i + 1,
                "project_id": projects[i]["id"] if i < len(projects) else None,
                "status": "published" if rnd.random() < 0.8 else "draft",
                "search_text": search_text(case),
                "version": 1,
                "created_by": "bench",
                "created_at": NOW,
                "updated_at": NOW - timedelta(days=rnd.randint(0, 900)),
            }
        )
    return rows


# ---------------------------------------------------------------- case search


async def _search_times(url: str, runs: int) -> dict[str, list[float]]:
    """Each search of SEARCHES `runs` times (ours), and the naive baseline."""
    from bot.office.cases import Cases, fold_search
    from storage.db import make_engine, make_sessionmaker

    eng = make_engine(url)
    cases = Cases(make_sessionmaker(eng))
    times: dict[str, list[float]] = {"tsunagu": [], "naive": []}
    hits: dict[str, int] = {}
    try:
        for words, filters in SEARCHES:
            await cases.search(words, **filters)  # warm
            for _ in range(runs):
                t0 = time.perf_counter()
                found = await cases.search(words, **filters)
                times["tsunagu"].append(time.perf_counter() - t0)
            hits[words or str(filters)] = len(found)
        for words, _filters in SEARCHES[:3]:
            async with make_sessionmaker(eng)() as s:
                t0 = time.perf_counter()
                every = list((await s.scalars(select(Case))).all())
                wanted = [fold_search(w) for w in words.split()]
                [
                    c
                    for c in every
                    if c.status == "published"
                    and all(
                        w in fold_search(" ".join([c.title, c.area, c.background, c.activities,
                                                   c.outcome, c.tips]))
                        for w in wanted
                    )
                ][:20]  # fmt: skip
                times["naive"].append(time.perf_counter() - t0)
    finally:
        await eng.dispose()
    print(f"  hits: {hits}")
    return times


# ---------------------------------------------------------------- dashboard


async def _dashboard_times(url: str, runs: int, naive_runs: int) -> dict[str, list[float]]:
    from bot.office.dashboard import dashboard
    from storage.db import make_engine, make_sessionmaker

    eng = make_engine(url)
    maker = make_sessionmaker(eng)
    times: dict[str, list[float]] = {"tsunagu": [], "naive": []}
    try:
        for i in range(runs + 1):
            async with maker() as s:
                t0 = time.perf_counter()
                board = await dashboard(s, NOW)
                if i:  # the first run warms the connection pool and caches
                    times["tsunagu"].append(time.perf_counter() - t0)
        assert board.programme_id is not None and board.funnel_all_time[1].count == VOLUNTEERS
        for _ in range(naive_runs):
            async with maker() as s:
                t0 = time.perf_counter()
                await _naive_dashboard(s, board.programme_id)
                times["naive"].append(time.perf_counter() - t0)
    finally:
        await eng.dispose()
    return times


async def _naive_dashboard(session: Any, programme: int) -> dict[str, int]:
    """The baseline: load every row as ORM objects and count in Python."""
    projects = list((await session.scalars(select(Project))).all())
    volunteers = list((await session.scalars(select(Volunteer))).all())
    matches = list((await session.scalars(select(Match))).all())
    conversations = list((await session.scalars(select(Conversation))).all())
    checkins = list((await session.scalars(select(CheckIn))).all())
    mine = [p for p in projects if p.programme_id == programme]
    team_ids = {p.id for p in mine}
    return {
        "followers": len(conversations),
        "volunteers": len(volunteers),
        "requests": len(mine),
        "accepted": sum(p.status not in ("submitted", "declined") for p in mine),
        "participants": len({m.volunteer_id for m in matches if m.project_id in team_ids}),
        "red": sum(c.status == "red" for c in checkins),
    }


# ---------------------------------------------------------------- export


def _naive_export(url: str, out: str) -> None:
    """The baseline: every row as an ORM object, an ordinary (not write-only) workbook."""
    from openpyxl import Workbook
    from sqlalchemy.orm import Session

    eng = create_engine(sync_url(url))
    wb = Workbook()
    with Session(eng) as s:
        ws = wb.create_sheet("volunteers")
        for v in s.scalars(select(Volunteer)).all():
            ws.append(
                [v.id, v.display_name, v.area, v.occupation, v.age_band, v.employer,
                 ", ".join(k.skill for k in v.skills), v.hours_per_week, str(v.created_at)]
            )  # fmt: skip
        ws = wb.create_sheet("groups")
        for o in s.scalars(select(Organization)).all():
            ws.append([o.id, o.name, o.kind, o.sector, o.area, o.contact_name])
        ws = wb.create_sheet("projects")
        for p in s.scalars(select(Project)).all():
            ws.append([p.id, p.organization.name, p.status, ", ".join(p.menus)])
        ws = wb.create_sheet("hours")
        for m in s.scalars(select(Match).where(Match.state == "accepted")).all():
            ws.append([m.project_id, m.volunteer_id])
    wb.save(out)
    eng.dispose()


# A small process starts each export and reports the export's own peak RSS: a child
# forked from this (large) process would count this one's pages as its own until exec.
_LAUNCHER = """
import os, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_pid, status, ru = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), time.perf_counter() - t0, ru.ru_maxrss / 1024,
      ru.ru_utime + ru.ru_stime)
"""


def _timed_process(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Run a command; (wall seconds, its peak RSS in MB, its CPU seconds)."""
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *cmd], env=env, capture_output=True, text=True
    )
    code, seconds, rss, cpu = done.stdout.split()
    if done.returncode or int(code):
        raise SystemExit(f"{cmd} failed ({code}): {done.stderr[-2000:]}")
    return float(seconds), float(rss), float(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a cached SQLite file under var/")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--runs", type=int, default=15, help="dashboard runs (median)")
    parser.add_argument("--naive-runs", type=int, default=3)
    parser.add_argument("--search-runs", type=int, default=10, help="runs of each case search")
    parser.add_argument("--naive-export", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.database_url:
        url = args.database_url
    else:
        url = f"sqlite:///{CACHE}"
        marker = CACHE.with_suffix(".version")
        fresh = CACHE.exists() and marker.exists() and marker.read_text() == DATA_VERSION
        if args.naive_export is None and (args.rebuild or not fresh):
            for leftover in CACHE.parent.glob(CACHE.name + "*"):
                leftover.unlink()
            CACHE.parent.mkdir(exist_ok=True)
            build(url)
            marker.write_text(DATA_VERSION)
    if args.naive_export:
        _naive_export(url, args.naive_export)
        return 0
    if args.rebuild and args.database_url:
        build(url)

    times = asyncio.run(_dashboard_times(url, args.runs, args.naive_runs))
    ours = statistics.median(times["tsunagu"])
    naive = statistics.median(times["naive"])
    print(f"\ndashboard data ({VOLUNTEERS:,} volunteers, {PROJECTS:,} projects)")
    print(f"  tsunagu  median {ours * 1000:7.1f} ms  (n={len(times['tsunagu'])})  target <= 200 ms")
    print(f"  naive    median {naive * 1000:7.1f} ms  (n={len(times['naive'])})  ORM load-all")

    print(f"\ncase search ({CASES:,} cases, {len(SEARCHES)} searches x {args.search_runs})")
    found = asyncio.run(_search_times(url, args.search_runs))
    ours_search = statistics.median(found["tsunagu"])
    naive_search = statistics.median(found["naive"])
    print(
        f"  tsunagu  median {ours_search * 1000:7.1f} ms  p90 "
        f"{statistics.quantiles(found['tsunagu'], n=10)[-1] * 1000:7.1f} ms  target <= 50 ms"
    )
    print(
        f"  naive    median {naive_search * 1000:7.1f} ms  (n={len(found['naive'])})"
        "  ORM load-all, folded and filtered in Python"
    )

    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TSUNAGU_SANDBOX": "off",
        "TSUNAGU_LOG_LEVEL": "WARNING",
    }
    tsunagu = str(Path(sys.executable).parent / "tsunagu")
    with tempfile.TemporaryDirectory() as tmp:
        ours_out, naive_out = Path(tmp) / "all.xlsx", Path(tmp) / "naive.xlsx"
        sec, rss, cpu = _timed_process(
            [tsunagu, "export", "all", "--format", "xlsx", "--personal", "--out", str(ours_out)],
            env,
        )
        nsec, nrss, ncpu = _timed_process(
            [sys.executable, __file__, "--database-url", url, "--naive-export", str(naive_out)], env
        )
        # The same rows as CSV: what the database and the labels cost without openpyxl.
        csec, crss, ccpu = _timed_process(
            [tsunagu, "export", "all", "--format", "csv", "--personal", "--out", f"{tmp}/all.zip"],
            env,
        )
        print("\nfull XLSX export (all kinds, personal columns)")
        size, nsize = ours_out.stat().st_size / 1e6, naive_out.stat().st_size / 1e6
        print(
            f"  tsunagu  {sec:6.1f} s ({cpu:5.1f} s CPU)  peak RSS {rss:5.0f} MB"
            f"  {size:5.1f} MB file"
            "  target <= 10 s, <= 300 MB"
        )
        print(
            f"  naive    {nsec:6.1f} s ({ncpu:5.1f} s CPU)  peak RSS {nrss:5.0f} MB"
            f"  {nsize:5.1f} MB file"
            "  ORM load-all, ordinary workbook"
        )
    print(
        f"  (same rows as CSV: {csec:.1f} s, {ccpu:.1f} s CPU, peak RSS {crss:.0f} MB:"
        " the rest is writing the XLSX)"
    )
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    ok = ours <= 0.2 and sec <= 10 and rss <= 300 and ours_search <= 0.05
    print("\nwithin targets" if ok else "\nOUTSIDE TARGETS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
