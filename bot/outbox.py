"""Outbound delivery: every push and post a state change causes, sent at least once and
delivered once.

A row is written in the same transaction as the change. The dispatcher claims due
rows with a lease (so a crash mid-send retries after the lease, with the same
idempotency key), sends each through the channel's transport, and on a passing
failure (network, 5xx, 429) tries again with exponential backoff and jitter,
honouring Retry-After. After `max_attempts` a row is dead: coordinators see it.
Messages to the same target go in order; Slack posts are paced per channel, and each
(channel, kind) is held to the platform's request rate while rows go out concurrently.

Rows are written by `bot.outbox_rows` (`enqueue`, `fan_out`, `key_for`), re-exported
here for callers that write rows with `from bot import outbox`. LINE pushes and
multicasts count against the plan's monthly quota: when a `bot.budget.Budget` is
attached, non-urgent ones wait (status "deferred") while the budget cannot pay for
them, and go out when it can.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.conversation.model import Reply
from bot.outbox_rows import (
    MULTICAST_MAX,
    PAID_KINDS,
    Item,
    enqueue,
    fan_out,
    key_for,
    replies_from,
    replies_payload,
)
from storage import repo
from storage.base import utcnow
from storage.db import wipe_if_pending

if TYPE_CHECKING:
    from bot.budget import Budget
    from bot.expiry import Expiry

__all__ = [
    "MULTICAST_MAX",
    "PAID_KINDS",
    "Dispatcher",
    "Item",
    "PermanentError",
    "Policy",
    "QuotaExceeded",
    "RateLimit",
    "TransientError",
    "Transport",
    "enqueue",
    "fan_out",
    "key_for",
    "replies_from",
    "replies_payload",
]

log = logging.getLogger(__name__)


class TransientError(Exception):
    """Try again later (network error, 5xx, 429); `retry_after` in seconds if the API said."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentError(Exception):
    """Trying again cannot help (bad request, unknown channel, blocked user)."""


class QuotaExceeded(Exception):
    """The platform refused because the plan's monthly message quota is used up."""


class Transport(Protocol):
    """Sends one item on one platform; returns what the platform answered (e.g. ts)."""

    async def deliver(self, item: Item) -> dict[str, Any]: ...


# ---------------------------------------------------------------- dispatching


class RateLimit:
    """At most `rate` starts a second (a token bucket with a small burst).

    The burst is a tenth of a second's worth, so the requests of any one second stay
    within the platform's limit even when they arrive there bunched up.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more request may start."""
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
                self._at = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)


@dataclass
class Policy:
    """Retry and pacing numbers (defaults suit LINE and Slack's documented limits)."""

    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 600.0
    lease: float = 60.0
    batch: int = 100
    # Slack allows about one message a second per channel.
    slack_pace: float = 1.0
    # chat.postMessage also has a workspace-wide limit Slack does not publish ("several
    # hundred a minute"); 300 a minute stays under it. A 429 is retried anyway.
    slack_rate: float = 5.0
    # This process's part of each platform rate limit: 1/N when N server processes send
    # (TSUNAGU_WORKERS), so together they stay within the limit.
    share: float = 1.0
    idle_poll: float = 1.0
    jitter: Callable[[], float] = field(default=random.random)


class Dispatcher:
    """Claims due outbox rows and sends them; any number of processes may run one."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        transports: dict[str, Transport],
        *,
        policy: Policy | None = None,
        clock: Callable[[], datetime] = utcnow,
        budget: Budget | None = None,
        expiry: Expiry | None = None,
    ) -> None:
        self._maker = maker
        self._transports = transports
        self.expiry = expiry
        self.policy = policy or Policy()
        self._clock = clock
        self.budget = budget
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_post: dict[str, datetime] = {}
        self._limits: dict[tuple[str, str], RateLimit | None] = {}
        self._next_resume: datetime | None = None
        self._inflight: set[int] = set()
        self._running = False

    async def push(
        self, *, channel: str, target: str, replies: list[Reply], key: str, urgent: bool = True
    ) -> None:
        """Queue replies as a push (e.g. when a reply token was refused) and wake up.

        Urgent by default: these answer something the person just did.
        """
        async with self._maker.begin() as session:
            await enqueue(
                session,
                channel=channel,
                kind="push",
                target=target,
                payload=replies_payload(replies, urgent=urgent),
                key=key,
            )
        self.notify()

    def notify(self) -> None:
        """Something was written: look now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        """Run the dispatch loop in the background."""
        self._running = True
        self._task = asyncio.create_task(self._loop(), name="outbox-dispatcher")
        self.notify()

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let sends under way finish for up to `grace` seconds."""
        self._running = False
        if self._task is not None:
            self._wake.set()
            done, _ = await asyncio.wait({self._task}, timeout=grace)
            if not done:
                # What is cut off stays leased and is sent again later with the same key.
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        # Rows are claimed while others are still being sent, up to `batch` in flight, so
        # a slow group (a paced Slack channel) does not hold back the rest. Order per
        # target holds: a target's next row is not claimable while one is "sending".
        inflight: set[asyncio.Task[None]] = set()
        try:
            while self._running:
                self._wake.clear()
                free = self.policy.batch - len(inflight)
                claimed: list[Item] = []
                # Claim in handfuls, not after every single send: each claim is a write.
                if free > 0 and (not inflight or free >= self.policy.batch // 4):
                    try:
                        claimed = await self._claim(free)
                    except Exception:
                        log.exception("outbox: claiming failed")
                for group in self._groups(claimed):
                    task = asyncio.create_task(self._send_group_once(group))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                if claimed and len(inflight) < self.policy.batch // 4 * 3:
                    continue
                waiter = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait(
                        {waiter, *inflight},
                        timeout=self.policy.idle_poll,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    waiter.cancel()
            if inflight:
                await asyncio.gather(*inflight, return_exceptions=True)
        except asyncio.CancelledError:
            for task in list(inflight):
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)
            raise

    async def run_once(self) -> int:
        """Claim and send what is due now; return how many rows were handled."""
        items = await self._claim(self.policy.batch)
        await asyncio.gather(*(self._send_group(g) for g in self._groups(items)))
        return len(items)

    async def _claim(self, limit: int) -> list[Item]:
        now = self._clock()
        lease_until = now + timedelta(seconds=self.policy.lease)
        if self._next_resume is None or now >= self._next_resume:
            # Deferred rows come back when their time has come; a minute's delay is fine
            # for messages that waited for budget.
            self._next_resume = now + timedelta(seconds=60)
            async with self._maker.begin() as session:
                await repo.resume_deferred_outbox(session, now)
        async with self._maker() as session:
            if not await repo.outbox_due(session, now):
                return []
        async with self._maker.begin() as session:
            rows = await repo.claim_outbox(session, now, lease_until, limit)
            return [
                Item(
                    id=r.id,
                    channel=r.channel,
                    kind=r.kind,
                    target=r.target,
                    payload=r.payload,
                    key=r.key,
                    attempts=r.attempts,
                    ref_type=r.ref_type,
                    ref_id=r.ref_id,
                    expires_at=r.expires_at,
                )
                for r in rows
            ]

    async def _send_group_once(self, items: list[Item]) -> None:
        # A row whose lease ran out while this process is still sending it comes back from
        # a claim; the send under way finishes it (the claim only renewed its lease).
        mine = [x for x in items if x.id not in self._inflight]
        ids = {x.id for x in mine}
        self._inflight |= ids
        try:
            await self._send_group(mine)
        finally:
            self._inflight -= ids

    @staticmethod
    def _groups(items: list[Item]) -> list[list[Item]]:
        groups: dict[tuple[str, str], list[Item]] = defaultdict(list)
        for item in items:
            groups[(item.channel, item.target)].append(item)
        return list(groups.values())

    async def _send_group(self, items: list[Item]) -> None:
        # In order per target: once one fails, the rest of the group waits with it. A
        # message deferred for budget does not hold back the ones after it.
        for i, item in enumerate(items):
            ok = await self._send_one(item)
            if not ok:
                later = items[i + 1 :]
                if later:
                    async with self._maker.begin() as session:
                        await repo.release_outbox(
                            session, [x.id for x in later], self._clock() + timedelta(seconds=1)
                        )
                return

    async def _send_one(self, item: Item) -> bool:
        transport = self._transports.get(item.channel)
        if transport is None:
            await self._retry(item, TransientError(f"no transport for {item.channel}"))
            return False
        if await self._expire_if_past(item, self._clock()):
            return True
        admission = None
        budget = self.budget
        if budget is not None and budget.counts(item):
            admission = await budget.admit(item.recipients, urgent=item.urgent)
            if admission.defer_until is not None:
                await self._defer(item, admission.defer_until, admission.reason)
                return True
        sent = False
        try:
            await self._resolve_refs(item)
            await self._pace(item)
            limit = self._limit(item, transport)
            if limit is not None:
                await limit.acquire()
            result = await transport.deliver(item)
            sent = True
        except QuotaExceeded:
            # Not a failure of this message: LINE will take it when the quota allows.
            until = (
                await budget.exhausted(urgent=item.urgent)
                if budget is not None
                else self._clock() + timedelta(hours=1)
            )
            await self._defer(item, until, "monthly quota reached")
            return True
        except TransientError as exc:
            await self._retry(item, exc)
            return False
        except PermanentError as exc:
            await self._dead(item, str(exc))
            return False
        except Exception as exc:  # unexpected: treat as passing, but bounded by attempts
            log.exception("outbox: unexpected error sending %s", item.id)
            await self._retry(item, TransientError(type(exc).__name__))
            return False
        finally:
            if budget is not None and admission is not None:
                budget.settle(admission, sent=sent)
        async with self._maker.begin() as session:
            reply = item.ref_type == repo.REPLY
            await repo.mark_outbox_sent(session, item.id, self._clock(), reply=reply)
            wipe_if_pending(session)
            if item.kind == "post" and item.ref_type and item.ref_id and result.get("ts"):
                await repo.record_message_ref(
                    session,
                    item.ref_type,
                    item.ref_id,
                    result.get("channel") or item.target,
                    str(result["ts"]),
                )
        log.info("outbox: sent %s %s #%d", item.channel, item.kind, item.id)
        return True

    async def _resolve_refs(self, item: Item) -> None:
        if item.kind not in ("update", "thread") or not item.ref_type or not item.ref_id:
            return
        async with self._maker() as session:
            ref = await repo.message_ref(session, item.ref_type, item.ref_id)
        if ref is None:
            # The message it refers to has not been posted yet: wait for it.
            raise TransientError("referenced message not posted yet")
        channel, ts = ref
        item.target = channel
        if item.kind == "update":
            item.ts = ts
        else:
            item.thread_ts = ts

    def _limit(self, item: Item, transport: Transport) -> RateLimit | None:
        """The request-rate limit for this kind on this channel (the transport's numbers)."""
        # Slack's posts and thread replies are one method (chat.postMessage): one bucket.
        kind = "post" if item.channel == "slack" and item.kind == "thread" else item.kind
        key = (item.channel, kind)
        if key not in self._limits:
            rates: dict[str, float] = dict(getattr(transport, "rate_limits", None) or {})
            if item.channel == "slack":
                rates.setdefault("post", self.policy.slack_rate)
            rate = rates.get(kind)
            self._limits[key] = RateLimit(rate * self.policy.share) if rate else None
        return self._limits[key]

    async def _pace(self, item: Item) -> None:
        if item.channel != "slack" or item.kind == "update":
            return
        last = self._last_post.get(item.target)
        now = self._clock()
        if last is not None:
            wait = self.policy.slack_pace - (now - last).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)
        self._last_post[item.target] = self._clock()

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt `attempts + 1`: exponential, jittered, capped."""
        delay = min(self.policy.max_delay, self.policy.base_delay * 2 ** max(0, attempts - 1))
        delay = delay * (0.5 + self.policy.jitter() / 2)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return float(delay)

    async def _retry(self, item: Item, exc: TransientError) -> None:
        if item.attempts >= self.policy.max_attempts:
            await self._dead(item, exc.reason)
            return
        delay = self.backoff(item.attempts, exc.retry_after)
        log.info(
            "outbox: %s #%d failed (%s); attempt %d, next in %.1fs",
            item.channel,
            item.id,
            exc.reason[:80],
            item.attempts,
            delay,
        )
        async with self._maker.begin() as session:
            await repo.retry_outbox(
                session, item.id, self._clock() + timedelta(seconds=delay), exc.reason[:200]
            )

    async def _expire_if_past(self, item: Item, when: datetime) -> bool:
        """A dated message that would go at `when`, at or after its event, expires."""
        if item.expires_at is None or when < item.expires_at:
            return False
        log.info("outbox: %s %s #%d expired before it could go", item.channel, item.kind, item.id)
        async with self._maker.begin() as session:
            await repo.expire_outbox(session, item.id, "expired: its event has begun")
            if self.expiry is not None:
                await self.expiry.tell(session, item, self._clock())
        self.notify()
        return True

    async def _defer(self, item: Item, until: datetime, reason: str) -> None:
        if await self._expire_if_past(item, until):
            return  # waiting would take it past its event
        log.info("outbox: %s %s #%d deferred (%s)", item.channel, item.kind, item.id, reason)
        async with self._maker.begin() as session:
            await repo.defer_outbox(session, item.id, until, f"deferred: {reason}"[:200])

    async def _dead(self, item: Item, reason: str) -> None:
        log.warning(
            "outbox: %s #%d is dead after %d attempts", item.channel, item.id, item.attempts
        )
        async with self._maker.begin() as session:
            await repo.dead_outbox(session, item.id, reason[:200])
