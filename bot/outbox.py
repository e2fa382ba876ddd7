"""Outbound delivery: every push and post a state change causes, sent at least once and
delivered once.

A row is written in the same transaction as the change. The dispatcher claims due
rows with a lease (so a crash mid-send retries after the lease, with the same
idempotency key), sends each through the channel's transport, and on a passing
failure (network, 5xx, 429) tries again with exponential backoff and jitter,
honouring Retry-After. After `max_attempts` a row is dead: coordinators see it.
Messages to the same target go in order; Slack posts are paced per channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.conversation.model import Reply
from storage import repo
from storage.base import utcnow

log = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("0b8a3f0e-5c1d-4a57-9a53-6f3cfb8f0d21")


class TransientError(Exception):
    """Try again later (network error, 5xx, 429); `retry_after` in seconds if the API said."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentError(Exception):
    """Trying again cannot help (bad request, unknown channel, blocked user)."""


@dataclass
class Item:
    """One claimed outbox row as the transport sees it."""

    id: int
    channel: str
    kind: str
    target: str
    payload: dict[str, Any]
    key: str
    attempts: int
    ref_type: str | None = None
    ref_id: int | None = None
    # Filled by the dispatcher for kinds that refer to an earlier Slack message.
    thread_ts: str | None = None
    ts: str | None = None


class Transport(Protocol):
    """Sends one item on one platform; returns what the platform answered (e.g. ts)."""

    async def deliver(self, item: Item) -> dict[str, Any]: ...


# ---------------------------------------------------------------- writing rows


def key_for(*parts: object) -> str:
    """A stable idempotency key (a UUID) for a message caused by these facts."""
    return str(uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts)))


def replies_payload(replies: list[Reply]) -> dict[str, Any]:
    """Neutral replies as plain data for a LINE push row."""
    return {
        "replies": [
            {
                "text": r.text,
                "choices": [
                    {"label": c.label, "data": c.data, "display": c.display} for c in r.choices
                ],
            }
            for r in replies
        ]
    }


def replies_from(payload: dict[str, Any]) -> list[Reply]:
    """Plain data back to neutral replies (for the LINE transport)."""
    from bot.conversation.model import Choice

    return [
        Reply(
            r["text"],
            tuple(Choice(c["label"], c["data"], c.get("display")) for c in r.get("choices", [])),
        )
        for r in payload.get("replies", [])
    ]


async def enqueue(
    session: AsyncSession,
    *,
    channel: str,
    kind: str,
    target: str,
    payload: dict[str, Any],
    key: str,
    ref_type: str | None = None,
    ref_id: int | None = None,
    now: datetime | None = None,
) -> None:
    """Write one outgoing message in the caller's transaction (a repeated key is ignored)."""
    await repo.add_outbox(
        session,
        channel=channel,
        kind=kind,
        target=target,
        payload=payload,
        key=key,
        ref_type=ref_type,
        ref_id=ref_id,
        due_at=now or utcnow(),
    )


async def fan_out(
    session: AsyncSession,
    *,
    channel: str,
    targets: Sequence[str],
    replies: list[Reply],
    key: str,
    urgent: bool = False,
    now: datetime | None = None,
) -> int:
    """Write one message to many people in the caller's transaction; return rows written.

    Each recipient once, in order, keyed from `key` so writing it again adds nothing.
    """
    seen: set[str] = set()
    rows = 0
    payload = replies_payload(replies)
    payload["urgent"] = urgent
    for target in targets:
        if target in seen:
            continue
        seen.add(target)
        await enqueue(
            session,
            channel=channel,
            kind="push",
            target=target,
            payload=payload,
            key=key_for(key, target),
            now=now,
        )
        rows += 1
    return rows


# ---------------------------------------------------------------- dispatching


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
    ) -> None:
        self._maker = maker
        self._transports = transports
        self.policy = policy or Policy()
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_post: dict[str, datetime] = {}
        self._running = False

    async def push(self, *, channel: str, target: str, replies: list[Reply], key: str) -> None:
        """Queue replies as a push (e.g. when a reply token was refused) and wake up."""
        async with self._maker.begin() as session:
            await enqueue(
                session,
                channel=channel,
                kind="push",
                target=target,
                payload=replies_payload(replies),
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

    async def stop(self) -> None:
        """Stop after the current round."""
        self._running = False
        if self._task is not None:
            self._wake.set()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while self._running:
            try:
                sent = await self.run_once()
            except Exception:
                log.exception("outbox: dispatch round failed")
                sent = 0
            if sent:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.policy.idle_poll)
            self._wake.clear()

    async def run_once(self) -> int:
        """Claim and send what is due now; return how many rows were handled."""
        now = self._clock()
        lease_until = now + timedelta(seconds=self.policy.lease)
        async with self._maker() as session:
            if not await repo.outbox_due(session, now):
                return 0
        async with self._maker.begin() as session:
            rows = await repo.claim_outbox(session, now, lease_until, self.policy.batch)
            items = [
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
                )
                for r in rows
            ]
        if not items:
            return 0
        groups: dict[tuple[str, str], list[Item]] = defaultdict(list)
        for item in items:
            groups[(item.channel, item.target)].append(item)
        await asyncio.gather(*(self._send_group(g) for g in groups.values()))
        return len(items)

    async def _send_group(self, items: list[Item]) -> None:
        # In order per target: once one fails, the rest of the group waits with it.
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
        try:
            await self._resolve_refs(item)
            await self._pace(item)
            result = await transport.deliver(item)
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
        async with self._maker.begin() as session:
            await repo.mark_outbox_sent(session, item.id, self._clock())
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

    async def _dead(self, item: Item, reason: str) -> None:
        log.warning(
            "outbox: %s #%d is dead after %d attempts", item.channel, item.id, item.attempts
        )
        async with self._maker.begin() as session:
            await repo.dead_outbox(session, item.id, reason[:200])
