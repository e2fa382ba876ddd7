"""The composition root: builds settings, database, core and channel adapters into one ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message

from bot.budget import Budget
from bot.clock import ShiftableClock
from bot.coordination import Coordination
from bot.dialogue import Dialogue
from bot.expiry import Expiry
from bot.inbox import Inbox
from bot.lifecycle.kickoff import Kickoff
from bot.lifecycle.service import Lifecycle
from bot.lifecycle.work import Work
from bot.logs import configure_logging
from bot.matching.service import Matching
from bot.office.cases import Cases
from bot.outbox import Dispatcher, Policy, Transport
from bot.profiles import EffectContext
from bot.programmes.checkins import CheckIns
from bot.programmes.scheduler import IntervalJob, Scheduler
from bot.programmes.service import Programmes
from bot.programmes.teams import TeamChannels, TeamSettings
from bot.richmenu import RichMenus
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
    state: dict[str, object] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(upgrade, settings.database_url)
        engine = make_engine(settings.database_url)
        maker = make_sessionmaker(engine)
        # The webhooks' acknowledgements and /healthz get their own small pool on
        # PostgreSQL: whatever holds the main pool's connections (a storm of clicks, a
        # long matching solve) cannot make LINE wait for its 200. One connection serves
        # the inbox's group-committing writer, one Slack's event dedupe and one /healthz.
        # SQLite keeps one engine: its writers must share the process's write gate.
        ingest_engine = (
            engine
            if is_sqlite(settings.database_url)
            else make_engine(settings.database_url, pool_size=INGEST_POOL, max_overflow=1)
        )
        ingest = make_sessionmaker(ingest_engine) if ingest_engine is not engine else maker
        dialogue = Dialogue(
            default_locale=settings.default_locale,
            resume_after_ms=int(settings.resume_after_hours * 3600 * 1000),
        )
        transports: dict[str, Transport] = {}
        coordinator_locale = settings.channel_locale(settings.slack_coordinator_channel)
        # The LINE message budget; its quota reader is the LINE adapter, set below.
        budget = Budget(
            maker,
            timezone=settings.timezone,
            coordinator_channel=settings.slack_coordinator_channel
            if settings.slack_enabled
            else "",
            # Its notes go to the coordinator channel, in that channel's language.
            locale=coordinator_locale,
        )
        dispatcher = Dispatcher(
            maker,
            transports,
            policy=Policy(
                base_delay=settings.outbox_base_delay,
                max_attempts=settings.outbox_max_attempts,
                lease=settings.outbox_lease,
                slack_pace=settings.slack_pace,
                idle_poll=settings.outbox_poll,
                share=1 / settings.workers,
            ),
            budget=budget,
            # Dated messages the budget held past their event: coordinators are told.
            expiry=Expiry(
                settings.slack_coordinator_channel if settings.slack_enabled else "",
                locale=coordinator_locale,
                timezone=settings.timezone,
            ),
        )
        coordination = Coordination(
            maker,
            # Cards and notes everyone in the coordinator channel reads.
            locale=coordinator_locale,
            timezone=settings.timezone,
            # Without Slack there is nowhere to post cards; requests still get stored.
            coordinator_channel=settings.slack_coordinator_channel
            if settings.slack_enabled
            else "",
            notify=dispatcher.notify,
        )
        matching = Matching(maker, coordination, notify=dispatcher.notify)
        lifecycle = Lifecycle(maker, coordination, notify=dispatcher.notify)
        matching.lifecycle = lifecycle
        # life-work (#13): hours, delivery, completion (with its draft case), pause/cancel.
        work = Work(maker, lifecycle, cases=Cases(maker, timezone=settings.timezone))
        coordination.matching = matching
        # Team channels need Slack; without it a formed team is told in LINE only.
        teams = (
            TeamChannels(
                maker,
                TeamSettings.from_ids(
                    settings.slack_coordinator_ids,
                    # What team channels read (SLACK_CHANNEL_LOCALES key `teams`).
                    locale=settings.channel_locale("teams"),
                    invite_url=settings.slack_invite_url,
                    code_days=settings.link_code_days,
                    timezone=settings.timezone,
                ),
                notify=dispatcher.notify,
            )
            if settings.slack_enabled
            else None
        )
        matching.teams = teams
        # The programme calendar's clock: the wall clock, except in the sandbox, whose
        # page can fast-forward it.
        calendar: Callable[[], datetime] = calendar_clock or (
            ShiftableClock() if sandbox is not None else utcnow
        )
        checkins = CheckIns(maker, coordination, notify=dispatcher.notify, clock=calendar)
        programmes = Programmes(
            maker,
            coordination,
            locale=settings.default_locale,
            notify=dispatcher.notify,
            teams=teams,
            clock=calendar,
            lifecycle=lifecycle,
        )
        coordination.programmes = programmes
        scheduler = Scheduler(
            maker,
            programmes,
            database_url=settings.database_url,
            lease_seconds=settings.scheduler_lease_seconds,
            calendar_clock=calendar,
            interval_jobs=(
                # A safety net for rows whose job was never written (e.g. no leader then).
                IntervalJob("catch-up", 300.0, programmes.catch_up),
                # Weekly check-ins: asked once per team and week, so hourly is enough.
                IntervalJob("checkins", 3600.0, checkins.run_checkins),
            ),
        )
        rich_menus = RichMenus(settings.default_locale) if settings.line_enabled else None
        matching.rich_menus = rich_menus
        effects = EffectContext(
            settings.privacy_notice_version,
            coordination,
            matching,
            programmes,
            teams=teams,
            rich_menus=rich_menus,
            lifecycle=lifecycle,
            work=work,  # life-work (#13)
        )
        inbox = Inbox(maker, dialogue, effects=effects, on_commit=dispatcher.notify, ingest=ingest)
        line = LineChannel(settings, inbox, dispatcher) if settings.line_enabled else None
        slack = (
            SlackChannel(
                settings,
                coordination,
                inbox,
                matching,
                programmes,
                teams=teams,
                checkins=checkins,
                kickoff=Kickoff(maker, lifecycle, notify=dispatcher.notify),
            )
            if settings.slack_enabled
            else None
        )
        if line is not None:
            transports["line"] = line
            budget.reader = line
        if slack is not None:
            transports["slack"] = slack
            slack.budget = budget
            slack.commands.services.work = work  # life-work (#13)
            # Counts each verified Slack request by type for /metrics.
            slack.app.use(_count_slack_request)
        state.update(
            engine=ingest_engine,
            maker=maker,
            budget=budget,
            line=line,
            slack=slack,
            inbox=inbox,
            dispatcher=dispatcher,
            programmes=programmes,
            scheduler=scheduler,
            teams=teams,
            checkins=checkins,
            loop=asyncio.get_running_loop(),
        )
        # The running services, for whoever holds the app in this process (the tests
        # wait on the inbox and outbox through them instead of sleeping).
        app.state.services = state
        if sandbox is not None:
            sandbox.attach(
                Services(
                    maker,
                    effects,
                    coordination,
                    dispatcher.notify,
                    programmes,
                    calendar if isinstance(calendar, ShiftableClock) else None,
                    scheduler,
                )
            )
            await sandbox.reveal_loaded_demo()
            sandbox.start_rich_menus()
        await inbox.start()
        await dispatcher.start()
        if settings.scheduler_enabled:
            await scheduler.start()
        timer = asyncio.create_task(_every(60.0, matching.expire_and_remind), name="invitations")
        proposals = asyncio.create_task(
            _every(60.0, lifecycle.expire_and_remind_proposals), name="team-proposals"
        )
        leader = asyncio.create_task(_every(5.0, _leader_gauge(scheduler)), name="leader-gauge")
        _banner(settings, sandbox)
        if freeze_gc:
            settle_garbage_collector()
        try:
            yield
        finally:
            # What was frozen may become garbage now (e.g. apps started one after another
            # in one process, as the tests do): hand it back to the collector.
            if freeze_gc:
                gc.unfreeze()
            if sandbox is not None:
                sandbox.close()
            timer.cancel()
            proposals.cancel()
            leader.cancel()
            await asyncio.gather(timer, proposals, leader, return_exceptions=True)
            metrics.process_exited()
            await scheduler.stop()
            await inbox.stop()
            await dispatcher.stop()
            if line is not None:
                await line.close()
            await engine.dispose()
            if ingest_engine is not engine:
                await ingest_engine.dispose()

    async def line_webhook(request: Request) -> Response:
        line = state.get("line")
        if not isinstance(line, LineChannel):
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

    async def slack_events(request: Request) -> Response:
        slack = state.get("slack")
        if not isinstance(slack, SlackChannel):
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

    async def metrics_endpoint(request: Request) -> Response:
        maker, budget = state.get("maker"), state.get("budget")
        snapshot = metrics.Snapshot()
        if isinstance(maker, async_sessionmaker):
            try:
                async with maker() as session:
                    snapshot.outbox = await outbox_counts(session)
            except Exception as exc:
                log.warning("metrics: database did not answer (%s)", type(exc).__name__)
                return PlainTextResponse("database unreachable", status_code=503)
        if isinstance(budget, Budget) and budget.reader is not None:
            quota = await budget.quota()
            if quota is not None:
                snapshot.line_budget_used = quota.used
                snapshot.line_budget_limit = quota.limit
        scheduler = state.get("scheduler")
        if isinstance(scheduler, Scheduler):
            metrics.SCHEDULER_LEADER.set(1 if scheduler.leading else 0)
        return metrics.response(snapshot)

    async def healthz(request: Request) -> Response:
        engine = state.get("engine")
        if not isinstance(engine, AsyncEngine):
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("healthz: database did not answer (%s)", type(exc).__name__)
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse(
            {
                "status": "ok",
                "database": "ok",
                # In the sandbox the app plays both platforms: nothing reaches LINE or Slack.
                "channels": {"line": "sandbox", "slack": "sandbox"}
                if sandbox is not None
                else {"line": settings.line_enabled, "slack": settings.slack_enabled},
                "sandbox": sandbox is not None,
            }
        )

    async def index(request: Request) -> Response:
        return PlainTextResponse("Tsunagu is running. See /healthz.\n")

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/line/webhook", line_webhook, methods=["POST"]),
        Route("/slack/events", slack_events, methods=["POST"]),
    ]
    return Starlette(
        routes=[*routes, *sandbox.routes()]
        if sandbox is not None
        else [Route("/", index, methods=["GET"]), *routes],
        lifespan=lifespan,
    )


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
