"""Synthetic volunteers and projects for the matching benchmarks (deterministic, seeded).

Volunteers: skills Zipf-distributed over the taxonomy (1 to 5 each), areas from a
few cities with most people in Kawasaki (typed as people type them: wards, with or
without the prefecture, romaji), weekly slots, hours, modes, interests, experience,
load, invitation history, a few raised hands, declines, group members and blocks.
Projects: one or two support menus (skills from SKILLS_BY_MENU), a group, an area,
mode, hours, preferred slots and the group's fields.

    python bench/synth_people.py            # prints a summary of 100,000 volunteers
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bot.matching.fit import ProjectNeeds, VolunteerFeatures  # noqa: E402
from bot.taxonomy import MENUS  # noqa: E402

SEED = 20261122

# Skills in popularity order (rank 1 most common); Zipf with exponent 1.
SKILL_RANKING: tuple[str, ...] = (
    "writing", "marketing", "web", "consulting", "it_cloud", "sales", "presentation",
    "graphic_design", "facilitation", "accounting", "social_media", "training",
    "photo_video", "translation", "community", "copywriting", "labour", "fundraising",
    "it_security", "law", "tax", "architecture", "other",
)  # fmt: skip
INTEREST_RANKING: tuple[str, ...] = (
    "children", "community", "elderly", "parenting", "environment", "education",
    "disaster", "disability", "international", "health", "animals", "sports", "other",
)  # fmt: skip

# (share of people, ways they write the place)
AREAS: tuple[tuple[float, tuple[str, ...]], ...] = (
    (
        0.40,
        (
            "川崎市中原区", "川崎市高津区", "川崎市宮前区", "神奈川県川崎市多摩区", "川崎市麻生区",
            "川崎市川崎区", "川崎市幸区", "川崎市", "Kawasaki", "Nakahara-ku, Kawasaki",
        ),
    ),
    (0.18, ("八王子市", "東京都八王子市", "八王子", "Hachioji")),
    (0.10, ("日野市", "町田市", "多摩市", "あきる野市", "相模原市緑区", "昭島市")),
    (0.06, ("横浜市", "横浜市港北区")),
    (0.08, ("仙台市青葉区", "仙台市泉区", "宮城県仙台市太白区", "Sendai")),
    (0.05, ("和光市", "埼玉県和光市")),
    (0.02, ("朝霞市", "板橋区", "練馬区")),
    (0.06, ("千葉市美浜区", "千葉市中央区", "千葉県千葉市稲毛区", "市原市")),
    (0.05, ("大阪市北区", "福岡市中央区", "札幌市", "名古屋市", "Osaka")),
)  # fmt: skip
PROJECT_AREAS: tuple[str, ...] = (
    "川崎市", "川崎市中原区", "八王子市", "仙台市", "和光市", "千葉市", "日野市", "横浜市",
)  # fmt: skip
PROJECT_AREA_SHARE = (0.40, 0.10, 0.20, 0.10, 0.06, 0.06, 0.04, 0.04)
MENU_KEYS: tuple[str, ...] = tuple(m.key for m in MENUS if m.key != "other")
MENU_SHARE = np.array([12, 3, 14, 14, 10, 6, 5, 6, 9, 6, 5, 3], dtype=np.float64)
SLOTS = ("weekday_day", "weekday_evening", "weekend")
HOURS = np.array([1, 2, 3, 4, 5, 6, 8, 10])
HOURS_SHARE = np.array([0.10, 0.20, 0.25, 0.15, 0.12, 0.06, 0.07, 0.05])
N_ORGS = 500


def _zipf(n: int, exponent: float = 1.0) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** exponent
    return p / p.sum()


def _top_k_without_replacement(
    rng: np.random.Generator, p: np.ndarray, counts: np.ndarray
) -> list[tuple[int, ...]]:
    """For each row, `counts[i]` distinct indices drawn with probabilities p (Gumbel top-k)."""
    keys = np.log(p)[None, :] + rng.gumbel(size=(len(counts), len(p)))
    order = np.argsort(-keys, axis=1)
    return [tuple(sorted(order[i, : counts[i]].tolist())) for i in range(len(counts))]


def volunteers(
    n: int = 100_000, seed: int = SEED, n_projects: int = 200
) -> list[VolunteerFeatures]:
    """`n` synthetic volunteers with ids 1..n, the same for the same seed."""
    rng = np.random.default_rng(seed)
    shared: dict[tuple[str, ...], frozenset[str]] = {}

    def interned(keys: Sequence[str]) -> frozenset[str]:
        key = tuple(keys)
        found = shared.get(key)
        if found is None:
            found = shared[key] = frozenset(keys)
        return found

    n_skills = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.30, 0.35, 0.22, 0.10, 0.03])
    skill_sets = _top_k_without_replacement(rng, _zipf(len(SKILL_RANKING)), n_skills)
    n_interests = rng.choice([1, 2, 3], size=n, p=[0.45, 0.40, 0.15])
    interest_sets = _top_k_without_replacement(rng, _zipf(len(INTEREST_RANKING), 0.8), n_interests)
    area_group = rng.choice(len(AREAS), size=n, p=[share for share, _ in AREAS])
    area_pick = rng.integers(0, 1_000_000, size=n)
    modes = rng.choice(["online", "in_person", "either"], size=n, p=[0.30, 0.15, 0.55])
    slot_bits = rng.random((n, 3)) < np.array([0.30, 0.50, 0.60])
    hours = rng.choice(HOURS, size=n, p=HOURS_SHARE)
    experience = np.minimum(rng.gamma(2.0, 5.0, size=n).astype(int), 45)
    capacity = rng.choice([1, 2, 3], size=n, p=[0.85, 0.13, 0.02])
    active = np.minimum(rng.choice([0, 1, 2], size=n, p=[0.80, 0.17, 0.03]), capacity)
    status = rng.choice(["active", "paused", "inactive"], size=n, p=[0.92, 0.05, 0.03])
    consented = rng.random(n) < 0.99
    invited = rng.poisson(0.7, size=n)
    recent = rng.binomial(invited, 0.4)
    declines = rng.binomial(recent, 0.3)
    raised = rng.random(n) < 0.005
    declined = (invited > 0) & (rng.random(n) < 0.2)
    rejected = rng.random(n) < 0.01
    member = rng.random(n) < 0.02
    blocked = rng.random(n) < 0.001
    project_pick = rng.integers(1, n_projects + 1, size=(n, 3))
    org_pick = rng.integers(1, N_ORGS + 1, size=(n, 2))

    out = []
    for i in range(n):
        places = AREAS[area_group[i]][1]
        out.append(
            VolunteerFeatures(
                id=i + 1,
                skills=interned([SKILL_RANKING[j] for j in skill_sets[i]]),
                area=places[area_pick[i] % len(places)],
                mode=str(modes[i]),
                slots=interned([s for s, on in zip(SLOTS, slot_bits[i], strict=True) if on]),
                hours_per_week=int(hours[i]),
                interests=interned([INTEREST_RANKING[j] for j in interest_sets[i]]),
                experience_years=int(experience[i]),
                active_projects=int(active[i]),
                capacity=int(capacity[i]),
                status=str(status[i]),
                consented=bool(consented[i]),
                invited_count=int(invited[i]),
                recent_invites=int(recent[i]),
                recent_declines=int(declines[i]),
                raised_hands=frozenset({int(project_pick[i, 0])}) if raised[i] else frozenset(),
                declined_projects=(
                    frozenset({int(project_pick[i, 1])}) if declined[i] else frozenset()
                ),
                rejected_projects=(
                    frozenset({int(project_pick[i, 2])}) if rejected[i] else frozenset()
                ),
                org_ids=frozenset({int(org_pick[i, 0])}) if member[i] else frozenset(),
                blocked_orgs=frozenset({int(org_pick[i, 1])}) if blocked[i] else frozenset(),
            )
        )
    return out


def projects(n: int = 200, seed: int = SEED + 1) -> list[ProjectNeeds]:
    """`n` synthetic projects with ids 1..n, skills from their menus."""
    rng = np.random.default_rng(seed)
    menu_p = MENU_SHARE / MENU_SHARE.sum()
    out = []
    for i in range(n):
        n_menus = 1 if rng.random() < 0.75 else 2
        menus = rng.choice(len(MENU_KEYS), size=n_menus, replace=False, p=menu_p)
        n_slots = rng.choice([0, 1, 2], p=[0.5, 0.35, 0.15])
        slots = rng.choice(SLOTS, size=n_slots, replace=False) if n_slots else []
        fields = rng.choice(INTEREST_RANKING[:10], size=rng.integers(1, 3), replace=False)
        out.append(
            ProjectNeeds.from_menus(
                i + 1,
                int(rng.integers(1, N_ORGS + 1)),
                [MENU_KEYS[j] for j in sorted(menus)],
                area=str(rng.choice(PROJECT_AREAS, p=PROJECT_AREA_SHARE)),
                mode=str(rng.choice(["in_person", "online", "either"], p=[0.30, 0.25, 0.45])),
                hours_per_week=int(rng.integers(2, 6)),
                slots=frozenset(str(s) for s in slots),
                fields=frozenset(str(f) for f in fields),
            )
        )
    return out


def reference_project() -> ProjectNeeds:
    """The benchmark's "one project": a Kawasaki group's website (Jimdo/WIX) project."""
    return ProjectNeeds.from_menus(
        1,
        1,
        ["website"],
        area="川崎市",
        mode="either",
        hours_per_week=3,
        slots=frozenset({"weekend"}),
        fields=frozenset({"children"}),
    )


def main() -> None:
    """Print a summary of the synthetic population."""
    people = volunteers()
    skills = Counter(s for v in people for s in v.skills)
    print(f"{len(people):,} volunteers; skills per person {sum(skills.values()) / len(people):.2f}")
    for skill, count in skills.most_common():
        print(f"  {skill:15} {count:7,}")
    print("statuses", Counter(v.status for v in people))
    print("modes", Counter(v.mode for v in people))


if __name__ == "__main__":
    main()
