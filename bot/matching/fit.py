"""The fit of one volunteer for one project: hard rules, a scored breakdown, reasons.

The model is docs/matching.md's pair fit. Hard rules (`eligible`) are filters and are
never traded off. Among the eligible, `score` adds six components, each a value in
0..1 times its weight from `FitWeights` (weights sum to 1, so the total is in 0..1),
plus a bonus when the volunteer raised their hand for the project:

| component | value |
|---|---|
| required | idf-weighted share of the required skills held (rare skills count more) |
| experience | years of experience against `experience_full_years` (capped at 1) |
| optional_interest | share of optional skills held; an interest matching the group's field |
| availability | share of the project's preferred weekly slots held; hours against its load |
| location | 1 same municipality, 0.7 neighbouring, 0.5 both accept online, else 0 |
| capacity | free capacity; fairness (never invited: full, recent invites/declines: less) |

Everything here works on plain dataclasses; the caller maps database rows to
`VolunteerFeatures` and `ProjectNeeds`. `bot.matching.index` computes the same
numbers vectorised; both paths must stay in step (tests/test_fit.py checks that).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from bot.conversation.fields import Option
from bot.i18n import T, fold, join_list
from bot.matching.areas import Relation, place, relation
from bot.taxonomy import (
    AVAILABILITY,
    INTERESTS,
    LANGUAGE_SKILLS,
    MODES,
    SKILLS,
    SKILLS_BY_MENU,
    TRANSLATION,
    label,
    needing_languages,
    skill_label,
    with_languages,
)

EMPTY: frozenset[str] = frozenset()
NO_IDS: frozenset[int] = frozenset()

COMPONENTS: tuple[str, ...] = (
    "required",
    "experience",
    "optional_interest",
    "availability",
    "location",
    "capacity",
)
RAISED_HAND = "raised_hand"
HOURS_IN_WEEK = 168
SLOTS: tuple[str, ...] = tuple(option.key for option in AVAILABILITY)

Rule = Literal[
    "ok",
    "paused",
    "inactive",
    "no_consent",
    "at_capacity",
    "declined",
    "rejected",
    "excluded",
    "blocked",
    "member",
    "mode",
    "too_far",
    "no_skill",
]
LocationKind = Literal["same", "neighbour", "remote", "none"]


@dataclass(frozen=True, slots=True)
class FitWeights:
    """Every number of the fit model in one place (defaults from docs/matching.md).

    Build it once from configuration (`FitWeights.from_mapping`) and pass it in; the
    six component weights should sum to 1 so that a total reads as a share.
    """

    required: float = 0.40
    """Weight of required-skill coverage: idf-weighted share of required skills held."""
    experience: float = 0.15
    """Weight of experience: years against `experience_full_years`."""
    optional_interest: float = 0.10
    """Weight of optional skills held and a match between interests and the group's field."""
    availability: float = 0.15
    """Weight of availability: overlap of weekly slots and hours against the expected load."""
    location: float = 0.10
    """Weight of location: same municipality, neighbouring, or online for both."""
    capacity: float = 0.10
    """Weight of spare capacity and fairness of exposure (who has been asked lately)."""
    raised_hand: float = 0.20
    """Bonus added when the volunteer raised their hand (立候補) for the project."""

    location_same: float = 1.0
    """Location value when both are in the same municipality (wards of one city agree)."""
    location_neighbour: float = 0.7
    """Location value when the municipalities border each other (bot.matching.areas)."""
    location_remote: float = 0.5
    """Location value when they are apart but both the project and the volunteer accept online."""
    experience_full_years: float = 10.0
    """Years of experience at which the experience value reaches 1."""
    optional_share: float = 0.5
    """Share of optional skills inside optional_interest (the rest is the interest match);
    when the project has no optional skills (or no field), the other part counts fully."""
    slot_share: float = 0.5
    """Share of weekly-slot overlap inside availability (the rest is hours against load)."""
    spare_share: float = 0.5
    """Share of free capacity inside capacity (the rest is the fairness of exposure)."""
    invited_before: float = 0.7
    """Fairness value of someone invited before (never invited counts 1)."""
    recent_invite_penalty: float = 0.1
    """Fairness taken off per invitation within `recent_window_days`."""
    recent_decline_penalty: float = 0.2
    """Fairness taken off per decline within `recent_window_days`."""
    recent_window_days: int = 90
    """How far back the caller counts `recent_invites` and `recent_declines`."""

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> FitWeights:
        """Weights from configuration; unknown names are an error, missing ones default."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown fit weights: {', '.join(unknown)}")
        return replace(cls(), **dict(values))

    def as_dict(self) -> dict[str, float]:
        """All the numbers, for logs and the coordinators' settings view."""
        return {k: float(v) for k, v in asdict(self).items()}

    def weight(self, component: str) -> float:
        """The weight of a component by name (COMPONENTS or "raised_hand")."""
        return float(getattr(self, component))


DEFAULT_WEIGHTS = FitWeights()

# Skills that help a menu without being needed (docs/domain.md's menu table); the
# project's coordinator can edit both lists. SKILLS_BY_MENU gives the required ones.
OPTIONAL_BY_MENU: dict[str, tuple[str, ...]] = {
    "issue_workshop": ("community",),
    "space_workshop": ("graphic_design",),
    "flyer": ("photo_video", "writing"),
    "website": ("graphic_design", "photo_video"),
    "social_media": ("photo_video", "graphic_design"),
    "cloud_tools": ("it_security",),
    "sales": ("copywriting",),
    "crowdfunding": ("copywriting", "social_media"),
    "accounting": ("it_cloud",),
    "legal": ("labour",),
    "translation": ("writing",),
    "it_security": ("it_cloud",),
}

# Words people use for skills that bot.taxonomy does not list yet (move them there
# when convenient; the matching keys are the same).
EXTRA_SKILL_SYNONYMS: dict[str, tuple[str, ...]] = {
    "accounting": ("会計士", "公認会計士", "財務", "経理事務", "finance", "accountant"),
    "web": ("ウェブ制作", "hp", "hp制作", "ホームページ作成", "web design", "web development"),
    "graphic_design": ("グラフィック", "graphic design", "designer"),
    "law": ("法務", "lawyer", "law"),
    "it_security": ("情報セキュリティ", "infosec", "cybersecurity"),
    "translation": ("translation", "translator"),
    "photo_video": ("カメラ", "撮影", "動画編集"),
    "fundraising": ("fundraising", "寄付集め"),
    "social_media": ("sns運用", "social media"),
}

# Endings that do not change which skill is meant ("経理業務", "会計の経験", "HP制作").
_SKILL_SUFFIXES: tuple[str, ...] = (
    "のスキル", "スキル", "の経験", "経験", "業務", "全般", "関係", "関連", "担当", "制作",
    "作成", "運用", "相談", "など", "等",
)  # fmt: skip
_SPLIT = re.compile(r"[、,，/／;；\n]+|\s+and\s+|\s*&\s*")


def _skill_aliases() -> dict[str, str]:
    table: dict[str, str] = {}
    for option in SKILLS:
        names = (
            option.key,
            option.label.ja,
            option.label.en,
            *option.synonyms,
            *EXTRA_SKILL_SYNONYMS.get(option.key, ()),
        )
        for name in names:
            folded = fold(name)
            for form in (folded, folded.replace(" ", "")):
                table.setdefault(form, option.key)
    return table


_SKILL_ALIASES = _skill_aliases()


def skill_key(text: str) -> str | None:
    """The taxonomy key a typed skill names (NFKC, case-folded, synonyms), else None.

    経理, 会計, 簿記, bookkeeping -> "accounting"; Web制作, ホームページ, website -> "web".
    """
    folded = fold(text)
    for form in (folded, folded.replace(" ", "")):
        key = _SKILL_ALIASES.get(form)
        if key is not None:
            return key
    compact = folded.replace(" ", "")
    for suffix in _SKILL_SUFFIXES:
        if compact.endswith(suffix) and len(compact) > len(suffix):
            key = _SKILL_ALIASES.get(compact[: -len(suffix)])
            if key is not None:
                return key
    return None


def skill_keys(text: str) -> tuple[str, ...]:
    """Every taxonomy key named in a free-text list ("経理、Web制作 / 翻訳"), in order."""
    whole = skill_key(text)
    if whole is not None:
        return (whole,)
    keys: list[str] = []
    for part in _SPLIT.split(text):
        key = skill_key(part) if part.strip() else None
        if key is not None and key not in keys:
            keys.append(key)
    return tuple(keys)


_KNOWN_SKILLS = frozenset(option.key for option in SKILLS) | LANGUAGE_SKILLS


def _normal_skills(skills: Iterable[str]) -> frozenset[str]:
    """Skill keys as given, or what their synonyms name; unknown text kept folded."""
    if isinstance(skills, frozenset) and skills <= _KNOWN_SKILLS:
        return skills if skills else EMPTY  # already keys: keep the (maybe shared) set
    out = {s if s in _KNOWN_SKILLS else (skill_key(s) or fold(s)) for s in skills}
    out.discard("")
    return frozenset(out) if out else EMPTY


def _option_aliases(options: Sequence[Option]) -> dict[str, str]:
    table: dict[str, str] = {}
    for option in options:
        for name in (option.key, option.label.ja, option.label.en, *option.synonyms):
            table.setdefault(name, option.key)
            table.setdefault(fold(name), option.key)
    return table


_SLOT_ALIASES = _option_aliases(AVAILABILITY)
_INTEREST_ALIASES = _option_aliases(INTERESTS)
_MODE_ALIASES = _option_aliases(MODES)


def _option_keys(aliases: Mapping[str, str], values: Iterable[str]) -> frozenset[str]:
    """Option keys for the given keys or typed synonyms; unknown ones dropped."""
    if isinstance(values, frozenset) and all(aliases.get(v) == v for v in values):
        return values if values else EMPTY  # already keys: keep the (maybe shared) set
    out = {aliases.get(value) or aliases.get(fold(value), "") for value in values}
    out.discard("")
    return frozenset(out) if out else EMPTY


def normal_mode(value: str) -> str:
    """online | in_person | either, from a key or what someone typed (unknown: either)."""
    return _MODE_ALIASES.get(value) or _MODE_ALIASES.get(fold(value), "either")


def default_skills(menus: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(required, optional) skills of a set of support menus, from the default tables."""
    required: set[str] = set()
    optional: set[str] = set()
    for menu in menus:
        required.update(SKILLS_BY_MENU.get(menu, ()))
        optional.update(OPTIONAL_BY_MENU.get(menu, ()))
    return frozenset(required), frozenset(optional - required)


def _hours(value: int) -> int:
    """Hours a week, within 0..168 (there are no more hours in a week)."""
    return min(max(int(value), 0), HOURS_IN_WEEK)


def _ids(values: Iterable[int]) -> frozenset[int]:
    out = values if isinstance(values, frozenset) else frozenset(values)
    return out if out else NO_IDS


@dataclass(frozen=True, slots=True)
class VolunteerFeatures:
    """What matching knows of one volunteer (the lead maps a Volunteer row to this).

    Skills are taxonomy keys (synonyms are mapped on creation); slots are
    AVAILABILITY keys; interests are INTERESTS keys. `recent_*` count events within
    `FitWeights.recent_window_days`. `blocked_orgs` holds groups blocked either way.
    """

    id: int
    skills: frozenset[str] = EMPTY
    area: str = ""
    mode: str = "either"
    slots: frozenset[str] = EMPTY
    hours_per_week: int = 0
    interests: frozenset[str] = EMPTY
    experience_years: int = 0
    active_projects: int = 0
    capacity: int = 1
    status: str = "active"
    consented: bool = False
    invited_count: int = 0
    recent_invites: int = 0
    recent_declines: int = 0
    raised_hands: frozenset[int] = NO_IDS
    declined_projects: frozenset[int] = NO_IDS
    rejected_projects: frozenset[int] = NO_IDS
    org_ids: frozenset[int] = NO_IDS
    blocked_orgs: frozenset[int] = NO_IDS
    languages: frozenset[str] = EMPTY
    """Languages they translate (LANGUAGES keys); with translation they hold each pair."""

    def __post_init__(self) -> None:
        put = object.__setattr__
        languages = frozenset(self.languages) if self.languages else EMPTY
        put(self, "languages", languages)
        put(self, "skills", with_languages(_normal_skills(self.skills), languages))
        put(self, "hours_per_week", _hours(self.hours_per_week))
        put(self, "mode", normal_mode(self.mode))
        put(self, "slots", _option_keys(_SLOT_ALIASES, self.slots))
        put(self, "interests", _option_keys(_INTEREST_ALIASES, self.interests))
        for name in ("raised_hands", "declined_projects", "rejected_projects"):
            put(self, name, _ids(getattr(self, name)))
        put(self, "org_ids", _ids(self.org_ids))
        put(self, "blocked_orgs", _ids(self.blocked_orgs))


@dataclass(frozen=True, slots=True)
class ProjectNeeds:
    """What a project needs (the lead maps a Project row and its Organization to this).

    Use `ProjectNeeds.from_menus` to take the skills from the support menus unless a
    coordinator edited them. `fields` are the group's INTERESTS keys; `slots` the
    preferred weekly slots (empty: no preference); `exclude` volunteer ids to leave
    out (for example those already suggested).
    """

    id: int
    org_id: int
    menus: tuple[str, ...] = ()
    required: frozenset[str] = EMPTY
    optional: frozenset[str] = EMPTY
    area: str = ""
    mode: str = "either"
    hours_per_week: int = 3
    slots: frozenset[str] = EMPTY
    fields: frozenset[str] = EMPTY
    team_min: int = 2
    team_max: int = 5
    period: str = "flexible"
    exclude: frozenset[int] = NO_IDS
    languages: frozenset[str] = EMPTY
    """For translation: the languages needed; translation then means those pairs."""

    def __post_init__(self) -> None:
        put = object.__setattr__
        languages = frozenset(self.languages) if self.languages else EMPTY
        put(self, "languages", languages)
        required = needing_languages(_normal_skills(self.required), languages)
        put(self, "required", required)
        optional = needing_languages(_normal_skills(self.optional), languages)
        put(self, "optional", optional - required)
        put(self, "mode", normal_mode(self.mode))
        put(self, "hours_per_week", _hours(self.hours_per_week))
        put(self, "slots", _option_keys(_SLOT_ALIASES, self.slots))
        put(self, "fields", _option_keys(_INTEREST_ALIASES, self.fields))
        put(self, "menus", tuple(self.menus))
        put(self, "exclude", _ids(self.exclude))

    @classmethod
    def from_menus(
        cls,
        id: int,
        org_id: int,
        menus: Iterable[str],
        *,
        required: Iterable[str] | None = None,
        optional: Iterable[str] | None = None,
        **rest: Any,
    ) -> ProjectNeeds:
        """Needs with skills from the menus' default table unless given (edited) here."""
        menus = tuple(menus)
        default_required, default_optional = default_skills(menus)
        return cls(
            id=id,
            org_id=org_id,
            menus=menus,
            required=default_required if required is None else frozenset(required),
            optional=default_optional if optional is None else frozenset(optional),
            **rest,
        )

    @property
    def gate(self) -> frozenset[str]:
        """Skills of which a candidate must hold one (unless they raised their hand):
        the required and the optional ones, else none (everyone passes).

        Required skills are covered by the team, not demanded of every member: a
        writer beside the SNS person is a reason to be on a Facebook-page project. The
        gate still keeps candidate sets small (holders of a few skills, not everyone)."""
        return self.required | self.optional


def idf_value(holders: int, population: int) -> float:
    """Inverse document frequency of a skill held by `holders` of `population` people."""
    return math.log((1 + population) / (1 + holders)) + 1.0


def idf_table(volunteers: Iterable[VolunteerFeatures]) -> dict[str, float]:
    """Idf of every taxonomy skill (and any other skill held) over a population."""
    counts: dict[str, int] = dict.fromkeys(_KNOWN_SKILLS, 0)
    population = 0
    for volunteer in volunteers:
        population += 1
        for skill in volunteer.skills:
            counts[skill] = counts.get(skill, 0) + 1
    return {skill: idf_value(n, population) for skill, n in counts.items()}


# ---- the components, shared with the vectorised index -------------------------------


def allows_remote(mode: str) -> bool:
    """True if the mode accepts online work."""
    return mode != "in_person"


def allows_in_person(mode: str) -> bool:
    """True if the mode accepts meeting in person."""
    return mode != "online"


def experience_value(years: int, weights: FitWeights) -> float:
    """Experience component value, 0..1."""
    if weights.experience_full_years <= 0:
        return 1.0 if years > 0 else 0.0
    return min(max(years, 0) / weights.experience_full_years, 1.0)


def capacity_value(v: VolunteerFeatures, weights: FitWeights) -> float:
    """Spare capacity and fairness of exposure, 0..1 (does not depend on the project)."""
    spare = max(v.capacity - v.active_projects, 0) / v.capacity if v.capacity > 0 else 0.0
    if v.invited_count <= 0:
        fresh = 1.0
    else:
        fresh = max(
            weights.invited_before
            - weights.recent_invite_penalty * v.recent_invites
            - weights.recent_decline_penalty * v.recent_declines,
            0.0,
        )
    return weights.spare_share * spare + (1.0 - weights.spare_share) * fresh


def static_part(v: VolunteerFeatures, weights: FitWeights) -> float:
    """The contributions that do not depend on the project: experience, then capacity."""
    return weights.experience * experience_value(
        v.experience_years, weights
    ) + weights.capacity * capacity_value(v, weights)


def base_ok(v: VolunteerFeatures) -> Rule:
    """The hard rules about the volunteer alone ("ok" if they pass)."""
    if v.status == "paused":
        return "paused"
    if v.status != "active":
        return "inactive"
    if not v.consented:
        return "no_consent"
    if v.active_projects >= v.capacity:
        return "at_capacity"
    return "ok"


def location(v: VolunteerFeatures, p: ProjectNeeds) -> tuple[Relation, bool, bool]:
    """(relation of areas, both accept online, both accept in person)."""
    remote = allows_remote(v.mode) and allows_remote(p.mode)
    in_person = allows_in_person(v.mode) and allows_in_person(p.mode)
    return relation(v.area, p.area), remote, in_person


def eligible(v: VolunteerFeatures, p: ProjectNeeds) -> tuple[bool, Rule]:
    """Apply the hard rules: (True, "ok"), or (False, the first rule that fails)."""
    rule = base_ok(v)
    if rule != "ok":
        return False, rule
    if p.id in v.declined_projects:
        return False, "declined"
    if p.id in v.rejected_projects:
        return False, "rejected"
    if v.id in p.exclude:
        return False, "excluded"
    if p.org_id in v.blocked_orgs:
        return False, "blocked"
    if p.org_id in v.org_ids:
        return False, "member"
    rel, remote, in_person = location(v, p)
    if not remote and not in_person:
        return False, "mode"
    if not remote and rel == "none":
        return False, "too_far"
    gate = p.gate
    if gate and v.skills.isdisjoint(gate) and not (p.id in v.raised_hands and interest_fits(v, p)):
        # No reason to be on the team: neither a skill it asks for nor a raised hand
        # with an interest in the group's field.
        return False, "no_skill"
    return True, "ok"


def interest_fits(v: VolunteerFeatures, p: ProjectNeeds) -> bool:
    """The volunteer cares about the group's field (or the group named none)."""
    return not p.fields or not v.interests.isdisjoint(p.fields)


# ---- the score -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Component:
    """One part of a fit: its value (0..1), its weight, and so its contribution."""

    name: str
    value: float
    weight: float

    @property
    def contribution(self) -> float:
        """What this component adds to the total."""
        return self.weight * self.value


@dataclass(frozen=True, slots=True)
class Fit:
    """A volunteer's fit for a project: total, per-component breakdown, what matched."""

    volunteer_id: int
    project_id: int
    total: float
    components: tuple[Component, ...]
    raised_hand: bool
    matched_required: tuple[str, ...] = ()
    missing_required: tuple[str, ...] = ()
    matched_optional: tuple[str, ...] = ()
    matched_interests: tuple[str, ...] = ()
    matched_slots: tuple[str, ...] = ()
    location: LocationKind = "none"
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def points(self) -> int:
        """The total as an integer (millionths): what rankings sort on, so ties are exact."""
        return round(self.total * 1_000_000)

    def component(self, name: str) -> Component:
        """A component by name."""
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)

    def as_dict(self) -> dict[str, float]:
        """Each contribution and the total, rounded, for storing with the match."""
        out = {c.name: round(c.contribution, 4) for c in self.components}
        out["total"] = round(self.total, 4)
        return out

    def summary(self, locale: str) -> str:
        """One line for coordinators: "必要スキル 0.32 / 経験 0.10 / ... / 合計 0.71"."""
        parts = [
            f"{_COMPONENT_LABELS[c.name](locale)} {c.contribution:.2f}"
            for c in self.components
            if c.name != RAISED_HAND or self.raised_hand
        ]
        parts.append(f"{_TOTAL(locale)} {self.total:.2f}")
        return " / ".join(parts)

    def breakdown(self, locale: str) -> list[str]:
        """Lines for coordinators: each component's contribution of its weight, and why."""
        lines = []
        for c in self.components:
            if c.name == RAISED_HAND and not self.raised_hand:
                continue
            detail = _detail(self, c.name, locale)
            head = f"{_COMPONENT_LABELS[c.name](locale)} {c.contribution:.2f}/{c.weight:.2f}"
            if c.name == RAISED_HAND:
                head = f"{_COMPONENT_LABELS[c.name](locale)} +{c.contribution:.2f}"
            lines.append(f"{head}{_paren(detail, locale)}" if detail else head)
        lines.append(f"{_TOTAL(locale)} {self.total:.2f}")
        return lines


def _by_idf(skills: Iterable[str], idf: Mapping[str, float]) -> tuple[str, ...]:
    return tuple(sorted(skills, key=lambda s: (-idf.get(s, 1.0), s)))


def score(
    v: VolunteerFeatures,
    p: ProjectNeeds,
    idf: Mapping[str, float],
    weights: FitWeights = DEFAULT_WEIGHTS,
) -> Fit:
    """Score a volunteer for a project (hard rules are `eligible`'s job, not this one's).

    `idf` maps skills to their inverse document frequency over the population (an
    absent skill counts 1). The arithmetic order here is mirrored by the index, so
    both give bit-identical totals.
    """
    # required: idf-weighted coverage, summed in sorted skill order
    held = 0.0
    wanted = 0.0
    for skill in sorted(p.required):
        w = idf.get(skill, 1.0)
        wanted += w
        if skill in v.skills:
            held += w
    required_v = held / wanted if wanted > 0 else 0.0

    experience_v = experience_value(v.experience_years, weights)

    matched_optional = p.optional & v.skills
    matched_interests = p.fields & v.interests
    optional_v = len(matched_optional) / len(p.optional) if p.optional else 0.0
    interest_v = 1.0 if matched_interests else 0.0
    if p.optional and p.fields:
        oi_v = weights.optional_share * optional_v + (1.0 - weights.optional_share) * interest_v
    elif p.optional:
        oi_v = optional_v
    elif p.fields:
        oi_v = interest_v
    else:
        oi_v = 0.0

    if p.slots:
        matched_slots = p.slots & v.slots
        slot_v = len(matched_slots) / len(p.slots)
    else:
        matched_slots = v.slots
        slot_v = 1.0 if v.slots else 0.0
    hours_v = min(v.hours_per_week / p.hours_per_week, 1.0) if p.hours_per_week > 0 else 1.0
    availability_v = weights.slot_share * slot_v + (1.0 - weights.slot_share) * hours_v

    rel, remote, _ = location(v, p)
    kind: LocationKind
    if rel == "same":
        kind, location_v = "same", weights.location_same
    elif rel == "neighbour":
        kind, location_v = "neighbour", weights.location_neighbour
    elif remote:
        kind, location_v = "remote", weights.location_remote
    else:
        kind, location_v = "none", 0.0

    capacity_v = capacity_value(v, weights)
    raised = p.id in v.raised_hands

    values = (required_v, experience_v, oi_v, availability_v, location_v, capacity_v)
    components = [
        Component(n, x, weights.weight(n)) for n, x in zip(COMPONENTS, values, strict=True)
    ]
    # This summation order is mirrored by the index (skills, availability, location, then
    # the per-person part): keep both in step so totals stay bit-identical.
    total = weights.required * required_v + weights.optional_interest * oi_v
    total += weights.availability * availability_v
    total += weights.location * location_v
    total += static_part(v, weights)
    components.append(Component(RAISED_HAND, 1.0 if raised else 0.0, weights.raised_hand))
    if raised:
        total += weights.raised_hand

    return Fit(
        volunteer_id=v.id,
        project_id=p.id,
        total=total,
        components=tuple(components),
        raised_hand=raised,
        matched_required=_by_idf(p.required & v.skills, idf),
        missing_required=_by_idf(p.required - v.skills, idf),
        matched_optional=tuple(sorted(matched_optional)),
        matched_interests=tuple(sorted(matched_interests)),
        matched_slots=tuple(s for s in SLOTS if s in matched_slots),
        location=kind,
        details={
            "experience_years": v.experience_years,
            "hours_per_week": v.hours_per_week,
            "project_hours": p.hours_per_week,
            "active_projects": v.active_projects,
            "capacity": v.capacity,
            "invited_count": v.invited_count,
            "recent_declines": v.recent_declines,
            "place": place(v.area),
        },
    )


# ---- words ---------------------------------------------------------------------------

_COMPONENT_LABELS: dict[str, T] = {
    "required": T("必要スキル", "Required skills"),
    "experience": T("経験", "Experience"),
    "optional_interest": T("任意スキル・関心", "Optional skills/interest"),
    "availability": T("活動時間", "Availability"),
    "location": T("地域", "Location"),
    "capacity": T("余力・機会", "Capacity/fairness"),
    RAISED_HAND: T("立候補", "Raised hand"),
}
_TOTAL = T("合計", "Total")


def component_label(name: str, locale: str) -> str:
    """A fit component's name for coordinators (the key itself if it is not one)."""
    label = _COMPONENT_LABELS.get(name)
    return label(locale) if label is not None else name


_SLOT_WORDS: dict[str, T] = {
    "weekday_day": T("平日昼", "weekday daytimes"),
    "weekday_evening": T("平日夜", "weekday evenings"),
    "weekend": T("週末", "weekends"),
}

R_SKILLS = T("{skills}のスキルが一致", "Skills match: {skills}")
R_PAIRS = T("{skills}が一致", "{skills} matches")
R_EXPERIENCE_IN = T("{skill}の経験{years}年", "{years} years' experience ({skill})")
R_EXPERIENCE = T("実務経験{years}年", "{years} years' experience")
R_INTEREST = T("関心分野: {fields}が一致", "Interested in {fields}")
R_OPTIONAL = T("{skills}のスキルもあり", "Also offers {skills}")
R_SLOTS = T("{slots}に活動可", "Available {slots}")
R_HOURS = T("週{hours}時間活動可", "Available {hours} h a week")
R_SAME = T("{place}在住", "Lives in {place}")
R_NEIGHBOUR = T("近隣の{place}在住", "Lives nearby, in {place}")
R_REMOTE = T("オンラインで参加可", "Can take part online")
R_NEW = T("まだ案内を受けていない方", "Not invited to a project yet")
R_FREE = T("現在の参加 0件", "No current projects")
R_RAISED = T("本人が立候補", "Raised their hand for this project")


def _skills_text(keys: Iterable[str], locale: str) -> str:
    return join_list([skill_label(k, locale) for k in keys], locale)


def _is_pair(key: str) -> bool:
    return key.startswith(TRANSLATION + ":")


def _skills_reason(keys: Sequence[str], locale: str) -> str:
    """「会計・経理のスキルが一致」; a language pair reads 「翻訳（英語）が一致」."""
    pairs = [k for k in keys if _is_pair(k)]
    others = [k for k in keys if not _is_pair(k)]
    parts = []
    if others:
        parts.append(R_SKILLS(locale, skills=_skills_text(others, locale)))
    if pairs:
        parts.append(R_PAIRS(locale, skills=_skills_text(pairs, locale)))
    return join_list(parts, locale) if locale == "ja" else "; ".join(parts)


def _slots_text(keys: Iterable[str], locale: str) -> str:
    words = [_SLOT_WORDS[k](locale) for k in keys if k in _SLOT_WORDS]
    return "・".join(words) if locale == "ja" else ", ".join(words)


def _paren(text: str, locale: str) -> str:
    return f"（{text}）" if locale == "ja" else f" ({text})"


def _detail(fit: Fit, name: str, locale: str) -> str:
    """The why of one component, for the coordinators' breakdown."""
    d = fit.details
    ja = locale == "ja"
    if name == "required":
        n_held = len(fit.matched_required)
        n_wanted = n_held + len(fit.missing_required)
        held = _skills_text(fit.matched_required, locale)
        missing = _skills_text(fit.missing_required, locale)
        if ja:
            text = f"{n_wanted}件中{n_held}件を保有" + (f": {held}" if held else "")
            return text + (f" / 不足: {missing}" if missing else "")
        text = f"holds {n_held} of {n_wanted}" + (f": {held}" if held else "")
        return text + (f"; missing: {missing}" if missing else "")
    if name == "experience":
        return f"{d['experience_years']}年" if ja else f"{d['experience_years']} years"
    if name == "optional_interest":
        parts = []
        if fit.matched_optional:
            skills = _skills_text(fit.matched_optional, locale)
            parts.append(f"任意: {skills}" if ja else f"optional: {skills}")
        if fit.matched_interests:
            names = join_list([label(INTERESTS, k, locale) for k in fit.matched_interests], locale)
            parts.append(f"関心: {names}" if ja else f"interest: {names}")
        return " / ".join(parts)
    if name == "availability":
        slots = _slots_text(fit.matched_slots, locale)
        hours = (
            f"週{d['hours_per_week']}時間・目安{d['project_hours']}時間"
            if ja
            else f"{d['hours_per_week']} h/week, needs {d['project_hours']}"
        )
        return f"{slots} / {hours}" if slots else hours
    if name == "location":
        where = d["place"].label(locale)
        if fit.location == "same":
            return f"同じ市区町村: {where}" if ja else f"same municipality: {where}"
        if fit.location == "neighbour":
            return f"近隣: {where}" if ja else f"neighbouring: {where}"
        if fit.location == "remote":
            return "オンライン" if ja else "online"
        return ""
    if name == "capacity":
        load = f"{d['active_projects']}/{d['capacity']}"
        if ja:
            text = f"参加中 {load}件、案内 {d['invited_count']}回"
            if d["recent_declines"]:
                text += f"、最近の辞退 {d['recent_declines']}回"
            return text
        text = f"{load} active, invited {d['invited_count']} times"
        if d["recent_declines"]:
            text += f", {d['recent_declines']} recent declines"
        return text
    return ""


def reasons(
    fit: Fit, v: VolunteerFeatures, p: ProjectNeeds, locale: str, limit: int = 3
) -> list[str]:
    """Why this person fits, in the reader's language, strongest contribution first.

    Only components with something to say give a reason ("会計・経理のスキルが一致",
    "八王子市在住", "週末に活動可", "関心分野: 福祉（子ども）が一致", "本人が立候補").
    """
    found: list[tuple[float, int, str]] = []

    def add(name: str, text: str) -> None:
        c = fit.component(name)
        if c.contribution > 0:
            order = COMPONENTS.index(name) if name in COMPONENTS else -1
            found.append((c.contribution, order, text))

    if fit.raised_hand:
        add(RAISED_HAND, R_RAISED(locale))
    if fit.matched_required:
        add("required", _skills_reason(fit.matched_required, locale))
    if v.experience_years >= 1:
        if fit.matched_required:
            skill = skill_label(fit.matched_required[0], locale)
            add("experience", R_EXPERIENCE_IN(locale, skill=skill, years=v.experience_years))
        else:
            add("experience", R_EXPERIENCE(locale, years=v.experience_years))
    if fit.matched_interests:
        names = join_list([label(INTERESTS, k, locale) for k in fit.matched_interests], locale)
        add("optional_interest", R_INTEREST(locale, fields=names))
    elif fit.matched_optional:
        add(
            "optional_interest",
            R_OPTIONAL(locale, skills=_skills_text(fit.matched_optional, locale)),
        )
    if fit.matched_slots:
        add("availability", R_SLOTS(locale, slots=_slots_text(fit.matched_slots, locale)))
    elif v.hours_per_week > 0:
        add("availability", R_HOURS(locale, hours=v.hours_per_week))
    where = place(v.area).label(locale)
    if fit.location == "same":
        add("location", R_SAME(locale, place=where))
    elif fit.location == "neighbour":
        add("location", R_NEIGHBOUR(locale, place=where))
    elif fit.location == "remote":
        add("location", R_REMOTE(locale))
    if v.invited_count <= 0:
        add("capacity", R_NEW(locale))
    elif v.active_projects == 0:
        add("capacity", R_FREE(locale))
    found.sort(key=lambda item: (-item[0], item[1]))
    return [text for _, _, text in found[:limit]]
