"""The durable inbox: accept events once, apply them in order per person, reply after commit.

Accepting an event is one INSERT ... ON CONFLICT DO NOTHING, group-committed with
every other event that arrived in the same moment, before the webhook answers 200:
an event that was acknowledged is on disk, and a redelivered one inserts nothing.
One processor task applies events in batches: in one transaction it claims them
(pending -> done), loads and locks the people's conversations, runs the dialogue,
writes the effects and the new states. Replies go out after the commit, in order
per person and concurrently across people. Events left pending by a crash are
applied at the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.conversation.model import Reply
from bot.dialogue import Dialogue
from bot.events import Event
from bot.i18n import T
from bot.profiles import EffectContext, SessionLookups, apply_effect
from storage import repo
from storage.base import utcnow
from storage.models import InboundEvent

log = logging.getLogger(__name__)

Sender = Callable[[Event, list[Reply]], Awaitable[None]]
# Adds what the platform knows about a new person (e.g. their language) before a follow
# is applied; runs outside any transaction, with a short time limit.
Enricher = Callable[[Event], Awaitable[Event]]
ENRICH_TIMEOUT_S = 2.0

BATCH_MAX = 500
# Events applied in one transaction: small enough that the webhook's insert (which
# the 200 waits for) never queues long behind the processor on SQLite's write gate.
# 16 rather than 64 since a batch's own statements got cheap: at 500 events/s, ack p99
# 744 ms vs 2,247 ms in the same (heavily shared) benchmark run, bench/README.md.
PROCESS_BATCH = 16
APOLOGY = T(
    ja="申し訳ありません。処理中にエラーが起きました。お手数ですが、もう一度送ってください。",
    en="Sorry, something went wrong on our side. Please send that again.",
)


class InboxClosed(RuntimeError):
    """The inbox is shutting down and accepts no more events."""


class Inbox:
    """Accepts neutral events from any channel and applies each exactly once."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        dialogue: Dialogue,
        *,
        effects: EffectContext,
        clock: Callable[[], datetime] = utcnow,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._maker = maker
        self._dialogue = dialogue
        self._effects = effects
        self._on_commit = on_commit
        self._clock = clock
        self._senders: dict[str, Sender] = {}
        self._enrichers: dict[str, Enricher] = {}
        self._writes: list[tuple[list[Event], asyncio.Future[int]]] = []
        self._write_wake = asyncio.Event()
        self._queue: list[tuple[int, Event]] = []
        self._process_wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tails: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._closing = False

    def register(self, channel: str, sender: Sender, enrich: Enricher | None = None) -> None:
        """Route replies for events of this channel to the sender."""
        self._senders[channel] = sender
        if enrich is not None:
            self._enrichers[channel] = enrich

    async def start(self) -> None:
        """Start the writer and processor tasks, then queue events a crash left pending."""
        self._loops = [
            asyncio.create_task(self._writer(), name="inbox-writer"),
            asyncio.create_task(self._processor(), name="inbox-processor"),
        ]
        await self.recover()

    async def recover(self) -> int:
        """Queue events accepted earlier but never applied; return how many."""
        async with self._maker() as session:
            rows = await repo.pending_events(session, limit=100_000)
        items = [
            (
                row.id,
                _event_of(row),
            )
            for row in rows
            if row.user_key
        ]
        if items:
            log.info("inbox: recovering %d pending events", len(items))
            self._enqueue(items)
        return len(items)

    async def seen_once(self, channel: str, event_id: str, kind: str) -> bool:
        """Record an event handled outside the inbox; True the first time, False after."""
        async with self._maker.begin() as session:
            new = await repo.insert_events(
                session,
                [
                    {
                        "channel": channel,
                        "event_id": event_id[:64],
                        "kind": kind,
                        "user_key": None,
                        "occurred_ms": 0,
                        "payload": None,
                        "status": "done",
                        "received_at": self._clock(),
                    }
                ],
            )
        return bool(new)

    async def submit(self, events: Sequence[Event]) -> int:
        """Durably accept events (deduplicated by id); return how many were new."""
        if self._closing:
            raise InboxClosed
        if not events:
            return 0
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._writes.append((list(events), future))
        self._write_wake.set()
        return await future

    async def drain(self) -> None:
        """Wait until everything accepted so far is applied and its replies are sent."""
        while True:
            # Polling is fine here: drain runs at shutdown and after each console line.
            while self._writes or self._queue or not self._idle.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            tails = list(self._tails.values())
            if tails:
                await asyncio.gather(*tails, return_exceptions=True)
            if not (self._writes or self._queue or self._tails) and self._idle.is_set():
                return

    async def stop(self) -> None:
        """Stop accepting, apply what was accepted, send its replies, end the tasks."""
        self._closing = True
        await self.drain()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []

    # ---------------------------------------------------------------- writing

    async def _writer(self) -> None:
        while True:
            await self._write_wake.wait()
            self._write_wake.clear()
            batch, self._writes = self._writes, []
            if batch:
                await self._write(batch)

    async def _write(self, batch: list[tuple[list[Event], asyncio.Future[int]]]) -> None:
        now = self._clock()
        unique: dict[tuple[str, str], Event] = {}
        for events, _ in batch:
            for ev in events:
                unique.setdefault((ev.channel, ev.event_id), ev)
        rows = [
            {
                "channel": ev.channel,
                "event_id": ev.event_id,
                "kind": ev.kind,
                "user_key": ev.user_key,
                "occurred_ms": ev.occurred_ms,
                "payload": ev.payload(),
                "status": "pending",
                "received_at": now,
            }
            for ev in unique.values()
        ]
        try:
            new_keys: dict[tuple[str, str], int] = {}
            async with self._maker.begin() as session:
                conn = await session.connection()
                for start in range(0, len(rows), BATCH_MAX):
                    chunk = rows[start : start + BATCH_MAX]
                    new_keys.update(await repo.insert_events(conn, chunk))
        except Exception as exc:  # the webhook answers 500 and the platform redelivers
            log.exception("inbox: could not store %d events", len(rows))
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        new_items = [(new_keys[key], unique[key]) for key in unique if key in new_keys]
        self._enqueue(new_items)
        new_set = set(new_keys)
        for events, future in batch:
            if not future.done():
                future.set_result(sum((e.channel, e.event_id) in new_set for e in events))

    def _enqueue(self, items: list[tuple[int, Event]]) -> None:
        if items:
            self._queue.extend(items)
            self._idle.clear()
            self._process_wake.set()

    # ---------------------------------------------------------------- applying

    async def _processor(self) -> None:
        while True:
            await self._process_wake.wait()
            self._process_wake.clear()
            while self._queue:
                batch = self._queue[:PROCESS_BATCH]
                del self._queue[:PROCESS_BATCH]
                try:
                    await self._process(batch)
                except Exception:
                    # The transaction rolled back: the events are still pending in the
                    # database. Try again shortly rather than lose them.
                    log.exception("inbox: batch of %d events failed; retrying", len(batch))
                    self._queue[:0] = batch
                    await asyncio.sleep(1.0)
            self._idle.set()

    async def _enrich(self, batch: list[tuple[int, Event]]) -> list[tuple[int, Event]]:
        todo = [
            (i, self._enrichers[ev.channel])
            for i, (_, ev) in enumerate(batch)
            if ev.kind == "follow" and ev.channel in self._enrichers
        ]
        if not todo:
            return batch
        out = list(batch)
        try:
            async with asyncio.timeout(ENRICH_TIMEOUT_S):
                done = await asyncio.gather(
                    *(enrich(batch[i][1]) for i, enrich in todo), return_exceptions=True
                )
        except TimeoutError:
            return batch
        for (i, _), result in zip(todo, done, strict=True):
            if isinstance(result, Event):
                out[i] = (batch[i][0], result)
        return out

    async def _process(self, batch: list[tuple[int, Event]]) -> None:
        batch = await self._enrich(batch)
        now = self._clock()
        outgoing: list[tuple[Event, list[Reply]]] = []
        async with self._maker.begin() as session:
            # The batch's own statements are Core: they run on the transaction's
            # connection, past the ORM's execute layer (see storage/repo.py, Db).
            conn = await session.connection()
            # Serve people, not single events: take every pending event of the people in
            # this batch, including those another process accepted, so that one person's
            # events are never split between two processors and applied out of order.
            known = dict(batch)
            people: dict[str, set[str]] = defaultdict(set)
            for ev in known.values():
                people[ev.channel].add(ev.user_key)
            for channel, user_keys in people.items():
                rows = await repo.pending_for_users(
                    conn, channel, sorted(user_keys), known=known.keys()
                )
                for row in rows:
                    if row.id not in known and row.user_key:
                        known[row.id] = _event_of(row)
            won = await repo.claim_events(conn, list(known), now)
            groups: dict[tuple[str, str], list[tuple[int, Event]]] = defaultdict(list)
            for row_id, ev in known.items():
                if row_id in won:
                    groups[(ev.channel, ev.user_key)].append((row_id, ev))
            by_channel: dict[str, list[tuple[str, Event]]] = defaultdict(list)
            for (channel, key), items in groups.items():
                items.sort(key=lambda item: (item[1].occurred_ms, item[0]))
                by_channel[channel].append((key, items[0][1]))

            stale: list[int] = []
            failed: list[int] = []
            wrote = False
            updates: list[dict[str, Any]] = []
            for channel, firsts in by_channel.items():
                keys = [key for key, _ in firsts]
                convs = await repo.load_conversations(conn, channel, keys)
                missing = [
                    (k, self._dialogue.initial_locale(e)) for k, e in firsts if k not in convs
                ]
                if missing:
                    convs.update(await repo.create_conversations(conn, channel, missing))
                    raced = [k for k, _ in missing if k not in convs]
                    if raced:  # created by another process since we looked
                        convs.update(await repo.load_conversations(conn, channel, raced))
                for key in keys:
                    conv = convs[key]
                    state: dict[str, Any] | None = conv.state
                    locale, last = conv.locale, conv.last_event_ms
                    forgotten = False
                    touched = False
                    for row_id, ev in groups[(channel, key)]:
                        if ev.occurred_ms < last:
                            # A late redelivery of something older than what was already
                            # applied: applying it now would answer the wrong question.
                            stale.append(row_id)
                            log.info("inbox: stale event %s (%s)", ev.event_id, ev.kind)
                            continue
                        try:
                            result = await self._apply(session, ev, state, locale)
                        except Exception:
                            log.exception("inbox: event %s (%s) failed", ev.event_id, ev.kind)
                            failed.append(row_id)
                            outgoing.append((ev, [Reply(APOLOGY(locale))]))
                            continue
                        outgoing.append((ev, result.replies))
                        wrote = wrote or bool(result.effects)
                        state, locale = result.state, result.locale
                        last = max(last, ev.occurred_ms)
                        if result.forget:
                            forgotten, touched, state = True, False, None
                        else:
                            touched = True
                    if forgotten and touched:
                        created = await repo.create_conversations(conn, channel, [(key, locale)])
                        conv = (
                            created.get(key)
                            or (await repo.load_conversations(conn, channel, [key]))[key]
                        )
                    if touched or not forgotten:
                        updates.append(
                            {
                                "id": conv.id,
                                "state": state or {},
                                "locale": locale,
                                "last_event_ms": last,
                                "updated_at": now,
                            }
                        )
            await repo.save_conversations(conn, updates)
            await repo.set_event_status(conn, stale, "stale")
            await repo.set_event_status(conn, failed, "failed")
        # Effects may have written outbox rows: let the dispatcher look now.
        if wrote:
            self._on_commit()
        for ev, replies in outgoing:
            self._send(ev, replies)

    async def _apply(
        self, session: AsyncSession, ev: Event, state: dict[str, Any] | None, locale: str
    ) -> Any:
        lookups = SessionLookups(session, ev.channel, ev.user_key, self._effects)
        result = await self._dialogue.handle(state, locale, ev, lookups)
        menus = self._effects.rich_menus
        # Who the person is (or their language) may have changed: their rich menu follows.
        resync = menus is not None and (
            bool(result.effects) or result.locale != locale or ev.kind == "follow"
        )
        if result.effects or resync:
            # A savepoint: if writing fails, this person's state and data stay as they were
            # and the rest of the batch still commits.
            async with session.begin_nested():
                for effect in result.effects:
                    await apply_effect(
                        session, ev.channel, ev.user_key, result.locale, effect, self._effects
                    )
                if menus is not None and resync:
                    await menus.sync(session, ev.channel, ev.user_key, result.locale, self._clock())
        return result

    # ---------------------------------------------------------------- replying

    def _send(self, ev: Event, replies: list[Reply]) -> None:
        sender = self._senders.get(ev.channel)
        if sender is None or not replies:
            return
        key = (ev.channel, ev.user_key)
        previous = self._tails.get(key)
        task = asyncio.create_task(self._send_after(previous, sender, ev, replies))
        self._tails[key] = task

        def _forget(done: asyncio.Task[None]) -> None:
            if self._tails.get(key) is done:
                del self._tails[key]

        task.add_done_callback(_forget)

    @staticmethod
    async def _send_after(
        previous: asyncio.Task[None] | None, sender: Sender, ev: Event, replies: list[Reply]
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            await sender(ev, replies)
        except Exception:
            log.exception("inbox: sending replies for event %s failed", ev.event_id)


def _event_of(row: InboundEvent | Row[Any]) -> Event:
    """An inbox row (entity or Core row) back as the neutral event it was accepted as."""
    return Event.from_stored(
        channel=row.channel,
        event_id=row.event_id,
        user_key=row.user_key or "",
        occurred_ms=row.occurred_ms,
        kind=row.kind,
        payload=row.payload or {},
    )
