"""Matching's volunteers kept in memory and fresh: built once, then refreshed from what
changed, correct with several server processes on one database.

Design
------
A `LiveIndex` holds every matchable volunteer's `VolunteerFeatures` (profile, status,
load and fairness counts from their matches) and one `SuggestionIndex` per weight set
in use (the default weights, plus a few per-project tunings, least recently used
dropped). Every read (`fresh()`) first asks the database what changed, with one cheap
indexed query (`storage.matching_repo.changes_since`):

- ``volunteers.updated_at``: a profile saved or edited (a skills-only edit moves it
  too, see `storage.models._touch_volunteers`), paused, resumed, left (inactive);
- ``matches.updated_at``: suggested, invited, accepted, declined, raised hands... (load
  and fairness of that volunteer);
- ``projects.updated_at``: a status change moves its accepted members' load;
- ``audit_log.at`` with action ``delete_data``: someone deleted their data (rows gone
  leave no ``updated_at``): then the held ids are compared with the table's ids.

Only the volunteers named there are read again (Core selects of the columns matching
reads, by id) and upserted, or removed when gone or inactive. Another process's
changes are seen the same way as this one's: the database is the only shared state.

The watermark is this process's clock at its previous look minus `lag` (default 60 s),
so a transaction that stamped ``updated_at`` before a later one but committed after it,
and modest clock skew between servers, are still caught; rows seen within the lag
window are remembered with their stamp and not read twice. Writers must stamp
``updated_at`` with the current time (all of `storage.repo` does). What a timestamp
cannot show is caught by a full rebuild every `rebuild_every` (default 1 hour), which
also slides the fairness window (`recent_window_days`).

Reads use their own short session (committed data only), so a rolled-back change never
enters the shared cache. Inside one process, calls are serialised by an asyncio lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.matching.fit import DEFAULT_WEIGHTS, FitWeights, VolunteerFeatures
from bot.matching.index import SuggestionIndex
from bot.rules.states import HOLDING_CAPACITY
from storage import matching_repo
from storage.base import utcnow

# Projects whose accepted volunteers are busy: the states that hold capacity.
ACTIVE_PROJECT = HOLDING_CAPACITY


async def load_features(
    session: AsyncSession,
    *,
    now: datetime,
    window_days: int,
    ids: Sequence[int] | None = None,
    active: set[int] | None = None,
) -> dict[int, VolunteerFeatures]:
    """Features of every matchable volunteer (or of `ids`), from plain rows: one query
    each for volunteers, their skills and their matches (plus active projects)."""
    if active is None:
        active = await matching_repo.project_ids_with_status(session, ACTIVE_PROJECT)
    people = await matching_repo.volunteer_rows(session, ids)
    if not people:
        return {}
    wanted = [int(r[0]) for r in people] if ids is not None else None
    skills: dict[int, set[str]] = defaultdict(set)
    for vid, skill in await matching_repo.skill_rows(session, wanted):
        skills[vid].add(skill)
    matches: dict[int, list[Any]] = defaultdict(list)
    for row in await matching_repo.match_rows(session, wanted):
        matches[row[0]].append(row)
    return features_from_rows(people, skills, matches, active, now - timedelta(days=window_days))


def features_from_rows(
    people: Iterable[Any],
    skills: Mapping[int, set[str]],
    matches: Mapping[int, list[Any]],
    active: set[int],
    window: datetime,
) -> dict[int, VolunteerFeatures]:
    """Build features from volunteer, skill and match rows (shared frozensets: many
    people hold the same skill set, slots or interests)."""
    shared: dict[frozenset[Any], frozenset[Any]] = {}

    def intern(values: Iterable[Any]) -> frozenset[Any]:
        key = frozenset(values)
        return shared.setdefault(key, key)

    decoded: dict[Any, frozenset[Any]] = {}

    def keys(raw: Any) -> frozenset[Any]:
        """A JSON list (as text, or already a list) as a shared frozenset."""
        if not isinstance(raw, str):
            return intern(raw or ())
        found = decoded.get(raw)
        if found is None:
            found = decoded[raw] = intern(json.loads(raw) or ())
        return found

    none: list[Any] = []
    out: dict[int, VolunteerFeatures] = {}
    for vid, area, mode, slots, hours, interests, years, status, consent, langs, cap in people:
        mine = matches.get(vid, none)
        out[vid] = VolunteerFeatures(
            id=vid,
            skills=intern(skills.get(vid, ())),
            area=area,
            mode=mode,
            slots=keys(slots),
            hours_per_week=hours,
            interests=keys(interests),
            experience_years=years,
            active_projects=sum(1 for m in mine if m[2] == "accepted" and m[1] in active),
            capacity=int(cap or 1),
            status=status,
            consented=bool(consent),
            invited_count=sum(1 for m in mine if m[3] is not None),
            recent_invites=sum(1 for m in mine if m[3] is not None and m[3] >= window),
            recent_declines=sum(1 for m in mine if m[2] == "declined" and m[4] >= window),
            raised_hands=frozenset(m[1] for m in mine if m[5]),
            declined_projects=frozenset(m[1] for m in mine if m[2] in ("declined", "expired")),
            rejected_projects=frozenset(m[1] for m in mine if m[2] == "rejected"),
            languages=keys(langs),
        )
    return out


class LiveIndex:
    """Volunteers' features and suggestion indexes, refreshed incrementally (see above)."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = utcnow,
        window_days: int = DEFAULT_WEIGHTS.recent_window_days,
        lag: timedelta = timedelta(seconds=60),
        rebuild_every: timedelta = timedelta(hours=1),
        max_indexes: int = 4,
        wall_clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._maker = maker
        self._clock = clock
        self._wall = wall_clock
        self._window_days = window_days
        self._lag = lag
        self._rebuild_every = rebuild_every
        self._max_indexes = max(1, max_indexes)
        self._lock = asyncio.Lock()
        self._features: dict[int, VolunteerFeatures] = {}
        self._indexes: OrderedDict[FitWeights, SuggestionIndex] = OrderedDict()
        self._built_for: datetime | None = None  # the matching clock at the last build
        self._since: datetime | None = None  # wall clock of the previous look, minus lag
        self._seen: dict[tuple[str, int], Any] = {}
        self.stats = {"builds": 0, "refreshes": 0, "reloaded": 0, "removed": 0}

    @property
    def features(self) -> Mapping[int, VolunteerFeatures]:
        """Every matchable volunteer's features, as of the last `fresh()`."""
        return self._features

    def index(self, weights: FitWeights = DEFAULT_WEIGHTS) -> SuggestionIndex:
        """The suggestion index for these weights (built from the features on first use)."""
        found = self._indexes.get(weights)
        if found is None:
            found = SuggestionIndex.build(list(self._features.values()), weights)
            self._indexes[weights] = found
            while len(self._indexes) > self._max_indexes:
                oldest = next(iter(self._indexes))
                if oldest == DEFAULT_WEIGHTS:
                    self._indexes.move_to_end(oldest)
                    oldest = next(iter(self._indexes))
                del self._indexes[oldest]
        else:
            self._indexes.move_to_end(weights)
        return found

    async def fresh(self, session: AsyncSession | None = None) -> LiveIndex:
        """Bring the features and indexes up to date with the database; returns self.

        A caller inside a transaction passes its session: the reads then run on the
        connection it already holds. Opening a second pooled session there would wait for
        a free connection while the caller's row locks block everyone else (100 clicks of
        one Accept on PostgreSQL emptied the pool that way, issue #16).
        """
        async with self._lock:
            now = self._clock()
            if self._built_for is None or abs(now - self._built_for) > self._rebuild_every:
                await self._build(now, session)
            else:
                await self._refresh(now, session)
        return self

    def forget(self) -> None:
        """Drop everything; the next `fresh()` builds again (e.g. after the weights change)."""
        self._built_for = None
        self._indexes.clear()
        self._features = {}

    async def _build(self, now: datetime, given: AsyncSession | None) -> None:
        look = self._wall()
        async with self._session(given) as session:
            self._features = await load_features(session, now=now, window_days=self._window_days)
        weights = list(self._indexes) or [DEFAULT_WEIGHTS]
        self._indexes.clear()
        for w in weights:
            self.index(w)
        self._built_for = now
        self._since = look - self._lag
        self._seen.clear()
        self.stats["builds"] += 1

    def _session(self, given: AsyncSession | None) -> AbstractAsyncContextManager[AsyncSession]:
        """The caller's session if it has one (left open), else a new one of our own."""
        return contextlib.nullcontext(given) if given is not None else self._maker()

    async def _refresh(self, now: datetime, given: AsyncSession | None) -> None:
        assert self._since is not None
        look = self._wall()
        async with self._session(given) as session:
            rows = await matching_repo.changes_since(session, self._since)
            fresh = [r for r in rows if self._seen.get((r[0], r[1])) != r[2]]
            if fresh:
                await self._apply(session, fresh, now)
        for kind, key, at in rows:
            self._seen[(kind, key)] = at
        since = look - self._lag
        # Forget stamps older than the next window (they will not be returned again).
        self._seen = {k: at for k, at in self._seen.items() if not _before(at, since)}
        self._since = since
        self.stats["refreshes"] += 1

    async def _apply(self, session: AsyncSession, rows: Sequence[Any], now: datetime) -> None:
        changed: set[int] = set()
        projects: list[int] = []
        deletions = False
        for kind, key, _ in rows:
            if kind in ("v", "m"):
                changed.add(int(key))
            elif kind == "p":
                projects.append(int(key))
            else:
                deletions = True
        active = await matching_repo.project_ids_with_status(session, ACTIVE_PROJECT)
        if projects:
            changed |= await matching_repo.accepted_on(session, projects)
        gone: set[int] = set()
        if deletions:
            gone = set(self._features) - await matching_repo.volunteer_ids(session)
        wanted = sorted(changed - gone)
        loaded = await load_features(
            session, now=now, window_days=self._window_days, ids=wanted, active=active
        )
        gone |= {vid for vid in wanted if vid not in loaded}  # deleted or now inactive
        for vid in gone:
            if self._features.pop(vid, None) is not None:
                for index in self._indexes.values():
                    index.remove(vid)
                self.stats["removed"] += 1
        for vid, features in loaded.items():
            if self._features.get(vid) == features:
                continue
            self._features[vid] = features
            for index in self._indexes.values():
                index.upsert(features)
            self.stats["reloaded"] += 1


def _before(at: Any, since: datetime) -> bool:
    """True if a stamp is older than `since` (stamps come back as datetimes)."""
    return isinstance(at, datetime) and at < since
