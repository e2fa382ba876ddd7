"""Team formation: volunteers to projects, maximising total fit under team sizes, capacity
and required-skill coverage (docs/matching.md, "The global model").

```
maximise   sum W_vp x_vp + sum B pi_p y_p - lambda sum u_v
subject to sum_p x_vp - u_v <= 1,  0 <= u_v <= k_v - 1 - a_v   capacity, convex extra load
           lo_p y_p <= sum_v x_vp <= hi_p y_p                  team size
           sum_{v holds s} x_vp >= y_p  for each required s of p coverage
           approved pairs fixed to 1, declined to 0
```

Two solvers, one answer shape:

* certified at any size: two min-cost flows (OR-Tools) that relax the model, whose optima
  are upper bounds, and a greedy coverage repair of each flow's plan (add the best free
  holder of a missing skill, or swap out a member whose removal uncovers nothing, or take a
  member another team can spare, else unstaff), the best of which is the lower bound;
* exact: the MILP above through HiGHS (`scipy.optimize.milp`), when the flows leave a gap
  and the model is small enough ("auto"), in a child process killed at the deadline
  (HiGHS's own time limit was not honoured on large models, docs/matching.md).

Every answer reports both bounds and the gap, on the total and on the fit part.

The flows (why their optima bound the MILP from above):

    source -> volunteer v   capacity min(1, k_v - a_v) at cost 0, and the rest of the
                            capacity at cost lambda (the convex extra-load penalty)
    volunteer v -> project p   one arc per candidate edge, capacity 1, cost -W_vp
    project p -> sink       staircase flow: the staffing bonus B_p spread over the first
                            lo_p members (lo_p units at cost -B_p / lo_p, integer parts,
                            larger first so the reward stays concave), then hi_p - lo_p
                            units at cost 0; keyed flow: hi_p units at cost 0
    key node k_p -> p       keyed flow only: holders of p's rarest required skill enter p
                            through k_p, whose first unit earns -B_p, the others 0
    source -> sink          a bypass at cost 0, so people are only routed where it pays

Staircase flow: team size zero-or-[lo, hi] is not convex, so a flow cannot state it; the
concave g_p(n) = B_p min(n, lo_p) / lo_p equals the bonus at n = 0 and at every n in
[lo, hi] and is >= 0 in between: it is the LP relaxation of `lo y <= n <= hi y` with y
eliminated. Keyed flow: every staffed team of a MILP plan holds the rarest required
skill, so routing one holder through k_p earns exactly B_p (size lo is relaxed there). In
both, any MILP plan is a flow of the same capacities (coverage dropped, but for the key
skill) whose flow value is at least its MILP value, so each flow optimum (integral:
network matrices are totally unimodular) is >= the MILP optimum; we keep the smaller.
Neither dominates: the keyed one sees a contested rare skill (one lawyer, two legal
projects), the staircase one sees short teams. Approved (fixed) pairs are routed
beforehand: their weights, their teams' bonus and their extra-load penalty are
constants, and they use up capacity and room.

Determinism: inputs are put in a canonical order (volunteers and projects by id, edges by
(project, volunteer)) before anything is solved, ties are broken by that order, and a MILP
that is cut off by the deadline is discarded (the flow answer is returned), so the plan
never depends on how far a solver got. Which of the two answers comes back can still
depend on the clock when the MILP finishes right at the deadline.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

IntArray: TypeAlias = npt.NDArray[np.int64]
SkillArray: TypeAlias = npt.NDArray[np.int32]  # skill ids, -1 padded
BoolArray: TypeAlias = npt.NDArray[np.bool_]
Method = Literal["auto", "milp", "flow"]
#: A fit matrix (volunteers x projects, values in 0..1, <= 0 means "filtered out by a hard
#: rule"), dense or scipy.sparse, or a function returning its columns [p0, p1) as either.
#: A sparse block must hold each pair at most once.
FitSource: TypeAlias = Any

DEFAULT_LO = 2
DEFAULT_HI = 5
DEFAULT_EXTRA_LOAD_PENALTY = 200
# Up to this many edges HiGHS runs in this process: it finishes in milliseconds, well within
# its own time limit, and a child process would cost more (~0.5 s) than the whole solve.
IN_PROCESS_MAX_EDGES = 2_000
# Above this many edges "auto" skips the MILP: 5k x 500 (25k edges) takes ~4 s, 20k x 2k
# (~100k edges) ~54 s (matching.md), far beyond any interactive limit.
MILP_MAX_EDGES = 60_000
_MAX_REQUIRED = 62  # required skills per project live in one int64 bit mask


@dataclass(frozen=True, slots=True)
class Volunteer:
    """A volunteer as team formation sees them."""

    id: str
    skills: frozenset[str] = frozenset()
    capacity: int = 1  # k_v: concurrent projects they accept
    load: int = 0  # a_v: active projects outside this plan


@dataclass(frozen=True, slots=True)
class Project:
    """A project to staff: a size range, required skills, approved and declined people."""

    id: str
    required: frozenset[str] = frozenset()
    lo: int = DEFAULT_LO
    hi: int = DEFAULT_HI
    fixed: frozenset[str] = frozenset()  # approved volunteers: always in the team
    forbidden: frozenset[str] = frozenset()  # declined or rejected volunteers: never in it
    priority: int = 1  # pi_p: the staffing bonus is B * priority


@dataclass(frozen=True, slots=True, eq=False)
class CandidateEdges:
    """Candidate pairs as arrays: indices into the problem's volunteers and projects."""

    volunteer: IntArray
    project: IntArray
    weight: IntArray  # W_vp = round(1000 * fit)

    def __post_init__(self) -> None:
        arrays = [np.asarray(a, dtype=np.int64).ravel() for a in (self.volunteer, self.project)]
        weight = np.asarray(self.weight, dtype=np.int64).ravel()
        if not (len(arrays[0]) == len(arrays[1]) == len(weight)):
            raise ValueError("edge arrays differ in length")
        object.__setattr__(self, "volunteer", arrays[0])
        object.__setattr__(self, "project", arrays[1])
        object.__setattr__(self, "weight", weight)

    def __len__(self) -> int:
        return len(self.weight)

    @classmethod
    def from_ids(
        cls,
        volunteers: Sequence[Volunteer],
        projects: Sequence[Project],
        triples: Iterable[tuple[str, str, int]],
    ) -> CandidateEdges:
        """Return the edges given as (volunteer id, project id, weight) triples."""
        vpos = {v.id: i for i, v in enumerate(volunteers)}
        ppos = {p.id: i for i, p in enumerate(projects)}
        rows = [(vpos[v], ppos[p], int(w)) for v, p, w in triples]
        data = np.array(rows, dtype=np.int64).reshape(-1, 3)
        return cls(data[:, 0], data[:, 1], data[:, 2])


@dataclass(frozen=True, slots=True, eq=False)
class TeamProblem:
    """Volunteers, projects, candidate edges and the objective's two constants."""

    volunteers: Sequence[Volunteer]
    projects: Sequence[Project]
    edges: CandidateEdges
    staffing_bonus: int | None = None  # B; None: 1000 * (largest hi + 1)
    extra_load_penalty: int = DEFAULT_EXTRA_LOAD_PENALTY  # lambda per project beyond the first

    def bonus(self) -> int:
        """Return B: the given staffing bonus or 1000 * (largest hi + 1)."""
        if self.staffing_bonus is not None:
            return self.staffing_bonus
        # B > hi_max * 1000: unstaffing a project can never pay for itself through its own
        # team's fit, wherever those people go. (Strict lexicographic order over all plans
        # would need B > the whole plan's fit, which drowns fit in the MILP's gap tolerance.)
        return 1000 * (max((p.hi for p in self.projects), default=DEFAULT_HI) + 1)


Reason = Literal["no_holder", "too_few_candidates", "holders_taken", "not_chosen"]


@dataclass(frozen=True, slots=True)
class Unstaffed:
    """A project left without a team, and why."""

    project: str
    missing_skills: tuple[str, ...]  # required skills no candidate (left) can cover
    reason: Reason
    fixed: tuple[str, ...] = ()  # approved volunteers held for it all the same


@dataclass(frozen=True, slots=True)
class TeamSolution:
    """A feasible plan with its value, its certificate and how it was found."""

    assignment: Mapping[str, tuple[str, ...]]  # staffed project -> volunteer ids
    unstaffed: tuple[Unstaffed, ...]
    total: int  # fit - load_penalty + bonus: the plan's objective, the lower bound
    fit: int  # sum of W over assigned pairs
    load_penalty: int  # lambda * projects beyond each volunteer's first
    bonus: int  # staffing bonus of the staffed projects
    upper_bound: int | None  # no plan is worth more (None: no certificate, e.g. greedy)
    method: Literal["milp", "flow", "greedy"]
    milp_status: str  # not_run, optimal, time_limit, killed, infeasible, error
    wall_time: float
    over_capacity: tuple[str, ...]  # volunteers given more than k_v - a_v: always empty
    extra_load: tuple[str, ...]  # volunteers given more than one project (their k_v allows it)

    @property
    def staffed(self) -> tuple[str, ...]:
        """Return the staffed project ids, sorted."""
        return tuple(self.assignment)

    @property
    def lower_bound(self) -> int:
        """Return the value of the returned plan."""
        return self.total

    @property
    def fit_part(self) -> int:
        """Return the objective without the staffing bonus (fit minus load penalty)."""
        return self.fit - self.load_penalty

    @property
    def fit_upper_bound(self) -> int | None:
        """Return UB - bonus: no plan staffing at least our bonus has more fit than this."""
        # A plan P with bonus b_P >= ours has fit_P = total_P - b_P <= UB - b_P <= UB - ours.
        return None if self.upper_bound is None else self.upper_bound - self.bonus

    @property
    def gap(self) -> float | None:
        """Return the certified relative gap on the total, (UB - LB) / UB."""
        return _rel_gap(self.upper_bound, self.total)

    @property
    def fit_gap(self) -> float | None:
        """Return the certified relative gap on the fit part, against fit_upper_bound."""
        return _rel_gap(self.fit_upper_bound, self.fit_part)

    @property
    def optimal(self) -> bool:
        """Return whether the plan is proven optimal (the objective is an integer)."""
        return self.upper_bound is not None and self.upper_bound <= self.total


def _rel_gap(upper: int | None, lower: int) -> float | None:
    if upper is None:
        return None
    if upper <= lower:
        return 0.0
    return (upper - lower) / max(abs(upper), 1)


# --------------------------------------------------------------------------- candidates


def candidate_edges(
    volunteers: Sequence[Volunteer],
    projects: Sequence[Project],
    fit: FitSource,
    *,
    k: int = 50,
    k_skill: int = 10,
    block: int = 128,
) -> CandidateEdges:
    """Return each project's top k by fit plus every holder of a skill with < k holders."""
    # matching.md's rule, per project: the top k eligible volunteers by fit, plus all
    # eligible holders of each required skill that has fewer than k of them. We also keep
    # the best k_skill holders of each required skill (a popular skill's holders can all
    # lose to another skill's in the top k), so a coverage repair always has options.
    # Ranking is on W = round(1000 fit), ties by volunteer index. Vectorised per block of
    # projects with histograms over W (0..1000), not a sort of every eligible pair.
    n_v, n_p = len(volunteers), len(projects)
    vocab = sorted({s for p in projects for s in p.required})
    sid = {s: i for i, s in enumerate(vocab)}
    vsk = _padded([[sid[s] for s in v.skills if s in sid] for v in volunteers])
    req = _padded([[sid[s] for s in sorted(p.required)] for p in projects])
    source = fit
    if not callable(fit) and sp.issparse(fit):
        source = sp.csc_array(fit)
    out_v: list[IntArray] = []
    out_p: list[IntArray] = []
    out_w: list[IntArray] = []
    for p0 in range(0, n_p, block):
        p1 = min(n_p, p0 + block)
        rows, cols, vals = _block_entries(source, p0, p1)
        if len(rows) == 0:
            continue
        w = np.floor(np.clip(vals, 0.0, 1.0) * 1000.0 + 0.5).astype(np.int64)
        keep = _top(cols, w, rows, p1 - p0, k)
        vr = vsk[rows]
        for j in range(req.shape[1]):
            holds = np.flatnonzero(_holds(vr, req[p0 + cols, j]))
            hc = cols[holds]
            few = np.bincount(hc, minlength=p1 - p0) < k
            best = _top(hc, w[holds], rows[holds], p1 - p0, k_skill)
            keep[holds[few[hc] | best]] = True
        out_v.append(rows[keep])
        out_p.append(cols[keep] + p0)
        out_w.append(w[keep])
    if not out_v:
        empty = np.zeros(0, dtype=np.int64)
        return CandidateEdges(empty, empty.copy(), empty.copy())
    ev, ep, ew = np.concatenate(out_v), np.concatenate(out_p), np.concatenate(out_w)
    order = np.argsort(ep * n_v + ev, kind="stable")
    return CandidateEdges(ev[order], ep[order], ew[order])


def _top(group: IntArray, w: IntArray, v: IntArray, n_groups: int, k: int) -> BoolArray:
    """Mark in each group the k entries of largest w (0..1000), ties to the smallest v."""
    if k <= 0 or len(w) == 0:
        return np.zeros(len(w), dtype=bool)
    d = 1000 - w  # 0 is the best weight
    hist = np.bincount(group * 1001 + d, minlength=n_groups * 1001).reshape(n_groups, 1001)
    cum = np.cumsum(hist, axis=1)
    cut = (cum < k).sum(axis=1)  # the d at which the k-th entry falls (1001: fewer than k)
    before = np.where(cut > 0, cum[np.arange(n_groups), np.maximum(cut - 1, 0)], 0)
    gcut = cut[group]
    keep: BoolArray = d < gcut
    tie = np.flatnonzero(d == gcut)  # the threshold weight: take the smallest v first
    if len(tie):
        tie = tie[np.lexsort((v[tie], group[tie]))]
        g = group[tie]
        first = np.searchsorted(g, g)  # g is sorted: index of each group's first tie
        keep[tie[np.arange(len(tie)) - first < (k - before)[g]]] = True
    return keep


def _padded(lists: Sequence[Sequence[int]]) -> SkillArray:
    width = max((len(x) for x in lists), default=0)
    out = np.full((len(lists), max(width, 1)), -1, dtype=np.int32)
    for i, x in enumerate(lists):
        out[i, : len(x)] = x
    return out


def _holds(skills: SkillArray, wanted: SkillArray) -> BoolArray:
    """Return, row by row, whether `skills` (-1 padded) contains `wanted` (>= 0)."""
    hit: BoolArray = wanted >= 0
    found = np.zeros(len(wanted), dtype=bool)
    for i in range(skills.shape[1]):  # column by column: .any(axis=1) is slow on short rows
        found |= skills[:, i] == wanted
    return hit & found


def _block_entries(source: FitSource, p0: int, p1: int) -> tuple[IntArray, IntArray, Any]:
    """Return (rows, local columns, fit values) of the positive entries of columns [p0, p1)."""
    if isinstance(source, np.ndarray):
        blk: Any = source[:, p0:p1]
    elif sp.issparse(source):
        blk = source[:, p0:p1]
    else:
        blk = source(p0, p1)
    if sp.issparse(blk):
        coo = sp.coo_array(blk)  # a pair at most once per block: not summed (costs a sort)
        pos = coo.data > 0
        return (
            coo.row[pos].astype(np.int64),
            coo.col[pos].astype(np.int64),
            coo.data[pos].astype(np.float64),
        )
    dense = np.asarray(blk, dtype=np.float64)
    r, c = np.nonzero(dense > 0)
    return r.astype(np.int64), c.astype(np.int64), dense[r, c]


# --------------------------------------------------------------------------- canonical model


@dataclass(slots=True, eq=False)
class _Prep:
    """The problem in canonical order, with structurally hopeless projects set aside."""

    vol_ids: list[str]
    proj_ids: list[str]
    req_names: list[tuple[str, ...]]  # per project, sorted: slot j is bit j
    cap0: IntArray  # k_v - a_v, at least 0
    reserved: IntArray  # slots held by approved pairs on set-aside projects
    cap: IntArray  # capacity left for this plan
    free: IntArray  # slots left at no penalty (the first project is free)
    lo: IntArray
    hi: IntArray
    bonus: IntArray  # B * priority
    full: IntArray  # bit mask of all required slots
    active: BoolArray  # not set aside
    set_aside: dict[int, tuple[Reason, tuple[str, ...]]]
    held: dict[int, list[int]]  # set-aside project -> approved volunteers held for it
    ev: IntArray  # edges of active projects, sorted by (project, volunteer)
    ep: IntArray
    ew: IntArray
    efix: BoolArray
    ebits: IntArray  # required slots of the project the volunteer covers
    pstart: IntArray  # edges of project p are pstart[p]:pstart[p+1]
    holders: IntArray  # (n_p, max slots): eligible holders of each slot
    lam: int

    @property
    def n_v(self) -> int:
        return len(self.vol_ids)

    @property
    def n_p(self) -> int:
        return len(self.proj_ids)


def _prepare(problem: TeamProblem) -> _Prep:
    """Validate and canonicalise; set aside projects no plan can staff."""
    vols, projs = problem.volunteers, problem.projects
    n_v, n_p = len(vols), len(projs)
    vorder = sorted(range(n_v), key=lambda i: vols[i].id)
    porder = sorted(range(n_p), key=lambda i: projs[i].id)
    vol_ids = [vols[i].id for i in vorder]
    proj_ids = [projs[i].id for i in porder]
    if len(set(vol_ids)) != n_v or len(set(proj_ids)) != n_p:
        raise ValueError("volunteer and project ids must be unique")
    vindex = {v: i for i, v in enumerate(vol_ids)}
    vpos = np.empty(n_v, dtype=np.int64)
    vpos[vorder] = np.arange(n_v)
    ppos = np.empty(n_p, dtype=np.int64)
    ppos[porder] = np.arange(n_p)
    vs = [vols[i] for i in vorder]
    ps = [projs[i] for i in porder]
    lam = int(problem.extra_load_penalty)
    if lam < 0:
        raise ValueError("extra_load_penalty must be >= 0")
    big_b = problem.bonus()

    cap0 = np.array([max(0, v.capacity - v.load) for v in vs], dtype=np.int64)
    lo = np.array([p.lo for p in ps], dtype=np.int64)
    hi = np.array([p.hi for p in ps], dtype=np.int64)
    if n_p and (lo.min() < 1 or (hi < lo).any()):
        raise ValueError("team sizes need 1 <= lo <= hi")
    bonus = np.array([big_b * p.priority for p in ps], dtype=np.int64)

    # Edges into canonical indices, minus declined pairs, one per pair (the largest weight).
    e = problem.edges
    if len(e) and (e.volunteer.min() < 0 or e.volunteer.max() >= n_v or e.project.min() < 0):
        raise ValueError("edge index out of range")
    if len(e) and e.project.max() >= n_p:
        raise ValueError("edge index out of range")
    ev = vpos[e.volunteer]
    ep = ppos[e.project]
    ew = e.weight.copy()
    forb: list[int] = []
    fixed: list[int] = []
    for p, proj in enumerate(ps):
        for vid in sorted(proj.forbidden):
            if vid in vindex:
                forb.append(p * n_v + vindex[vid])
        for vid in sorted(proj.fixed):
            if vid not in vindex:
                raise ValueError(f"approved volunteer {vid!r} is not in the problem")
            if vid in proj.forbidden:
                raise ValueError(f"pair ({vid!r}, {proj.id!r}) is both approved and declined")
            fixed.append(p * n_v + vindex[vid])
    fixed_keys = np.array(sorted(fixed), dtype=np.int64)
    key = ep * n_v + ev
    del ev, ep
    keep = ~np.isin(key, np.array(forb, dtype=np.int64))
    key, ew = key[keep], ew[keep]
    del keep
    if len(key) > 1 and not (key[1:] > key[:-1]).all():  # candidate_edges' order skips this
        order = np.lexsort((-ew, key))
        key, ew = key[order], ew[order]
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        key, ew = key[first], ew[first]
    # Approved pairs the caller gave no weight for still belong in the plan (weight 0).
    missing = fixed_keys[~np.isin(fixed_keys, key)]
    if len(missing):
        key = np.concatenate((key, missing))
        ew = np.concatenate((ew, np.zeros(len(missing), dtype=np.int64)))
        order = np.argsort(key, kind="stable")
        key, ew = key[order], ew[order]
    ep, ev = key // max(n_v, 1), key % max(n_v, 1)
    efix = np.isin(key, fixed_keys)

    fix_v = np.bincount(ev[efix], minlength=n_v)
    fix_p = np.bincount(ep[efix], minlength=n_p)
    if (fix_v > cap0).any():
        bad = vol_ids[int(np.flatnonzero(fix_v > cap0)[0])]
        raise ValueError(f"approved pairs exceed the capacity of volunteer {bad!r}")
    if (fix_p > hi).any():
        bad = proj_ids[int(np.flatnonzero(fix_p > hi)[0])]
        raise ValueError(f"approved pairs exceed the team size of project {bad!r}")

    # Required slots: slot j of project p is its j-th required skill in sorted order.
    req_names = [tuple(sorted(p.required)) for p in ps]
    if any(len(r) > _MAX_REQUIRED for r in req_names):
        raise ValueError(f"at most {_MAX_REQUIRED} required skills per project")
    vocab = sorted({s for r in req_names for s in r})
    sid = {s: i for i, s in enumerate(vocab)}
    vsk = _padded([[sid[s] for s in v.skills if s in sid] for v in vs])
    req = _padded([[sid[s] for s in r] for r in req_names])
    n_slots = req.shape[1]
    full = np.array([(1 << len(r)) - 1 for r in req_names], dtype=np.int64)
    ebits = np.zeros(len(key), dtype=np.int64)
    vr = vsk[ev]
    for j in range(n_slots):
        ebits |= _holds(vr, req[ep, j]).astype(np.int64) << j
    del vr

    # Set aside projects that no plan can staff (a required skill nobody eligible holds, or
    # fewer candidates than lo); their approved people stay held for them, which can in
    # turn starve another project, hence the loop.
    active = np.ones(n_p, dtype=bool)
    reserved = np.zeros(n_v, dtype=np.int64)
    set_aside: dict[int, tuple[Reason, tuple[str, ...]]] = {}
    held: dict[int, list[int]] = {}
    while True:
        usable = active[ep] & (efix | ((cap0 - reserved)[ev] > 0))
        n_cand = np.bincount(ep[usable], minlength=n_p)
        holders = np.zeros((n_p, n_slots), dtype=np.int64)
        for j in range(n_slots):
            has = usable & ((ebits >> j) & 1).astype(bool)
            holders[:, j] = np.bincount(ep[has], minlength=n_p)
        slot_exists = np.arange(n_slots)[None, :] < np.array([len(r) for r in req_names])[:, None]
        lacking = slot_exists & (holders == 0)
        bad = active & (lacking.any(axis=1) | (n_cand < lo))
        if not bad.any():
            break
        for p in np.flatnonzero(bad).tolist():
            names = tuple(req_names[p][j] for j in np.flatnonzero(lacking[p]).tolist())
            set_aside[p] = ("no_holder" if names else "too_few_candidates", names)
            mine = ev[(ep == p) & efix].tolist()
            held[p] = mine
            for v in mine:
                reserved[v] += 1
        active &= ~bad

    usable = active[ep] & (efix | ((cap0 - reserved)[ev] > 0))
    ev, ep, ew, efix, ebits = ev[usable], ep[usable], ew[usable], efix[usable], ebits[usable]
    cap = cap0 - reserved
    free = np.maximum(0, np.minimum(1, cap0) - reserved)
    pstart = np.searchsorted(ep, np.arange(n_p + 1)).astype(np.int64)
    return _Prep(
        vol_ids=vol_ids,
        proj_ids=proj_ids,
        req_names=req_names,
        cap0=cap0,
        reserved=reserved,
        cap=cap,
        free=free,
        lo=lo,
        hi=hi,
        bonus=bonus,
        full=full,
        active=active,
        set_aside=set_aside,
        held=held,
        ev=ev,
        ep=ep,
        ew=ew,
        efix=efix,
        ebits=ebits,
        pstart=pstart,
        holders=holders,
        lam=lam,
    )


# --------------------------------------------------------------------------- plans


@dataclass(slots=True, eq=False)
class _Plan:
    """Chosen edges (including approved pairs held for unstaffed projects) and staffed set."""

    chosen: BoolArray
    staffed: BoolArray


def _value(prep: _Prep, plan: _Plan) -> tuple[int, int, int, int]:
    """Return (total, fit, load penalty, bonus) of a plan."""
    on = plan.chosen & plan.staffed[prep.ep]
    fit = int(prep.ew[on].sum())
    load = np.bincount(prep.ev[plan.chosen], minlength=prep.n_v)
    penalty = prep.lam * int(np.maximum(0, load - prep.free).sum())
    bonus = int(prep.bonus[plan.staffed].sum())
    return fit - penalty + bonus, fit, penalty, bonus


def _violations(prep: _Prep, plan: _Plan) -> list[str]:
    """Return what makes a plan infeasible (empty when feasible)."""
    out: list[str] = []
    load = np.bincount(prep.ev[plan.chosen], minlength=prep.n_v)
    if (load > prep.cap).any():
        out.append("capacity")
    if (plan.staffed & ~prep.active).any():
        out.append("set-aside project staffed")
    if (prep.efix & ~plan.chosen).any():
        out.append("approved pair dropped")
    on = plan.chosen & plan.staffed[prep.ep]
    size = np.bincount(prep.ep[on], minlength=prep.n_p)
    st = plan.staffed
    if (st & ((size < prep.lo) | (size > prep.hi))).any():
        out.append("team size")
    if ((plan.chosen & ~prep.efix) & ~plan.staffed[prep.ep]).any():
        out.append("member of an unstaffed project")
    cov = np.zeros(prep.n_p, dtype=np.int64)
    np.bitwise_or.at(cov, prep.ep[on], prep.ebits[on])
    if (st & ((cov & prep.full) != prep.full)).any():
        out.append("coverage")
    return out


def _solution(
    prep: _Prep,
    plan: _Plan,
    upper: int | None,
    method: Literal["milp", "flow", "greedy"],
    milp_status: str,
    started: float,
) -> TeamSolution:
    total, fit, penalty, bonus = _value(prep, plan)
    on = plan.chosen & plan.staffed[prep.ep]
    members: dict[int, list[int]] = {}
    for p, v in zip(prep.ep[on].tolist(), prep.ev[on].tolist(), strict=True):
        members.setdefault(p, []).append(v)
    assignment = {
        prep.proj_ids[p]: tuple(sorted(prep.vol_ids[v] for v in members.get(p, [])))
        for p in np.flatnonzero(plan.staffed).tolist()
    }
    load = np.bincount(prep.ev[plan.chosen], minlength=prep.n_v) + prep.reserved
    spare = load < prep.cap0
    unstaffed: list[Unstaffed] = []
    held_here = plan.chosen & ~plan.staffed[prep.ep]
    for p in range(prep.n_p):
        if plan.staffed[p]:
            continue
        if p in prep.set_aside:
            reason, names = prep.set_aside[p]
            held = tuple(sorted(prep.vol_ids[v] for v in prep.held.get(p, [])))
            unstaffed.append(Unstaffed(prep.proj_ids[p], names, reason, held))
            continue
        s, e = int(prep.pstart[p]), int(prep.pstart[p + 1])
        avail = spare[prep.ev[s:e]]
        covered = int(np.bitwise_or.reduce(prep.ebits[s:e][avail])) if avail.any() else 0
        taken = tuple(name for j, name in enumerate(prep.req_names[p]) if not (covered >> j) & 1)
        hold = tuple(sorted(prep.vol_ids[v] for v in prep.ev[s:e][held_here[s:e]].tolist()))
        unstaffed.append(
            Unstaffed(prep.proj_ids[p], taken, "holders_taken" if taken else "not_chosen", hold)
        )
    over = np.flatnonzero(load > prep.cap0).tolist()
    extra = np.flatnonzero(load > np.minimum(1, prep.cap0)).tolist()
    return TeamSolution(
        assignment=assignment,
        unstaffed=tuple(unstaffed),
        total=total,
        fit=fit,
        load_penalty=penalty,
        bonus=bonus,
        upper_bound=None if upper is None else max(upper, total),
        method=method,
        milp_status=milp_status,
        wall_time=time.perf_counter() - started,
        over_capacity=tuple(prep.vol_ids[v] for v in over),
        extra_load=tuple(prep.vol_ids[v] for v in extra),
    )


# --------------------------------------------------------------------------- flow bound


def _flow_bound(prep: _Prep, *, keyed: bool = False) -> tuple[int, _Plan]:
    """Return the min-cost-flow upper bound and the flow's (coverage-free) plan."""
    from ortools.graph.python import min_cost_flow  # imported late: MILP children skip it

    n_v, n_p, lam = prep.n_v, prep.n_p, prep.lam
    fix = prep.efix
    fix_v = np.bincount(prep.ev[fix], minlength=n_v)
    fix_p = np.bincount(prep.ep[fix], minlength=n_p)
    # Approved pairs are routed before the flow: constants in the objective.
    const = int(prep.ew[fix].sum())
    const -= lam * int(np.maximum(0, fix_v - prep.free).sum())
    const += int(prep.bonus[prep.active & (fix_p > 0)].sum())
    free_r = np.maximum(0, prep.free - fix_v)
    extra_r = (prep.cap - fix_v) - free_r

    source, sink = 0, 1 + n_v + n_p
    smcf = min_cost_flow.SimpleMinCostFlow()

    def add(t: IntArray, h: IntArray, c: IntArray, cost: IntArray) -> None:
        # Arcs go in group by group (no concatenated copies: memory peaks here at 100k).
        m = c > 0
        smcf.add_arcs_with_capacity_and_unit_cost(t[m], h[m], c[m], cost[m])

    vnode = 1 + np.arange(n_v, dtype=np.int64)
    zeros_v = np.zeros(n_v, dtype=np.int64)
    add(zeros_v, vnode, free_r, zeros_v)
    add(zeros_v, vnode, extra_r, zeros_v + lam)
    del vnode, zeros_v
    opt = ~fix
    n_opt = int(opt.sum())
    act = np.flatnonzero(prep.active)
    lo, hi, b, fp = prep.lo[act], prep.hi[act], prep.bonus[act], fix_p[act]
    head = 1 + n_v + prep.ep[opt]
    gated = np.zeros(len(act), dtype=bool)
    if keyed:
        # The bonus is paid only through one holder of the project's rarest required skill:
        # a key node per project, entered by those holders, pays B on its first unit.
        n_req = np.array([len(r) for r in prep.req_names], dtype=np.int64)
        slots = np.arange(prep.holders.shape[1])[None, :]
        count = np.where(slots < n_req[:, None], prep.holders, np.iinfo(np.int64).max)
        key_slot = np.argmin(count, axis=1) if count.shape[1] else np.zeros(n_p, np.int64)
        key_bit = np.left_shift(1, key_slot)  # ties: the lowest slot (argmin's first)
        gated = (fp == 0) & (n_req[act] > 0)
        is_gated = np.zeros(n_p, dtype=bool)
        is_gated[act[gated]] = True
        ep_opt = prep.ep[opt]
        via_key = is_gated[ep_opt] & ((prep.ebits[opt] & key_bit[ep_opt]) != 0)
        head = np.where(via_key, sink + 1 + ep_opt, head)
        del ep_opt, via_key
    first_edge_arc = int(smcf.num_arcs())
    add(1 + prep.ev[opt], head, np.ones(n_opt, dtype=np.int64), -prep.ew[opt])
    del head
    pnode = 1 + n_v + act
    knode = sink + 1 + act
    to_sink = np.full(len(act), sink, dtype=np.int64)
    zeros_p = np.zeros(len(act), dtype=np.int64)
    q, r = np.divmod(b, lo)
    staircase = (fp == 0) & ~gated
    add(pnode, to_sink, np.where(staircase, r, 0), -(q + 1))
    add(pnode, to_sink, np.where(staircase, lo - r, 0), -q)
    add(pnode, to_sink, np.where(staircase, hi - lo, hi - fp), zeros_p)  # gated: fp = 0
    add(knode, pnode, gated.astype(np.int64), -b)
    add(knode, pnode, np.where(gated, hi - 1, 0), zeros_p)
    supply = int(free_r.sum() + extra_r.sum())
    one = np.ones(1, dtype=np.int64)
    add(0 * one, sink * one, supply * one, 0 * one)
    n_nodes = sink + 1 + (n_p if keyed else 0)
    supplies = np.zeros(n_nodes, dtype=np.int64)
    supplies[source], supplies[sink] = supply, -supply
    smcf.set_nodes_supplies(np.arange(n_nodes, dtype=np.int64), supplies)
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    upper = const - int(smcf.optimal_cost())
    arcs = np.arange(first_edge_arc, first_edge_arc + n_opt, dtype=np.int64)
    chosen = fix.copy()
    chosen[np.flatnonzero(opt)] = np.asarray(smcf.flows(arcs)) > 0
    staffed = np.zeros(n_p, dtype=bool)
    staffed[prep.ep[chosen]] = True
    return upper, _Plan(chosen, staffed & prep.active)


# --------------------------------------------------------------------------- coverage repair


class _Teams:
    """Mutable teams over the canonical model, for the repair and the greedy baseline."""

    def __init__(self, prep: _Prep, chosen: BoolArray) -> None:
        self.prep = prep
        # array.array, not lists: 8 bytes an edge instead of ~36 (0.5M edges at 100k x 10k).
        self.ev = array("q", prep.ev.tobytes())
        self.ew = array("q", prep.ew.tobytes())
        self.bits = array("q", prep.ebits.tobytes())
        self.fixed = array("b", prep.efix.astype(np.int8).tobytes())
        self.pstart: list[int] = prep.pstart.tolist()
        self.cap: list[int] = prep.cap.tolist()
        self.free: list[int] = prep.free.tolist()
        self.lo: list[int] = prep.lo.tolist()
        self.hi: list[int] = prep.hi.tolist()
        self.full: list[int] = prep.full.tolist()
        self.lam = prep.lam
        self.team: list[dict[int, int]] = [{} for _ in range(prep.n_p)]  # v -> edge
        self.where: dict[int, dict[int, int]] = {}  # v -> {p: edge}, assigned people only
        self.load = [0] * prep.n_v
        for e in np.flatnonzero(chosen).tolist():
            self._put(int(prep.ep[e]), e)

    def _put(self, p: int, e: int) -> None:
        v = self.ev[e]
        self.team[p][v] = e
        self.where.setdefault(v, {})[p] = e
        self.load[v] += 1

    def _take(self, p: int, v: int) -> None:
        del self.team[p][v]
        del self.where[v][p]
        self.load[v] -= 1

    def cover(self, p: int, skip: int = -1) -> int:
        """Return the required slots covered by p's team, without volunteer `skip`."""
        c = 0
        for v, e in self.team[p].items():
            if v != skip:
                c |= self.bits[e]
        return c

    def pen(self, v: int) -> int:
        """Return the penalty one more project costs volunteer v."""
        return self.lam if self.load[v] >= self.free[v] else 0

    def best_free(self, p: int, bit: int, miss: int) -> int:
        """Return the best free candidate edge of p (holding `bit` if set), or -1."""
        best, best_key = -1, (0, 0, 0)
        team = self.team[p]
        for e in range(self.pstart[p], self.pstart[p + 1]):
            v = self.ev[e]
            if (bit and not self.bits[e] & bit) or v in team or self.load[v] >= self.cap[v]:
                continue
            k = ((self.bits[e] & miss).bit_count(), self.ew[e] - self.pen(v), -v)
            if best < 0 or k > best_key:
                best, best_key = e, k
        return best

    def best_steal(self, p: int, bit: int, miss: int) -> tuple[int, int]:
        """Return (edge into p, project robbed) for a non-critical member elsewhere, or -1s."""
        # A member of another team q can move to p if q keeps its size and coverage.
        best, best_q, best_key = -1, -1, (0, 0, 0, 0)
        team = self.team[p]
        for e in range(self.pstart[p], self.pstart[p + 1]):
            v = self.ev[e]
            if (bit and not self.bits[e] & bit) or v in team:
                continue
            for q, eq in sorted(self.where.get(v, {}).items()):
                if q == p or self.fixed[eq] or len(self.team[q]) <= self.lo[q]:
                    continue
                if self.cover(q) & ~self.cover(q, skip=v):
                    continue
                k = ((self.bits[e] & miss).bit_count(), self.ew[e] - self.ew[eq], -v, -q)
                if best < 0 or k > best_key:
                    best, best_q, best_key = e, q, k
        return best, best_q

    def repair(self, p: int, steal: bool) -> bool:
        """Make p's team cover every required skill and reach lo; False if impossible."""
        team = self.team[p]
        holders = self.prep.holders[p]
        while True:
            miss = self.full[p] & ~self.cover(p)
            if not miss:
                break
            # The rarest missing skill first: it has the fewest ways to be covered.
            slots = [j for j in range(miss.bit_length()) if (miss >> j) & 1]
            j = min(slots, key=lambda s: (int(holders[s]), s))
            bit = 1 << j
            e = self.best_free(p, bit, miss)
            q = -1
            if e < 0 and steal:
                e, q = self.best_steal(p, bit, miss)
            if e < 0:
                return False
            if len(team) >= self.hi[p]:
                # Full team: drop the lowest-weight member whose removal uncovers nothing.
                had = self.cover(p)
                out = [
                    (self.ew[em], v)
                    for v, em in team.items()
                    if not self.fixed[em] and had & ~(self.cover(p, skip=v) | self.bits[e]) == 0
                ]
                if not out:
                    return False
                self._take(p, min(out)[1])
            if q >= 0:
                self._take(q, self.ev[e])
            self._put(p, e)
        while len(team) < self.lo[p]:
            e = self.best_free(p, 0, 0)
            q = -1
            if e < 0 and steal:
                e, q = self.best_steal(p, 0, 0)
            if e < 0:
                return False
            if q >= 0:
                self._take(q, self.ev[e])
            self._put(p, e)
        return True

    def release(self, p: int) -> None:
        """Unstaff p: its members go free, approved ones stay held for it."""
        for v, e in list(self.team[p].items()):
            if not self.fixed[e]:
                self._take(p, v)

    def fill(self, staffed: BoolArray) -> None:
        """Add free volunteers to staffed teams with room while it raises the objective."""
        prep = self.prep
        load = np.array(self.load, dtype=np.int64)
        size = np.array([len(t) for t in self.team], dtype=np.int64)
        pen = np.where(load >= prep.free, prep.lam, 0)
        gain = prep.ew - pen[prep.ev]
        chosen = np.zeros(len(prep.ev), dtype=bool)
        for t in self.team:
            chosen[list(t.values())] = True
        ok = (
            staffed[prep.ep]
            & (size < prep.hi)[prep.ep]
            & (load < prep.cap)[prep.ev]
            & ~chosen
            & (gain > 0)
        )
        idx = np.flatnonzero(ok)
        order = idx[np.lexsort((prep.ev[idx], prep.ep[idx], -gain[idx]))]
        for e in order.tolist():
            p, v = int(prep.ep[e]), self.ev[e]
            team = self.team[p]
            if len(team) >= self.hi[p] or self.load[v] >= self.cap[v] or v in team:
                continue
            if self.ew[e] - self.pen(v) > 0:
                self._put(p, e)

    def plan(self, staffed: BoolArray) -> _Plan:
        """Return the current teams as a plan."""
        chosen = np.zeros(len(self.ev), dtype=bool)
        for t in self.team:
            chosen[list(t.values())] = True
        return _Plan(chosen, staffed.copy())


def _repair(prep: _Prep, flow: _Plan) -> _Plan:
    """Return a feasible plan from the flow's plan: cover, size, else unstaff; then fill."""
    teams = _Teams(prep, flow.chosen)
    staffed = flow.staffed.copy()
    holders = prep.holders

    def scarcity(p: int) -> tuple[int, int]:
        miss = teams.full[p] & ~teams.cover(p)
        rare = [int(holders[p, j]) for j in range(miss.bit_length()) if (miss >> j) & 1]
        return (min(rare) if rare else 1 << 40, p)

    broken = [
        p
        for p in np.flatnonzero(staffed).tolist()
        if teams.full[p] & ~teams.cover(p) or len(teams.team[p]) < teams.lo[p]
    ]
    for p in sorted(broken, key=scarcity):
        if not teams.repair(p, steal=True):
            teams.release(p)
            staffed[p] = False
    # People freed by unstaffed teams may now staff a project the flow left empty.
    idle = [p for p in np.flatnonzero(prep.active & ~staffed).tolist()]
    for p in sorted(idle, key=scarcity):
        if teams.repair(p, steal=False):
            staffed[p] = True
        else:
            teams.release(p)
    teams.fill(staffed)
    return teams.plan(staffed)


def _flow_and_repair(prep: _Prep) -> tuple[int, _Plan]:
    """Return the better of the two flow bounds and the best repaired plan of the two."""
    # Neither bound dominates: the keyed one sees a contested rare skill, the staircase one
    # sees team sizes; both are cheap next to building the candidates, so use both.
    upper = math.inf
    best: _Plan | None = None
    best_value = 0
    for keyed in (True, False):
        bound, flow_plan = _flow_bound(prep, keyed=keyed)
        upper = min(upper, bound)
        plan = _repair(prep, flow_plan)
        if _violations(prep, plan):
            raise RuntimeError(f"repair produced an infeasible plan: {_violations(prep, plan)}")
        value = _value(prep, plan)[0]
        if best is None or value > best_value:
            best, best_value = plan, value
        if best_value >= upper:  # proven optimal: the second flow cannot help
            break
    assert best is not None
    return int(upper), best


# --------------------------------------------------------------------------- MILP


@dataclass(frozen=True, slots=True)
class _MilpResult:
    status: str
    x: npt.NDArray[np.float64] | None = None
    dual_bound: float | None = None


def _milp_payload(prep: _Prep, extra_rows: bool) -> dict[str, Any]:
    """Return the MILP as plain arrays (picklable for the child process)."""
    n_e = len(prep.ev)
    act = np.flatnonzero(prep.active)
    ycol = np.full(prep.n_p, -1, dtype=np.int64)
    ycol[act] = n_e + np.arange(len(act))
    extra = prep.cap - prep.free
    has_edge = np.bincount(prep.ev, minlength=prep.n_v) > 0
    uv = np.flatnonzero(has_edge & (extra > 0))
    ucol = np.full(prep.n_v, -1, dtype=np.int64)
    ucol[uv] = n_e + len(act) + np.arange(len(uv))
    n_var = n_e + len(act) + len(uv)
    c = np.concatenate((-prep.ew, -prep.bonus[act], np.full(len(uv), prep.lam))).astype(float)
    lb = np.concatenate(
        (
            prep.efix.astype(float),
            (np.bincount(prep.ep[prep.efix], minlength=prep.n_p)[act] > 0).astype(float),
            np.zeros(len(uv)),
        )
    )
    ub = np.concatenate((np.ones(n_e + len(act)), extra[uv].astype(float)))
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[npt.NDArray[np.float64]] = []
    row_lo: list[npt.NDArray[np.float64]] = []
    row_hi: list[npt.NDArray[np.float64]] = []
    n_rows = 0
    e_idx = np.arange(n_e, dtype=np.int64)

    def block(r: IntArray, cidx: IntArray, v: npt.NDArray[np.float64]) -> None:
        rows.append(r + n_rows)
        cols.append(cidx)
        vals.append(v)

    # Capacity: sum_p x_vp - u_v <= free_v.
    vv = np.flatnonzero(has_edge)
    vrow = np.full(prep.n_v, -1, dtype=np.int64)
    vrow[vv] = np.arange(len(vv))
    block(vrow[prep.ev], e_idx, np.ones(n_e))
    block(vrow[uv], ucol[uv], -np.ones(len(uv)))
    row_lo.append(np.full(len(vv), -np.inf))
    row_hi.append(prep.free[vv].astype(float))
    n_rows += len(vv)
    # Team size: sum_v x_vp - hi y_p <= 0 and sum_v x_vp - lo y_p >= 0.
    prow = np.full(prep.n_p, -1, dtype=np.int64)
    prow[act] = np.arange(len(act))
    for bound in ("hi", "lo"):
        block(prow[prep.ep], e_idx, np.ones(n_e))
        size = prep.hi if bound == "hi" else prep.lo
        block(prow[act], ycol[act], -size[act].astype(float))
        row_lo.append(np.full(len(act), -np.inf) if bound == "hi" else np.zeros(len(act)))
        row_hi.append(np.zeros(len(act)) if bound == "hi" else np.full(len(act), np.inf))
        n_rows += len(act)
    # Coverage: sum_{v holds s} x_vp - y_p >= 0 for every required slot s of p.
    n_req = np.array([len(r) for r in prep.req_names], dtype=np.int64)
    base = np.full(prep.n_p, -1, dtype=np.int64)
    base[act] = np.cumsum(n_req[act]) - n_req[act]
    n_cov = int(n_req[act].sum())
    for j in range(prep.holders.shape[1]):
        has = ((prep.ebits >> j) & 1).astype(bool)
        block(base[prep.ep[has]] + j, e_idx[has], np.ones(int(has.sum())))
        pj = act[n_req[act] > j]
        block(base[pj] + j, ycol[pj], -np.ones(len(pj)))
    row_lo.append(np.zeros(n_cov))
    row_hi.append(np.full(n_cov, np.inf))
    n_rows += n_cov
    if extra_rows:
        # x_vp <= y_p: redundant for integers, tightens the LP relaxation.
        block(e_idx, e_idx, np.ones(n_e))
        block(e_idx, ycol[prep.ep], -np.ones(n_e))
        row_lo.append(np.full(n_e, -np.inf))
        row_hi.append(np.zeros(n_e))
        n_rows += n_e
    return {
        "c": c,
        "lb": lb,
        "ub": ub,
        "rows": np.concatenate(rows),
        "cols": np.concatenate(cols),
        "vals": np.concatenate(vals),
        "row_lo": np.concatenate(row_lo),
        "row_hi": np.concatenate(row_hi),
        "shape": (n_rows, n_var),
    }


def _milp_solve(payload: dict[str, Any], deadline: float, mip_gap: float) -> _MilpResult:
    """Solve the MILP with HiGHS; the deadline is on the time.monotonic() clock."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    left = deadline - time.monotonic()
    if left <= 0:
        return _MilpResult("time_limit")
    a = sp.csr_array((payload["vals"], (payload["rows"], payload["cols"])), payload["shape"])
    res = milp(
        payload["c"],
        integrality=np.ones(len(payload["c"])),
        bounds=Bounds(payload["lb"], payload["ub"]),
        constraints=LinearConstraint(a, payload["row_lo"], payload["row_hi"]),
        options={"time_limit": left, "mip_rel_gap": mip_gap, "presolve": True, "disp": False},
    )
    if res.status == 0 and res.x is not None:
        bound = getattr(res, "mip_dual_bound", None)
        return _MilpResult("optimal", np.asarray(res.x), None if bound is None else float(bound))
    return _MilpResult({1: "time_limit", 2: "infeasible"}.get(int(res.status), "error"))


def _milp_worker(conn: Any, payload: dict[str, Any], deadline: float, mip_gap: float) -> None:
    """Child process entry: solve and send the result back."""
    try:
        result = _milp_solve(payload, deadline, mip_gap)
    except Exception:  # the parent falls back to the flow answer
        result = _MilpResult("error")
    conn.send(result)
    conn.close()


def _milp_in_child(payload: dict[str, Any], deadline: float, mip_gap: float) -> _MilpResult:
    """Run the MILP in a spawned child and kill it at the deadline, whatever HiGHS does."""
    ctx = multiprocessing.get_context("spawn")  # no fork: the parent may hold solver threads
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_milp_worker, args=(sender, payload, deadline, mip_gap), daemon=True)
    proc.start()
    sender.close()
    result = _MilpResult("killed")
    try:
        if receiver.poll(max(0.0, deadline - time.monotonic())):
            try:
                result = receiver.recv()
            except EOFError:  # the child died without an answer
                result = _MilpResult("error")
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        receiver.close()
    return result


def _milp_plan(prep: _Prep, x: npt.NDArray[np.float64]) -> _Plan:
    n_e = len(prep.ev)
    act = np.flatnonzero(prep.active)
    staffed = np.zeros(prep.n_p, dtype=bool)
    staffed[act] = x[n_e : n_e + len(act)] > 0.5
    chosen = (x[:n_e] > 0.5) & staffed[prep.ep]
    return _Plan(chosen | prep.efix, staffed)


# --------------------------------------------------------------------------- entry points


def solve_teams(
    problem: TeamProblem,
    *,
    time_limit: float,
    method: Method = "auto",
    mip_gap: float = 1e-4,
    milp_max_edges: int = MILP_MAX_EDGES,
) -> TeamSolution:
    """Form teams; return a feasible plan with its value, upper bound and gap."""
    # time_limit is hard for the MILP (its child is killed at the deadline); the flows and
    # the repair are polynomial and always run to the end (~5 s at 100k x 10k), so that the
    # certified answer never depends on the clock. The MILP child is started with "spawn":
    # as with any spawn, the caller's __main__ must be import-safe (if __name__ guard).
    started = time.perf_counter()
    deadline = time.monotonic() + time_limit
    prep = _prepare(problem)
    # The flow answer comes first, whatever the method: it is the fallback and the bound.
    upper, plan = _flow_and_repair(prep)
    lower = _value(prep, plan)[0]
    n_e = len(prep.ev)
    want = method == "milp" or (method == "auto" and lower < upper and n_e <= milp_max_edges)
    if not want or n_e == 0:
        return _solution(prep, plan, upper, "flow", "not_run", started)
    payload = _milp_payload(prep, extra_rows=False)  # x <= y rows: same LP bound here, slower
    if n_e <= IN_PROCESS_MAX_EDGES:
        result = _milp_solve(payload, deadline, mip_gap)
    else:
        result = _milp_in_child(payload, deadline, mip_gap)
    if result.status != "optimal" or result.x is None:
        return _solution(prep, plan, upper, "flow", result.status, started)
    milp_plan = _milp_plan(prep, result.x)
    if _violations(prep, milp_plan):  # tolerances gone wrong: keep the certified flow answer
        return _solution(prep, plan, upper, "flow", "error", started)
    if result.dual_bound is not None:
        # Minimised -objective; the objective is an integer, so floor the bound (a hair of
        # slack for floating point).
        d = -result.dual_bound
        upper = min(upper, math.floor(d + 1e-9 * abs(d) + 1e-6))
    if _value(prep, milp_plan)[0] < lower:  # HiGHS stopped within mip_gap, below the repair
        return _solution(prep, plan, upper, "flow", result.status, started)
    return _solution(prep, milp_plan, upper, "milp", result.status, started)


def greedy_teams(problem: TeamProblem) -> TeamSolution:
    """Return the greedy baseline: scarcest projects first, rarest skill first, then fill."""
    started = time.perf_counter()
    prep = _prepare(problem)
    teams = _Teams(prep, prep.efix)  # approved pairs are in from the start
    holders = prep.holders
    n_req = [len(r) for r in prep.req_names]

    def scarcity(p: int) -> tuple[int, int, int]:
        rare = [int(holders[p, j]) for j in range(n_req[p])]
        has_fixed = 0 if teams.team[p] else 1  # approved teams first: they must be staffed
        return (has_fixed, min(rare) if rare else 1 << 40, p)

    staffed = np.zeros(prep.n_p, dtype=bool)
    for p in sorted(np.flatnonzero(prep.active).tolist(), key=scarcity):
        ok = True
        for j in sorted(range(n_req[p]), key=lambda s: (int(holders[p, s]), s)):
            if teams.cover(p) >> j & 1:
                continue
            e = _best_by_weight(teams, p, 1 << j)
            if e < 0:
                ok = False
                break
            if len(teams.team[p]) >= teams.hi[p]:
                ok = False
                break
            teams._put(p, e)
        while ok and len(teams.team[p]) < teams.hi[p]:
            e = _best_by_weight(teams, p, 0)
            if e < 0:
                break
            needed = len(teams.team[p]) < teams.lo[p]
            if not needed and teams.ew[e] - teams.pen(teams.ev[e]) <= 0:
                break
            teams._put(p, e)
        if ok and len(teams.team[p]) >= teams.lo[p]:
            staffed[p] = True
        else:
            teams.release(p)
    return _solution(prep, teams.plan(staffed), None, "greedy", "not_run", started)


def _best_by_weight(teams: _Teams, p: int, bit: int) -> int:
    """Return p's free candidate (holding `bit` if set) with the largest net weight, or -1."""
    best, best_key = -1, (0, 0)
    for e in range(teams.pstart[p], teams.pstart[p + 1]):
        v = teams.ev[e]
        if (bit and not teams.bits[e] & bit) or v in teams.team[p] or teams.load[v] >= teams.cap[v]:
            continue
        k = (teams.ew[e] - teams.pen(v), -v)
        if best < 0 or k > best_key:
            best, best_key = e, k
    return best


__all__ = [
    "CandidateEdges",
    "FitSource",
    "Project",
    "TeamProblem",
    "TeamSolution",
    "Unstaffed",
    "Volunteer",
    "candidate_edges",
    "greedy_teams",
    "solve_teams",
]
