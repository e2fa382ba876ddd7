"""The fit model (bot.matching.fit), areas, and the top-k index against brute force."""

from __future__ import annotations

import inspect
import math
import random
from dataclasses import replace

import pytest

from bot.matching.areas import place, relation
from bot.matching.fit import (
    COMPONENTS,
    DEFAULT_WEIGHTS,
    Fit,
    FitWeights,
    ProjectNeeds,
    VolunteerFeatures,
    eligible,
    idf_table,
    reasons,
    score,
    skill_key,
    skill_keys,
)
from bot.matching.index import SuggestionIndex
from bot.taxonomy import SKILLS_BY_MENU


def person(id: int = 1, **kw: object) -> VolunteerFeatures:
    """A consented, active volunteer in Hachioji who fits an accounting project."""
    base: dict[str, object] = {
        "skills": frozenset({"accounting"}),
        "area": "八王子市",
        "mode": "either",
        "slots": frozenset({"weekend"}),
        "hours_per_week": 3,
        "interests": frozenset({"children"}),
        "experience_years": 10,
        "consented": True,
    }
    base.update(kw)
    return VolunteerFeatures(id, **base)  # type: ignore[arg-type]


def project(id: int = 7, **kw: object) -> ProjectNeeds:
    """An accounting project of group 3 in Hachioji, in person or online."""
    base: dict[str, object] = {
        "required": frozenset({"accounting"}),
        "area": "八王子市",
        "mode": "either",
        "hours_per_week": 3,
        "fields": frozenset({"children"}),
    }
    base.update(kw)
    return ProjectNeeds(id, 3, ("accounting",), **base)  # type: ignore[arg-type]


FLAT: dict[str, float] = {}  # every skill counts 1


# ---- words: skills and places ----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["経理", "会計", "bookkeeping", "簿記", "ＢＯＯＫＫＥＥＰＩＮＧ", "会計・経理", "経理業務"],
)
def test_accounting_synonyms(text: str) -> None:
    assert skill_key(text) == "accounting"


@pytest.mark.parametrize(
    "text", ["Web制作", "ホームページ", "website", "ＷＥＢ 制作", "ウェブ", "HP制作"]
)
def test_web_synonyms(text: str) -> None:
    assert skill_key(text) == "web"


def test_unknown_skill_and_lists() -> None:
    assert skill_key("料理") is None
    assert skill_keys("経理、Web制作 / 翻訳") == ("accounting", "web", "translation")


def test_features_normalise_what_people_typed() -> None:
    v = person(
        skills=frozenset({"経理", "ホームページ"}),
        slots=frozenset({"週末", "平日の夜"}),
        interests=frozenset({"子ども"}),
        mode="リモート",
        hours_per_week=500,
    )
    assert v.skills == {"accounting", "web"}
    assert v.slots == {"weekend", "weekday_evening"}
    assert v.interests == {"children"}
    assert v.mode == "online"
    assert v.hours_per_week == 168


def test_needs_from_menus_default_and_override() -> None:
    p = ProjectNeeds.from_menus(1, 2, ["website"])
    assert p.required == set(SKILLS_BY_MENU["website"]) == {"web", "writing"}
    assert p.optional and not (p.optional & p.required)
    edited = ProjectNeeds.from_menus(1, 2, ["website"], required=["Web制作", "経理"], optional=[])
    assert edited.required == {"web", "accounting"}
    assert edited.optional == frozenset()


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("川崎市中原区", "川崎市", "same"),
        ("神奈川県川崎市高津区", "Kawasaki", "same"),
        ("Nakahara-ku, Kawasaki", "川崎市中原区", "same"),
        ("中原区", "川崎市麻生区", "same"),
        ("Hachioji", "東京都八王子市", "same"),
        ("Hachiōji-shi", "八王子", "same"),
        ("八王子市", "日野市", "neighbour"),
        ("相模原市緑区", "八王子市", "neighbour"),
        ("和光市", "板橋区", "neighbour"),
        ("仙台市青葉区", "八王子市", "none"),
        ("大阪市北区", "大阪市", "same"),  # unknown: exact normalised name
        ("大阪市", "堺市", "none"),
        ("Osaka", "大阪市", "none"),  # unknown romaji has no reading
        ("宮城県柴田郡川崎町", "川崎市", "none"),
        ("", "", "none"),
    ],
)
def test_area_relation(a: str, b: str, expected: str) -> None:
    assert relation(a, b) == expected
    assert relation(b, a) == expected


def test_place_labels() -> None:
    assert place("川崎市 中原区").label("ja") == "川崎市中原区"
    assert place("川崎市中原区").label("en") == "Nakahara-ku, Kawasaki"
    assert place("はちおうじ").label("en") == "Hachioji"


# ---- hard rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("v", "p", "rule"),
    [
        (person(status="paused"), project(), "paused"),
        (person(status="inactive"), project(), "inactive"),
        (person(consented=False), project(), "no_consent"),
        (person(active_projects=1, capacity=1), project(), "at_capacity"),
        (person(declined_projects=frozenset({7})), project(), "declined"),
        (person(rejected_projects=frozenset({7})), project(), "rejected"),
        (person(), project(exclude=frozenset({1})), "excluded"),
        (person(blocked_orgs=frozenset({3})), project(), "blocked"),
        (person(org_ids=frozenset({3})), project(), "member"),
        (person(mode="in_person"), project(mode="online"), "mode"),
        (person(mode="online"), project(mode="in_person"), "mode"),
        (person(area="仙台市", mode="either"), project(mode="in_person"), "too_far"),
        (person(area="仙台市", mode="in_person"), project(mode="either"), "too_far"),
        (person(skills=frozenset({"web"})), project(), "no_skill"),
    ],
)
def test_each_hard_rule(v: VolunteerFeatures, p: ProjectNeeds, rule: str) -> None:
    assert eligible(v, p) == (False, rule)


def test_passing_the_rules() -> None:
    assert eligible(person(), project()) == (True, "ok")
    assert eligible(person(active_projects=1, capacity=2), project()) == (True, "ok")
    # neighbouring is near enough for in person; far is fine online
    assert eligible(person(area="日野市", mode="in_person"), project(mode="in_person"))[0]
    assert eligible(person(area="仙台市", mode="online"), project(mode="either"))[0]
    # a raised hand opens the skill gate, nothing else
    hand = person(skills=frozenset({"web"}), raised_hands=frozenset({7}))
    assert eligible(hand, project()) == (True, "ok")
    assert eligible(replace(hand, status="paused"), project()) == (False, "paused")
    # ... with an interest in the group's field: a raised hand alone is no reason
    assert eligible(replace(hand, interests=frozenset({"environment"})), project()) == (
        False,
        "no_skill",
    )
    assert eligible(replace(hand, interests=frozenset()), project(fields=frozenset()))[0]
    # no required skills: the optional ones gate; none at all: everyone passes
    assert eligible(person(), project(required=frozenset(), optional=frozenset({"web"})))[1] == (
        "no_skill"
    )
    assert eligible(person(), project(required=frozenset()))[0]


# ---- components ------------------------------------------------------------------


def part(fit: Fit, name: str) -> float:
    return fit.component(name).value


def test_required_coverage_is_idf_weighted() -> None:
    p = project(required=frozenset({"accounting", "tax"}))
    idf = {"accounting": 1.0, "tax": 3.0}
    assert part(score(person(skills=frozenset({"tax"})), p, idf), "required") == 0.75
    assert part(score(person(), p, idf), "required") == 0.25
    both = person(skills=frozenset({"accounting", "tax"}))
    assert part(score(both, p, idf), "required") == 1.0


def test_idf_counts_rare_skills_more() -> None:
    people = [person(i, skills=frozenset({"writing"})) for i in range(9)] + [
        person(9, skills=frozenset({"law"}))
    ]
    idf = idf_table(people)
    assert idf["law"] > idf["writing"] > 0
    assert idf["tax"] == pytest.approx(math.log(11) + 1)


def test_experience() -> None:
    assert part(score(person(experience_years=5), project(), FLAT), "experience") == 0.5
    assert part(score(person(experience_years=30), project(), FLAT), "experience") == 1.0
    assert part(score(person(experience_years=0), project(), FLAT), "experience") == 0.0


def test_optional_skills_and_interest() -> None:
    p = project(optional=frozenset({"tax", "it_cloud"}))
    v = person(skills=frozenset({"accounting", "tax"}))
    assert part(score(v, p, FLAT), "optional_interest") == 0.5 * 0.5 + 0.5 * 1.0
    assert part(score(replace(v, interests=frozenset()), p, FLAT), "optional_interest") == 0.25
    # no optional skills: the interest match counts fully
    assert part(score(person(), project(), FLAT), "optional_interest") == 1.0
    no_match = person(interests=frozenset({"animals"}))
    assert part(score(no_match, project(), FLAT), "optional_interest") == 0.0


def test_availability() -> None:
    p = project(slots=frozenset({"weekend", "weekday_evening"}), hours_per_week=4)
    v = person(slots=frozenset({"weekend"}), hours_per_week=2)
    assert part(score(v, p, FLAT), "availability") == 0.5 * 0.5 + 0.5 * 0.5
    full = person(slots=frozenset({"weekend", "weekday_evening"}), hours_per_week=8)
    assert part(score(full, p, FLAT), "availability") == 1.0
    # no preferred slots: any slot counts
    assert part(score(v, project(hours_per_week=2), FLAT), "availability") == 1.0


def test_location() -> None:
    w = DEFAULT_WEIGHTS
    assert part(score(person(area="八王子"), project(), FLAT), "location") == w.location_same
    near = score(person(area="日野市"), project(), FLAT)
    assert (part(near, "location"), near.location) == (w.location_neighbour, "neighbour")
    far = score(person(area="仙台市"), project(), FLAT)
    assert (part(far, "location"), far.location) == (w.location_remote, "remote")
    stuck = score(person(area="仙台市", mode="in_person"), project(), FLAT)
    assert part(stuck, "location") == 0.0


def test_capacity_and_fairness() -> None:
    fresh = part(score(person(), project(), FLAT), "capacity")
    asked = part(score(person(invited_count=3), project(), FLAT), "capacity")
    declined = person(invited_count=3, recent_invites=2, recent_declines=1)
    assert fresh == 1.0
    assert asked == 0.5 + 0.5 * 0.7
    assert part(score(declined, project(), FLAT), "capacity") == pytest.approx(0.5 + 0.5 * 0.3)
    busy = person(capacity=2, active_projects=1)
    assert part(score(busy, project(), FLAT), "capacity") == 0.5 * 0.5 + 0.5


def test_total_is_the_sum_and_raised_hand_adds_a_bonus() -> None:
    fit = score(person(), project(), FLAT)
    parts = [fit.component(name).contribution for name in COMPONENTS]
    assert fit.total == pytest.approx(sum(parts)) == pytest.approx(1.0)
    raised = score(person(raised_hands=frozenset({7})), project(), FLAT)
    assert raised.raised_hand
    assert raised.total == pytest.approx(fit.total + DEFAULT_WEIGHTS.raised_hand)
    assert fit.as_dict()["total"] == 1.0


def test_weights_are_one_documented_object() -> None:
    w = DEFAULT_WEIGHTS
    assert sum(w.weight(name) for name in COMPONENTS) == pytest.approx(1.0)
    assert (w.required, w.experience, w.optional_interest, w.raised_hand) == (0.4, 0.15, 0.1, 0.2)
    assert FitWeights.from_mapping({"required": 0.5}).required == 0.5
    with pytest.raises(ValueError, match="unknown"):
        FitWeights.from_mapping({"requierd": 0.5})
    lines = inspect.getsource(FitWeights).splitlines()
    for name in w.as_dict():  # every number is documented right under its field
        at = next(i for i, line in enumerate(lines) if line.startswith(f"    {name}: "))
        assert lines[at + 1].strip().startswith('"""'), name


# ---- reasons and the breakdown ---------------------------------------------------


def test_reasons_in_japanese_and_english() -> None:
    v = person(experience_years=3, invited_count=1)
    p = project(slots=frozenset({"weekend"}))
    fit = score(v, p, FLAT)
    ja = reasons(fit, v, p, "ja", limit=10)
    en = reasons(fit, v, p, "en", limit=10)
    assert ja[0] == "会計・経理のスキルが一致"  # the largest contribution comes first
    for text in (
        "八王子市在住",
        "週末に活動可",
        "関心分野: 福祉（子ども）が一致",
        "会計・経理の経験3年",
    ):
        assert text in ja
    assert en[0] == "Skills match: Accounting"
    for text in ("Lives in Hachioji", "Available weekends", "Interested in Children's welfare"):
        assert text in en
    assert reasons(fit, v, p, "ja") == ja[:3]


def test_reasons_neighbour_online_raised_hand() -> None:
    near = person(area="日野市", raised_hands=frozenset({7}))
    fit = score(near, project(), FLAT)
    assert "近隣の日野市在住" in reasons(fit, near, project(), "ja", limit=10)
    assert "本人が立候補" in reasons(fit, near, project(), "ja", limit=3)
    assert "Raised their hand for this project" in reasons(fit, near, project(), "en")
    far = person(area="仙台市")
    fit = score(far, project(), FLAT)
    assert "オンラインで参加可" in reasons(fit, far, project(), "ja", limit=10)
    assert "Can take part online" in reasons(fit, far, project(), "en", limit=10)


def test_breakdown_for_coordinators() -> None:
    v = person(raised_hands=frozenset({7}))
    p = project(required=frozenset({"accounting", "tax"}))
    fit = score(v, p, FLAT)
    ja = fit.breakdown("ja")
    assert ja[0] == "必要スキル 0.20/0.40（2件中1件を保有: 会計・経理 / 不足: 税務）"
    assert "経験 0.15/0.15（10年）" in ja
    assert "立候補 +0.20" in ja
    assert ja[-1] == f"合計 {fit.total:.2f}"
    en = fit.breakdown("en")
    assert en[0] == "Required skills 0.20/0.40 (holds 1 of 2: Accounting; missing: Tax)"
    assert en[-1].startswith("Total ")
    assert fit.summary("ja").startswith("必要スキル 0.20 / 経験 0.15 / ")
    assert "立候補" not in score(person(), p, FLAT).summary("ja")


# ---- the index -------------------------------------------------------------------


def test_raised_hands_first_then_score_then_id() -> None:
    strong = [person(i, experience_years=20) for i in (5, 3, 4)]
    weak_hand = person(9, skills=frozenset({"web"}), experience_years=0, raised_hands={7})
    index = SuggestionIndex.build([*strong, weak_hand])
    top = index.top(project(), k=3)
    assert [s.volunteer_id for s in top] == [9, 3, 4]
    assert top[0].raised_hand and not top[1].raised_hand
    assert top[0].reasons("ja")[0] == "本人が立候補"


def test_index_keeps_fresh_with_upsert_and_remove() -> None:
    index = SuggestionIndex.build([person(1), person(2)])
    assert [s.volunteer_id for s in index.top(project())] == [1, 2]
    index.upsert(person(1, status="paused"))
    index.upsert(person(3, declined_projects=frozenset({7})))
    assert [s.volunteer_id for s in index.top(project())] == [2]
    assert index.remove(2) and not index.remove(2)
    index.upsert(person(4, skills=frozenset({"tax"})))
    index.upsert(person(5, skills=frozenset({"経理"})))
    assert [s.volunteer_id for s in index.top(project())] == [5]
    assert len(index) == 4 and 2 not in index


AREAS = ("川崎市中原区", "Kawasaki", "八王子市", "Hachioji", "日野市", "仙台市", "大阪市", "")
SKILL_POOL = ("accounting", "tax", "web", "writing", "graphic_design", "law", "会計", "翻訳")


def population(rng: random.Random, n: int) -> list[VolunteerFeatures]:
    def some(pool: tuple[str, ...], most: int) -> frozenset[str]:
        return frozenset(rng.sample(pool, rng.randint(0, most)))

    out = []
    for _ in range(n):
        out.append(
            VolunteerFeatures(
                id=rng.randint(1, 10 * n),
                skills=some(SKILL_POOL, 3),
                area=rng.choice(AREAS),
                mode=rng.choice(("online", "in_person", "either")),
                slots=some(("weekday_day", "weekday_evening", "weekend"), 2),
                hours_per_week=rng.choice((0, 1, 2, 3, 5, 10)),
                interests=some(("children", "elderly", "environment"), 2),
                experience_years=rng.choice((0, 2, 5, 10, 15)),
                active_projects=rng.choice((0, 0, 0, 1)),
                capacity=rng.choice((1, 1, 2)),
                status=rng.choice(("active",) * 8 + ("paused", "inactive")),
                consented=rng.random() < 0.95,
                invited_count=rng.choice((0, 0, 1, 3)),
                recent_invites=rng.choice((0, 1)),
                recent_declines=rng.choice((0, 0, 1)),
                raised_hands=frozenset({rng.randint(1, 20)})
                if rng.random() < 0.05
                else frozenset(),
                declined_projects=frozenset({rng.randint(1, 20)})
                if rng.random() < 0.1
                else frozenset(),
                rejected_projects=frozenset({rng.randint(1, 20)})
                if rng.random() < 0.05
                else frozenset(),
                org_ids=frozenset({rng.randint(1, 5)}) if rng.random() < 0.05 else frozenset(),
                blocked_orgs=frozenset({rng.randint(1, 5)}) if rng.random() < 0.02 else frozenset(),
            )
        )
        if rng.random() < 0.1:  # a twin with another id: ties must go to the lower id
            out.append(replace(out[-1], id=rng.randint(1, 10 * n)))
    return out


def projects(rng: random.Random, n: int) -> list[ProjectNeeds]:
    menus = [m for m in SKILLS_BY_MENU if m != "other"]
    out = []
    for i in range(1, n + 1):
        chosen = rng.sample(menus, rng.randint(1, 2))
        out.append(
            ProjectNeeds.from_menus(
                i,
                rng.randint(1, 5),
                chosen,
                required=None if rng.random() < 0.7 else frozenset(rng.sample(SKILL_POOL, 2)),
                area=rng.choice(AREAS[:-1]),
                mode=rng.choice(("online", "in_person", "either")),
                hours_per_week=rng.choice((0, 2, 3, 5)),
                slots=frozenset(
                    rng.sample(("weekday_day", "weekday_evening", "weekend"), rng.randint(0, 2))
                ),
                fields=frozenset(
                    rng.sample(("children", "elderly", "environment"), rng.randint(0, 2))
                ),
                exclude=frozenset({rng.randint(1, 5000)}),
            )
        )
    out.append(ProjectNeeds(n + 1, 1, (), area="八王子市"))  # no skills at all
    return out


def brute_force(
    people: list[VolunteerFeatures], p: ProjectNeeds, idf: dict[str, float], k: int
) -> list[Fit]:
    """Every eligible person scored in a plain loop, sorted as the index promises."""
    fits = [score(v, p, idf) for v in people if eligible(v, p)[0]]
    fits.sort(key=lambda f: (not f.raised_hand, -f.points, f.volunteer_id))
    return fits[:k]


def test_index_agrees_with_brute_force() -> None:
    rng = random.Random(20261122)
    people = population(rng, 1200)
    index = SuggestionIndex(capacity=16)  # grows as it goes
    for v in people:
        index.upsert(v)
    current = {v.id: v for v in people}  # a later duplicate id replaces an earlier one
    for v in rng.sample(people, 200):  # some leave, freeing rows for others
        current.pop(v.id, None)
        index.remove(v.id)
    for v in population(random.Random(5), 150):
        index.upsert(v)
        current[v.id] = v
    alive = list(current.values())
    assert len(index) == len(alive)
    idf = index.idf()
    for skill, value in idf_table(alive).items():
        assert idf[skill] == pytest.approx(value)
    for p in projects(rng, 25):
        expected = brute_force(alive, p, idf, 10)
        got = index.top(p, k=10)
        assert [(f.volunteer_id, f.total) for f in expected] == [
            (s.volunteer_id, s.total) for s in got
        ], p
        assert [s.fit for s in got] == expected


def test_determinism_whatever_the_insertion_order() -> None:
    rng = random.Random(3)
    people = list({v.id: v for v in population(rng, 400)}.values())
    shuffled = people[:]
    random.Random(4).shuffle(shuffled)
    a, b = SuggestionIndex.build(people), SuggestionIndex.build(shuffled)
    for p in projects(rng, 10):
        assert [s.volunteer_id for s in a.top(p, 15)] == [s.volunteer_id for s in b.top(p, 15)]
        assert [s.reasons("en") for s in a.top(p)] == [s.reasons("en") for s in b.top(p)]


# ---- translation is a language pair ----------------------------------------------


def test_translation_counts_only_with_the_needed_language() -> None:
    p = project(required=frozenset({"translation"}), languages=frozenset({"en"}))
    assert p.required == frozenset({"translation:en"}) and p.gate == p.required
    english = person(1, skills=frozenset({"translation"}), languages=frozenset({"en", "zh"}))
    chinese = person(2, skills=frozenset({"translation"}), languages=frozenset({"zh"}))
    assert eligible(english, p) == (True, "ok")
    assert eligible(chinese, p) == (False, "no_skill")
    fit = score(english, p, FLAT)
    assert fit.matched_required == ("translation:en",)
    assert reasons(fit, english, p, "ja")[0] == "翻訳（英語）が一致"
    assert reasons(fit, english, p, "en")[0] == "Translation (English) matches"
    assert "2件中" not in fit.breakdown("ja")[0] and "翻訳（英語）" in fit.breakdown("ja")[0]
    # Without a language on the request, any translator fits.
    anyone = project(required=frozenset({"translation"}))
    assert eligible(chinese, anyone) == (True, "ok")
    # Two languages: each is a skill the team must cover; one translator covers half.
    both = project(required=frozenset({"translation", "web"}), languages=frozenset({"en", "vi"}))
    assert both.required == frozenset({"translation:en", "translation:vi", "web"})
    assert score(english, both, FLAT).component("required").value == pytest.approx(1 / 3)
    index = SuggestionIndex.build([english, chinese])
    assert [s.volunteer_id for s in index.top(p)] == [1]
    assert index.top(p)[0].reasons("en")[0] == "Translation (English) matches"
    mixed = project(required=frozenset({"translation", "accounting"}), languages={"en"})
    both_skills = person(3, skills={"translation", "accounting"}, languages={"en"})
    fit = score(both_skills, mixed, FLAT)
    assert reasons(fit, both_skills, mixed, "ja")[0] == (
        "会計・経理のスキルが一致、翻訳（英語）が一致"
    )
