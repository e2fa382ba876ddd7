"""Top-10 suggestions for one project among 100,000 synthetic volunteers.

Measures, in one run and on one core:

- the in-memory index (bot.matching.index), warm: top 10 with reasons, median and p95,
  for a reference project (a Kawasaki group's website) and across 200 varied projects;
- index build time and its peak memory (tracemalloc);
- the baseline: a pure-Python loop calling eligible() and score() for every volunteer;
- "cold (SQL only)": volunteers and volunteer_skills (storage.models) in SQLite (or
  the database at --sql URL), top 10 by idf-weighted required-skill overlap among
  active volunteers, read cold: one posting list per required skill (volunteer ids
  only, through the index on volunteer_skills.skill) and the few non-active ids,
  summed and ranked in NumPy (`posting_rank`). Beside it, the baseline measured in
  the same run: one GROUP BY / ORDER BY / LIMIT query doing the same in SQL;
- the live index (bot.matching.live) on a full schema: its build from the database
  (Core selects of the needed columns, skills in one query), the per-call freshness
  check when nothing changed, a refresh after 10 volunteers changed, and a warm
  suggestion including its freshness check.

Targets: warm median <= 5 ms, warm p95 <= 15 ms, SQL median <= 20 ms.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/suggest.py
    .venv/bin/python bench/suggest.py --quick          # 20,000 volunteers, fewer runs
    .venv/bin/python bench/suggest.py --pin 0          # also pin the process to CPU 0
    .venv/bin/python bench/suggest.py --sql postgresql+psycopg://...   # another database
    .venv/bin/python bench/suggest.py --no-sql
"""

from __future__ import annotations

import os

# One core: set before NumPy is imported (its BLAS would otherwise start threads).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import heapq  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (str(REPO), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import synth_people  # noqa: E402

from bot.matching.fit import (  # noqa: E402
    Fit,
    ProjectNeeds,
    VolunteerFeatures,
    eligible,
    reasons,
    score,
)
from bot.matching.index import SuggestionIndex  # noqa: E402

TARGET_WARM_MEDIAN_MS = 5.0
TARGET_WARM_P95_MS = 15.0
TARGET_SQL_MEDIAN_MS = 20.0


@dataclass
class Timing:
    """Latencies of repeated runs, in seconds."""

    samples: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p95_ms(self) -> float:
        return float(np.percentile(self.samples, 95)) * 1000

    @property
    def runs(self) -> int:
        return len(self.samples)


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 0) -> Timing:
    """Run fn warmup + repeats times; the latencies of the repeats."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return Timing(samples)


# ---- the in-memory index and the baseline ---------------------------------------


def index_query(index: SuggestionIndex, project: ProjectNeeds, k: int = 10) -> list[list[str]]:
    """Top k with their reasons in Japanese: what the coordinators' card needs."""
    return [s.reasons("ja") for s in index.top(project, k)]


def baseline_query(
    people: Sequence[VolunteerFeatures], project: ProjectNeeds, idf: dict[str, float], k: int = 10
) -> list[list[str]]:
    """The same answer from a pure-Python loop over every volunteer."""
    fits: list[tuple[Fit, VolunteerFeatures]] = []
    for v in people:
        if eligible(v, project)[0]:
            fits.append((score(v, project, idf), v))
    best = heapq.nsmallest(
        k, fits, key=lambda fv: (not fv[0].raised_hand, -fv[0].points, fv[0].volunteer_id)
    )
    return [reasons(fit, v, project, "ja") for fit, v in best]


def build_peak_memory(people: Sequence[VolunteerFeatures]) -> tuple[float, float]:
    """(peak, retained) MiB allocated while building an index (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    index = SuggestionIndex.build(people)
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del index
    return peak / 2**20, retained / 2**20


# ---- cold (SQL only) -------------------------------------------------------------


def overlap_sql(
    required: Sequence[str],
    idf: dict[str, float],
    *,
    active_only: bool = False,
    indexed_by: str = "",
) -> tuple[str, dict[str, Any]]:
    """A query ranking volunteers by idf-weighted overlap with the required skills
    (`indexed_by`: SQLite's INDEXED BY, to make it use that index)."""
    params: dict[str, Any] = {}
    cases = []
    names = []
    for i, skill in enumerate(sorted(required)):
        params[f"s{i}"] = skill
        params[f"w{i}"] = idf.get(skill, 1.0)
        cases.append(f"WHEN :s{i} THEN :w{i}")
        names.append(f":s{i}")
    join = "JOIN volunteers v ON v.id = vs.volunteer_id AND v.status = 'active' " * active_only
    sql = (
        f"SELECT vs.volunteer_id, SUM(CASE vs.skill {' '.join(cases)} END) AS overlap "
        f"FROM volunteer_skills vs {f'INDEXED BY {indexed_by} ' if indexed_by else ''}{join}"
        f"WHERE vs.skill IN ({', '.join(names)}) "
        "GROUP BY vs.volunteer_id ORDER BY overlap DESC, vs.volunteer_id LIMIT 10"
    )
    return sql, params


def _placeholder(paramstyle: str) -> str:
    return "?" if paramstyle == "qmark" else "%s"


def posting_rank(
    conn: Any, required: Sequence[str], idf: dict[str, float], k: int = 10
) -> list[int]:
    """Top k active volunteers by idf-weighted overlap with the required skills, cold:
    each skill's posting list (volunteer ids only, through the skill index, returned as
    one comma-joined string that NumPy parses in C), minus the few non-active ids
    (through the status index), summed and ranked in NumPy. `conn` is a SQLAlchemy
    Connection; the driver's own cursor reads the rows."""
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    joined = "group_concat(volunteer_id)" if sqlite else "string_agg(volunteer_id::text, ',')"
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        ids: list[Any] = []
        weights: list[Any] = []
        for skill in sorted(required):
            cursor.execute(f"SELECT {joined} FROM volunteer_skills WHERE skill = {mark}", (skill,))
            text = cursor.fetchone()[0] or ""
            got = np.fromstring(text, dtype=np.int64, sep=",") if text else np.empty(0, np.int64)
            ids.append(got)
            weights.append(np.full(len(got), idf.get(skill, 1.0)))
        cursor.execute("SELECT id FROM volunteers WHERE status IN ('paused', 'inactive')")
        away = np.array(cursor.fetchall(), dtype=np.int64).reshape(-1)
    finally:
        cursor.close()
    if not ids:
        return []
    all_ids = np.concatenate(ids)
    unique, inverse = np.unique(all_ids, return_inverse=True)
    overlap = np.bincount(inverse, weights=np.concatenate(weights))
    if len(away):
        keep = ~np.isin(unique, away)
        unique, overlap = unique[keep], overlap[keep]
    order = np.lexsort((unique, -overlap))[:k]
    return [int(i) for i in unique[order]]


def load_people(engine: Any, people: Sequence[VolunteerFeatures]) -> None:
    """Bulk-insert volunteers and their skills (tables must exist), stamped a day ago:
    a steady state, where nobody changed in the live index's look-back window."""
    from sqlalchemy import insert

    from storage.models import Volunteer, VolunteerSkill

    now = datetime.now(UTC) - timedelta(days=1)
    with engine.begin() as conn:
        for chunk in range(0, len(people), 10_000):
            batch = people[chunk : chunk + 10_000]
            conn.execute(
                insert(Volunteer.__table__),
                [
                    {
                        "id": v.id,
                        "channel": "line",
                        "user_key": f"U{v.id:032x}",
                        "locale": "ja",
                        "display_name": f"v{v.id}",
                        "area": v.area,
                        "occupation": "employee",
                        "experience_years": v.experience_years,
                        "hours_per_week": v.hours_per_week,
                        "availability": sorted(v.slots),
                        "mode": v.mode,
                        "interests": sorted(v.interests),
                        "skills_other": None,
                        "languages": sorted(v.languages),
                        "status": v.status,
                        "consent_version": "bench" if v.consented else "",
                        "consented_at": now,
                        "last_announced_at": None,
                        "created_at": now,
                        # Distinct stamps, as real edits leave them (one shared stamp
                        # would make the planner distrust the updated_at index).
                        "updated_at": now - timedelta(seconds=v.id),
                    }
                    for v in batch
                ],
            )
            conn.execute(
                insert(VolunteerSkill.__table__),
                [
                    {"volunteer_id": v.id, "skill": skill, "position": i}
                    for v in batch
                    for i, skill in enumerate(sorted(v.skills))
                    if ":" not in skill  # language pairs are derived, not stored
                ],
            )


def sql_cold(
    url: str,
    people: Sequence[VolunteerFeatures],
    project: ProjectNeeds,
    idf: dict[str, float],
    repeats: int = 50,
    varied: Sequence[ProjectNeeds] = (),
) -> list[tuple[str, Timing, str]]:
    """Load the volunteers into `url` (tables from storage.models) and time ranking queries.

    Creates `volunteers` and `volunteer_skills` with Base.metadata.create_all, refuses
    to touch a database that already has them, bulk-inserts `people`, and times the
    cold ranking (`posting_rank`) with the model's index, beside the GROUP BY / ORDER BY
    / LIMIT query (`overlap_sql`) and both again with the index the model had before
    migration 0007 (skill alone). Drops the tables it created at the end. Returns
    (label, timing, query plan) rows.
    """
    from sqlalchemy import create_engine, inspect, text

    from storage.base import Base
    from storage.models import Volunteer, VolunteerSkill

    engine = create_engine(url)
    tables = [Volunteer.__table__, VolunteerSkill.__table__]
    existing = set(inspect(engine).get_table_names())
    if existing & {"volunteers", "volunteer_skills"}:
        raise SystemExit(f"{url}: volunteers/volunteer_skills already exist; use an empty database")
    Base.metadata.create_all(engine, tables=tables)
    try:
        start = time.perf_counter()
        load_people(engine, people)
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.execute(text("ANALYZE"))
        load_s = time.perf_counter() - start
        print(f"  SQL: loaded {len(people):,} volunteers in {load_s:.1f} s ({engine.dialect.name})")

        def run(sql: str, params: dict[str, Any]) -> tuple[Timing, str]:
            with engine.connect() as conn:
                plan = ""
                if engine.dialect.name == "sqlite":
                    rows = conn.execute(text("EXPLAIN QUERY PLAN " + sql), params).fetchall()
                    plan = "; ".join(str(r[-1]) for r in rows)
                timing = timed(lambda: conn.execute(text(sql), params).fetchall(), repeats, 3)
            return timing, plan

        def run_varied(**kw: Any) -> tuple[Timing, str]:
            """Each varied project's query once (all share the shape of the reference's)."""
            samples = []
            with engine.connect() as conn:
                for p in varied:
                    sql, params = overlap_sql(sorted(p.gate), idf, **kw)
                    start = time.perf_counter()
                    conn.execute(text(sql), params).fetchall()
                    samples.append(time.perf_counter() - start)
            return Timing(samples), ""

        sqlite = engine.dialect.name == "sqlite"
        covering = "ix_volunteer_skills_skill_volunteer_id"  # storage.models (0007)
        old_ix = "ix_volunteer_skills_skill"  # what 0001 to 0004 had: skill alone
        required = sorted(project.required)
        results = []

        def posting_rows(label: str) -> None:
            with engine.connect() as conn:
                assert posting_rank(conn, required, idf) == expected, "posting_rank disagrees"
                timing = timed(lambda: posting_rank(conn, required, idf), repeats, 3)
                results.append((label, timing, ""))
                if varied:
                    samples = []
                    for p in varied:
                        t0 = time.perf_counter()
                        posting_rank(conn, sorted(p.gate), idf)
                        samples.append(time.perf_counter() - t0)
                    results.append((f"{label}: {len(varied)} varied projects", Timing(samples), ""))

        with engine.connect() as conn:
            # The same ten as SQL's GROUP BY, once the non-active are left out of both.
            sql, params = overlap_sql(required, idf, active_only=True)
            expected = [int(r[0]) for r in conn.execute(text(sql), params)]
        posting_rows(f"posting lists + NumPy rank, index ({covering.removeprefix('ix_')})")
        results.append(
            (
                "baseline: GROUP BY + join status, planner's choice",
                *run(*overlap_sql(required, idf, active_only=True)),
            )
        )
        results.append(("baseline: GROUP BY, planner's choice", *run(*overlap_sql(required, idf))))
        # Before migration 0007: an index on skill alone (each posting needs the table).
        with engine.begin() as conn:
            conn.execute(text(f"DROP INDEX {covering}"))
            conn.execute(text(f"CREATE INDEX {old_ix} ON volunteer_skills (skill)"))
            if sqlite:
                conn.execute(text("ANALYZE"))
        hint = old_ix if sqlite else ""
        results.append(
            (
                f"baseline (before 0007): GROUP BY, {'INDEXED BY ' if sqlite else ''}{old_ix}",
                *run(*overlap_sql(required, idf, indexed_by=hint)),
            )
        )
        if varied:
            label = f"baseline (before 0007): GROUP BY, {old_ix}"
            results.append(
                (f"{label}: {len(varied)} varied projects", *run_varied(indexed_by=hint))
            )
        posting_rows(f"baseline (before 0007): posting lists, {old_ix}")
        return [(label, timing, plan) for label, timing, plan in results]
    finally:
        Base.metadata.drop_all(engine, tables=tables)
        engine.dispose()


def live_bench(
    path: Path, people: Sequence[VolunteerFeatures], project: ProjectNeeds, repeats: int
) -> list[tuple[str, Timing, str]]:
    """The live index on a full schema in a new SQLite file: build from the database,
    the per-call freshness check, a refresh after 10 edits, a warm suggestion."""
    import asyncio

    from sqlalchemy import create_engine, text

    from bot.matching.live import LiveIndex
    from storage.base import Base
    from storage.db import make_engine, make_sessionmaker

    url = f"sqlite:///{path}"
    sync = create_engine(url)
    Base.metadata.create_all(sync)
    load_people(sync, people)
    with sync.begin() as conn:
        conn.execute(text("ANALYZE"))
    rows: list[tuple[str, Timing, str]] = []

    async def go() -> None:
        engine = make_engine(url)
        try:
            live = LiveIndex(make_sessionmaker(engine))
            start = time.perf_counter()
            await live.fresh()
            built = time.perf_counter() - start
            assert len(live.features) == sum(1 for v in people if v.status != "inactive")
            rows.append(("live index: build from the database", Timing([built]), ""))
            samples = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                await live.fresh()
                samples.append(time.perf_counter() - t0)
            rows.append(("live index: freshness check, nothing changed", Timing(samples), ""))
            edits = []
            rng = np.random.default_rng(7)
            for round_ in range(min(repeats, 30)):
                chosen = [int(i) for i in rng.choice([v.id for v in people[:5000]], 10)]
                marks = ", ".join(str(i) for i in chosen)
                with sync.begin() as conn:
                    conn.execute(
                        text(
                            "UPDATE volunteers SET hours_per_week = :h, updated_at = :at "
                            f"WHERE id IN ({marks})"
                        ),
                        {"h": 1 + round_ % 20, "at": datetime.now(UTC)},
                    )
                t0 = time.perf_counter()
                await live.fresh()
                edits.append(time.perf_counter() - t0)
            rows.append(("live index: refresh after 10 volunteers edited", Timing(edits), ""))
            index = live.index()

            async def suggest() -> None:
                await live.fresh()
                [s.reasons("ja") for s in index.top(project, 10)]

            samples = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                await suggest()
                samples.append(time.perf_counter() - t0)
            rows.append(("live index: warm top 10 incl. freshness check", Timing(samples), ""))
        finally:
            await engine.dispose()

    asyncio.run(go())
    sync.dispose()
    return rows


# ---- the report ------------------------------------------------------------------


def ms(value: float) -> str:
    return f"{value:,.2f} ms" if value < 100 else f"{value:,.0f} ms"


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="volunteers (100,000)")
    parser.add_argument("--repeats", type=int, default=1000, help="warm queries, reference")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over the 200 projects")
    parser.add_argument("--baseline-repeats", type=int, default=5)
    parser.add_argument("--sql", default="", help="SQLAlchemy sync URL (default: temp SQLite)")
    parser.add_argument("--sql-repeats", type=int, default=50)
    parser.add_argument("--no-sql", action="store_true")
    parser.add_argument("--no-live", action="store_true", help="skip the live index rows")
    parser.add_argument("--pin", type=int, default=None, help="pin the process to this CPU")
    parser.add_argument("--quick", action="store_true", help="20,000 volunteers, fewer runs")
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeats, args.rounds, args.baseline_repeats = 20_000, 200, 1, 3
        args.sql_repeats = 20
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})

    print(
        f"Python {platform.python_version()}, NumPy {np.__version__}, "
        f"{os.cpu_count()} CPUs (this process may use {len(os.sched_getaffinity(0))}), "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    tracemalloc.start()
    people = synth_people.volunteers(args.n)
    people_mib = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    projects = synth_people.projects(200)
    reference = synth_people.reference_project()

    builds = timed(lambda: SuggestionIndex.build(people), 3)
    peak_mib, retained_mib = build_peak_memory(people)
    index = SuggestionIndex.build(people)
    idf = index.idf()
    candidates = len(index._candidates(reference))
    gc.collect()

    warm = timed(lambda: index_query(index, reference), args.repeats, warmup=20)
    varied_samples: list[float] = []
    for _ in range(args.rounds):
        for project in projects:
            t0 = time.perf_counter()
            index_query(index, project)
            varied_samples.append(time.perf_counter() - t0)
    varied = Timing(varied_samples)
    baseline = timed(lambda: baseline_query(people, reference, idf), args.baseline_repeats)
    assert baseline_query(people, reference, idf) == index_query(index, reference)

    sql_rows: list[tuple[str, Timing, str]] = []
    if not args.no_sql:
        if args.sql:
            sql_rows = sql_cold(args.sql, people, reference, idf, args.sql_repeats, projects)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{Path(tmp) / 'suggest.sqlite3'}"
                sql_rows = sql_cold(url, people, reference, idf, args.sql_repeats, projects)
    live_rows: list[tuple[str, Timing, str]] = []
    if not args.no_live:
        with tempfile.TemporaryDirectory() as tmp:
            live_rows = live_bench(Path(tmp) / "live.sqlite3", people, reference, args.sql_repeats)

    n = f"{len(people):,}"
    print()
    print(f"Top-10 suggestions among {n} synthetic volunteers, one core, reasons included")
    print(f"reference project: website (web + writing required), Kawasaki, {candidates:,} "
          "candidates after the skill gate and status rules")  # fmt: skip
    print()
    rows: list[tuple[str, str, str, str, str]] = [
        (
            "baseline: pure-Python loop, eligible()+score() for all",
            ms(baseline.median_ms),
            ms(baseline.p95_ms),
            str(baseline.runs),
            "reference project",
        ),
        (
            "index, warm: reference project",
            ms(warm.median_ms),
            ms(warm.p95_ms),
            str(warm.runs),
            f"x{baseline.median_ms / warm.median_ms:,.0f} vs baseline",
        ),
        (
            f"index, warm: {len(projects)} varied projects",
            ms(varied.median_ms),
            ms(varied.p95_ms),
            str(varied.runs),
            f"max {ms(max(varied.samples) * 1000)}",
        ),
        (
            f"index build ({n} volunteers)",
            f"{builds.median_ms / 1000:.2f} s",
            f"{max(builds.samples):.2f} s",
            str(builds.runs),
            "",
        ),
        (
            "index build memory (tracemalloc)",
            f"{peak_mib:.1f} MiB peak",
            "",
            "1",
            f"{retained_mib:.1f} MiB retained",
        ),
        (
            "the VolunteerFeatures themselves (caller's)",
            f"{people_mib:.1f} MiB",
            "",
            "1",
            "shared frozensets interned",
        ),
    ]
    for label, timing, _plan in sql_rows:
        met = verdict(timing.median_ms <= TARGET_SQL_MEDIAN_MS)
        rows.append(
            (
                f"cold (SQL only): {label}",
                ms(timing.median_ms),
                ms(timing.p95_ms),
                str(timing.runs),
                f"20 ms target {met}" if not label.startswith("baseline") else "baseline",
            )
        )
    for label, timing, _plan in live_rows:
        rows.append((label, ms(timing.median_ms), ms(timing.p95_ms), str(timing.runs), "SQLite"))
    header = ("what", "median", "p95", "runs", "note")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    print()
    median_ok = max(warm.median_ms, varied.median_ms) <= TARGET_WARM_MEDIAN_MS
    p95_ok = max(warm.p95_ms, varied.p95_ms) <= TARGET_WARM_P95_MS
    print(
        f"target warm median <= {TARGET_WARM_MEDIAN_MS:g} ms: {verdict(median_ok)}"
        f" (reference {ms(warm.median_ms)}, varied {ms(varied.median_ms)})"
    )
    print(
        f"target warm p95 <= {TARGET_WARM_P95_MS:g} ms: {verdict(p95_ok)}"
        f" (reference {ms(warm.p95_ms)}, varied {ms(varied.p95_ms)})"
    )
    if sql_rows:
        label, first, _plan = sql_rows[0]
        print(
            f"target SQL median <= {TARGET_SQL_MEDIAN_MS:g} ms ({label}, reference project): "
            f"{verdict(first.median_ms <= TARGET_SQL_MEDIAN_MS)} ({ms(first.median_ms)}); "
            "other SQL rows: see the note column"
        )
    if sql_rows:
        print()
        for label, _timing, plan in sql_rows:
            if plan:
                print(f"plan, {label}: {plan}")


if __name__ == "__main__":
    main()
