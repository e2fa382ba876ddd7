"""Matching quality on synthetic cohorts: the share of accepted requests staffed to
their minimum size, the current matching beside the greedy baseline, in the same run.

```sh
.venv/bin/python bench/cohort.py                 # 20 cohorts of 60 volunteers x 20 requests
.venv/bin/python bench/cohort.py --cohorts 50 --volunteers 40 --requests 15 --seed 7
```

Cohorts are shaped like the seeds (docs/domain.md, the Kawasaki and Wako sheets): each
request asks for one or two support menus, so it needs one or two required skills, most
of them scarce among volunteers (SNS, accounting, law, web are held by few; writing,
marketing, facilitation by more), with the menus' other skills as nice to have; teams of
2-4; volunteers in two neighbouring cities, some online only, capacity one project.

Candidates come from the real suggestion index (`bot.matching.index`, the fit of
docs/matching.md), 30 per request. Compared, on the same volunteers and requests:

* baseline: the old candidate gate (a required skill, or a raised hand) and the greedy
  plan (`greedy_teams`): what Tsunagu did before this change;
* greedy on the new gate (required or optional skills): the gate alone;
* solver on the old gate: the solver alone;
* current: the new gate and `solve_teams` (what `/tsunagu teams` runs).

A request counts as staffed when its team reaches its minimum size with every required
skill covered. Both plans are checked here for size, capacity and coverage.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from bot.matching.fit import ProjectNeeds, VolunteerFeatures  # noqa: E402
from bot.matching.index import Suggestion, SuggestionIndex  # noqa: E402
from bot.matching.teams import (  # noqa: E402
    CandidateEdges,
    Project,
    TeamProblem,
    TeamSolution,
    Volunteer,
    greedy_teams,
    solve_teams,
)
from bot.taxonomy import needs_for_menus  # noqa: E402

# Menus as the seeds ask for them (most requests: workshops, flyers, SNS, web, accounting).
MENU_WEIGHTS = {
    "issue_workshop": 5,
    "flyer": 4,
    "social_media": 4,
    "website": 3,
    "accounting": 3,
    "legal": 1,
    "crowdfunding": 2,
    "cloud_tools": 1,
}
# How common each skill is among volunteers (the scarce ones are the menus' first skills).
SKILL_WEIGHTS = {
    "writing": 8,
    "marketing": 7,
    "consulting": 6,
    "facilitation": 4,
    "graphic_design": 3,
    "copywriting": 3,
    "photo_video": 3,
    "training": 3,
    "presentation": 3,
    "community": 3,
    "web": 2,
    "social_media": 2,
    "accounting": 2,
    "tax": 1,
    "fundraising": 1,
    "it_cloud": 1,
    "law": 1,
}
AREAS = ("川崎市", "横浜市")
CANDIDATES = 30


def cohort(
    rng: np.random.Generator, n_v: int, n_p: int
) -> tuple[list[VolunteerFeatures], list[ProjectNeeds]]:
    """One synthetic cohort."""
    skills = list(SKILL_WEIGHTS)
    sp = np.array([SKILL_WEIGHTS[s] for s in skills], dtype=float)
    sp /= sp.sum()
    volunteers = []
    for i in range(n_v):
        held = rng.choice(len(skills), size=int(rng.integers(1, 3)), replace=False, p=sp)
        volunteers.append(
            VolunteerFeatures(
                id=i + 1,
                skills=frozenset(skills[j] for j in held),
                area=AREAS[int(rng.integers(0, 2))],
                mode="online" if rng.random() < 0.2 else "either",
                slots=frozenset({"weekend"}),
                hours_per_week=int(rng.integers(2, 8)),
                interests=frozenset({"children"} if rng.random() < 0.5 else {"community"}),
                experience_years=int(rng.integers(0, 20)),
                consented=True,
            )
        )
    menus = list(MENU_WEIGHTS)
    mp = np.array([MENU_WEIGHTS[m] for m in menus], dtype=float)
    mp /= mp.sum()
    projects = []
    for j in range(n_p):
        chosen = [menus[k] for k in rng.choice(len(menus), size=int(rng.integers(1, 3)),
                                                replace=False, p=mp)]  # fmt: skip
        required, optional = needs_for_menus(chosen)
        lo = int(rng.integers(2, 4))
        projects.append(
            ProjectNeeds(
                id=j + 1,
                org_id=1000 + j,
                menus=tuple(chosen),
                required=frozenset(required),
                optional=frozenset(optional),
                area=AREAS[int(rng.integers(0, 2))],
                mode="either",
                fields=frozenset({"children"}),
                team_min=lo,
                team_max=lo + 2,
            )
        )
    return volunteers, projects


def candidates(
    index: SuggestionIndex, projects: list[ProjectNeeds], old_gate: bool
) -> dict[int, list[Suggestion]]:
    """Top candidates per request; the old gate keeps only holders of a required skill."""
    out = {}
    for p in projects:
        top = index.top(p, k=CANDIDATES * 3 if old_gate else CANDIDATES)
        if old_gate:
            top = [s for s in top if not p.required.isdisjoint(s.volunteer.skills)][:CANDIDATES]
        out[p.id] = top
    return out


def problem(
    volunteers: list[VolunteerFeatures],
    projects: list[ProjectNeeds],
    cands: dict[int, list[Suggestion]],
) -> TeamProblem:
    vols = [Volunteer(id=str(v.id), skills=v.skills) for v in volunteers]
    projs = [
        Project(id=str(p.id), required=p.required, lo=p.team_min, hi=p.team_max) for p in projects
    ]
    triples = [
        (str(s.volunteer_id), str(p.id), max(1, round(1000 * s.total)))
        for p in projects
        for s in cands[p.id]
    ]
    return TeamProblem(vols, projs, CandidateEdges.from_ids(vols, projs, triples))


def staffed(
    solution: TeamSolution, volunteers: list[VolunteerFeatures], projects: list[ProjectNeeds]
) -> int:
    """Requests staffed to their minimum with every required skill, checked here."""
    skills = {str(v.id): v.skills for v in volunteers}
    used: list[str] = [v for team in solution.assignment.values() for v in team]
    assert len(used) == len(set(used)), "a volunteer in two teams"
    count = 0
    for p in projects:
        team = solution.assignment.get(str(p.id), ())
        held = frozenset().union(*(skills[v] for v in team)) if team else frozenset()
        if len(team) >= p.team_min:
            assert len(team) <= p.team_max and p.required <= held, "an infeasible team"
            count += 1
    return count


def solver_5s(given: TeamProblem) -> TeamSolution:
    """The solver as `/tsunagu teams` runs it (a few seconds at most)."""
    return solve_teams(given, time_limit=5.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohorts", type=int, default=20)
    parser.add_argument("--volunteers", type=int, default=60)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    names = ("baseline (old gate, greedy)", "greedy, new gate", "solver, old gate",
             "current (new gate, solver)")  # fmt: skip
    shares: dict[str, list[float]] = {n: [] for n in names}
    times: dict[str, list[float]] = {n: [] for n in names}
    total = 0
    for _ in range(args.cohorts):
        volunteers, projects = cohort(rng, args.volunteers, args.requests)
        index = SuggestionIndex.build(volunteers)
        old = problem(volunteers, projects, candidates(index, projects, old_gate=True))
        new = problem(volunteers, projects, candidates(index, projects, old_gate=False))
        runs = (
            (names[0], greedy_teams, old),
            (names[1], greedy_teams, new),
            (names[2], solver_5s, old),
            (names[3], solver_5s, new),
        )
        for name, solver, given in runs:
            started = time.perf_counter()
            solution = solver(given)
            times[name].append(time.perf_counter() - started)
            shares[name].append(staffed(solution, volunteers, projects) / len(projects))
        total += len(projects)
    print(
        f"{args.cohorts} cohorts x {args.volunteers} volunteers x {args.requests} accepted "
        f"requests (seed {args.seed}); {total} requests in all"
    )
    print(f"{'plan':32} {'staffed to minimum':>20} {'worst cohort':>13} {'median time':>12}")
    for name in names:
        mean = statistics.fmean(shares[name])
        print(
            f"{name:32} {mean * 100:19.1f}% {min(shares[name]) * 100:12.1f}% "
            f"{statistics.median(times[name]) * 1000:9.1f} ms"
        )
    base, cur = statistics.fmean(shares[names[0]]), statistics.fmean(shares[names[3]])
    print(f"current vs baseline: {(cur - base) * 100:+.1f} points")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
