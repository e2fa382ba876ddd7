"""The core's composition: every service built once, in order, from settings.

`build_core` wires what the bot does without naming a platform: the budget, the outbox
dispatcher, coordination and the services that hook into it (programmes, matching),
team channels, check-ins, rich menus, the scheduler, the effect applier and the inbox.
The platform adapters (handlers/) are built afterwards from these and registered as the
dispatcher's transports and the budget's quota reader; handlers/asgi.py then only starts
and stops things.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.budget import Budget
from bot.coordination import Coordination, ProjectHooks
from bot.dialogue import Dialogue
from bot.effects import EffectContext
from bot.expiry import Expiry
from bot.inbox import Inbox, purge_events
from bot.languages import PersonLanguages
from bot.lifecycle.kickoff import Kickoff
from bot.lifecycle.service import Lifecycle
from bot.lifecycle.work import Work
from bot.matching.service import Matching
from bot.office.cases import Cases
from bot.office.service import Office
from bot.outbox import Dispatcher, Policy, Transport
from bot.programmes.checkins import CheckIns
from bot.programmes.scheduler import IntervalJob, Scheduler
from bot.programmes.service import Programmes
from bot.programmes.teams import TeamChannels, TeamSettings
from bot.richmenu import RichMenus
from bot.settings import Settings


@dataclass(frozen=True)
class CoreServices:
    """The running core of one process, for the adapters and whoever holds the app."""

    maker: async_sessionmaker[AsyncSession]
    transports: dict[str, Transport]
    budget: Budget
    dispatcher: Dispatcher
    coordination: Coordination
    teams: TeamChannels | None
    checkins: CheckIns
    programmes: Programmes
    matching: Matching
    lifecycle: Lifecycle
    work: Work
    kickoff: Kickoff
    office: Office
    rich_menus: RichMenus | None
    scheduler: Scheduler
    effects: EffectContext
    inbox: Inbox
    # Languages people chose in Slack (`/tsunagu lang`), over their Slack locale.
    slack_languages: PersonLanguages


def build_core(
    settings: Settings,
    maker: async_sessionmaker[AsyncSession],
    *,
    calendar: Callable[[], datetime],
    ingest: async_sessionmaker[AsyncSession] | None = None,
) -> CoreServices:
    """Build the core services in dependency order (nothing runs until started).

    `calendar` is the programme calendar's clock; `ingest` the small pool that accepts
    webhook events (PostgreSQL), else `maker`. Transports start empty: the platform
    adapters register themselves once built.
    """
    # Cards and notes everyone in the coordinator channel reads are in its language; without
    # Slack there is nowhere to post them (requests and decisions are still stored).
    coordinator_locale = settings.channel_locale(settings.slack_coordinator_channel)
    coordinator_channel = settings.slack_coordinator_channel if settings.slack_enabled else ""
    transports: dict[str, Transport] = {}
    budget = Budget(
        maker,
        timezone=settings.timezone,
        coordinator_channel=coordinator_channel,
        locale=coordinator_locale,
    )
    dispatcher = Dispatcher(
        maker,
        transports,
        policy=_policy(settings),
        budget=budget,
        # Dated messages the budget held past their event: coordinators are told.
        expiry=Expiry(coordinator_channel, locale=coordinator_locale, timezone=settings.timezone),
    )
    notify = dispatcher.notify
    hooks = ProjectHooks()
    coordination = Coordination(
        maker,
        locale=coordinator_locale,
        timezone=settings.timezone,
        coordinator_channel=coordinator_channel,
        notify=notify,
        hooks=hooks,
    )
    teams = _team_channels(settings, maker, notify) if settings.slack_enabled else None
    rich_menus = RichMenus(settings.default_locale) if settings.line_enabled else None
    checkins = CheckIns(
        maker, coordination, notify=notify, clock=calendar, team_locale=settings.team_locale
    )
    lifecycle = Lifecycle(
        maker, coordination, notify=notify, clock=calendar, team_locale=settings.team_locale
    )
    programmes = Programmes(
        maker,
        coordination,
        locale=settings.default_locale,
        notify=notify,
        teams=teams,
        clock=calendar,
        attendance=lifecycle.attendance,
    )
    # Hours, delivery, completion (with its draft case), pause and cancel.
    work = Work(maker, lifecycle, clock=calendar, cases=Cases(maker, timezone=settings.timezone))
    matching = Matching(
        maker,
        coordination,
        notify=notify,
        teams=teams,
        rich_menus=rich_menus,
        lifecycle=lifecycle,
    )
    # A project that starts recruiting first joins the running programme, then is announced.
    hooks.recruiting.extend([programmes.join_current, matching.announce])
    hooks.needs_changed.append(matching.needs_changed)
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
            # Received events past the redelivery window (TSUNAGU_INBOUND_KEEP_DAYS).
            IntervalJob(
                "purge-events",
                3600.0,
                partial(purge_events, maker, timedelta(days=settings.inbound_keep_days)),
            ),
        ),
    )
    effects = EffectContext(
        settings.privacy_notice_version,
        coordination,
        matching,
        programmes,
        teams=teams,
        rich_menus=rich_menus,
        work=work,
        lifecycle=lifecycle,
    )
    dialogue = Dialogue(
        default_locale=settings.default_locale,
        resume_after_ms=int(settings.resume_after_hours * 3600 * 1000),
    )
    inbox = Inbox(maker, dialogue, effects=effects, on_commit=notify, ingest=ingest)
    return CoreServices(
        maker=maker,
        transports=transports,
        budget=budget,
        dispatcher=dispatcher,
        coordination=coordination,
        teams=teams,
        checkins=checkins,
        programmes=programmes,
        matching=matching,
        lifecycle=lifecycle,
        work=work,
        kickoff=Kickoff(maker, lifecycle, notify=notify),
        office=Office(maker, timezone=settings.timezone, clock=calendar),
        rich_menus=rich_menus,
        scheduler=scheduler,
        effects=effects,
        inbox=inbox,
        slack_languages=PersonLanguages(maker, "slack"),
    )


def _policy(settings: Settings) -> Policy:
    return Policy(
        base_delay=settings.outbox_base_delay,
        max_attempts=settings.outbox_max_attempts,
        lease=settings.outbox_lease,
        slack_pace=settings.slack_pace,
        idle_poll=settings.outbox_poll,
        share=1 / settings.workers,
    )


def _team_channels(
    settings: Settings, maker: async_sessionmaker[AsyncSession], notify: Callable[[], None]
) -> TeamChannels:
    return TeamChannels(
        maker,
        TeamSettings.from_ids(
            settings.slack_coordinator_ids,
            # What team channels read (SLACK_CHANNEL_LOCALES key `teams`).
            locale=settings.channel_locale("teams"),
            invite_url=settings.slack_invite_url,
            code_days=settings.link_code_days,
            timezone=settings.timezone,
        ),
        notify=notify,
    )
