"""The composition root: builds settings, database, core and channel adapters into one ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.budget import Budget
from bot.clock import ShiftableClock
from bot.coordination import Coordination
from bot.dialogue import Dialogue
from bot.inbox import Inbox
from bot.logs import configure_logging
from bot.matching.service import Matching
from bot.outbox import Dispatcher, Policy, Transport
from bot.profiles import EffectContext
from bot.programmes.checkins import CheckIns
from bot.programmes.scheduler import IntervalJob, Scheduler
from bot.programmes.service import Programmes
from bot.programmes.teams import TeamChannels, TeamSettings
from bot.richmenu import RichMenus
from bot.settings import Settings
from handlers.line import LineChannel
from handlers.sandbox import Sandbox, Services
from handlers.slack import SlackChannel
from storage.base import utcnow
from storage.db import make_engine, make_sessionmaker
from storage.migrate import upgrade

log = logging.getLogger("tsunagu")


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the app; on start it migrates the database and starts the inbox."""
    settings = settings or Settings()
    # Sandbox mode: generated credentials, fake LINE and Slack served by this same app.
    sandbox = Sandbox(settings) if settings.sandbox_enabled else None
    if sandbox is not None:
        settings = sandbox.settings
    configure_logging(settings.log_level)
    state: dict[str, object] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(upgrade, settings.database_url)
        engine = make_engine(settings.database_url)
        maker = make_sessionmaker(engine)
        dialogue = Dialogue(
            default_locale=settings.default_locale,
            resume_after_ms=int(settings.resume_after_hours * 3600 * 1000),
        )
        transports: dict[str, Transport] = {}
        # The LINE message budget; its quota reader is the LINE adapter, set below.
        budget = Budget(
            maker,
            timezone=settings.timezone,
            coordinator_channel=settings.slack_coordinator_channel
            if settings.slack_enabled
            else "",
            locale=settings.default_locale,
        )
        dispatcher = Dispatcher(
            maker,
            transports,
            policy=Policy(
                base_delay=settings.outbox_base_delay,
                max_attempts=settings.outbox_max_attempts,
                lease=settings.outbox_lease,
                share=1 / settings.workers,
            ),
            budget=budget,
        )
        coordination = Coordination(
            maker,
            locale=settings.default_locale,
            timezone=settings.timezone,
            # Without Slack there is nowhere to post cards; requests still get stored.
            coordinator_channel=settings.slack_coordinator_channel
            if settings.slack_enabled
            else "",
            notify=dispatcher.notify,
        )
        matching = Matching(maker, coordination, notify=dispatcher.notify)
        coordination.matching = matching
        # Team channels need Slack; without it a formed team is told in LINE only.
        teams = (
            TeamChannels(
                maker,
                TeamSettings.from_ids(
                    settings.slack_coordinator_ids,
                    locale=settings.default_locale,
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
        calendar = ShiftableClock() if sandbox is not None else utcnow
        checkins = CheckIns(maker, coordination, notify=dispatcher.notify, clock=calendar)
        programmes = Programmes(
            maker,
            coordination,
            locale=settings.default_locale,
            notify=dispatcher.notify,
            teams=teams,
            clock=calendar,
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
        )
        inbox = Inbox(maker, dialogue, effects=effects, on_commit=dispatcher.notify)
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
        state.update(
            engine=engine,
            line=line,
            slack=slack,
            inbox=inbox,
            dispatcher=dispatcher,
            programmes=programmes,
            scheduler=scheduler,
            teams=teams,
            checkins=checkins,
        )
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
        _banner(settings, sandbox)
        _settle_garbage_collector()
        try:
            yield
        finally:
            # What was frozen may become garbage now (e.g. apps started one after another
            # in one process, as the tests do): hand it back to the collector.
            gc.unfreeze()
            if sandbox is not None:
                sandbox.close()
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)
            await scheduler.stop()
            await inbox.stop()
            await dispatcher.stop()
            if line is not None:
                await line.close()
            await engine.dispose()

    async def line_webhook(request: Request) -> Response:
        line = state.get("line")
        if not isinstance(line, LineChannel):
            return PlainTextResponse(
                "LINE is not configured: set LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN",
                status_code=503,
            )
        return await line.webhook(request)

    async def slack_events(request: Request) -> Response:
        slack = state.get("slack")
        if not isinstance(slack, SlackChannel):
            return PlainTextResponse(
                "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET",
                status_code=503,
            )
        return await slack.handle(request)

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
                "channels": {"line": settings.line_enabled, "slack": settings.slack_enabled},
                "sandbox": sandbox is not None,
            }
        )

    async def index(request: Request) -> Response:
        return PlainTextResponse("Tsunagu is running. See /healthz.\n")

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/line/webhook", line_webhook, methods=["POST"]),
        Route("/slack/events", slack_events, methods=["POST"]),
    ]
    return Starlette(
        routes=[*routes, *sandbox.routes()]
        if sandbox is not None
        else [Route("/", index, methods=["GET"]), *routes],
        lifespan=lifespan,
    )


def _settle_garbage_collector() -> None:
    """Keep the cycle collector off the objects every process holds for its lifetime."""
    # The modules, SQLAlchemy and SDK models loaded at start are ~270,000 tracked objects;
    # every full collection walked them all, which was a quarter of the webhook's CPU
    # time under load (bench/README.md). Frozen, collections see only what requests make,
    # and a larger first generation runs them less often.
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(10_000, middle, old)


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
    if settings.line_enabled:
        lines.append(
            f"  LINE: enabled, webhook POST /line/webhook, API {settings.line_api_base_url}"
        )
    if settings.slack_enabled:
        where = settings.slack_coordinator_channel or "none (SLACK_COORDINATOR_CHANNEL unset)"
        lines.append(f"  Slack: enabled, POST /slack/events, coordinator channel {where}")
    for name, why in settings.disabled_channels():
        lines.append(f"  {name}: disabled ({why})")
    if sandbox is not None:
        lines += sandbox.banner()
    for line in lines:
        log.info(line)
