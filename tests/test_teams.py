"""Team formation: hand-checked optima, the rules every plan keeps, bounds, determinism."""

from __future__ import annotations

import itertools
import multiprocessing
import random
import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pytest
import scipy.sparse as sp

from bot.matching.teams import (
    CandidateEdges,
    Project,
    TeamProblem,
    TeamSolution,
    Unstaffed,
    Volunteer,
    candidate_edges,
    greedy_teams,
    solve_teams,
)

METHODS = ("auto", "milp", "flow")


def vol(vid: str, *skills: str, capacity: int = 1, load: int = 0) -> Volunteer:
    return Volunteer(vid, frozenset(skills), capacity, load)


def proj(
    pid: str,
    *required: str,
    lo: int = 2,
    hi: int = 5,
    fixed: Iterable[str] = (),
    forbidden: Iterable[str] = (),
) -> Project:
    return Project(pid, frozenset(required), lo, hi, frozenset(fixed), frozenset(forbidden))


def problem(
    vols: Sequence[Volunteer],
    projs: Sequence[Project],
    weights: Mapping[tuple[str, str], int],
    **kw: int,
) -> TeamProblem:
    triples = [(v, p, w) for (v, p), w in weights.items()]
    return TeamProblem(vols, projs, CandidateEdges.from_ids(vols, projs, triples), **kw)


def solve(pr: TeamProblem, method: str = "auto", limit: float = 10.0) -> TeamSolution:
    sol = solve_teams(pr, time_limit=limit, method=method)  # type: ignore[arg-type]
    assert not violations(pr, sol)
    return sol


def teams(sol: TeamSolution) -> dict[str, set[str]]:
    return {p: set(t) for p, t in sol.assignment.items()}


def violations(pr: TeamProblem, sol: TeamSolution) -> list[str]:
    """Everything a coordinator would object to, checked from the problem's own objects."""
    vols = {v.id: v for v in pr.volunteers}
    projs = {p.id: p for p in pr.projects}
    out: list[str] = []
    load: dict[str, int] = {}
    for pid, team in sol.assignment.items():
        p = projs[pid]
        if not p.lo <= len(team) <= p.hi:
            out.append(f"{pid}: size {len(team)}")
        held = set().union(*(vols[v].skills for v in team))
        if not p.required <= held:
            out.append(f"{pid}: uncovered {sorted(p.required - held)}")
        if not p.fixed <= set(team):
            out.append(f"{pid}: approved pair dropped")
        if p.forbidden & set(team):
            out.append(f"{pid}: declined pair used")
        for v in team:
            load[v] = load.get(v, 0) + 1
    for u in sol.unstaffed:
        for v in u.fixed:
            load[v] = load.get(v, 0) + 1
    for v, n in load.items():
        if n > vols[v].capacity - vols[v].load:
            out.append(f"{v}: over capacity")
    if sol.over_capacity:
        out.append("reported over capacity")
    staffed = set(sol.assignment)
    if staffed | {u.project for u in sol.unstaffed} != set(projs) or len(staffed) + len(
        sol.unstaffed
    ) != len(projs):
        out.append("projects missing from the answer")
    return out


def brute_force(pr: TeamProblem) -> int:
    """Return the optimum of the global model by enumeration (tiny problems only)."""
    vid = [v.id for v in pr.volunteers]
    pid = [p.id for p in pr.projects]
    w = {
        (vid[v], pid[p]): int(x)
        for v, p, x in zip(pr.edges.volunteer, pr.edges.project, pr.edges.weight, strict=True)
    }
    projs = {p.id: p for p in pr.projects}
    options = []
    for v in pr.volunteers:
        mine = [p for p in pid if (v.id, p) in w and v.id not in projs[p].forbidden]
        cap = max(0, v.capacity - v.load)
        options.append([c for n in range(cap + 1) for c in itertools.combinations(mine, n)])
    best = None
    big_b = pr.bonus()
    for choice in itertools.product(*options):
        team: dict[str, list[str]] = {}
        value = 0
        for v, ps in zip(pr.volunteers, choice, strict=True):
            value -= pr.extra_load_penalty * max(0, len(ps) - min(1, v.capacity - v.load))
            for p in ps:
                team.setdefault(p, []).append(v.id)
                value += w[(v.id, p)]
        ok = True
        for p, members in team.items():
            held = set().union(*(pr.volunteers[vid.index(m)].skills for m in members))
            pj = projs[p]
            ok &= pj.lo <= len(members) <= pj.hi and pj.required <= held
            value += big_b * pj.priority
        if ok and (best is None or value > best):
            best = value
    assert best is not None
    return best


def random_problem(seed: int, n_v: int, n_p: int, density: float = 0.6) -> TeamProblem:
    rng = random.Random(seed)
    skills = [f"s{i}" for i in range(6)]
    vols = [
        Volunteer(
            f"v{i:03d}",
            frozenset(rng.sample(skills, rng.randint(1, 2))),
            capacity=rng.choice([1, 1, 1, 2]),
        )
        for i in range(n_v)
    ]
    projs = [
        Project(
            f"p{j:02d}",
            frozenset(rng.sample(skills, rng.randint(1, 2))),
            lo=rng.randint(1, 2),
            hi=rng.randint(2, 4),
        )
        for j in range(n_p)
    ]
    weights = {
        (v.id, p.id): rng.randint(1, 1000) for v in vols for p in projs if rng.random() < density
    }
    return problem(vols, projs, weights)


# ------------------------------------------------------------------- hand-checked optima


def greedy_trap() -> TeamProblem:
    # Greedy serves p1 first (its law holder is as scarce as p2's designer) and fills it to
    # hi = 4 with the best people, leaving p2 two people short of lo = 3: one team instead
    # of two. Optimum by hand: both staffed, a with the two whose p1 weight beats p2's 300
    # most (b: +500, c: +400), e with d and f: 900 + 800 + 700 + 400 + 300 + 300 = 3,400
    # fit, plus 2 B (B = 1000 * (hi_max 4 + 1) = 5,000).
    vols = [vol("a", "law"), vol("b"), vol("c"), vol("d"), vol("e", "design"), vol("f")]
    projs = [proj("p1", "law", lo=2, hi=4), proj("p2", "design", lo=3, hi=3)]
    w1 = {"a": 900, "b": 800, "c": 700, "d": 600, "e": 500, "f": 100}
    w2 = {"b": 300, "c": 300, "d": 300, "e": 400, "f": 300}
    weights = {(v, "p1"): x for v, x in w1.items()} | {(v, "p2"): x for v, x in w2.items()}
    return problem(vols, projs, weights)


@pytest.mark.parametrize("method", METHODS)
def test_the_optimum_where_greedy_goes_wrong(method: str) -> None:
    pr = greedy_trap()
    sol = solve(pr, method)
    assert teams(sol) == {"p1": {"a", "b", "c"}, "p2": {"d", "e", "f"}}
    assert (sol.fit, sol.bonus, sol.total) == (3400, 10_000, 13_400)
    assert sol.total == brute_force(pr)
    assert sol.optimal and sol.gap == 0.0 and sol.fit_gap == 0.0

    greedy = greedy_teams(pr)
    assert teams(greedy) == {"p1": {"a", "b", "c", "d"}}
    assert greedy.unstaffed == (Unstaffed("p2", (), "not_chosen"),)
    assert not violations(pr, greedy)


@pytest.mark.parametrize("method", METHODS)
def test_coverage_forces_a_lower_weight_person_in(method: str) -> None:
    # Fit alone wants the two designers; law must be covered, so c (200) replaces b (850).
    vols = [vol("a", "design"), vol("b", "design"), vol("c", "law")]
    pr = problem(
        vols,
        [proj("p", "design", "law", lo=2, hi=2)],
        {("a", "p"): 900, ("b", "p"): 850, ("c", "p"): 200},
    )
    sol = solve(pr, method)
    assert teams(sol) == {"p": {"a", "c"}}
    assert sol.fit == 1100


def test_the_flow_bound_relaxes_coverage_and_says_so() -> None:
    # The flow bounds enforce at most the rarest required skill (x: two holders); y is left
    # to the repair, which swaps b (850) for c, the best holder of y.
    vols = [vol("a", "x"), vol("b", "x"), vol("c", "y"), vol("d", "y"), vol("e", "y")]
    weights = {("a", "p"): 900, ("b", "p"): 850, ("c", "p"): 200, ("d", "p"): 100}
    pr = problem(vols, [proj("p", "x", "y", lo=2, hi=2)], weights | {("e", "p"): 50})
    sol = solve(pr, "flow")
    assert teams(sol) == {"p": {"a", "c"}}
    assert sol.upper_bound == 1750 + pr.bonus() and sol.total == 1100 + pr.bonus()
    assert sol.fit_upper_bound == 1750
    assert sol.fit_gap == pytest.approx(650 / 1750)
    assert not sol.optimal and sol.method == "flow"
    # A contested rare skill is seen by the keyed bound: one lawyer, two projects. Without
    # coverage q would be staffed by a and b (bonus 3,000); the keyed flow pays q's bonus
    # only through a lawyer, so the bound is exact.
    vols = [vol("lawyer", "law"), vol("a"), vol("b")]
    projs = [proj("p", "law", lo=1, hi=2), proj("q", "law", lo=1, hi=2)]
    weights = {("lawyer", "p"): 900, ("lawyer", "q"): 100, ("a", "q"): 0, ("b", "q"): 0}
    sol = solve(problem(vols, projs, weights), "flow")
    assert teams(sol) == {"p": {"lawyer"}}
    assert sol.optimal and sol.upper_bound == sol.total == 900 + 3000


# ------------------------------------------------------------------- rules every plan keeps


@pytest.mark.parametrize("method", METHODS)
def test_capacity_one_is_respected(method: str) -> None:
    vols = [vol("star", "x"), vol("a", "x"), vol("b", "x")]
    projs = [proj("p1", "x", lo=1, hi=2), proj("p2", "x", lo=1, hi=2)]
    weights = {("star", "p1"): 1000, ("star", "p2"): 990, ("a", "p1"): 10, ("b", "p2"): 10}
    sol = solve(problem(vols, projs, weights), method)
    assert sum("star" in t for t in sol.assignment.values()) == 1
    assert sol.extra_load == () and sol.load_penalty == 0 and sol.over_capacity == ()


@pytest.mark.parametrize("method", METHODS)
def test_extra_capacity_is_used_at_its_penalty(method: str) -> None:
    vols = [vol("star", "x", capacity=2), vol("a", "x"), vol("b", "x")]
    projs = [proj("p1", "x", lo=1, hi=2), proj("p2", "x", lo=1, hi=2)]
    weights = {("star", "p1"): 1000, ("star", "p2"): 990, ("a", "p1"): 10, ("b", "p2"): 10}
    pr = problem(vols, projs, weights, extra_load_penalty=300)
    sol = solve(pr, method)
    assert teams(sol) == {"p1": {"star", "a"}, "p2": {"star", "b"}}
    assert sol.extra_load == ("star",) and sol.load_penalty == 300
    assert sol.total == brute_force(pr)
    # An active project elsewhere takes the second slot.
    busy = [vol("star", "x", capacity=2, load=1), *vols[1:]]
    sol = solve(problem(busy, projs, weights, extra_load_penalty=300), method)
    assert sum("star" in t for t in sol.assignment.values()) == 1
    assert sol.load_penalty == 0


@pytest.mark.parametrize("method", METHODS)
def test_team_sizes_stay_in_range(method: str) -> None:
    for seed in range(4):
        pr = random_problem(seed, 30, 8)
        sol = solve(pr, method)  # solve() checks sizes, coverage, capacity
        assert sol.assignment
    vols = [vol(x, "s") for x in "abc"]
    short = problem(vols, [proj("p", "s", lo=4, hi=5)], {(x, "p"): 500 for x in "abc"})
    assert solve(short, method).unstaffed == (Unstaffed("p", (), "too_few_candidates"),)


@pytest.mark.parametrize("method", METHODS)
def test_approved_pair_kept_and_declined_pair_excluded(method: str) -> None:
    vols = [vol("a", "x"), vol("b", "x"), vol("c"), vol("d", "x")]
    projs = [
        proj("p", "x", lo=2, hi=2, fixed={"c"}, forbidden={"a"}),
        proj("q", "x", lo=1, hi=1, fixed={"d"}),  # d has no edge: weight 0
    ]
    weights = {("a", "p"): 900, ("b", "p"): 800, ("c", "p"): 100, ("a", "q"): 50}
    sol = solve(problem(vols, projs, weights), method)
    assert teams(sol) == {"p": {"b", "c"}, "q": {"d"}}


@pytest.mark.parametrize("method", METHODS)
def test_an_approved_person_stays_held_for_a_project_that_cannot_be_staffed(method: str) -> None:
    vols = [vol("a", "x"), vol("b", "x")]
    projs = [proj("books", "tax", lo=1, fixed={"a"}), proj("p", "x", lo=1)]
    sol = solve(problem(vols, projs, {("a", "p"): 900, ("b", "p"): 100}), method)
    assert teams(sol) == {"p": {"b"}}  # a is not double-booked
    assert sol.unstaffed == (Unstaffed("books", ("tax",), "no_holder", ("a",)),)


def test_conflicting_approvals_are_refused() -> None:
    vols = [vol("a", "x"), vol("b", "x")]
    projs = [proj("p", "x", lo=1, fixed={"a"}), proj("q", "x", fixed={"a"})]
    with pytest.raises(ValueError, match="capacity"):
        solve_teams(problem(vols, projs, {}), time_limit=1)


@pytest.mark.parametrize("method", METHODS)
def test_unstaffable_projects_are_reported_with_their_missing_skills(method: str) -> None:
    vols = [vol("a", "law"), vol("b", "design"), vol("c", "design"), vol("d")]
    projs = [
        proj("books", "accounting", "tax", lo=1),  # nobody holds either
        proj("legal1", "law", lo=1, hi=2),
        proj("legal2", "law", lo=1, hi=2),  # the one lawyer works on legal1 (better fit)
        proj("flyer", "design", lo=2, hi=3),
    ]
    weights = {
        ("a", "legal1"): 900,
        ("a", "legal2"): 500,
        ("d", "legal2"): 400,
        ("b", "flyer"): 700,
        ("c", "flyer"): 600,
        ("d", "books"): 300,
    }
    sol = solve(problem(vols, projs, weights), method)
    assert teams(sol) == {"flyer": {"b", "c"}, "legal1": {"a"}}
    assert sol.unstaffed == (
        Unstaffed("books", ("accounting", "tax"), "no_holder"),
        Unstaffed("legal2", ("law",), "holders_taken"),
    )


# ------------------------------------------------------------------- bounds and agreement


@pytest.mark.parametrize("seed", range(6))
def test_bounds_hold_the_optimum(seed: int) -> None:
    pr = random_problem(100 + seed, 7, 2, density=0.8)
    opt = brute_force(pr)
    for method in METHODS:
        sol = solve(pr, method)
        assert sol.upper_bound is not None
        assert sol.lower_bound <= opt <= sol.upper_bound
        if method != "flow":
            assert sol.total == opt and sol.optimal
    greedy = greedy_teams(pr)
    assert not violations(pr, greedy) and greedy.total <= opt


def test_bounds_hold_the_milp_optimum_on_bigger_problems() -> None:
    for seed in range(3):
        pr = random_problem(200 + seed, 60, 12)
        exact = solve(pr, "milp")
        flow = solve(pr, "flow")
        assert exact.optimal and exact.method == "milp"
        assert flow.lower_bound <= exact.total <= flow.upper_bound  # type: ignore[operator]
        assert greedy_teams(pr).total <= exact.total


def test_milp_and_flow_agree_when_coverage_does_not_bind() -> None:
    rng = random.Random(7)
    vols = [vol(f"v{i:02d}", "any", capacity=rng.choice([1, 2])) for i in range(40)]
    projs = [proj(f"p{j}", "any", lo=rng.randint(1, 3), hi=rng.randint(3, 5)) for j in range(8)]
    weights = {(v.id, p.id): rng.randint(0, 1000) for v in vols for p in projs}
    pr = problem(vols, projs, weights)
    flow, exact = solve(pr, "flow"), solve(pr, "milp")
    assert flow.optimal and exact.optimal
    assert flow.total == exact.total == flow.upper_bound == exact.upper_bound
    assert solve(pr, "auto").method == "flow"  # proven by the flow: no MILP needed


# ------------------------------------------------------------------- determinism


def shuffled(pr: TeamProblem, seed: int) -> TeamProblem:
    rng = random.Random(seed)
    vols, projs = list(pr.volunteers), list(pr.projects)
    rng.shuffle(vols)
    rng.shuffle(projs)
    vid = [v.id for v in pr.volunteers]
    pid = [p.id for p in pr.projects]
    triples = list(
        zip(
            (vid[i] for i in pr.edges.volunteer.tolist()),
            (pid[i] for i in pr.edges.project.tolist()),
            pr.edges.weight.tolist(),
            strict=True,
        )
    )
    rng.shuffle(triples)
    return TeamProblem(vols, projs, CandidateEdges.from_ids(vols, projs, triples))


def answer(sol: TeamSolution) -> tuple[object, ...]:
    return (dict(sol.assignment), sol.unstaffed, sol.total, sol.upper_bound, sol.method)


@pytest.mark.parametrize("method", METHODS)
def test_same_input_same_answer_in_any_order(method: str) -> None:
    # Equal weights everywhere: ties are the hard case for determinism.
    pr = random_problem(11, 50, 10)
    flat = TeamProblem(
        pr.volunteers,
        pr.projects,
        CandidateEdges(pr.edges.volunteer, pr.edges.project, np.full(len(pr.edges), 500)),
    )
    for base in (pr, flat):
        first = answer(solve(base, method))
        assert answer(solve(base, method)) == first
        for seed in range(3):
            assert answer(solve(shuffled(base, seed), method)) == first
        g = answer(greedy_teams(base))
        assert all(answer(greedy_teams(shuffled(base, s))) == g for s in range(3))


# ------------------------------------------------------------------- the hard time limit


def test_the_milp_child_is_killed_at_the_time_limit() -> None:
    rng = np.random.default_rng(5)
    n_v, n_p = 3000, 300
    skills = [f"s{i}" for i in range(40)]
    pop = 1.0 / np.arange(1, 41)
    pop /= pop.sum()
    vols = [
        Volunteer(f"v{i:05d}", frozenset(rng.choice(skills, 2, p=pop).tolist())) for i in range(n_v)
    ]
    projs = [
        Project(f"p{j:04d}", frozenset(rng.choice(skills, 2, p=pop).tolist())) for j in range(n_p)
    ]
    fit = rng.random((n_v, n_p)) * (rng.random((n_v, n_p)) < 0.2)
    pr = TeamProblem(vols, projs, candidate_edges(vols, projs, fit, k=30))
    limit = 0.3
    start = time.monotonic()
    sol = solve_teams(pr, time_limit=limit, method="milp")
    elapsed = time.monotonic() - start
    # Behaviour, not speed: the MILP child is killed rather than waited for (a full
    # solve of this size takes far longer); the margin absorbs a loaded CI machine.
    assert elapsed < limit + 20.0
    assert sol.method == "flow" and sol.milp_status == "killed"
    assert multiprocessing.active_children() == []
    assert not violations(pr, sol)
    assert sol.upper_bound is not None and sol.lower_bound <= sol.upper_bound


# ------------------------------------------------------------------- candidate edges


def reference_candidates(
    fit: np.ndarray, vols: Sequence[Volunteer], projs: Sequence[Project], k: int, k_skill: int
) -> set[tuple[int, int, int]]:
    out: set[tuple[int, int, int]] = set()
    for p, pj in enumerate(projs):
        w = np.floor(np.clip(fit[:, p], 0, 1) * 1000 + 0.5).astype(int)
        eligible = [v for v in range(len(vols)) if fit[v, p] > 0]
        ranked = sorted(eligible, key=lambda v: (-w[v], v))
        keep = set(ranked[:k])
        for s in pj.required:
            holders = [v for v in ranked if s in vols[v].skills]
            keep |= set(holders if len(holders) < k else holders[:k_skill])
        out |= {(v, p, int(w[v])) for v in keep}
    return out


def as_set(e: CandidateEdges) -> set[tuple[int, int, int]]:
    return set(zip(e.volunteer.tolist(), e.project.tolist(), e.weight.tolist(), strict=True))


def test_candidate_edges_follow_the_rule_dense_or_sparse() -> None:
    rng = np.random.default_rng(3)
    n_v, n_p = 80, 9
    skills = ["a", "b", "c", "rare"]
    vols = [
        Volunteer(f"v{i}", frozenset(rng.choice(skills, 2, p=[0.45, 0.3, 0.2, 0.05]).tolist()))
        for i in range(n_v)
    ]
    projs = [Project(f"p{j}", frozenset(rng.choice(skills, 2).tolist())) for j in range(n_p)]
    # Coarse values: many ties at the cut, broken by volunteer index.
    fit = np.round(rng.random((n_v, n_p)), 1) * (rng.random((n_v, n_p)) < 0.7)
    want = reference_candidates(fit, vols, projs, k=6, k_skill=2)
    got = candidate_edges(vols, projs, fit, k=6, k_skill=2, block=4)
    assert as_set(got) == want and len(got) == len(want)
    assert as_set(candidate_edges(vols, projs, sp.csr_array(fit), k=6, k_skill=2)) == want
    blocks = candidate_edges(
        vols, projs, lambda p0, p1: sp.coo_array(fit[:, p0:p1]), k=6, k_skill=2
    )
    assert as_set(blocks) == want
    order = list(zip(got.project.tolist(), got.volunteer.tolist(), strict=True))
    assert order == sorted(order)


def test_candidates_feed_the_solver() -> None:
    rng = np.random.default_rng(9)
    vols = [Volunteer(f"v{i}", frozenset({"x"} if i % 3 else {"y"})) for i in range(30)]
    projs = [Project(f"p{j}", frozenset({"x", "y"}), lo=2, hi=3) for j in range(5)]
    fit = rng.random((30, 5))
    sol = solve(TeamProblem(vols, projs, candidate_edges(vols, projs, fit, k=5)), "auto")
    assert len(sol.assignment) == 5 and sol.optimal
