"""The App Home tab: the office's dashboard for coordinators, a person's own page for
everyone else (`app_home_opened` -> `views.publish`), its file buttons, and refreshing it.

Coordinators who opened the tab see it refreshed when something changes: every post or
update the outbox sends to Slack (a card, a team, an announcement) marks it stale, and one
republish follows after a short quiet time, however many changes came together.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import ClientError
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError

from bot.budget import Budget
from bot.office.service import ExportRequest, Files, Office
from handlers.slack.files import deliver_files
from handlers.slack.gate import CoordinatorGate
from handlers.slack.views_home import (
    HOME_CHANNEL,
    HOME_EXPORT,
    HOME_OUTBOX,
    HOME_REFRESH,
    HOME_REPORT,
    render_home,
    render_member_home,
)

log = logging.getLogger(__name__)

Body = dict[str, Any]
# Changes closer together than this cause one republish.
DEBOUNCE_S = 1.0


class AppHome:
    """Publishes the App Home and answers its buttons."""

    def __init__(
        self,
        app: AsyncApp,
        gate: CoordinatorGate,
        office: Office,
        *,
        timezone: str,
        budget: Callable[[], Budget | None],
        outbox: Callable[[], Awaitable[str]],
        debounce_s: float = DEBOUNCE_S,
    ) -> None:
        self.client = gate.client
        self.gate = gate
        self.office = office
        self.tz = ZoneInfo(timezone)
        self._budget = budget
        self._outbox = outbox
        self._debounce_s = debounce_s
        # Coordinators who opened the tab since the process started: refreshed on change;
        # and everyone else who did (their own page): refreshed when hours are logged.
        self._viewers: set[str] = set()
        self._members: set[str] = set()
        self._everyone = False
        self._pending: asyncio.Task[None] | None = None
        # A change while tabs are being drawn gets one more drawing after a quiet time.
        self._drawing = self._again = False
        app.event("app_home_opened")(self._on_opened)
        app.action(HOME_EXPORT)(self._on_export)
        app.action(HOME_REPORT)(self._on_report)
        app.action(HOME_REFRESH)(self._on_refresh)
        app.action(HOME_OUTBOX)(self._on_outbox)
        app.action(HOME_CHANNEL)(self._on_channel)

    async def _on_opened(self, body: Body) -> None:
        event = body.get("event") or {}
        if event.get("tab", "home") != "home":
            return
        await self.publish(str(event.get("user", "")))

    async def publish(self, user: str) -> None:
        """Draw this person's App Home (the dashboard, or their own page)."""
        if not user:
            return
        loc = await self.gate.locale_of(user)
        if await self.gate.is_coordinator(user):
            self._viewers.add(user)
            board = await self.office.dashboard()
            view = render_home(
                board, loc, self.tz, self.office.clock(), await self._budget_text(loc)
            )
        else:
            self._members.add(user)
            page = await self.office.member_page(user)
            view = render_member_home(page, loc, self.tz, self.office.clock())
        try:
            await self.client.views_publish(user_id=user, view=view)
        except (SlackApiError, ClientError, TimeoutError) as exc:
            log.warning("slack: the App Home could not be published (%s)", type(exc).__name__)

    async def _budget_text(self, locale: str) -> str:
        budget = self._budget()
        if budget is None:
            return ""
        try:
            return await budget.text(locale)
        except Exception:  # the dashboard shows without the budget rather than not at all
            log.warning("slack: the LINE budget could not be read for the App Home")
            return ""

    def changed(self) -> None:
        """Something coordinators and members see changed (hours logged, a delivery):
        republish every open tab after a quiet time."""
        self._everyone = True
        self.office_changed()

    def office_changed(self) -> None:
        """Something coordinators see changed: republish their tabs after a quiet time."""
        if not self._viewers and not (self._everyone and self._members):
            return
        if self._pending is not None and not self._pending.done():
            self._again = self._again or self._drawing
            return
        self._pending = asyncio.get_running_loop().create_task(self._republish())

    async def _republish(self) -> None:
        while True:
            await asyncio.sleep(self._debounce_s)
            self._drawing = True
            users = list(self._viewers)
            if self._everyone:
                users += sorted(self._members - self._viewers)
                self._everyone = False
            for user in users:
                try:
                    await self.publish(user)
                except Exception:
                    log.exception("slack: the App Home could not be refreshed")
            self._drawing = False
            if not self._again:
                return
            self._again = False

    # ---------------------------------------------------------------- buttons

    async def _coordinator(self, body: Body) -> str | None:
        user = str(body["user"]["id"])
        if await self.gate.is_coordinator(user):
            return user
        await self.gate.refuse(user, None, body)
        return None

    async def _files(self, body: Body, make: Callable[[str], Awaitable[Files]]) -> None:
        user = await self._coordinator(body)
        if user is None:
            return
        loc = await self.gate.locale_of(user)

        async def tell(text: str) -> None:
            await self.gate.tell(user, None, text)

        await deliver_files(self.client, user, lambda: make(loc), loc, tell)

    async def _on_export(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        words = tuple(str(body["actions"][0].get("value") or "all xlsx").split())

        async def make(loc: str) -> Files:
            # Only coordinators reach here: personal columns are theirs to see.
            wanted = ExportRequest.parse(words)
            return await self.office.export(wanted, personal=True, locale=loc)

        await self._files(body, make)

    async def _on_report(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        slug = str(body["actions"][0].get("value") or "") or None
        await self._files(body, lambda loc: self.office.report(slug, loc))

    async def _on_refresh(self, ack: AsyncAck, body: Body) -> None:
        await ack()
        await self.publish(str(body["user"]["id"]))

    async def _on_outbox(self, ack: AsyncAck, body: Body) -> None:
        """The messages that could not be sent: `/tsunagu outbox`'s answer in the DM."""
        await ack()
        user = await self._coordinator(body)
        if user is None:
            return
        await self.gate.tell(user, None, await self._outbox())

    async def _on_channel(self, ack: AsyncAck) -> None:
        # Slack opens the channel from the button's URL; the click needs only its ack.
        await ack()
