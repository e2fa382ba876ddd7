"""The composition root: builds settings, database, core and channel adapters into one ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message

from bot.clock import ShiftableClock
from bot.logs import configure_logging
from bot.programmes.scheduler import Scheduler
from bot.services import CoreServices, build_core
from bot.settings import Settings
from handlers import metrics
from handlers.line import LineChannel
from handlers.sandbox import Sandbox, Services
from handlers.slack import SlackChannel
from storage.base import utcnow
from storage.db import is_sqlite, make_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.repo import outbox_counts

log = logging.getLogger("tsunagu")

# The largest webhook body accepted (LINE and Slack). LINE batches events in one body and
# a Slack modal's state is at most a few hundred kilobytes; anything larger is refused
# by its size (413) before it is parsed.
MAX_BODY_BYTES = 1024 * 1024
# Connections kept for accepting webhooks and answering /healthz (PostgreSQL).
INGEST_POOL = 3


def create_app(
    settings: Settings | None = None,
    *,
    calendar_clock: ShiftableClock | None = None,
    freeze_gc: bool = True,
) -> Starlette:
    """Build the app; on start it migrates the database and starts the inbox.

    `calendar_clock` is the programme calendar's time when the caller wants to move it
    (the tests); otherwise it is the wall clock, or in the sandbox a clock its page moves.
    `freeze_gc=False` leaves the garbage collector alone: for a process that starts many
    short-lived apps (the tests), where each start's full collection costs more than
    freezing saves.
    """
    settings = settings or Settings()
    # Sandbox mode: generated credentials, fake LINE and Slack served by this same app.
    sandbox = Sandbox(settings) if settings.sandbox_enabled else None
    if sandbox is not None:
        settings = sandbox.settings
    configure_logging(settings.log_level, settings.log_format)
    # The programme calendar's clock: the wall clock, except in the sandbox, whose page
    # can fast-forward it.
    calendar: Callable[[], datetime] = calendar_clock or (
        ShiftableClock() if sandbox is not None else utcnow
    )
    server = _Server(settings, sandbox, calendar, freeze_gc=freeze_gc)
    routes = [
        Route("/healthz", server.healthz, methods=["GET"]),
        Route("/metrics", server.metrics, methods=["GET"]),
        Route("/line/webhook", server.line_webhook, methods=["POST"]),
        Route("/slack/events", server.slack_events, methods=["POST"]),
    ]
    return Starlette(
        routes=[*routes, *sandbox.routes()]
        if sandbox is not None
        else [Route("/", _index, methods=["GET"]), *routes],
        lifespan=server.lifespan,
    )


@dataclass(frozen=True)
class _Running:
    """What runs between the lifespan's start and stop."""

    engine: AsyncEngine
    # Accepts webhooks and answers /healthz (the same engine on SQLite).
    ingest_engine: AsyncEngine
    core: CoreServices
    line: LineChannel | None
    slack: SlackChannel | None


class _Server:
    """The lifespan (start and stop) and the endpoints over what it started."""

    def __init__(
        self,
        settings: Settings,
        sandbox: Sandbox | None,
        calendar: Callable[[], datetime],
        *,
        freeze_gc: bool,
    ) -> None:
        self.settings = settings
        self.sandbox = sandbox
        self.calendar = calendar
        self.freeze_gc = freeze_gc
        self.running: _Running | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        settings, sandbox = self.settings, self.sandbox
        await asyncio.to_thread(upgrade, settings.database_url)
        engine, ingest_engine = _engines(settings)
        maker = make_sessionmaker(engine)
        ingest = make_sessionmaker(ingest_engine) if ingest_engine is not engine else maker
        core = build_core(settings, maker, ingest=ingest, calendar=self.calendar)
        line, slack = _channels(settings, core)
        self.running = _Running(engine, ingest_engine, core, line, slack)
        # The running services, for whoever holds the app in this process (the tests
        # wait on the inbox and outbox through them instead of sleeping).
        app.state.services = {
            "inbox": core.inbox,
            "dispatcher": core.dispatcher,
            "loop": asyncio.get_running_loop(),
        }
        if sandbox is not None:
            await _attach_sandbox(sandbox, core, self.calendar)
        timers = await _start(settings, core)
        _banner(settings, sandbox)
        if self.freeze_gc:
            settle_garbage_collector()
        try:
            yield
        finally:
            # What was frozen may become garbage now (e.g. apps started one after another
            # in one process, as the tests do): hand it back to the collector.
            if self.freeze_gc:
                gc.unfreeze()
            if sandbox is not None:
                sandbox.close()
            await _stop(core, timers, line)
            await engine.dispose()
            if ingest_engine is not engine:
                await ingest_engine.dispose()

    async def line_webhook(self, request: Request) -> Response:
        line = self.running.line if self.running is not None else None
        if line is None:
            return PlainTextResponse(
                "LINE is not configured: set LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN",
                status_code=503,
            )
        bounded = await bounded_request(request, MAX_BODY_BYTES)
        if isinstance(bounded, Response):
            return bounded
        timer = metrics.Timer("line")
        try:
            return await line.webhook(bounded)
        finally:
            timer.done()

    async def slack_events(self, request: Request) -> Response:
        slack = self.running.slack if self.running is not None else None
        if slack is None:
            return PlainTextResponse(
                "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET",
                status_code=503,
            )
        bounded = await bounded_request(request, MAX_BODY_BYTES)
        if isinstance(bounded, Response):
            return bounded
        timer = metrics.Timer("slack")
        try:
            return await slack.handle(bounded)
        finally:
            timer.done()

    async def metrics(self, request: Request) -> Response:
        snapshot = metrics.Snapshot()
        if self.running is None:
            return metrics.response(snapshot)
        core = self.running.core
        try:
            async with core.maker() as session:
                snapshot.outbox = await outbox_counts(session)
        except Exception as exc:
            log.warning("metrics: database did not answer (%s)", type(exc).__name__)
            return PlainTextResponse("database unreachable", status_code=503)
        if core.budget.reader is not None:
            quota = await core.budget.quota()
            if quota is not None:
                snapshot.line_budget_used = quota.used
                snapshot.line_budget_limit = quota.limit
        metrics.SCHEDULER_LEADER.set(1 if core.scheduler.leading else 0)
        return metrics.response(snapshot)

    async def healthz(self, request: Request) -> Response:
        if self.running is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            async with self.running.ingest_engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("healthz: database did not answer (%s)", type(exc).__name__)
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        settings, sandboxed = self.settings, self.sandbox is not None
        return JSONResponse(
            {
                "status": "ok",
                "database": "ok",
                # In the sandbox the app plays both platforms: nothing reaches LINE or Slack.
                "channels": {"line": "sandbox", "slack": "sandbox"}
                if sandboxed
                else {"line": settings.line_enabled, "slack": settings.slack_enabled},
                "sandbox": sandboxed,
            }
        )


async def _index(request: Request) -> Response:
    return PlainTextResponse("Tsunagu is running. See /healthz.\n")


def _engines(settings: Settings) -> tuple[AsyncEngine, AsyncEngine]:
    """The main engine, and the one accepting webhooks (the same one on SQLite)."""
    engine = make_engine(settings.database_url)
    # The webhooks' acknowledgements and /healthz get their own small pool on
    # PostgreSQL: whatever holds the main pool's connections (a storm of clicks, a
    # long matching solve) cannot make LINE wait for its 200. One connection serves
    # the inbox's group-committing writer, one Slack's event dedupe and one /healthz.
    # SQLite keeps one engine: its writers must share the process's write gate.
    if is_sqlite(settings.database_url):
        return engine, engine
    return engine, make_engine(settings.database_url, pool_size=INGEST_POOL, max_overflow=1)


def _channels(
    settings: Settings, core: CoreServices
) -> tuple[LineChannel | None, SlackChannel | None]:
    """The platform adapters over the core, registered as its senders."""
    line = LineChannel(settings, core.inbox, core.dispatcher) if settings.line_enabled else None
    slack = (
        SlackChannel(
            settings,
            core.coordination,
            core.inbox,
            core.matching,
            core.programmes,
            teams=core.teams,
            checkins=core.checkins,
            office=core.office,
            work=core.work,
            languages=core.slack_languages,
            kickoff=core.kickoff,
        )
        if settings.slack_enabled
        else None
    )
    if line is not None:
        core.transports["line"] = line
        core.budget.reader = line
    if slack is not None:
        core.transports["slack"] = slack
        slack.budget = core.budget
        # Counts each verified Slack request by type for /metrics.
        slack.app.use(_count_slack_request)
    return line, slack


async def _attach_sandbox(
    sandbox: Sandbox, core: CoreServices, calendar: Callable[[], datetime]
) -> None:
    sandbox.attach(
        Services(
            core.maker,
            core.effects,
            core.coordination,
            core.dispatcher.notify,
            core.programmes,
            calendar if isinstance(calendar, ShiftableClock) else None,
            core.scheduler,
        )
    )
    await sandbox.reveal_loaded_demo()
    sandbox.start_rich_menus()


async def _start(settings: Settings, core: CoreServices) -> list[asyncio.Task[None]]:
    """Start the inbox, the outbox, the scheduler and the timers; return the timers."""
    await core.inbox.start()
    await core.dispatcher.start()
    if settings.scheduler_enabled:
        await core.scheduler.start()
    return [
        asyncio.create_task(_every(60.0, core.matching.expire_and_remind), name="invitations"),
        asyncio.create_task(
            _every(60.0, core.lifecycle.expire_and_remind_proposals), name="team-proposals"
        ),
        asyncio.create_task(_every(5.0, _leader_gauge(core.scheduler)), name="leader-gauge"),
    ]


async def _stop(
    core: CoreServices, timers: list[asyncio.Task[None]], line: LineChannel | None
) -> None:
    for timer in timers:
        timer.cancel()
    await asyncio.gather(*timers, return_exceptions=True)
    metrics.process_exited()
    await core.scheduler.stop()
    await core.inbox.stop()
    await core.dispatcher.stop()
    if line is not None:
        await line.close()


async def bounded_request(request: Request, limit: int) -> Request | Response:
    """The request with its body read, or 413 once the body passes `limit` bytes.

    A declared Content-Length over the limit is refused before a byte is read; a body
    without one (chunked) is read only up to the limit. The request handed on replays
    the body that was read, so the channel adapters and the SDKs read it as usual.
    """
    declared = request.headers.get("content-length", "")
    if declared and not (declared.isascii() and declared.isdigit()):
        return PlainTextResponse("malformed Content-Length", status_code=400)
    if declared and int(declared) > limit:
        log.warning("webhook: body of %s bytes refused by size", declared[:20])
        return PlainTextResponse("request body too large", status_code=413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            log.warning("webhook: body over %d bytes refused by size", limit)
            return PlainTextResponse("request body too large", status_code=413)
        chunks.append(chunk)
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, replay)


def settle_garbage_collector() -> None:
    """Keep the cycle collector off the objects every process holds for its lifetime."""
    # The modules, SQLAlchemy and SDK models loaded at start are hundreds of thousands of
    # tracked objects; every full collection walked them all, a large part of the
    # webhook's CPU time under load (bench/README.md). Frozen, collections see only what
    # requests make, and a larger first generation runs them less often.
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(10_000, middle, old)


async def _count_slack_request(body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> None:
    """Bolt middleware (after Bolt's signature check): count the request for /metrics."""
    metrics.count_events("slack", [metrics.slack_request_type(body)])
    await next()


def _leader_gauge(scheduler: Scheduler) -> Callable[[], Awaitable[None]]:
    """A job that keeps this process's scheduler-leader gauge current."""

    async def job() -> None:
        metrics.SCHEDULER_LEADER.set(1 if scheduler.leading else 0)

    return job


async def _every(seconds: float, job: Callable[[], Awaitable[object]]) -> None:
    """Run a job now and then (invitation reminders and expiry); a failure is logged."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            log.exception("timer job failed")


def _banner(settings: Settings, sandbox: Sandbox | None = None) -> None:
    from storage.db import async_url

    db = async_url(settings.database_url).render_as_string(hide_password=True)
    lines = [f"Tsunagu is up on http://{settings.host}:{settings.port}  (database: {db})"]
    if settings.workers > 1 and sandbox is None:
        lines[0] += f"  [worker process {os.getpid()}, one of {settings.workers}]"
    if sandbox is not None:
        # Generated credentials and fake platforms on this server: say so, not "enabled".
        lines.append("  LINE: sandbox (played by this app at /sandbox/line-api)")
        lines.append("  Slack: sandbox (played by this app at /sandbox/slack-api)")
    elif settings.line_enabled:
        lines.append(
            f"  LINE: enabled, webhook POST /line/webhook, API {settings.line_api_base_url}"
        )
    if settings.slack_enabled and sandbox is None:
        where = settings.slack_coordinator_channel or "none (SLACK_COORDINATOR_CHANNEL unset)"
        lines.append(f"  Slack: enabled, POST /slack/events, coordinator channel {where}")
    for name, why in settings.disabled_channels():
        lines.append(f"  {name}: disabled ({why})")
    if sandbox is not None:
        lines += sandbox.banner()
    for line in lines:
        log.info(line)
