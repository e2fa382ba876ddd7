"""The LINE message budget: pushes and multicasts count against the plan's monthly quota.

Replies are free, so the bot answers with a reply token where it can (handlers/line.py)
and only pushes what has no token. This module decides whether a counted message may
go now. It reads the limit and this month's use through a `QuotaReader` (the LINE
adapter) every few minutes, sooner after sending, and counts what it sends in between
(LINE's own figure lags). A non-urgent message the budget cannot pay for waits: an hour
while some quota is left, or until the first of next month (in the programme's time
zone) once it is used up. Urgent ones (answers to what a person just did) always go.
When LINE cannot be asked, nothing is held back. Coordinators get one warning a month
at 80 % and one when the limit is reached, and `text()` for `/tsunagu quota`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import T, Texts, month_text, short_when_text
from bot.outbox_rows import enqueue, key_for
from storage import repo
from storage.base import utcnow

if TYPE_CHECKING:
    from bot.outbox_rows import Item

log = logging.getLogger(__name__)

WARN_AT = 0.8


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    title = T("*LINE の配信枠（{month}）*", "*LINE message budget ({month})*")
    limited = T(
        "今月の使用 {used:,} / {limit:,} 通（{pct} %）、残り {left:,} 通。",
        "Used this month: {used:,} of {limit:,} ({pct} %), {left:,} left.",
    )
    unlimited = T(
        "上限なしのプランです（今月の使用 {used:,} 通）。",
        "The plan has no monthly limit ({used:,} used this month).",
    )
    unknown = T(
        "LINE から配信枠を取得できませんでした。送信は止めずに続けています。",
        "LINE did not tell us the quota just now; sending goes on without holding back.",
    )
    free = T(
        "返信（応答メッセージ）は枠を使いません。"
        "プッシュとマルチキャストは宛先 1 人につき 1 通です。",
        "Replies are free; pushes and multicasts count one per recipient.",
    )
    waiting = T(
        "枠を待っているメッセージ {rows} 件（宛先 {people:,} 人）。{when} 以降に送ります。",
        "Waiting for budget: {rows} message(s) to {people:,} recipient(s), sent from {when}.",
    )
    none_waiting = T("枠を待っているメッセージはありません。", "No message is waiting for budget.")
    warn = T(
        "⚠️ LINE の今月の配信枠の {pct} % を使いました（{used:,} / {limit:,} 通）。"
        "上限に達すると、急ぎでないお知らせは来月まで保留されます（`/tsunagu quota`）。",
        "⚠️ {pct} % of this month's LINE message quota is used ({used:,} of {limit:,}). "
        "At the limit, non-urgent announcements wait until next month (`/tsunagu quota`).",
    )
    exhausted = T(
        "🛑 LINE の今月の配信枠を使い切りました。急ぎでないお知らせは {when} 以降に送ります。"
        "返信は引き続き届きます（`/tsunagu quota`）。",
        "🛑 This month's LINE message quota is used up. Non-urgent announcements go out from "
        "{when}; replies still reach people (`/tsunagu quota`).",
    )


TXT = _Texts


@dataclass(frozen=True)
class Quota:
    """The plan's monthly limit (None: no limit) and the messages counted this month."""

    limit: int | None
    used: int


class QuotaReader(Protocol):
    """Reads the quota from the platform (raises if it cannot)."""

    async def read_quota(self) -> Quota: ...


@dataclass(frozen=True)
class Admission:
    """The budget's answer for one message: go (with `count` reserved) or wait until."""

    count: int
    defer_until: datetime | None = None
    reason: str = ""


class Budget:
    """Decides which LINE pushes and multicasts go now; one per process."""

    channel = "line"

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        reader: QuotaReader | None = None,
        *,
        timezone: str = "Asia/Tokyo",
        coordinator_channel: str = "",
        locale: str = "ja",
        clock: Callable[[], datetime] = utcnow,
        refresh: float = 300.0,
        refresh_after_send: float = 30.0,
        retry_unknown: float = 60.0,
        wait_step: float = 3600.0,
        notify: Callable[[], None] | None = None,
    ) -> None:
        self._maker = maker
        self.reader = reader
        self._tz = ZoneInfo(timezone)
        self._coordinator_channel = coordinator_channel
        self._locale = locale
        self._clock = clock
        self._refresh = timedelta(seconds=refresh)
        self._refresh_after_send = timedelta(seconds=refresh_after_send)
        self._retry_unknown = timedelta(seconds=retry_unknown)
        self._wait_step = timedelta(seconds=wait_step)
        self._notify = notify
        self._lock = asyncio.Lock()
        self._quota: Quota | None = None  # last reading, with what was sent since added
        self._read_at: datetime | None = None
        self._read_month = ""
        self._sent_since_read = 0
        self._reserved = 0
        self._exhausted_month = ""  # LINE said "monthly limit" this month
        self._warned: set[tuple[str, str]] = set()

    # ------------------------------------------------------------ reading

    def month(self, now: datetime | None = None) -> str:
        """The quota month (YYYY-MM in the programme's time zone) of `now`."""
        return (now or self._clock()).astimezone(self._tz).strftime("%Y-%m")

    def next_month_start(self, now: datetime | None = None) -> datetime:
        """Midnight of the first of next month in the time zone, in UTC terms."""
        local = (now or self._clock()).astimezone(self._tz)
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        return datetime(year, month, 1, tzinfo=self._tz).astimezone(UTC)

    async def quota(self) -> Quota | None:
        """This month's quota with what this process sent since LINE was asked; None if unknown."""
        async with self._lock:
            await self._maybe_refresh()
            return self._estimate()

    def _estimate(self) -> Quota | None:
        if self._quota is None:
            return None
        return Quota(self._quota.limit, self._quota.used + self._sent_since_read)

    async def _maybe_refresh(self) -> None:
        now = self._clock()
        if self._read_month and self._read_month != self.month(now):
            self._read_at = None  # a new month starts from LINE's figure
        if self._read_at is not None:
            age = now - self._read_at
            wait = self._refresh
            if self._quota is None:
                wait = self._retry_unknown
            elif self._sent_since_read:
                wait = self._refresh_after_send
            if age < wait:
                return
        await self._read(now)

    async def _read(self, now: datetime) -> None:
        self._read_at = now
        if self.reader is None:
            self._quota = None
            return
        try:
            fresh = await self.reader.read_quota()
        except Exception as exc:
            log.info("budget: quota unknown (%s); not holding anything back", type(exc).__name__)
            self._quota = None
            self._sent_since_read = 0
            return
        month = self.month(now)
        used = fresh.used
        if self._quota is not None and self._read_month == month:
            # LINE's count lags behind what was just sent: never go below our own.
            used = max(used, self._quota.used + self._sent_since_read)
        if (
            self._exhausted_month == month
            and self._quota is not None
            and (fresh.limit is None or (self._quota.limit or 0) < fresh.limit)
        ):
            self._exhausted_month = ""  # the plan was raised
        self._quota = Quota(fresh.limit, used)
        self._read_month = month
        self._sent_since_read = 0
        await self._warn_if_needed(now)

    # ------------------------------------------------------------ deciding

    def counts(self, item: Item) -> bool:
        """True if this outbox row is paid for from the quota (LINE push or multicast)."""
        return item.channel == self.channel and item.kind in ("push", "multicast")

    async def admit(self, count: int, *, urgent: bool) -> Admission:
        """Reserve `count` messages, or say until when a non-urgent message must wait."""
        async with self._lock:
            await self._maybe_refresh()
            now = self._clock()
            if not urgent:
                if self._exhausted_month == self.month(now):
                    return Admission(0, self.next_month_start(now), "monthly quota reached")
                estimate = self._estimate()
                if estimate is not None and estimate.limit is not None:
                    left = estimate.limit - estimate.used - self._reserved
                    if left <= 0:
                        await self._warn(now, "exhausted", estimate)
                        return Admission(0, self.next_month_start(now), "monthly quota reached")
                    if count > left:
                        return Admission(0, now + self._wait_step, f"needs {count}, {left} left")
            self._reserved += count
            return Admission(count)

    def settle(self, admission: Admission, *, sent: bool) -> None:
        """The message went (count it) or did not (give the reservation back)."""
        self._reserved -= admission.count
        if sent:
            self._sent_since_read += admission.count

    async def exhausted(self, *, urgent: bool) -> datetime:
        """LINE answered "monthly limit": hold messages; return when this one may try again."""
        async with self._lock:
            now = self._clock()
            month = self.month(now)
            first = self._exhausted_month != month
            self._exhausted_month = month
            if self._quota is not None and self._quota.limit is not None:
                self._quota = Quota(self._quota.limit, max(self._quota.used, self._quota.limit))
            if first:
                await self._warn(now, "exhausted", self._estimate())
        # An urgent message tries again hourly (the plan may be raised); the rest next month.
        return now + self._wait_step if urgent else self.next_month_start(now)

    # ------------------------------------------------------------ telling coordinators

    async def _warn_if_needed(self, now: datetime) -> None:
        estimate = self._estimate()
        if estimate is None or not estimate.limit:
            return
        if estimate.used >= estimate.limit:
            await self._warn(now, "exhausted", estimate)
        elif estimate.used >= WARN_AT * estimate.limit:
            await self._warn(now, "warn", estimate)

    async def _warn(self, now: datetime, level: str, estimate: Quota | None) -> None:
        """Post one warning per level and month to the coordinator channel (via the outbox)."""

        month = self.month(now)
        if (month, level) in self._warned or not self._coordinator_channel:
            return
        self._warned.add((month, level))
        if level == "warn" and estimate is not None and estimate.limit:
            text = TXT.warn(
                self._locale,
                pct=int(100 * estimate.used / estimate.limit),
                used=estimate.used,
                limit=estimate.limit,
            )
        else:
            text = TXT.exhausted(self._locale, when=self._local(self.next_month_start(now)))
        # The key makes it once a month across restarts and processes.
        async with self._maker.begin() as session:
            await enqueue(
                session,
                channel="slack",
                kind="post",
                target=self._coordinator_channel,
                payload={"text": text},
                key=key_for("line-quota", level, month),
                now=now,
            )
        log.info("budget: coordinators told the LINE quota is at level %s", level)
        if self._notify is not None:
            self._notify()

    def _local(self, when: datetime, locale: str | None = None) -> str:
        return short_when_text(when.astimezone(self._tz), locale or self._locale)

    async def text(self, locale: str | None = None) -> str:
        """`/tsunagu quota`: this month's use, what is left, and what waits for budget."""
        loc = locale or self._locale
        estimate = await self.quota()
        now = self._clock()
        local = now.astimezone(self._tz)
        month = month_text(local, loc)
        lines = [TXT.title(loc, month=month)]
        if estimate is None:
            lines.append(TXT.unknown(loc))
        elif estimate.limit is None:
            lines.append(TXT.unlimited(loc, used=estimate.used))
        else:
            used = min(estimate.used, estimate.limit)
            lines.append(
                TXT.limited(
                    loc,
                    used=estimate.used,
                    limit=estimate.limit,
                    pct=int(100 * used / estimate.limit) if estimate.limit else 100,
                    left=estimate.limit - used,
                )
            )
        lines.append(TXT.free(loc))
        async with self._maker() as session:
            waiting = await repo.deferred_outbox(session, self.channel)
        if waiting:
            people = sum(
                len(r.payload.get("to") or ()) if r.kind == "multicast" else 1 for r in waiting
            )
            when = min(r.due_at for r in waiting)
            lines.append(
                TXT.waiting(loc, rows=len(waiting), people=people, when=self._at(when, loc))
            )
        else:
            lines.append(TXT.none_waiting(loc))
        return "\n".join(lines)

    def _at(self, when: datetime, locale: str) -> str:
        # SQLite hands datetimes back naive; they are stored in UTC.
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return self._local(when, locale)
