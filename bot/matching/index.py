"""Top-k suggestions for a project from an in-memory index of volunteers.

Each volunteer is a row of NumPy columns. An inverted index (skill -> rows) yields
the candidates: holders of any of the project's gate skills (required or optional),
plus everyone who raised their hand for it with an interest in the group's field; the
other hard rules are boolean masks.
Scoring never loops over people in Python: the skill part is computed once per
distinct skill set (a few thousand among 100,000 people), availability once per
(hours, slots) code, location once per (municipality, mode) code, and each candidate
row gathers its values from those small tables and adds its precomputed per-person
part (experience, capacity). The arithmetic and summation order are those of
`bot.matching.fit.score`, so totals are bit-identical; only the k winners get a
full `Fit` with its breakdown, and reasons are rendered on demand.

Ordering: candidates who raised their hand come first, then by score (integer
points, `Fit.points`); ties go to the lower volunteer id, so results are
deterministic whatever the insertion order.

State to keep fresh: call `upsert` whenever anything in `VolunteerFeatures` changes
(profile, status, consent, active projects, invitations and the recent counts as the
window slides, declines, raised hands, group membership, blocks) and `remove` when a
volunteer is deleted. Weights are read at upsert time (the per-person part is
precomputed): build a new index when the weights change. The index is not
thread-safe: use it from one thread (or behind a lock).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.matching.areas import neighbours, place
from bot.matching.fit import (
    DEFAULT_WEIGHTS,
    HOURS_IN_WEEK,
    SLOTS,
    Fit,
    FitWeights,
    ProjectNeeds,
    VolunteerFeatures,
    allows_in_person,
    allows_remote,
    base_ok,
    idf_value,
    reasons,
    score,
    static_part,
)
from bot.taxonomy import LANGUAGE_SKILLS, SKILLS

Rows = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

_ONLINE, _IN_PERSON, _EITHER = 0, 1, 2
_MODE_CODE = {"online": _ONLINE, "in_person": _IN_PERSON, "either": _EITHER}
_SLOT_BIT = {slot: 1 << i for i, slot in enumerate(SLOTS)}
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
_NO_AREA = -1


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One suggested volunteer: the fit with its breakdown; reasons rendered on demand."""

    fit: Fit
    volunteer: VolunteerFeatures
    project: ProjectNeeds

    @property
    def volunteer_id(self) -> int:
        """The volunteer's id."""
        return self.volunteer.id

    @property
    def raised_hand(self) -> bool:
        """True if the volunteer raised their hand for the project (listed first)."""
        return self.fit.raised_hand

    @property
    def total(self) -> float:
        """The fit's total."""
        return self.fit.total

    def reasons(self, locale: str, limit: int = 3) -> list[str]:
        """Why this person, in the reader's language, strongest first."""
        return reasons(self.fit, self.volunteer, self.project, locale, limit)


class _KeyMatrix:
    """Boolean membership of rows in keys (skills), one matrix row per key, with a
    cached posting list (sorted row numbers) per key: the inverted index."""

    def __init__(self, keys: Iterable[str], capacity: int) -> None:
        self.col: dict[str, int] = {}
        for key in keys:
            self.col.setdefault(key, len(self.col))
        self.bits: Bools = np.zeros((len(self.col), capacity), dtype=np.bool_)
        self._postings: dict[int, Rows] = {}

    def column(self, key: str, create: bool = False) -> int:
        col = self.col.get(key)
        if col is None:
            if not create:
                return -1
            col = len(self.col)
            self.col[key] = col
            grown = np.zeros((col + 1, self.bits.shape[1]), dtype=np.bool_)
            grown[:col] = self.bits
            self.bits = grown
        return col

    def grow(self, capacity: int) -> None:
        grown = np.zeros((self.bits.shape[0], capacity), dtype=np.bool_)
        grown[:, : self.bits.shape[1]] = self.bits
        self.bits = grown

    def set(self, row: int, keys: Iterable[str], value: bool) -> None:
        for key in keys:
            col = self.column(key, create=value)
            if col >= 0:
                self.bits[col, row] = value
                self._postings.pop(col, None)

    def postings(self, key: str, n: int) -> Rows:
        col = self.col.get(key)
        if col is None:
            return np.empty(0, dtype=np.int64)
        rows = self._postings.get(col)
        if rows is None:
            rows = np.flatnonzero(self.bits[col, :n]).astype(np.int64)
            self._postings[col] = rows
        return rows


class _SetTable:
    """Distinct sets of keys (skill sets, interest sets), each given an id; one
    boolean matrix row per key over the set ids. Scoring computes a value per
    distinct set (a few thousand) rather than per person."""

    def __init__(self) -> None:
        self.ids: dict[frozenset[str], int] = {}
        self.col: dict[str, int] = {}
        self.bits: Bools = np.zeros((0, 64), dtype=np.bool_)

    def __len__(self) -> int:
        return len(self.ids)

    def id_of(self, keys: frozenset[str]) -> int:
        found = self.ids.get(keys)
        if found is not None:
            return found
        set_id = len(self.ids)
        self.ids[keys] = set_id
        if set_id >= self.bits.shape[1]:
            grown = np.zeros((self.bits.shape[0], 2 * self.bits.shape[1]), dtype=np.bool_)
            grown[:, : self.bits.shape[1]] = self.bits
            self.bits = grown
        for key in keys:
            col = self.col.get(key)
            if col is None:
                col = self.col[key] = len(self.col)
                grown = np.zeros((col + 1, self.bits.shape[1]), dtype=np.bool_)
                grown[:col] = self.bits
                self.bits = grown
            self.bits[col, set_id] = True
        return set_id

    def has(self, key: str) -> Bools | None:
        """Which sets hold the key (None if no set does)."""
        col = self.col.get(key)
        return None if col is None else self.bits[col, : len(self.ids)]


def _add(table: dict[int, set[int]], keys: Iterable[int], row: int) -> None:
    for key in keys:
        table.setdefault(key, set()).add(row)


def _drop(table: dict[int, set[int]], keys: Iterable[int], row: int) -> None:
    for key in keys:
        rows = table.get(key)
        if rows is not None:
            rows.discard(row)
            if not rows:
                del table[key]


def _rows(values: Iterable[int]) -> Rows:
    return np.fromiter(values, dtype=np.int64)


class SuggestionIndex:
    """Volunteers held as NumPy columns, for fast top-k suggestions per project."""

    def __init__(self, weights: FitWeights = DEFAULT_WEIGHTS, capacity: int = 1024) -> None:
        self.weights = weights
        self._cap = max(capacity, 16)
        self._n = 0  # rows in use (high-water mark); freed rows are reused
        self._row: dict[int, int] = {}
        self._free: list[int] = []
        self._people: list[VolunteerFeatures | None] = []
        self._ids = np.zeros(self._cap, dtype=np.int64)
        self._ok = np.zeros(self._cap, dtype=np.bool_)  # alive and passes fit.base_ok
        self._locode = np.zeros(self._cap, dtype=np.int32)  # (area code + 1) * 3 + mode
        self._avcode = np.zeros(self._cap, dtype=np.int16)  # hours * 8 + slot bits
        self._static = np.zeros(self._cap, dtype=np.float64)  # fit.static_part
        self._scode = np.zeros(self._cap, dtype=np.int64)  # 2 * id of the skill set
        self._iset = np.zeros(self._cap, dtype=np.int32)  # id of the interest set
        self._skills = _KeyMatrix((*(o.key for o in SKILLS), *sorted(LANGUAGE_SKILLS)), self._cap)
        self._skill_sets = _SetTable()
        self._interest_sets = _SetTable()
        self._df: dict[str, int] = {}
        self._area_id: dict[str, int] = {}  # municipality key -> code
        self._area_of_text: dict[str, int] = {}
        self._raised: dict[int, set[int]] = {}  # project id -> rows
        self._said_no: dict[int, set[int]] = {}  # project id -> rows (declined or rejected)
        self._members: dict[int, set[int]] = {}  # org id -> rows
        self._blocked: dict[int, set[int]] = {}  # org id -> rows

    # ---- building and keeping fresh -------------------------------------------------

    @classmethod
    def build(
        cls, volunteers: Sequence[VolunteerFeatures], weights: FitWeights = DEFAULT_WEIGHTS
    ) -> SuggestionIndex:
        """An index over the volunteers (a later duplicate id replaces an earlier one)."""
        index = cls(weights, capacity=len(volunteers) + 16)
        for volunteer in volunteers:
            index.upsert(volunteer)
        return index

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, volunteer_id: object) -> bool:
        return volunteer_id in self._row

    def get(self, volunteer_id: int) -> VolunteerFeatures | None:
        """The features held for a volunteer, if any."""
        row = self._row.get(volunteer_id)
        return None if row is None else self._people[row]

    def _grow(self) -> None:
        cap = self._cap * 2
        for name in ("_ids", "_ok", "_locode", "_avcode", "_static", "_scode", "_iset"):
            old = getattr(self, name)
            new = np.zeros(cap, dtype=old.dtype)
            new[: self._cap] = old
            setattr(self, name, new)
        self._skills.grow(cap)
        self._cap = cap

    def _area_code(self, text: str, create: bool) -> int:
        code = self._area_of_text.get(text)
        if code is not None:
            return code
        key = place(text).key
        if not key:
            code = _NO_AREA
        elif key in self._area_id:
            code = self._area_id[key]
        elif create:
            code = self._area_id[key] = len(self._area_id)
        else:
            return _NO_AREA
        if len(self._area_of_text) < 100_000:
            self._area_of_text[text] = code
        return code

    def upsert(self, v: VolunteerFeatures) -> None:
        """Add a volunteer, or replace what the index holds for them."""
        row = self._row.get(v.id)
        if row is not None:
            self._unlink(row)
        elif self._free:
            row = self._free.pop()
        else:
            if self._n == self._cap:
                self._grow()
            row = self._n
            self._n += 1
            self._people.append(None)
        self._row[v.id] = row
        self._people[row] = v
        self._ids[row] = v.id
        self._ok[row] = base_ok(v) == "ok"
        self._locode[row] = (self._area_code(v.area, create=True) + 1) * 3 + _MODE_CODE[v.mode]
        bits = 0
        for slot in v.slots:
            bits |= _SLOT_BIT.get(slot, 0)
        self._avcode[row] = v.hours_per_week * 8 + bits
        self._static[row] = static_part(v, self.weights)
        self._scode[row] = 2 * self._skill_sets.id_of(v.skills)
        self._iset[row] = self._interest_sets.id_of(v.interests)
        self._skills.set(row, v.skills, True)
        for skill in v.skills:
            self._df[skill] = self._df.get(skill, 0) + 1
        _add(self._raised, v.raised_hands, row)
        _add(self._said_no, v.declined_projects | v.rejected_projects, row)
        _add(self._members, v.org_ids, row)
        _add(self._blocked, v.blocked_orgs, row)

    def _unlink(self, row: int) -> None:
        old = self._people[row]
        if old is None:
            return
        self._skills.set(row, old.skills, False)
        for skill in old.skills:
            self._df[skill] -= 1
        _drop(self._raised, old.raised_hands, row)
        _drop(self._said_no, old.declined_projects | old.rejected_projects, row)
        _drop(self._members, old.org_ids, row)
        _drop(self._blocked, old.blocked_orgs, row)
        self._ok[row] = False
        self._people[row] = None

    def remove(self, volunteer_id: int) -> bool:
        """Forget a volunteer; False if they were not held."""
        row = self._row.pop(volunteer_id, None)
        if row is None:
            return False
        self._unlink(row)
        self._free.append(row)
        return True

    # ---- querying ------------------------------------------------------------------

    def idf_of(self, skill: str) -> float:
        """Inverse document frequency of a skill over the volunteers held."""
        return idf_value(self._df.get(skill, 0), len(self._row))

    def idf(self) -> dict[str, float]:
        """Idf of every skill seen (and every taxonomy skill)."""
        return {skill: self.idf_of(skill) for skill in self._skills.col}

    def _candidates(self, p: ProjectNeeds) -> Rows:
        """Rows passing every hard rule except location and mode."""
        n = self._n
        mask = np.zeros(n, dtype=np.bool_)
        gate = p.gate
        if gate:
            for skill in gate:
                mask[self._skills.postings(skill, n)] = True
        else:
            mask[:] = True
        raised = self._raised.get(p.id)
        if raised:
            # A raised hand is a reason to be there with an interest in the group's field.
            hands = _rows(raised)
            if p.fields:
                hands = hands[self._interest_table(p)[self._iset[hands]] > 0]
            mask[hands] = True
        for table, key in (
            (self._said_no, p.id),
            (self._members, p.org_id),
            (self._blocked, p.org_id),
        ):
            rows = table.get(key)
            if rows:
                mask[_rows(rows)] = False
        if p.exclude:
            excluded = [self._row[i] for i in p.exclude if i in self._row]
            if excluded:
                mask[_rows(excluded)] = False
        mask &= self._ok[:n]
        return np.flatnonzero(mask).astype(np.int64)

    def _location_tables(self, p: ProjectNeeds) -> tuple[Bools, Floats]:
        """Per location code ((area + 1) * 3 + mode): feasible, and location contribution."""
        w = self.weights
        n_codes = (len(self._area_id) + 1) * 3
        area = np.arange(n_codes) // 3 - 1
        mode = np.arange(n_codes) % 3
        p_area = self._area_code(p.area, create=False)
        same = (area == p_area) & (p_area != _NO_AREA)
        near_codes = [self._area_id[k] for k in neighbours(place(p.area).key) if k in self._area_id]
        near = np.isin(area, near_codes) & ~same
        remote = (mode != _IN_PERSON) & allows_remote(p.mode)
        in_person = (mode != _ONLINE) & allows_in_person(p.mode)
        feasible = remote | (in_person & (same | near))
        value = np.zeros(n_codes, dtype=np.float64)
        value[remote] = w.location_remote
        value[near] = w.location_neighbour
        value[same] = w.location_same
        return feasible, w.location * value

    def _skill_table(self, p: ProjectNeeds) -> Floats:
        """Per (skill set id * 2 + interest match): required and optional_interest parts."""
        w = self.weights
        sets = self._skill_sets
        m = len(sets)
        held = np.zeros(m, dtype=np.float64)
        wanted = 0.0
        for skill in sorted(p.required):
            weight = self.idf_of(skill)
            wanted += weight
            has = sets.has(skill)
            if has is not None:
                held += weight * has
        required_v = held / wanted if wanted > 0 else np.zeros(m, dtype=np.float64)
        count = np.zeros(m, dtype=np.float64)
        for skill in sorted(p.optional):
            has = sets.has(skill)
            if has is not None:
                count += has
        optional_v = count / len(p.optional) if p.optional else count
        table = np.empty(2 * m, dtype=np.float64)
        for interest in (0, 1):
            interest_v = float(interest)
            if p.optional and p.fields:
                oi_v = w.optional_share * optional_v + (1.0 - w.optional_share) * interest_v
            elif p.optional:
                oi_v = optional_v
            elif p.fields:
                oi_v = np.full(m, interest_v)
            else:
                oi_v = np.zeros(m, dtype=np.float64)
            table[interest::2] = w.required * required_v + w.optional_interest * oi_v
        return table

    def _interest_table(self, p: ProjectNeeds) -> Rows:
        """Per interest set id: 1 if it holds one of the group's fields."""
        sets = self._interest_sets
        match = np.zeros(len(sets), dtype=np.bool_)
        for field_key in p.fields:
            has = sets.has(field_key)
            if has is not None:
                match |= has
        return match.astype(np.int64)

    def _availability_table(self, p: ProjectNeeds) -> Floats:
        """Per availability code (hours * 8 + slot bits): the availability contribution."""
        w = self.weights
        wanted = 0
        for slot in p.slots:
            wanted |= _SLOT_BIT.get(slot, 0)
        bits = np.arange(8)
        if wanted:
            slot_v = _POPCOUNT[bits & wanted] / _POPCOUNT[wanted]
        else:
            slot_v = (bits != 0).astype(np.float64)
        hours = np.arange(HOURS_IN_WEEK + 1)
        if p.hours_per_week > 0:
            hours_v = np.minimum(hours / p.hours_per_week, 1.0)
        else:
            hours_v = np.ones(len(hours), dtype=np.float64)
        value: Floats = w.slot_share * slot_v[None, :] + (1.0 - w.slot_share) * hours_v[:, None]
        out: Floats = (w.availability * value).ravel()
        return out

    def _totals(self, p: ProjectNeeds, rows: Rows) -> tuple[Rows, Floats]:
        """(feasible rows, their totals without the raised-hand bonus), as fit.score."""
        feasible, location = self._location_tables(p)
        locode = self._locode[rows]
        keep = feasible[locode]
        if not keep.all():
            rows, locode = rows[keep], locode[keep]
        skills = self._skill_table(p)
        interest = self._interest_table(p)
        availability = self._availability_table(p)
        code = self._scode[rows] + interest[self._iset[rows]]
        total = skills[code]
        total += availability[self._avcode[rows]]
        total += location[locode]
        total += self._static[rows]
        return rows, total

    def _order(self, rows: Rows, points: Rows, k: int) -> list[int]:
        """The k best rows by points (desc), ties to the lower id."""
        if k <= 0 or len(rows) == 0:
            return []
        ids = self._ids[rows]
        if len(rows) > k:
            kth = np.partition(points, len(points) - k)[len(points) - k]
            keep = points >= kth
            rows, points, ids = rows[keep], points[keep], ids[keep]
        order = np.lexsort((ids, -points))[:k]
        return [int(r) for r in rows[order]]

    def top(self, project: ProjectNeeds, k: int = 10) -> list[Suggestion]:
        """The k best eligible volunteers: raised hands first, then by fit, then by id."""
        rows = self._candidates(project)
        if len(rows) == 0 or k <= 0:
            return []
        rows, total = self._totals(project, rows)
        raised_rows = self._raised.get(project.id)
        if raised_rows:
            raised = np.isin(rows, _rows(raised_rows))
            total[raised] += self.weights.raised_hand
        else:
            raised = np.zeros(len(rows), dtype=np.bool_)
        points = np.rint(total * 1_000_000).astype(np.int64)
        if raised_rows:
            chosen = self._order(rows[raised], points[raised], k)
            chosen += self._order(rows[~raised], points[~raised], k - len(chosen))
        else:
            chosen = self._order(rows, points, k)
        idf = {skill: self.idf_of(skill) for skill in project.required}
        out = []
        for row in chosen:
            volunteer = self._people[row]
            assert volunteer is not None
            out.append(Suggestion(score(volunteer, project, idf, self.weights), volunteer, project))
        return out
