"""Sandbox mode: this app plays LINE and Slack itself, with a page to drive both.

With no credentials (TSUNAGU_SANDBOX=auto) or when asked (TSUNAGU_SANDBOX=on), the
composition root gives the app generated credentials and points the SDK clients at the
fake APIs served here. The page at / renders what the bot sent and turns every tap,
click, modal submission and slash command into the request LINE or Slack would send: the
sandbox signs it and the page POSTs it to /line/webhook or /slack/events.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, MessagingApiBlob
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.coordination import Coordination
from bot.demo import demo_people, is_loaded, load_demo
from bot.effects import EffectContext
from bot.richmenu import RichMenus, all_aliases
from bot.settings import (
    SANDBOX_COORDINATOR_CHANNEL,
    SANDBOX_COORDINATORS,
    SANDBOX_MEMBER,
    Settings,
)
from handlers.richmenu import deploy, find_fonts
from handlers.sandbox.changes import Changes
from handlers.sandbox.line_api import LineWorld
from handlers.sandbox.slack_api import Channel, SlackPerson, SlackWorld

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
# A page's long poll is answered within this time even when nothing changed: a server
# being stopped waits for requests in flight, so they must stay short.
POLL_TIMEOUT_S = 3.0
# Making the rich menus waits for the server to answer: tries, and the pause between.
MENU_ATTEMPTS = 100
MENU_RETRY_S = 0.1
POLL_SLICE_S = 0.5
KINDS = ("volunteer", "group")
LANGUAGES = ("ja", "en")


@dataclass
class Services:
    """What loading demo data needs from the composition root."""

    maker: async_sessionmaker[AsyncSession]
    effects: EffectContext
    coordination: Coordination
    notify: Callable[[], None]
    # The programme calendar: the demo imports the Kawasaki 2017 programme into it.
    programmes: Any = None
    # The calendar's clock (bot.clock.ShiftableClock) and the scheduler, whose
    # fast_forward moves it and runs what falls due on the way.
    clock: Any = None
    scheduler: Any = None


class Sandbox:
    """The fake LINE and Slack, their credentials, and the page's routes."""

    def __init__(self, settings: Settings) -> None:
        line_secret, line_token = secrets.token_hex(16), "sandbox-line-" + secrets.token_hex(16)
        slack_token = "xoxb-sandbox-" + secrets.token_hex(12)
        slack_secret = secrets.token_hex(16)
        self.settings = settings.sandboxed(line_secret, line_token, slack_token, slack_secret)
        self.changes = Changes()
        self.line = LineWorld(line_token, line_secret, self.changes)
        self.slack = SlackWorld(
            slack_token, slack_secret, self.changes, self.settings.slack_api_base_url
        )
        self.services: Services | None = None
        self._menus_task: asyncio.Task[None] | None = None
        self._workspace()

    def _workspace(self) -> None:
        people = (
            SlackPerson(SANDBOX_COORDINATORS[0], "aoi", "Aoi Mori", True),
            # Ken reads Slack in English: his private answers and modals are English.
            SlackPerson(SANDBOX_COORDINATORS[1], "ken", "Ken Ito", True, "en-US"),
            SlackPerson(SANDBOX_MEMBER, "yuki", "Yuki Sato", False),
        )
        for person in people:
            self.slack.add_person(person)
        self.slack.add_channel(
            Channel(
                SANDBOX_COORDINATOR_CHANNEL,
                "coordinators",
                topic="Requests and team proposals / 相談とチーム案",
                members=[p.id for p in people],
            )
        )
        for demo in demo_people():
            self.line.add_persona(demo.name, demo.kind, demo.locale, demo.user_key)
        # Demo people appear once the demo is loaded; until then the list starts empty.
        self._hidden = {p.user_key for p in demo_people()}

    def attach(self, services: Services) -> None:
        """Called by the composition root once the core is built."""
        self.services = services

    def close(self) -> None:
        """Release long-polling pages (the server is stopping)."""
        self.changes.close()
        if self._menus_task is not None:
            self._menus_task.cancel()

    def start_rich_menus(self) -> None:
        """Make the rich menus in the sandbox's LINE, as `tsunagu line richmenu` would, once
        the server answers (the SDK's calls come back to this same server)."""
        self._menus_task = asyncio.create_task(self._install_rich_menus(), name="rich-menus")

    async def _install_rich_menus(self) -> None:
        linked: dict[str, list[str]] = {}
        if self.services is not None:
            menus = RichMenus(self.settings.default_locale)
            async with self.services.maker() as session:
                linked = {name: await menus.linked(session, name) for name, _, _ in all_aliases()}
        settings = self.settings

        def deploy_once() -> None:
            config = Configuration(
                host=settings.line_api_base_url, access_token=settings.line_channel_access_token
            )
            data = Configuration(
                host=settings.line_data_url, access_token=settings.line_channel_access_token
            )
            with ApiClient(config) as client, ApiClient(data) as data_client:
                deploy(
                    MessagingApi(client),
                    MessagingApiBlob(data_client),
                    default_locale=settings.default_locale,
                    fonts=find_fonts(),
                    linked=lambda name: linked.get(name, ()),
                )

        for attempt in range(MENU_ATTEMPTS):
            try:
                await asyncio.to_thread(deploy_once)
                log.info("sandbox: rich menus ready")
                return
            except Exception as exc:  # the server is not listening yet, most likely
                if attempt == MENU_ATTEMPTS - 1:
                    log.warning("sandbox: rich menus not made (%s)", type(exc).__name__)
                    return
                await asyncio.sleep(MENU_RETRY_S)

    def banner(self) -> list[str]:
        """The start-up lines that say where the sandbox is."""
        url = self.settings.public_url
        lines = [
            f"  Sandbox: ON — open {url}/ to play LINE and Slack in your browser",
            "  (no LINE/Slack credentials are used; TSUNAGU_SANDBOX=off turns this off)",
        ]
        if self.settings.host not in ("127.0.0.1", "localhost", "::1"):
            lines.append("  Sandbox warning: the page has no login; serve it on 127.0.0.1 only")
        return lines

    # ---------------------------------------------------------------- routes

    def routes(self) -> list[BaseRoute]:
        """The page, its API, and the fake platform APIs."""
        return [
            Route("/", self.index, methods=["GET"]),
            Mount("/sandbox/static", app=StaticFiles(directory=STATIC), name="sandbox-static"),
            Mount("/sandbox/line-api", routes=self.line.routes()),
            Mount("/sandbox/slack-api", routes=self.slack.routes()),
            Route("/sandbox/api/state", self.state, methods=["GET"]),
            Route("/sandbox/api/line/personas", self.add_persona, methods=["POST"]),
            Route("/sandbox/api/line/webhook", self.line_webhook, methods=["POST"]),
            Route("/sandbox/api/line/richmenu/{menu_id}", self.menu_image, methods=["GET"]),
            Route("/sandbox/api/slack/request", self.slack_request, methods=["POST"]),
            Route("/sandbox/api/slack/close", self.slack_close, methods=["POST"]),
            Route("/sandbox/api/slack/answer", self.slack_answer, methods=["POST"]),
            Route("/sandbox/api/slack/files/{file_id}", self.slack_file, methods=["GET"]),
            Route("/sandbox/api/demo", self.demo, methods=["POST"]),
            Route("/sandbox/api/clock", self.fast_forward, methods=["POST"]),
        ]

    async def index(self, request: Request) -> Response:
        """The sandbox page."""
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def menu_image(self, request: Request) -> Response:
        """A rich menu's image, for the phone in the page."""
        found = self.line.menu_images.get(request.path_params["menu_id"])
        if found is None:
            return JSONResponse({"error": "no such menu"}, status_code=404)
        content_type, image = found
        return Response(image, media_type=content_type, headers={"Cache-Control": "max-age=3600"})

    async def state(self, request: Request) -> Response:
        """Everything the page shows; waits (long poll) until it differs from ?since=."""
        try:
            since = int(request.query_params.get("since", "-1"))
        except ValueError:
            since = -1
        version = self.changes.version
        for _ in range(int(POLL_TIMEOUT_S / POLL_SLICE_S)):
            version = await self.changes.wait(since, POLL_SLICE_S)
            if version != since or await request.is_disconnected():
                break
        if any(self.line.chats.get(user) for user in self._hidden):
            self._hidden.clear()  # `tsunagu demo` ran while this server was up
        line = self.line.snapshot()
        line["personas"] = [p for p in line["personas"] if p["user_id"] not in self._hidden]
        line["chats"] = {k: v for k, v in line["chats"].items() if k not in self._hidden}
        return JSONResponse(
            {
                "version": version,
                "line": line,
                "slack": self.slack.snapshot(),
                "coordinator_channel": SANDBOX_COORDINATOR_CHANNEL,
                "demo_loaded": not self._hidden,
                "calendar_now": self._calendar_now(),
            },
            headers={"Cache-Control": "no-store"},
        )

    async def _json(self, request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    async def add_persona(self, request: Request) -> Response:
        """Create a LINE persona: {name, kind: volunteer|group, language: ja|en}."""
        body = await self._json(request)
        name = str(body.get("name") or "").strip()[:40]
        kind, language = body.get("kind"), body.get("language")
        if not name or kind not in KINDS or language not in LANGUAGES:
            return JSONResponse(
                {"error": "name, kind (volunteer|group) and language (ja|en) are needed"},
                status_code=400,
            )
        persona = self.line.add_persona(name, str(kind), str(language))
        return JSONResponse({"user_id": persona.user_id})

    async def line_webhook(self, request: Request) -> Response:
        """Build and sign the webhook LINE would send: {user, type, text?, data?, display?}.

        The page POSTs the returned body and headers to /line/webhook itself."""
        body = await self._json(request)
        user = str(body.get("user") or "")
        kind = str(body.get("type") or "")
        if user not in self.line.personas or kind not in (
            "follow",
            "unfollow",
            "message",
            "postback",
        ):
            return JSONResponse({"error": "unknown persona or event type"}, status_code=400)
        raw, signature = self.line.webhook(
            user,
            kind,
            text=str(body.get("text") or ""),
            data=str(body.get("data") or ""),
            display=str(body.get("display") or ""),
        )
        return JSONResponse(
            {
                "url": "/line/webhook",
                "body": raw.decode("utf-8"),
                "headers": {
                    "Content-Type": "application/json; charset=utf-8",
                    "X-Line-Signature": signature,
                },
            }
        )

    async def slack_request(self, request: Request) -> Response:
        """Build and sign what Slack would send for a click, a modal or a slash command."""
        body = await self._json(request)
        user = str(body.get("user") or "")
        kind = body.get("type")
        try:
            if kind == "block_actions":
                raw, headers = self.slack.block_action(
                    user,
                    str(body.get("channel") or ""),
                    str(body.get("ts") or ""),
                    str(body.get("action_id") or ""),
                    str(body.get("value") or ""),
                )
            elif kind == "view_submission":
                values = body.get("values") if isinstance(body.get("values"), dict) else {}
                raw, headers = self.slack.view_submission(
                    user, str(body.get("view_id") or ""), values or {}
                )
            elif kind == "app_home_opened":
                raw, headers = self.slack.home_opened(user)
            elif kind == "home_action":
                raw, headers = self.slack.home_action(
                    user, str(body.get("action_id") or ""), str(body.get("value") or "")
                )
            elif kind == "command":
                raw, headers = self.slack.slash_command(
                    user,
                    str(body.get("channel") or ""),
                    str(body.get("command") or "/tsunagu"),
                    str(body.get("text") or ""),
                )
            else:
                return JSONResponse({"error": "unknown request type"}, status_code=400)
        except LookupError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"url": "/slack/events", "body": raw, "headers": headers})

    async def slack_file(self, request: Request) -> Response:
        """Download a file the app uploaded (an export, the report, a chart)."""
        found = self.slack.file(request.path_params["file_id"])
        if found is None:
            return JSONResponse({"error": "no such file"}, status_code=404)
        name, content = found
        quoted = quote(name)
        return Response(
            content,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quoted}"},
        )

    async def slack_close(self, request: Request) -> Response:
        """Close a modal (after a clean submission, or Cancel)."""
        body = await self._json(request)
        self.slack.close_view(str(body.get("user") or ""), str(body.get("view_id") or ""))
        return JSONResponse({})

    async def slack_answer(self, request: Request) -> Response:
        """Show the app's immediate answer to a slash command (as Slack's client does)."""
        body = await self._json(request)
        self.slack.command_answer(
            str(body.get("user") or ""),
            str(body.get("channel") or ""),
            str(body.get("command") or ""),
            body.get("answer"),
        )
        return JSONResponse({})

    def _calendar_now(self) -> str:
        clock = self.services.clock if self.services is not None else None
        at = clock() if clock is not None else datetime.now(ZoneInfo(self.settings.timezone))
        return at.astimezone(ZoneInfo(self.settings.timezone)).strftime("%Y-%m-%d %H:%M")

    async def fast_forward(self, request: Request) -> Response:
        """Move the programme calendar's clock forward (sandbox only), hour by hour, so
        each announcement and check-in falls due on the way as it would in real time."""
        s = self.services
        if s is None or s.clock is None or s.scheduler is None:
            return JSONResponse({"error": "starting"}, status_code=503)
        try:
            body = await request.json()
            hours = int(body.get("hours", 0))
        except (ValueError, TypeError, AttributeError):
            return JSONResponse({"error": "give hours as a whole number"}, status_code=400)
        if not 1 <= hours <= 24 * 90:
            return JSONResponse({"error": "hours must be between 1 and 2160"}, status_code=400)
        done = await s.scheduler.fast_forward(hours)
        s.notify()
        self.changes.bump()
        log.info("sandbox: calendar moved forward %d hours", hours)
        return JSONResponse({"now": self._calendar_now(), "done": done})

    async def demo(self, request: Request) -> Response:
        """Load the demo data through the core (5 groups, 18 volunteers)."""
        if self.services is None:
            return JSONResponse({"error": "starting"}, status_code=503)
        s = self.services
        result = await load_demo(
            s.maker,
            s.effects,
            s.coordination,
            actor=SANDBOX_COORDINATORS[0],
            notify=s.notify,
            programmes=s.programmes,
            today=datetime.now(ZoneInfo(self.settings.timezone)).date(),
        )
        self._hidden.clear()
        self.changes.bump()
        log.info("sandbox: demo data %s", "already there" if result.already_loaded else "loaded")
        return JSONResponse(
            {"already_loaded": result.already_loaded, "projects": len(result.projects)}
        )

    async def reveal_loaded_demo(self) -> None:
        """Show the demo people if an earlier run (or `tsunagu demo`) loaded them."""
        if self.services is None:
            return
        if await is_loaded(self.services.maker):
            self._hidden.clear()
            self.changes.bump()
