"""The scheduler: APScheduler 3 on the one process that holds the "scheduler" lease.

- **Who runs it.** Every process tries to take or renew a lease row (storage.models.Lease)
  every `lease_seconds / 3`. The holder runs APScheduler; when it dies it stops renewing
  and another process takes over once the lease has expired. Nothing is tied to a
  pooled connection, so a stuck connection cannot keep a dead holder in charge.
- **What it runs.** APScheduler's SQLAlchemy job store, on the app's database, holds one
  job per scheduled announcement (id `announcement:<id>`, a date trigger) and a few
  interval jobs (catch-up, check-ins, invitation reminders). The announcement rows stay
  the truth: the leader mirrors them into the job store (`reconcile`), with explicit ids
  and `replace_existing`, whenever the schedule changes and every `reconcile_seconds`.
- **Exactly once.** A job only calls `Programmes.fire`, which claims the row before it
  writes the outbox rows in the same transaction. A job that fires twice, or a late
  leader that still fires after losing its lease, sends nothing the second time.
- **Missed while down.** Jobs are kept with no misfire limit; `fire` itself applies each
  announcement's grace window, sending it late or marking it skipped and telling the
  coordinators. `catch_up` at start (and as an interval job) covers rows whose job was
  never written, e.g. created while no process held the lease.

APScheduler's job store is synchronous, so the scheduler runs in its own thread
(BackgroundScheduler) and hands each job to the app's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ShiftableClock
from bot.programmes.service import Programmes
from storage import programmes as store
from storage.base import utcnow
from storage.db import sync_url

log = logging.getLogger(__name__)

LEASE = "scheduler"
JOB_TABLE = "apscheduler_jobs"
# Jobs in the store name their runner; each process registers its own under this name.
RUNNER = "tsunagu"
_RUNNERS: dict[str, Scheduler] = {}


@dataclass(frozen=True)
class IntervalJob:
    """A recurring job the leader runs (e.g. weekly check-ins, hourly)."""

    name: str
    seconds: float
    run: Callable[[datetime], Awaitable[object]]


def run_announcement(runner: str, announcement_id: int) -> None:
    """APScheduler job: fire one announcement on the app's event loop."""
    scheduler = _RUNNERS.get(runner)
    if scheduler is None:
        log.warning("scheduler: no runner %s in this process", runner)
        return
    scheduler.call(lambda: scheduler.programmes.fire(announcement_id))


def run_interval(runner: str, name: str) -> None:
    """APScheduler job: run one named interval job on the app's event loop."""
    scheduler = _RUNNERS.get(runner)
    if scheduler is None:
        return
    job = scheduler.interval_jobs.get(name)
    if job is not None:
        scheduler.call(lambda: job.run(scheduler.calendar_clock()))


class Scheduler:
    """Leader election by lease, and APScheduler while this process leads."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        programmes: Programmes,
        *,
        database_url: str,
        lease_seconds: float = 30.0,
        reconcile_seconds: float = 60.0,
        watch_seconds: float = 2.0,
        interval_jobs: tuple[IntervalJob, ...] = (),
        clock: Callable[[], datetime] = utcnow,
        holder: str | None = None,
        calendar_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._maker = maker
        self.programmes = programmes
        self._url = sync_url(database_url).render_as_string(hide_password=False)
        self.lease_seconds = lease_seconds
        self.reconcile_seconds = reconcile_seconds
        self.watch_seconds = watch_seconds
        self._stamp: tuple[Any, int] | None = None
        self.interval_jobs = {job.name: job for job in interval_jobs}
        self.clock = clock
        # The programme calendar's time; ahead of the wall clock only in the sandbox
        # (fast-forward), where jobs are then written that much earlier in wall time.
        self.calendar_clock = calendar_clock or clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leading = False
        self._aps: BackgroundScheduler | None = None
        self._store: SQLAlchemyJobStore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._dirty = True
        self._last_reconcile: datetime | None = None
        self._offset_written = self._calendar_offset()
        programmes.on_change = self.changed

    # ---------------------------------------------------------------- life cycle

    async def start(self) -> None:
        """Join the election in the background."""
        self._loop = asyncio.get_running_loop()
        _RUNNERS[RUNNER] = self
        self._task = asyncio.create_task(self._run(), name="scheduler-lease")

    async def stop(self) -> None:
        """Stop leading (hand the lease back at once) and leave the election."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._stop_aps()
        if self.leading:
            with contextlib.suppress(Exception):
                async with self._maker.begin() as session:
                    await store.release_lease(session, LEASE, self.holder, self.clock())
        self.leading = False
        if _RUNNERS.get(RUNNER) is self:
            del _RUNNERS[RUNNER]

    def changed(self) -> None:
        """The schedule changed: the leader mirrors it into the job store soon."""
        self._dirty = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = 0.0
        while True:
            try:
                if self._dirty or loop.time() >= next_tick:
                    await self.tick()
                    next_tick = loop.time() + self.lease_seconds / 3
                else:
                    await self.watch()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler: round failed")
            wait = min(self.watch_seconds, self.lease_seconds / 3)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            self._wake.clear()

    async def watch(self) -> bool:
        """Between lease rounds, the leader looks at the announcement rows (one small
        query): a change written by another process, such as `tsunagu programme import`,
        is mirrored at once instead of at the next `reconcile_seconds`. True if it was."""
        if not self.leading:
            return False
        async with self._maker() as session:
            stamp = await store.schedule_stamp(session)
        if stamp == self._stamp:
            return False
        await self.reconcile()
        self._last_reconcile = self.clock()
        return True

    async def tick(self, now: datetime | None = None) -> bool:
        """One round: take or renew the lease, start or stop leading, reconcile; True if leading."""
        now = now or self.clock()
        async with self._maker.begin() as session:
            held = await store.take_lease(
                session, LEASE, self.holder, now, now + timedelta(seconds=self.lease_seconds)
            )
        if held and not self.leading:
            log.info("scheduler: this process now runs the scheduler")
            self.leading = True
            self._dirty = True
            await self._start_aps()
            await self.programmes.catch_up(self.calendar_clock())
        elif not held and self.leading:
            log.warning("scheduler: lease lost; another process runs the scheduler")
            self.leading = False
            await self._stop_aps()
        if self.leading and (
            self._dirty
            or self._calendar_offset() != self._offset_written
            or self._last_reconcile is None
            or (now - self._last_reconcile).total_seconds() >= self.reconcile_seconds
        ):
            await self.reconcile()
            self._last_reconcile = now
        return self.leading

    # ---------------------------------------------------------------- APScheduler

    async def _start_aps(self) -> None:
        # A failed statement's text must not carry its values (job arguments).
        store = SQLAlchemyJobStore(
            url=self._url, tablename=JOB_TABLE, engine_options={"hide_parameters": True}
        )
        self._store = store

        def start() -> BackgroundScheduler:
            aps = BackgroundScheduler(
                jobstores={"default": store},
                executors={"default": ThreadPoolExecutor(4)},
                job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
                timezone=UTC,
            )
            aps.start()
            for job in self.interval_jobs.values():
                aps.add_job(
                    run_interval,
                    trigger=IntervalTrigger(seconds=job.seconds, timezone=UTC),
                    id=f"interval:{job.name}",
                    args=[RUNNER, job.name],
                    replace_existing=True,
                )
            return aps

        self._aps = await asyncio.to_thread(start)

    async def _stop_aps(self) -> None:
        aps, self._aps = self._aps, None
        store, self._store = self._store, None
        if aps is not None:
            # Wait for APScheduler's threads, then close every pooled connection of its
            # job store (a thread still holding one at shutdown would leak it).
            await asyncio.to_thread(aps.shutdown, True)
        if store is not None:
            await asyncio.to_thread(store.engine.dispose)

    async def reconcile(self) -> tuple[int, int]:
        """Mirror scheduled announcements into the job store; return (written, removed)."""
        self._dirty = False
        aps = self._aps
        if aps is None:
            return (0, 0)
        # Read before the rows: a write landing in between changes it again (see watch).
        async with self._maker() as session:
            self._stamp = await store.schedule_stamp(session)
        # Announcements are due in calendar time; APScheduler runs on the wall clock.
        offset = self._offset_written = self._calendar_offset()
        wanted = {
            f"announcement:{ann_id}": (ann_id, at - offset)
            for ann_id, at in await self.programmes.scheduled()
        }

        def sync() -> tuple[int, int]:
            written = removed = 0
            existing = {job.id: job for job in aps.get_jobs()}
            for job_id, (ann_id, at) in wanted.items():
                job = existing.get(job_id)
                run_date = getattr(getattr(job, "trigger", None), "run_date", None)
                if (
                    job is not None
                    and run_date is not None
                    and abs(run_date - at) < timedelta(seconds=1)
                ):
                    continue
                aps.add_job(
                    run_announcement,
                    trigger=DateTrigger(run_date=at, timezone=UTC),
                    id=job_id,
                    args=[RUNNER, ann_id],
                    replace_existing=True,
                )
                written += 1
            for job_id in existing:
                if job_id.startswith("announcement:") and job_id not in wanted:
                    with contextlib.suppress(Exception):
                        aps.remove_job(job_id)
                    removed += 1
            return written, removed

        written, removed = await asyncio.to_thread(sync)
        if written or removed:
            log.info("scheduler: %d jobs written, %d removed", written, removed)
        return written, removed

    def _calendar_offset(self) -> timedelta:
        """How far the calendar's clock runs ahead of the wall clock (0 but in the
        sandbox and the tests, whose ShiftableClock is moved forward)."""
        clock = self.calendar_clock
        return clock.offset if isinstance(clock, ShiftableClock) else timedelta(0)

    async def fast_forward(self, hours: int) -> dict[str, int]:
        """Move the calendar's clock (a ShiftableClock: the sandbox) forward an hour at a
        time, firing the announcements and check-ins that fall due on the way; counts."""
        clock = self.calendar_clock
        if not isinstance(clock, ShiftableClock):
            raise TypeError("only a shiftable calendar clock can be moved forward")
        done: dict[str, int] = {}
        # What is due at the present moment goes first, at this moment, as the running
        # scheduler would send it: a step of an hour must not push a notice that is still
        # in its grace window now past it.
        for outcome, n in (await self.programmes.catch_up(clock())).items():
            done[outcome] = done.get(outcome, 0) + n
        checkins = self.interval_jobs.get("checkins")
        for step in range(hours):
            now = clock.advance(timedelta(hours=1))
            for outcome, n in (await self.programmes.catch_up(now)).items():
                done[outcome] = done.get(outcome, 0) + n
            if checkins is not None and (step % 24 == 23 or step == hours - 1):
                asked = await checkins.run(now)
                done["checkins"] = done.get("checkins", 0) + (
                    asked if isinstance(asked, int) else 0
                )
        self.changed()  # jobs move earlier in wall time by the new offset
        return done

    def jobs(self) -> list[tuple[str, datetime | None]]:
        """(job id, next run) of what APScheduler holds (for coordinators and tests)."""
        if self._aps is None:
            return []
        return [(job.id, job.next_run_time) for job in self._aps.get_jobs()]

    def call(self, make: Callable[[], Awaitable[Any]], timeout: float = 300.0) -> Any:
        """Run a coroutine on the app's loop from APScheduler's thread and wait for it."""
        if self._loop is None or self._loop.is_closed():
            return None

        async def run() -> Any:
            return await make()

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            return future.result(timeout=timeout)
        except Exception:
            log.exception("scheduler: job failed")
            return None
