"""Seeded synthetic data for team formation: volunteers, projects and a pair-fit source.

Shape (docs/matching.md): 200 skills of Zipf popularity; volunteers hold 1-4 skills drawn
by popularity, projects require 1-3 (demand is a little flatter than supply, so rarer
skills are asked for more often than they are offered); regions on a ring (about 2,000
volunteers each) with neighbours, some people and projects fine with remote work.

The fit is docs/matching.md's pair fit, computed vectorised for every eligible pair:

| component | weight | here |
|---|---|---|
| required-skill coverage | 0.40 | idf-weighted share of the required skills held |
| level / experience | 0.15 | the volunteer's level (0..1), if they hold a required skill |
| optional skills, interest | 0.10 | half share of optional skills, half cause match |
| availability | 0.15 | share of the project's weekly slots the volunteer has |
| location | 0.10 | 1 same region, 0.7 neighbouring, 0.5 remote OK for both |
| spare capacity / exposure | 0.10 | free share of capacity minus recent exposure |
| raised hand | +0.20 | the volunteer asked for this project |

Eligible (the hard rules that matter here): location feasible, and a required skill in
common or a raised hand. Everything is a function of the seed.

`kawasaki()` is the 2017 Kawasaki programme's shape (docs/domain.md): 18 volunteers for 5
groups (two issue workshops, two flyers, one legal advice), one city.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from bot.matching.teams import Project, Volunteer

N_SKILLS = 200
N_FIELDS = 8
VOLS_PER_REGION = 2_000

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(eq=False)
class World:
    """Arrays describing volunteers and projects, and the fit computed from them."""

    skill_names: list[str]
    vsk: I64  # (n_v, w) skill ids, -1 padded
    level: F64
    interests: I64  # bit mask over fields
    vavail: I64  # bit mask over 3 weekly slots
    vregion: I64
    vremote: npt.NDArray[np.bool_]
    capacity: I64
    load: I64
    spare: F64  # the spare-capacity component, exposure included
    req: I64  # (n_p, r) required skill ids, -1 padded
    opt: I64  # (n_p, o) optional skill ids, -1 padded
    field: I64
    pavail: I64
    pregion: I64  # non-decreasing: projects are ordered by region
    premote: npt.NDArray[np.bool_]
    lo: I64
    hi: I64
    hand_v: I64  # raised hands: (volunteer, project) pairs
    hand_p: I64
    n_regions: int

    def __post_init__(self) -> None:
        n_v, n_p = len(self.level), len(self.field)
        self.n_v, self.n_p = n_v, n_p
        rows = np.repeat(np.arange(n_v), self.vsk.shape[1])
        cols = self.vsk.ravel()
        ok = cols >= 0
        self.vs = sp.csr_array(
            (np.ones(int(ok.sum())), (rows[ok], cols[ok])), shape=(n_v, N_SKILLS)
        )
        holders = np.bincount(cols[ok], minlength=N_SKILLS)
        idf = np.log((n_v + 1) / (holders + 1)) + 1.0
        prow = np.repeat(np.arange(n_p), self.req.shape[1])
        pcol = self.req.ravel()
        ok = pcol >= 0
        w = idf[pcol[ok]]
        tot = np.bincount(prow[ok], weights=w, minlength=n_p)
        # rw[s, p] = idf_s / sum of idf over p's required skills: V @ rw is the coverage share.
        self.rw = sp.csc_array((w / tot[prow[ok]], (pcol[ok], prow[ok])), shape=(N_SKILLS, n_p))
        # Volunteers each region's projects can reach in person (the region and neighbours).
        self.local: list[I64] = []
        by_region = [np.flatnonzero(self.vregion == r) for r in range(self.n_regions)]
        for r in range(self.n_regions):
            near = sorted({r, (r - 1) % self.n_regions, (r + 1) % self.n_regions})
            self.local.append(np.sort(np.concatenate([by_region[x] for x in near])))
        self.local_vs = [self.vs[idx] for idx in self.local]
        self.remote_v = np.flatnonzero(self.vremote)
        self.remote_vs = self.vs[self.remote_v]
        self.pstart_region = np.searchsorted(self.pregion, np.arange(self.n_regions + 1))
        order = np.argsort(self.hand_p, kind="stable")
        self.hand_v, self.hand_p = self.hand_v[order], self.hand_p[order]
        self.n_pairs = 0  # eligible pairs seen by fit_block, for the report

    def distance(self, a: I64, b: I64) -> I64:
        """Return the ring distance between regions."""
        d: I64 = np.abs(a - b)
        return np.minimum(d, self.n_regions - d)

    def fit_block(self, p0: int, p1: int) -> Any:
        """Return the fit of every eligible pair for projects [p0, p1), sparse (n_v x b)."""
        rows: list[I64] = []
        cols: list[I64] = []
        vals: list[F64] = []
        ps = np.arange(p0, p1)
        for r in np.unique(self.pregion[p0:p1]).tolist():
            mine = ps[self.pregion[p0:p1] == r]
            m = sp.coo_array(self.local_vs[r] @ self.rw[:, mine])
            rows.append(self.local[r][m.row])
            cols.append(mine[m.col] - p0)
            vals.append(m.data)
        rem = ps[self.premote[p0:p1]]
        if len(rem):
            m = sp.coo_array(self.remote_vs @ self.rw[:, rem])
            v, p = self.remote_v[m.row], rem[m.col]
            far = self.distance(self.vregion[v], self.pregion[p]) > 1  # the rest came above
            rows.append(v[far])
            cols.append(p[far] - p0)
            vals.append(m.data[far])
        v = np.concatenate(rows)
        c = np.concatenate(cols)
        cov = np.concatenate(vals)
        # Raised hands: flag the pairs already there, add the others with no coverage.
        h0, h1 = np.searchsorted(self.hand_p, [p0, p1])
        hkey = np.sort((self.hand_p[h0:h1] - p0) * self.n_v + self.hand_v[h0:h1])
        key = c * self.n_v + v
        hand = np.zeros(len(key), dtype=bool)
        if len(hkey):  # a few hands a block: binary search, not np.isin (it sorts key)
            at = np.minimum(np.searchsorted(hkey, key), len(hkey) - 1)
            hand = hkey[at] == key
        new = ~np.isin(hkey, key[hand])
        v = np.concatenate((v, hkey[new] % self.n_v))
        c = np.concatenate((c, hkey[new] // self.n_v))
        cov = np.concatenate((cov, np.zeros(int(new.sum()))))
        hand = np.concatenate((hand, np.ones(int(new.sum()), dtype=bool)))
        p = c + p0
        dist = self.distance(self.vregion[v], self.pregion[p])
        loc = np.where(dist == 0, 1.0, np.where(dist == 1, 0.7, 0.0))
        both_remote = self.vremote[v] & self.premote[p]
        loc = np.maximum(loc, np.where(both_remote, 0.5, 0.0))
        ok = loc > 0  # hands from people who cannot reach the project are not eligible
        vsk = [self.vsk[v, i] for i in range(self.vsk.shape[1])]
        n_opt = np.zeros(len(v))
        held = np.zeros(len(v))
        for j in range(self.opt.shape[1]):
            o = self.opt[p, j]
            n_opt += o >= 0
            hit = np.zeros(len(v), dtype=bool)
            for col in vsk:  # columns, not .any(axis=1): far faster on short rows
                hit |= col == o
            held += hit & (o >= 0)
        interest = ((self.interests[v] >> self.field[p]) & 1).astype(np.float64)
        opt_share = np.where(n_opt > 0, held / np.maximum(n_opt, 1), interest)
        pa = self.pavail[p]
        avail = _POPCOUNT[self.vavail[v] & pa] / np.maximum(_POPCOUNT[pa], 1)
        fit = (
            0.40 * cov
            + 0.15 * self.level[v] * (cov > 0)
            + 0.10 * (0.5 * opt_share + 0.5 * interest)
            + 0.15 * avail
            + 0.10 * loc
            + 0.10 * self.spare[v]
            + 0.20 * hand
        )
        fit = np.clip(fit, 0.001, 1.0)  # eligible pairs stay positive
        self.n_pairs += int(ok.sum())
        return sp.coo_array((fit[ok], (v[ok], c[ok])), shape=(self.n_v, p1 - p0))

    def dense_fit(self) -> F64:
        """Return the whole fit matrix, dense (small worlds only)."""
        return np.asarray(sp.csc_array(self.fit_block(0, self.n_p)).toarray())

    def volunteers(self) -> list[Volunteer]:
        """Return the volunteers as team formation takes them."""
        return [
            Volunteer(
                id=f"v{i:06d}",
                skills=frozenset(self.skill_names[s] for s in row if s >= 0),
                capacity=int(k),
                load=int(a),
            )
            for i, (row, k, a) in enumerate(
                zip(self.vsk.tolist(), self.capacity.tolist(), self.load.tolist(), strict=True)
            )
        ]

    def projects(self) -> list[Project]:
        """Return the projects as team formation takes them."""
        return [
            Project(
                id=f"p{i:06d}",
                required=frozenset(self.skill_names[s] for s in row if s >= 0),
                lo=int(lo),
                hi=int(hi),
            )
            for i, (row, lo, hi) in enumerate(
                zip(self.req.tolist(), self.lo.tolist(), self.hi.tolist(), strict=True)
            )
        ]


_POPCOUNT = np.array([0, 1, 1, 2, 1, 2, 2, 3], dtype=np.float64)  # 3 weekly slots


def _draw_sets(rng: np.random.Generator, n: int, probs: F64, sizes: I64, width: int) -> I64:
    """Return n rows of up to `width` distinct ids drawn by probs, -1 padded."""
    raw = rng.choice(len(probs), size=(n, width), p=probs)
    raw[np.arange(width)[None, :] >= sizes[:, None]] = -1
    raw.sort(axis=1)
    dup = np.zeros_like(raw, dtype=bool)
    dup[:, 1:] = (raw[:, 1:] == raw[:, :-1]) & (raw[:, 1:] >= 0)
    raw[dup] = -1
    raw = -np.sort(-raw, axis=1)  # ids first, padding last
    return raw


def synth(n_v: int, n_p: int, seed: int = 0) -> World:
    """Return a seeded synthetic world of n_v volunteers and n_p projects."""
    rng = np.random.default_rng([seed, n_v, n_p])
    rank = np.arange(1, N_SKILLS + 1, dtype=np.float64)
    supply = 1.0 / rank
    supply /= supply.sum()
    demand = 1.0 / rank**0.8
    demand /= demand.sum()
    n_regions = max(1, round(n_v / VOLS_PER_REGION))
    vsk = _draw_sets(rng, n_v, supply, rng.choice(4, n_v, p=[0.35, 0.3, 0.2, 0.15]) + 1, 4)
    req = _draw_sets(rng, n_p, demand, rng.choice(3, n_p, p=[0.35, 0.4, 0.25]) + 1, 3)
    opt = _draw_sets(rng, n_p, supply, rng.choice(3, n_p, p=[0.4, 0.4, 0.2]), 2)
    opt[(opt[:, :, None] == req[:, None, :]).any(axis=2)] = -1
    capacity = np.where(rng.random(n_v) < 0.1, 2, 1).astype(np.int64)
    load = np.where((capacity == 2) & (rng.random(n_v) < 0.3), 1, 0).astype(np.int64)
    exposure = np.where(rng.random(n_v) < 0.2, rng.uniform(0, 0.5, n_v), 0.0)
    spare = np.clip((capacity - load) / capacity - exposure, 0.0, 1.0)
    interests = np.zeros(n_v, dtype=np.int64)
    for _ in range(3):
        pick = rng.random(n_v) < 0.6
        interests |= np.where(pick, 1 << rng.integers(0, N_FIELDS, n_v), 0)
    pregion = np.sort(rng.integers(0, n_regions, n_p))
    hi = rng.choice([3, 4, 5], n_p, p=[0.3, 0.4, 0.3]).astype(np.int64)
    lo = np.where(rng.random(n_p) < 0.1, 3, 2).astype(np.int64)
    vregion = rng.integers(0, n_regions, n_v)
    # Raised hands: about 0.3 a project, from people of the project's region.
    n_hands = int(rng.poisson(0.3 * n_p))
    hand_p = rng.integers(0, n_p, n_hands)
    by_region = [np.flatnonzero(vregion == r) for r in range(n_regions)]
    hand_v = np.array(
        [
            by_region[r][rng.integers(0, len(by_region[r]))] if len(by_region[r]) else 0
            for r in pregion[hand_p].tolist()
        ],
        dtype=np.int64,
    )
    key = np.unique(hand_p * n_v + hand_v)
    return World(
        skill_names=[f"s{i:03d}" for i in range(N_SKILLS)],
        vsk=vsk,
        level=rng.beta(2.0, 2.0, n_v),
        interests=interests,
        vavail=rng.integers(1, 8, n_v),
        vregion=vregion,
        vremote=rng.random(n_v) < 0.2,
        capacity=capacity,
        load=load,
        spare=spare,
        req=req,
        opt=opt,
        field=rng.integers(0, N_FIELDS, n_p),
        pavail=rng.integers(1, 8, n_p),
        pregion=pregion,
        premote=rng.random(n_p) < 0.25,
        lo=lo,
        hi=hi,
        hand_v=key % n_v,
        hand_p=key // n_v,
        n_regions=n_regions,
    )


# Kawasaki 2017: five groups and their menus, eighteen volunteers (skills per
# bot.taxonomy.SKILLS_BY_MENU: issue workshop = facilitation + consulting, flyer =
# graphic design + copywriting, legal = law).
KAWASAKI_SKILLS = [
    "facilitation",
    "consulting",
    "graphic_design",
    "copywriting",
    "law",
    "marketing",
    "web",
    "writing",
    "photo_video",
    "accounting",
    "community",
    "labour",
    "social_media",
    "sales",
    "it_cloud",
    "tax",
]
KAWASAKI_GROUPS = [  # こども未来塾, シェアドッグスクール, みどりなくらし, 青丘社, じもたんkids
    ("facilitation", "consulting"),
    ("graphic_design", "copywriting"),
    ("law",),
    ("graphic_design", "copywriting"),
    ("facilitation", "consulting"),
]
KAWASAKI_PEOPLE = [
    ("facilitation", "consulting"),
    ("facilitation",),
    ("consulting", "marketing"),
    ("graphic_design",),
    ("graphic_design", "web"),
    ("copywriting", "writing"),
    ("copywriting", "marketing"),
    ("law",),
    ("law", "labour"),
    ("facilitation", "community"),
    ("graphic_design", "photo_video"),
    ("consulting", "accounting"),
    ("writing", "social_media"),
    ("marketing", "sales"),
    ("web", "it_cloud"),
    ("facilitation", "consulting"),
    ("graphic_design", "copywriting"),
    ("accounting", "tax"),
]


def kawasaki(seed: int = 0) -> World:
    """Return the Kawasaki 2017 shape: 18 volunteers, 5 groups, one city."""
    rng = np.random.default_rng([seed, 2017])
    sid = {s: i for i, s in enumerate(KAWASAKI_SKILLS)}
    n_v, n_p = len(KAWASAKI_PEOPLE), len(KAWASAKI_GROUPS)

    def pad(rows: list[tuple[str, ...]], width: int) -> I64:
        out = np.full((len(rows), width), -1, dtype=np.int64)
        for i, row in enumerate(rows):
            out[i, : len(row)] = [sid[s] for s in row]
        return out

    names = KAWASAKI_SKILLS + [f"x{i:03d}" for i in range(N_SKILLS - len(KAWASAKI_SKILLS))]
    capacity = np.ones(n_v, dtype=np.int64)
    return World(
        skill_names=names,
        vsk=pad(KAWASAKI_PEOPLE, 2),
        level=rng.beta(2.0, 2.0, n_v),
        interests=rng.integers(1, 1 << N_FIELDS, n_v),
        vavail=rng.integers(1, 8, n_v),
        vregion=np.zeros(n_v, dtype=np.int64),
        vremote=rng.random(n_v) < 0.2,
        capacity=capacity,
        load=np.zeros(n_v, dtype=np.int64),
        spare=np.ones(n_v),
        req=pad(KAWASAKI_GROUPS, 2),
        opt=pad([("marketing",), ("web",), (), ("photo_video",), ("community",)], 1),
        field=np.array([3, 7, 5, 1, 3], dtype=np.int64),
        pavail=np.array([4, 2, 1, 4, 6], dtype=np.int64),
        pregion=np.zeros(n_p, dtype=np.int64),
        premote=np.zeros(n_p, dtype=bool),
        lo=np.full(n_p, 2, dtype=np.int64),
        hi=np.full(n_p, 5, dtype=np.int64),
        hand_v=np.array([9], dtype=np.int64),
        hand_p=np.array([4], dtype=np.int64),
        n_regions=1,
    )
