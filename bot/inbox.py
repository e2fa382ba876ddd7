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
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.conversation.model import Reply
from bot.dialogue import Dialogue
from bot.effects import EffectContext, SessionLookups, apply_effect
from bot.events import Event
from bot.i18n import T
from bot.outbox import key_for, replies_payload
from storage import repo
from storage.base import utcnow
from storage.db import wipe_if_pending
from storage.models import InboundEvent

log = logging.getLogger(__name__)

# Sends an event's replies right away; False if they were not delivered (the inbox then
# hands them to the outbox as a push), True or None if they were (or cannot ever be).
Sender = Callable[[Event, list[Reply]], Awaitable[bool | None]]
# Adds what the platform knows about a new person (e.g. their language) before a follow
# is applied; runs outside any transaction, with a short time limit.
Enricher = Callable[[Event], Awaitable[Event]]
ENRICH_TIMEOUT_S = 2.0

BATCH_MAX = 500
# Events applied in one transaction: small enough that the webhook's insert (which
# the 200 waits for) never queues long behind the processor on SQLite's write gate.
# 16 rather than 64 since a batch's own statements got cheap (measured: bench/README.md,
# "Figures behind choices in the code").
PROCESS_BATCH = 16
# Tries of an event on its own (after its batch failed) before it is set aside as failed.
ALONE_ATTEMPTS = 3
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
        ingest: async_sessionmaker[AsyncSession] | None = None,
        hold_s: float = 60.0,
    ) -> None:
        self._maker = maker
        # Accepting events (what the webhook's 200 waits for) may run on its own small
        # pool, so that nothing else the process does can leave it without a connection.
        self._ingest = ingest or maker
        self._dialogue = dialogue
        self._effects = effects
        self._on_commit = on_commit
        self._clock = clock
        self._senders: dict[str, Sender] = {}
        # Channels whose replies are written to the outbox with the change (see _process).
        self._durable: set[str] = set()
        self._hold = timedelta(seconds=hold_s)
        # Held replies sent (or not) since the last settle, by key; and per person, the
        # settle that made a reply of theirs a pending push (None: not yet committed).
        self._sent: list[str] = []
        self._unsent: list[tuple[tuple[str, str], str]] = []
        self._settles = 0
        self._fell_back: dict[tuple[str, str], int | None] = {}
        self._settler: asyncio.Task[None] | None = None
        self._enrichers: dict[str, Enricher] = {}
        self._writes: list[tuple[list[Event], asyncio.Future[int]]] = []
        self._write_wake = asyncio.Event()
        self._queue: list[tuple[int, Event]] = []
        self._process_wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tails: dict[tuple[str, str], asyncio.Task[bool]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._closing = False

    def register(
        self,
        channel: str,
        sender: Sender,
        enrich: Enricher | None = None,
        *,
        durable: bool = False,
    ) -> None:
        """Route replies for events of this channel to the sender.

        `durable`: the channel's outbox transport can push what the sender could not
        deliver; its replies are then written with the change they answer.
        """
        self._senders[channel] = sender
        if durable:
            self._durable.add(channel)
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
        async with self._ingest.begin() as session:
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

    async def forget(self, channel: str, event_id: str) -> None:
        """Undo seen_once: the same id counts as new again (e.g. a modal sent back)."""
        async with self._maker.begin() as session:
            await repo.forget_event(session, channel, event_id[:64])

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
            if self._settler is not None:
                await asyncio.gather(self._settler, return_exceptions=True)
            if (
                not (self._writes or self._queue or self._tails or self._sent or self._unsent)
                and self._idle.is_set()
            ):
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
            async with self._ingest.begin() as session:
                conn = await session.connection()
                for start in range(0, len(rows), BATCH_MAX):
                    chunk = rows[start : start + BATCH_MAX]
                    new_keys.update(await repo.insert_events(conn, chunk))
        except Exception as exc:
            if len(batch) > 1:
                # One request's events must not fail another's: write each on its own.
                log.warning("inbox: storing %d requests together failed; one by one", len(batch))
                for one in batch:
                    await self._write([one])
                return
            # The webhook answers 500 and the platform redelivers.
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
                    # database. One event must not hold back the others: each is tried
                    # on its own (and set aside if it alone keeps failing).
                    log.exception("inbox: batch of %d events failed; one by one", len(batch))
                    for item in batch:
                        await self._process_alone(item)
            self._idle.set()

    async def _process_alone(self, item: tuple[int, Event]) -> None:
        """Apply one event in its own transaction; set it aside if that keeps failing."""
        row_id, ev = item
        for attempt in range(ALONE_ATTEMPTS):
            try:
                await self._process([item])
                return
            except Exception:
                log.exception("inbox: event %s (%s) failed alone", ev.event_id, ev.kind)
                await asyncio.sleep(1.0 * (attempt + 1))
        try:
            async with self._maker.begin() as session:
                await repo.set_event_status(await session.connection(), [row_id], "failed")
        except Exception:
            # The database itself is failing, not this event: keep it for later.
            log.exception("inbox: could not set event %s aside; retrying later", ev.event_id)
            self._queue.append(item)
            await asyncio.sleep(1.0)
            return
        log.error("inbox: event %s (%s) set aside as failed", ev.event_id, ev.kind)
        self._send(ev, [Reply(APOLOGY(self._dialogue.initial_locale(ev)))], None, self._settles)

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
        # Settles committed before this batch looked at the outbox (see _send_after).
        looked = self._settles
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

            # People with a message waiting in the outbox (a retry, a push not yet sent):
            # their replies queue behind it instead of overtaking it with a reply token.
            waiting: set[tuple[str, str]] = set()
            for channel in self._durable & by_channel.keys():
                targets = [key for key, _ in by_channel[channel]]
                waiting |= {
                    (channel, t) for t in await repo.targets_waiting(conn, channel, targets)
                }
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
            reply_rows = self._reply_rows(outgoing, waiting, now)
            await repo.add_replies(conn, [row for row, _ in reply_rows])
            wrote = wrote or any(not direct for _, direct in reply_rows)
            await repo.save_conversations(conn, updates)
            await repo.set_event_status(conn, stale, "stale")
            await repo.set_event_status(conn, failed, "failed")
        # Effects may have written outbox rows: let the dispatcher look now.
        if wrote:
            self._on_commit()
        written = iter(reply_rows)
        for ev, said in outgoing:
            if ev.channel not in self._durable or not said:
                self._send(ev, said, None, looked)
                continue
            reply_row, direct = next(written)
            if direct:
                self._send(ev, said, reply_row["key"], looked)

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

    def _reply_rows(
        self,
        outgoing: list[tuple[Event, list[Reply]]],
        waiting: set[tuple[str, str]],
        now: datetime,
    ) -> list[tuple[dict[str, Any], bool]]:
        """Outbox rows for the replies of durable channels, and whether each goes direct.

        A reply is held (sent right after the commit with the reply token) unless its
        person has a message waiting in the outbox: then it is a push behind that one.
        """
        rows: list[tuple[dict[str, Any], bool]] = []
        for ev, replies in outgoing:
            if ev.channel not in self._durable or not replies:
                continue
            direct = (ev.channel, ev.user_key) not in waiting
            row = {
                "channel": ev.channel,
                "kind": "push",
                "target": ev.user_key,
                "payload": replies_payload(replies, urgent=True),
                "key": key_for("reply", ev.channel, ev.event_id),
                # Marks a reply: once delivered, its text and recipient are dropped.
                "ref_type": repo.REPLY,
                "ref_id": None,
                "status": repo.HELD if direct else "pending",
                "attempts": 0,
                "due_at": now + self._hold if direct else now,
                "last_error": None,
                "created_at": now,
                "sent_at": None,
            }
            rows.append((row, direct))
        return rows

    def _send(self, ev: Event, replies: list[Reply], key: str | None, looked: int) -> None:
        sender = self._senders.get(ev.channel)
        if sender is None or not replies:
            return
        person = (ev.channel, ev.user_key)
        previous = self._tails.get(person)
        task = asyncio.create_task(self._send_after(previous, sender, ev, replies, key, looked))
        self._tails[person] = task

        def _forget(done: asyncio.Task[bool]) -> None:
            if self._tails.get(person) is done:
                del self._tails[person]

        task.add_done_callback(_forget)

    async def _send_after(
        self,
        previous: asyncio.Task[bool] | None,
        sender: Sender,
        ev: Event,
        replies: list[Reply],
        key: str | None,
        looked: int,
    ) -> bool:
        """Send after the person's previous replies; settle the held row by `key`."""
        if previous is not None:
            await asyncio.wait([previous])
        person = (ev.channel, ev.user_key)
        if key is not None and person in self._fell_back:
            mark = self._fell_back[person]
            if mark is None or mark > looked:
                # An earlier reply of theirs became a push that this batch did not see
                # waiting: go behind it rather than overtake it with the reply token.
                self._settle(person, key, delivered=False)
                return False
            del self._fell_back[person]  # this batch saw it (and queued behind it)
        try:
            delivered = await sender(ev, replies) is not False
        except Exception:
            log.exception("inbox: sending replies for event %s failed", ev.event_id)
            delivered = False
        if key is not None:
            self._settle(person, key, delivered=delivered)
        return delivered

    # ---------------------------------------------------------------- settling

    def _settle(self, person: tuple[str, str], key: str, *, delivered: bool) -> None:
        if delivered:
            self._sent.append(key)
        else:
            self._unsent.append((person, key))
            self._fell_back[person] = None
        if self._settler is None or self._settler.done():
            self._settler = asyncio.create_task(self._settle_loop(), name="inbox-settle")

    async def _settle_loop(self) -> None:
        """Record what happened to held replies: sent, or pushes due now (one transaction
        for all that finished meanwhile)."""
        while self._sent or self._unsent:
            sent, self._sent = self._sent, []
            unsent, self._unsent = self._unsent, []
            try:
                async with self._maker.begin() as session:
                    await repo.settle_replies(
                        await session.connection(), sent, [k for _, k in unsent], self._clock()
                    )
                    wipe_if_pending(session)
            except Exception:
                # Not lost: a held row whose lease runs out is pushed by the dispatcher.
                log.exception("inbox: could not settle %d replies", len(sent) + len(unsent))
                self._sent[:0], self._unsent[:0] = sent, unsent
                await asyncio.sleep(1.0)
                continue
            self._settles += 1
            still = {p for p, _ in self._unsent}
            for person, _ in unsent:
                if person not in still:
                    self._fell_back[person] = self._settles
            if unsent:
                self._on_commit()


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


async def purge_events(
    maker: async_sessionmaker[AsyncSession], keep: timedelta, now: datetime
) -> int:
    """Delete handled events received more than `keep` ago (an hourly job of the
    scheduler's leader): they only serve to recognise redeliveries, which come within
    hours, and would otherwise add a row per event for ever."""
    async with maker.begin() as session:
        purged = await repo.purge_events(session, now - keep)
    if purged:
        log.info("inbox: purged %d received events older than %s", purged, keep)
    return purged
