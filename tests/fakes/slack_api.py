"""A fake Slack Web API on 127.0.0.1 for tests and benchmarks.

The real slack_sdk clients reach it through ``base_url`` (``start()`` returns a URL ending
in ``/api/``). It answers the methods Tsunagu uses the way Slack does: HTTP 200 with
``{"ok": false, "error": ...}`` for every rule broken (bad token, unknown channel, Block Kit
limits, channel-name rules), HTTP 429 with ``Retry-After`` for rate limits, and the response
shapes slack_sdk and Bolt read. It keeps the state those methods touch (channels, members,
messages with threads and edits, ephemerals, modals, home tabs, users, user groups), records
every request, and can answer 429/500 on demand.

slack_sdk sends arguments three ways and Slack accepts all of them, so the fake does too: a
JSON body with ``Authorization: Bearer`` (chat.*, views.*), a form body with ``token=``
(other clients, curl), and the query string of a POST with no body or of a GET (auth.test,
conversations.*, users.info, team.info, usergroups.users.list, chat.getPermalink).

It serves from a background thread with its own event loop, so sync tests, async tests and a
separate process (``python -m tests.fakes.slack_api``) can all use it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import itertools
import json
import math
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from aiohttp import web

from bot.slack_manifest import bot_scopes

from ..slack_requests import (
    API_APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
)
from .block_kit import MAX_MESSAGE_TEXT, Problem, block_elements, message_problems, view_problems
from .waiting import Changes

DEFAULT_TOKEN = "xoxb-test-token"
# The scopes the app is granted: exactly what its manifest asks for (`tsunagu slack
# manifest`), reported in X-OAuth-Scopes; a method needing another is refused.
SCOPES = ",".join(bot_scopes())

# The bot scopes each method accepts (any one of them), from Slack's method documentation,
# kept here independently of the app's own table so that a scope the manifest forgot
# shows up as Slack's `missing_scope` error in whichever test calls the method.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "conversations.create": ("channels:manage", "groups:write", "im:write", "mpim:write"),
    "conversations.invite": ("channels:manage", "groups:write", "im:write", "mpim:write"),
    "conversations.info": ("channels:read", "groups:read", "im:read", "mpim:read"),
    "conversations.list": ("channels:read", "groups:read", "im:read", "mpim:read"),
    "conversations.join": ("channels:join",),
    "conversations.open": ("channels:manage", "groups:write", "im:write", "mpim:write"),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    "users.info": ("users:read",),
    "usergroups.users.list": ("usergroups:read",),
    "team.info": ("team:read",),
}

_CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")
_TRIGGER_ID = re.compile(r"^\d+\.\d+\.[0-9a-f]+$")
_FAULT_ERRORS = {429: "ratelimited", 500: "fatal_error", 503: "service_unavailable"}
_MAX_ATTACHMENTS = 100


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, and how it answered."""

    method: str  # the Slack API method ("chat.postMessage"), or "response_url"
    http_method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    args: dict[str, Any]  # query, form and JSON arguments merged (the token left out)
    encoding: str  # "json", "form" or "query" (no body: everything in the query string)
    status: int
    response: Any
    time: float  # time.time() when received
    reason: str | None = None  # why it was rejected
    injected: bool = False  # answered by fail_next() rather than by the rules

    @property
    def ok(self) -> bool:
        """Return True if Slack would have answered ``ok: true``."""
        if self.method == "response_url":
            return self.status == 200
        return (
            self.status == 200 and isinstance(self.response, dict) and bool(self.response.get("ok"))
        )

    @property
    def error(self) -> str | None:
        """Return Slack's error code (``invalid_blocks``, ``ratelimited``...), or None."""
        if isinstance(self.response, dict) and not self.response.get("ok"):
            return str(self.response.get("error"))
        if isinstance(self.response, str) and self.status != 200:
            return self.response
        return None

    @property
    def rejected(self) -> bool:
        """Return True if it broke a rule (not an injected fault)."""
        return not self.ok and not self.injected


class FoundButton(NamedTuple):
    """A button in a stored message, with what a click payload needs."""

    element: dict[str, Any]
    message_ts: str
    block_id: str
    channel_id: str
    message: dict[str, Any]

    @property
    def action_id(self) -> str:
        """Return the button's action_id."""
        return str(self.element.get("action_id", ""))

    @property
    def value(self) -> str | None:
        """Return the button's value, if it has one."""
        value = self.element.get("value")
        return None if value is None else str(value)

    @property
    def text(self) -> str:
        """Return the button's label."""
        return str(self.element.get("text", {}).get("text", ""))


@dataclass
class _Fault:
    remaining: int
    status: int
    method: str | None
    retry_after: float | None
    error: str | None


@dataclass
class _Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    injected: bool = False


class _Fail(Exception):
    """Raised by a method handler to answer ``{"ok": false, "error": error, **extra}``."""

    def __init__(self, error: str, reason: str | None = None, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.reason = reason or error
        self.extra = extra


def _invalid(error: str, problems: Sequence[Problem | str], *, with_errors: bool) -> _Fail:
    """Slack's answer to a body it cannot render: the problems as ``[ERROR]`` lines."""
    lines = [str(p) for p in problems]
    extra: dict[str, Any] = {"response_metadata": {"messages": [f"[ERROR] {x}" for x in lines]}}
    if with_errors:  # chat.* also lists them bare under "errors"; views.* does not
        extra["errors"] = lines
    return _Fail(error, "; ".join(lines), **extra)


@dataclass
class _Channel:
    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    is_archived: bool = False
    members: set[str] = field(default_factory=set)
    creator: str = BOT_USER_ID
    created: int = field(default_factory=lambda: int(time.time()))
    user: str | None = None  # the other party of a DM

    def info(self) -> dict[str, Any]:
        """Return the conversation object conversations.* answer with."""
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.user,
                "is_user_deleted": False,
                "priority": 0,
            }
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "created": self.created,
            "is_archived": self.is_archived,
            "is_general": False,
            "unlinked": 0,
            "name_normalized": self.name,
            "is_shared": False,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": TEAM_ID,
            "updated": self.created * 1000,
            "parent_conversation": None,
            "creator": self.creator,
            "is_ext_shared": False,
            "shared_team_ids": [TEAM_ID],
            "pending_connected_team_ids": [],
            "is_member": BOT_USER_ID in self.members,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
            "num_members": len(self.members),
        }


def _bool(value: Any) -> bool:
    """Read a boolean argument as Slack does ("true"/"1" from forms and query strings)."""
    if isinstance(value, str):
        return value.lower() in ("1", "true")
    return bool(value)


def _user_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [u.strip() for u in str(value or "").split(",") if u.strip()]


class FakeSlackApi:
    """A fake Slack Web API server; ``start()`` returns its base URL (ending in ``/api/``)."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        latency: float = 0.0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        record: bool = True,
        clock: Callable[[], float] = time.time,
        post_rate_limits: tuple[float, float] | None = None,
    ) -> None:
        self.token = token
        # The bot scopes granted to the token (the manifest's); tests may add more.
        self.scopes: set[str] = set(SCOPES.split(","))
        self.latency = latency
        self.host = host
        self.port = port
        self.record = record
        self.clock = clock
        # chat.postMessage limits when set: (posts a second per channel, per workspace),
        # each a token bucket holding one second's worth; beyond them, 429 ratelimited.
        self._post_limits = post_rate_limits
        self._buckets: dict[str, tuple[float, float]] = {}

        self._lock = threading.RLock()
        # What tests wait on: bumped by every recorded request.
        self._changes = Changes()
        self._ids = itertools.count(1)
        self._last_ts_us = 0
        self._channels: dict[str, _Channel] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._faults: list[_Fault] = []
        self._used_triggers: set[str] = set()
        self._hooks: dict[str, dict[str, Any]] = {}
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "conversations.create": self._conversations_create,
            "conversations.invite": self._conversations_invite,
            "conversations.info": self._conversations_info,
            "conversations.list": self._conversations_list,
            "conversations.join": self._conversations_join,
            "conversations.open": self._conversations_open,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "team.info": self._team_info,
        }
        self.add_user(BOT_USER_ID, "tsunagu", is_bot=True, real_name="Tsunagu")
        self._reset_state()

        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._startup_error: BaseException | None = None

    def _reset_state(self) -> None:
        self._requests: list[RecordedRequest] = []
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._ephemerals: list[dict[str, Any]] = []
        self._views: dict[str, dict[str, Any]] = {}
        self._opened: list[str] = []
        self._home: dict[str, str] = {}
        # files.getUploadURLExternal reserves a file; the upload URL fills it; files.
        # completeUploadExternal shares it (then it appears in `files()`).
        self._files: dict[str, dict[str, Any]] = {}
        self._responses: list[dict[str, Any]] = []
        self._counts = dict.fromkeys(("requests", "errors", "injected", "messages"), 0)

    # --- lifecycle ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return ``http://host:port/api/``, the ``base_url`` slack_sdk clients take."""
        return f"http://{self.host}:{self.port}/api/"

    @property
    def root_url(self) -> str:
        """Return ``http://host:port`` (control endpoints and response URLs live here)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Start serving in a background thread and return the base URL."""
        if self._thread is not None:
            raise RuntimeError("FakeSlackApi is already running")
        # Binding here, not in the thread, means the port is known and taken on return.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        self._startup_error = None
        self._thread = threading.Thread(
            target=self._serve, args=(sock, ready), name=f"FakeSlackApi:{self.port}", daemon=True
        )
        self._thread.start()
        ready.wait(10)
        if self._startup_error is not None or not ready.is_set():
            self._thread.join(1)
            self._thread = None
            raise RuntimeError("FakeSlackApi failed to start") from self._startup_error
        return self.base_url

    def stop(self) -> None:
        """Stop serving and wait for the server thread to finish."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeSlackApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(
            self._app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, sock, backlog=1024).start())
        except BaseException as exc:  # reported to start() in the caller's thread
            self._startup_error = exc
            sock.close()
            loop.close()
            ready.set()
            return
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def _app(self) -> web.Application:
        app = web.Application()
        # One catch-all route: unknown methods must still get Slack's error shape, and
        # fault injection applies before any routing.
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    # --- workspace set-up ----------------------------------------------------------

    def add_channel(
        self,
        name: str,
        id: str | None = None,
        members: Iterable[str] = (),
        *,
        is_private: bool = False,
        bot_member: bool = True,
    ) -> str:
        """Create a channel (the bot a member unless ``bot_member=False``) and return its id."""
        name = name.lstrip("#")
        with self._lock:
            if self._find_by_name(name) is not None:
                raise ValueError(f"channel name taken: {name}")
            channel_id = id or self._new_id("G" if is_private else "C")
            channel = _Channel(channel_id, name, is_private=is_private, members=set(members))
            if bot_member:
                channel.members.add(BOT_USER_ID)
            self._channels[channel_id] = channel
            self._messages.setdefault(channel_id, [])
            return channel_id

    def add_user(
        self,
        id: str,
        name: str,
        is_admin: bool = False,
        *,
        real_name: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
        tz: str = "Asia/Tokyo",
        locale: str = "ja-JP",
    ) -> None:
        """Register a workspace member that users.info, invites and ephemerals can find."""
        real = real_name or name
        user: dict[str, Any] = {
            "id": id,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": deleted,
            "color": "9f69e7",
            "real_name": real,
            "tz": tz,
            "tz_label": "Japan Standard Time" if tz == "Asia/Tokyo" else tz,
            "tz_offset": 32400 if tz == "Asia/Tokyo" else 0,
            "profile": {
                "real_name": real,
                "real_name_normalized": real,
                "display_name": name,
                "display_name_normalized": name,
                "team": TEAM_ID,
            },
            "is_admin": is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
            "locale": locale,
        }
        if is_bot:
            user["profile"]["bot_id"] = BOT_ID
        with self._lock:
            self._users[id] = user

    def add_usergroup(self, id: str, users: Iterable[str]) -> None:
        """Register a user group (``S…``) whose members usergroups.users.list returns."""
        with self._lock:
            self._usergroups[id] = list(users)

    def add_member(self, channel: str, *users: str) -> None:
        """Add people to a channel without going through conversations.invite."""
        with self._lock:
            self._known(channel).members.update(users)

    def add_message(
        self, channel: str, text: str, user: str, *, thread_ts: str | None = None
    ) -> str:
        """Store a message a person wrote (so the bot can reply in its thread); return its ts."""
        with self._lock:
            target = self._known(channel)
            message = {"type": "message", "user": user, "text": text, "team": TEAM_ID}
            try:
                return str(self._store(target.id, message, thread_ts)["ts"])
            except _Fail as fail:
                raise LookupError(fail.reason) from None

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        method: str | None = None,
        retry_after: float | None = None,
        *,
        error: str | None = None,
    ) -> None:
        """Answer the next ``n`` calls (of ``method`` if given) with ``status``.

        429 comes with ``Retry-After`` (whole seconds, default 1) and ``error: ratelimited``,
        as Slack sends it. ``status=200, error="..."`` answers ``ok: false`` with that error.
        """
        with self._lock:
            self._faults.append(_Fault(n, status, method, retry_after, error))

    def clear(self) -> None:
        """Forget requests, messages, ephemerals, views and responses; keep the workspace."""
        with self._lock:
            self._reset_state()
            for channel_id in self._channels:
                self._messages[channel_id] = []

    def response_url(
        self,
        channel: str | None = None,
        message_ts: str | None = None,
        *,
        user: str | None = None,
        kind: str = "actions",
    ) -> str:
        """Return a response URL served by the fake, tied to a channel/message/user."""
        with self._lock:
            channel_id = self._known(channel).id if channel else None
            secret = secrets.token_urlsafe(18)
            path = f"/hooks/{kind}/{TEAM_ID}/{secrets.randbelow(10**13)}/{secret}"
            self._hooks[path] = {"channel": channel_id, "message_ts": message_ts, "user": user}
            return self.root_url + path

    # --- what was received ------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Return every request received, in order."""
        with self._lock:
            return list(self._requests)

    def calls(self, method: str) -> list[RecordedRequest]:
        """Return the requests made to one Slack method (``"chat.postMessage"``), in order."""
        with self._lock:
            return [r for r in self._requests if r.method == method]

    @property
    def errors(self) -> list[RecordedRequest]:
        """Return requests answered ``ok: false`` by the rules, each with its ``reason``."""
        with self._lock:
            return [r for r in self._requests if r.rejected]

    @property
    def counts(self) -> dict[str, int]:
        """Return counters of requests, errors, injected faults and messages posted."""
        with self._lock:
            return dict(self._counts)

    def channel_id(self, name_or_id: str) -> str:
        """Return the id of a channel given its name (``#name`` or ``name``) or id."""
        with self._lock:
            return self._known(name_or_id).id

    def channel(self, name_or_id: str) -> dict[str, Any]:
        """Return a channel as conversations.info describes it."""
        with self._lock:
            return self._known(name_or_id).info()

    def members(self, channel: str) -> set[str]:
        """Return the ids of a channel's members."""
        with self._lock:
            return set(self._known(channel).members)

    def messages(self, channel: str, *, replies: bool = True) -> list[dict[str, Any]]:
        """Return a channel's messages in the order posted, as they read now (after updates).

        Thread replies carry ``thread_ts``; ``replies=False`` leaves them out.
        """
        with self._lock:
            stored = self._messages.get(self._known(channel).id, [])
            return [
                copy.deepcopy(m) for m in stored if replies or m.get("thread_ts") in (None, m["ts"])
            ]

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Return a thread: its parent message, then the replies in order."""
        with self._lock:
            return [m for m in self.messages(channel) if m["ts"] == ts or m.get("thread_ts") == ts]

    def last_message(self, channel: str) -> dict[str, Any] | None:
        """Return the message posted last in a channel (a thread reply included), or None."""
        messages = self.messages(channel)
        return messages[-1] if messages else None

    def ephemerals(self, user: str | None = None) -> list[dict[str, Any]]:
        """Return ephemeral messages (to ``user`` if given): via chat.postEphemeral or respond."""
        with self._lock:
            return [copy.deepcopy(e) for e in self._ephemerals if user is None or e["user"] == user]

    def views_opened(self) -> list[dict[str, Any]]:
        """Return the modals opened with views.open, in order, as they read now."""
        with self._lock:
            return [copy.deepcopy(self._views[v]) for v in self._opened]

    def view(self, view_id: str) -> dict[str, Any]:
        """Return a modal or home tab by id, as it reads now."""
        with self._lock:
            return copy.deepcopy(self._views[view_id])

    def files(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Return the files shared with files.completeUploadExternal (in a channel, or
        all), in order: id, name, title, channel, initial comment and the bytes."""
        with self._lock:
            shared = [f for f in self._files.values() if f.get("shared")]
            return [
                copy.deepcopy(f)
                for f in shared
                if channel is None or f["channel"] == self.channel_id(channel)
            ]

    def dm_id(self, user: str) -> str | None:
        """The id of the bot's direct-message channel with this user, if one was opened."""
        with self._lock:
            for channel in self._channels.values():
                if channel.is_im and channel.user == user:
                    return channel.id
        return None

    def home_view(self, user: str) -> dict[str, Any] | None:
        """Return the home tab last published for ``user``, or None."""
        with self._lock:
            view_id = self._home.get(user)
            return None if view_id is None else copy.deepcopy(self._views[view_id])

    def responses(self) -> list[dict[str, Any]]:
        """Return the bodies posted to the fake's response URLs, with the ``url`` added."""
        with self._lock:
            return copy.deepcopy(self._responses)

    def find_button(self, channel: str, text_or_action_id: str) -> FoundButton:
        """Return the newest button in ``channel`` with this label or action_id.

        Raises LookupError (listing the buttons there are) when there is none.
        """
        seen: list[str] = []
        channel_id = self.channel_id(channel)
        for message in reversed(self.messages(channel)):
            for block in message.get("blocks") or []:
                for element in block_elements(block):
                    if element.get("type") != "button":
                        continue
                    label = element.get("text", {}).get("text")
                    if text_or_action_id in (label, element.get("action_id")):
                        return FoundButton(
                            element, message["ts"], block["block_id"], channel_id, message
                        )
                    seen.append(f"{label!r} ({element.get('action_id')})")
        raise LookupError(f"no button {text_or_action_id!r} in {channel}; buttons: {seen}")

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.005
    ) -> Any:
        """Return ``predicate()`` once it is truthy, or raise TimeoutError: looked at again
        whenever a request arrives, and at least every ``interval`` (growing to 50 ms)."""
        return self._changes.wait_for(predicate, timeout, interval, self._summary)

    async def wait_for_async(
        self, predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.005
    ) -> Any:
        """Like ``wait_for`` but sleeps with asyncio, for use inside async tests."""
        return await self._changes.wait_for_async(predicate, timeout, interval, self._summary)

    def wait_for_messages(
        self, channel: str, count: int, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until ``channel`` holds at least ``count`` messages and return them all."""
        messages: list[dict[str, Any]] = self.wait_for(self._arrived(channel, count), timeout)
        return messages

    async def wait_for_messages_async(
        self, channel: str, count: int, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Async form of ``wait_for_messages``."""
        messages: list[dict[str, Any]] = await self.wait_for_async(
            self._arrived(channel, count), timeout
        )
        return messages

    def _arrived(self, channel: str, count: int) -> Callable[[], list[dict[str, Any]] | None]:
        def check() -> list[dict[str, Any]] | None:
            messages = self.messages(channel)
            return messages if len(messages) >= count else None

        return check

    def _summary(self) -> str:
        with self._lock:
            errors = [f"{r.method} -> {r.error} ({r.reason})" for r in self._requests if r.rejected]
            return f"counts={self._counts}, errors={errors[-5:]}"

    # --- ids, lookups and storage (call with the lock held) ---------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):09X}"

    def _next_ts(self) -> str:
        # Slack's ts is the post time in microseconds, unique per channel; ours is unique overall.
        self._last_ts_us = max(int(self.clock() * 1_000_000), self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _find_by_name(self, name: str) -> _Channel | None:
        return next((c for c in self._channels.values() if c.name == name), None)

    def _known(self, ref: str) -> _Channel:
        """Look a channel up for a public accessor: LookupError, not Slack's answer."""
        try:
            return self._channel(ref)
        except _Fail as fail:
            raise LookupError(fail.reason) from None

    def _channel(self, ref: Any) -> _Channel:
        if isinstance(ref, str) and ref:
            found = self._channels.get(ref) or self._find_by_name(ref.lstrip("#"))
            if found is not None:
                return found
        raise _Fail("channel_not_found", f"no channel {ref!r}")

    def _post_target(self, ref: Any) -> _Channel:
        """Resolve chat.postMessage's ``channel``: an id, a name, or a user id (opens a DM)."""
        if isinstance(ref, str) and ref[:1] in ("U", "W") and ref in self._users:
            for channel in self._channels.values():
                if channel.is_im and channel.user == ref:
                    return channel
            dm = _Channel(self._new_id("D"), "", is_im=True, members={BOT_USER_ID, ref}, user=ref)
            self._channels[dm.id] = dm
            self._messages[dm.id] = []
            return dm
        return self._channel(ref)

    def _message(self, channel_id: str, ts: Any) -> dict[str, Any]:
        for message in self._messages.get(channel_id, []):
            if message["ts"] == ts:
                return message
        raise _Fail("message_not_found", f"no message {ts!r} in {channel_id}")

    def _store(
        self, channel_id: str, message: dict[str, Any], thread_ts: str | None
    ) -> dict[str, Any]:
        message["ts"] = self._next_ts()
        if thread_ts:
            parent = self._message(channel_id, thread_ts)
            # A reply to a reply joins the parent's thread, as in Slack.
            root_ts = parent.get("thread_ts") or parent["ts"]
            root = self._message(channel_id, root_ts)
            root["thread_ts"] = root_ts
            root["reply_count"] = root.get("reply_count", 0) + 1
            root["latest_reply"] = message["ts"]
            users = root.setdefault("reply_users", [])
            if message["user"] not in users:
                users.append(message["user"])
            root["reply_users_count"] = len(users)
            message["thread_ts"] = root_ts
            message["parent_user_id"] = root["user"]
        self._messages.setdefault(channel_id, []).append(message)
        self._counts["messages"] += 1
        return message

    def _with_block_ids(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Copy blocks, giving each one without a block_id a generated one, as Slack does."""
        result = copy.deepcopy(blocks)
        for block in result:
            block.setdefault("block_id", secrets.token_urlsafe(4)[:5])
        return result

    # --- request handling ------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = time.time()
        path = request.path
        if path.startswith("/__fake/"):
            return await self._control(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        if path.startswith("/hooks/"):
            return await self._hook(request, headers, received)
        if path.startswith("/upload/v1/"):
            return await self._upload(request, path[len("/upload/v1/") :], received)
        args, encoding, token, problem = await self._read(request, headers)
        method = path[len("/api/") :] if path.startswith("/api/") else ""
        with self._lock:
            answer = self._process(method, token, args, problem)
            self._record(
                method or path, request.method, path, headers, args, encoding, answer, received
            )
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        answer.headers.setdefault("X-Slack-Req-Id", secrets.token_hex(16))
        answer.headers.setdefault("X-OAuth-Scopes", ",".join(sorted(self.scopes)))
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)

    @staticmethod
    async def _read(
        request: web.Request, headers: dict[str, str]
    ) -> tuple[dict[str, Any], str, str | None, str | None]:
        """Return (arguments, encoding, token, problem) of a Web API request."""
        args: dict[str, Any] = dict(request.query)
        encoding, problem = "query", None
        if request.content_type == "multipart/form-data":
            posted = await request.post()
            args.update({k: v if isinstance(v, str) else "<file>" for k, v in posted.items()})
            encoding = "form"
        else:
            raw = await request.read()
            if raw and request.content_type == "application/json":
                encoding = "json"
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                if isinstance(body, dict):
                    # Slack reads the token of a JSON call from the header only.
                    body.pop("token", None)
                    args.update(body)
                else:
                    problem = "invalid_json"
            elif raw:
                encoding = "form"
                args.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        # A JSON body's own token was dropped above; a form's or the query string's counts.
        body_token = args.pop("token", None)
        auth = headers.get("authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else body_token
        return args, encoding, token, problem

    def _process(
        self, method: str, token: str | None, args: dict[str, Any], problem: str | None
    ) -> _Answer:
        handler = self._methods.get(method)
        if handler is None:
            return _Answer(
                200,
                {"ok": False, "error": "unknown_method", "req_method": method},
                reason=f"no such method: {method}",
            )
        fault = self._take_fault(method)
        if fault is not None:
            return fault
        if method == "chat.postMessage" and self._post_limits is not None:
            limited = self._take_post_rate(str(args.get("channel", "")))
            if limited is not None:
                return limited
        if not token:
            return _Answer(200, {"ok": False, "error": "not_authed"}, reason="no token")
        if token != self.token:
            return _Answer(200, {"ok": False, "error": "invalid_auth"}, reason="wrong token")
        if problem is not None:
            return _Answer(200, {"ok": False, "error": problem}, reason=problem)
        needed = METHOD_SCOPES.get(method, ())
        if needed and not self.scopes.intersection(needed):
            body = {"ok": False, "error": "missing_scope", "needed": ",".join(needed)}
            provided = ",".join(sorted(self.scopes))
            return _Answer(200, {**body, "provided": provided}, reason=f"missing_scope {method}")
        try:
            result = handler(args)
        except _Fail as fail:
            body = {"ok": False, "error": fail.error, **fail.extra}
            return _Answer(200, body, reason=fail.reason)
        except (ValueError, TypeError, AttributeError) as exc:  # an argument of the wrong shape
            bad = _invalid("invalid_arguments", [str(exc)], with_errors=False)
            body = {"ok": False, "error": bad.error, **bad.extra}
            return _Answer(200, body, reason=f"bad argument: {exc}")
        return _Answer(200, {"ok": True, **result})

    def set_post_rate_limits(self, per_channel: float | None, workspace: float) -> None:
        """Limit chat.postMessage to these posts a second (None: no limits)."""
        with self._lock:
            self._post_limits = None if per_channel is None else (per_channel, workspace)
            self._buckets.clear()

    def _take_post_rate(self, channel: str) -> _Answer | None:
        """Take a token from the channel's and the workspace's bucket, or answer 429."""
        assert self._post_limits is not None
        per_channel, workspace = self._post_limits
        now = time.monotonic()
        levels = {}
        for key, rate in ((f"channel:{channel}", per_channel), ("workspace", workspace)):
            tokens, at = self._buckets.get(key, (rate, now))
            levels[key] = (min(rate, tokens + (now - at) * rate), rate)
        for key, (tokens, rate) in levels.items():
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return _Answer(
                    429,
                    {"ok": False, "error": "ratelimited"},
                    {"Retry-After": str(math.ceil((1 - tokens) / rate))},
                    reason=f"over the chat.postMessage rate ({key})",
                )
        for key, (tokens, _) in levels.items():
            self._buckets[key] = (tokens - 1, now)
        return None

    def _take_fault(self, method: str) -> _Answer | None:
        for fault in self._faults:
            if fault.method is None or fault.method == method:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                break
        else:
            return None
        headers: dict[str, str] = {}
        if fault.status == 429:
            # Slack sends whole seconds; slack_sdk's retry handlers parse it with int().
            retry_after = 1 if fault.retry_after is None else math.ceil(fault.retry_after)
            headers["Retry-After"] = str(retry_after)
        error = fault.error or _FAULT_ERRORS.get(fault.status, "fatal_error")
        return _Answer(
            fault.status,
            {"ok": False, "error": error},
            headers,
            reason="injected fault",
            injected=True,
        )

    def _record(
        self,
        method: str,
        http_method: str,
        path: str,
        headers: dict[str, str],
        args: dict[str, Any],
        encoding: str,
        answer: _Answer,
        received: float,
    ) -> None:
        entry = RecordedRequest(
            method,
            http_method,
            path,
            headers,
            args,
            encoding,
            answer.status,
            answer.body,
            received,
            reason=answer.reason,
            injected=answer.injected,
        )
        self._counts["requests"] += 1
        if answer.injected:
            self._counts["injected"] += 1
        elif not entry.ok:
            self._counts["errors"] += 1
        if self.record:
            self._requests.append(entry)
        self._changes.bump()

    # --- argument helpers -------------------------------------------------------------

    @staticmethod
    def _required(args: dict[str, Any], key: str, error: str = "invalid_arguments") -> Any:
        value = args.get(key)
        if value in (None, ""):
            if error == "invalid_arguments":
                raise _invalid(error, [f"missing required field: {key}"], with_errors=False)
            raise _Fail(error, f"missing {key}")
        return value

    @staticmethod
    def _json_arg(args: dict[str, Any], key: str, error: str) -> Any:
        """Return a structured argument, parsing it if it came form-encoded as a JSON string."""
        value = args.get(key)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise _Fail(error, f"{key} is not valid JSON") from None
            args[key] = value
        return value

    def _checked_content(self, args: dict[str, Any], *, update: bool = False) -> dict[str, Any]:
        """Return the text/blocks/attachments of a message after Slack's checks."""
        text = args.get("text") or args.get("markdown_text")
        blocks = self._json_arg(args, "blocks", "invalid_blocks_format")
        attachments = self._json_arg(args, "attachments", "invalid_attachments")
        if blocks is not None and not isinstance(blocks, list):
            raise _Fail("invalid_blocks_format", "blocks is not a JSON array")
        if attachments is not None and not isinstance(attachments, list):
            raise _Fail("invalid_attachments", "attachments is not a JSON array")
        if not text and not blocks and not attachments and not (update and blocks == []):
            raise _Fail("no_text", "none of text, blocks or attachments")
        if text is not None and len(str(text)) > MAX_MESSAGE_TEXT:
            raise _Fail("msg_too_long", f"text has {len(str(text))} characters")
        if attachments is not None and len(attachments) > _MAX_ATTACHMENTS:
            raise _Fail("too_many_attachments", f"{len(attachments)} attachments")
        problems = message_problems(blocks) if blocks is not None else []
        for i, attachment in enumerate(attachments or []):
            if isinstance(attachment, dict) and "blocks" in attachment:
                problems += message_problems(attachment["blocks"], f"/attachments/{i}/blocks")
        if problems:
            raise _invalid("invalid_blocks", problems, with_errors=True)
        content: dict[str, Any] = {}
        if text is not None:
            content["text"] = str(text)
        if blocks is not None:
            content["blocks"] = self._with_block_ids(blocks)
        if attachments is not None:
            content["attachments"] = copy.deepcopy(attachments)
        return content

    # --- methods -------------------------------------------------------------------------

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": self._users[BOT_USER_ID]["name"],
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _bot_message(self, content: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": API_APP_ID,
            "text": content.get("text", ""),
            "team": TEAM_ID,
            "bot_profile": {
                "id": BOT_ID,
                "app_id": API_APP_ID,
                "name": "Tsunagu",
                "deleted": False,
                "team_id": TEAM_ID,
            },
        }
        for key in ("blocks", "attachments"):
            if key in content:
                message[key] = content[key]
        metadata = self._json_arg(args, "metadata", "invalid_metadata_format")
        if metadata is not None:
            message["metadata"] = metadata
        return message

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._post_target(self._required(args, "channel", "channel_not_found"))
        if channel.is_archived:
            raise _Fail("is_archived")
        content = self._checked_content(args)
        thread_ts = args.get("thread_ts") or None
        if thread_ts:
            try:
                self._message(channel.id, thread_ts)
            except _Fail:
                # Stricter than Slack, which posts a lost reply: a wrong thread_ts is a bug.
                raise _Fail("thread_not_found", f"no message {thread_ts!r} to reply to") from None
        message = self._store(channel.id, self._bot_message(content, args), thread_ts)
        if thread_ts and _bool(args.get("reply_broadcast")):
            message["subtype"] = "thread_broadcast"
        return {"channel": channel.id, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(self._required(args, "channel", "channel_not_found"))
        message = self._message(channel.id, self._required(args, "ts", "message_not_found"))
        if message.get("user") != BOT_USER_ID:
            raise _Fail("cant_update_message", "the bot did not post it")
        content = self._checked_content(args, update=True)
        # Slack keeps what the call leaves out: text-only updates keep the blocks.
        message.update(content)
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {
            "channel": channel.id,
            "ts": message["ts"],
            "text": message.get("text", ""),
            "message": copy.deepcopy(message),
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(self._required(args, "channel", "channel_not_found"))
        user = self._required(args, "user", "user_not_found")
        if user not in channel.members:
            raise _Fail("user_not_in_channel", f"{user} is not in {channel.id}")
        content = self._checked_content(args)
        ts = self._next_ts()
        self._ephemerals.append(
            {
                "channel": channel.id,
                "user": user,
                "message_ts": ts,
                "thread_ts": args.get("thread_ts"),
                "via": "chat.postEphemeral",
                **content,
            }
        )
        return {"message_ts": ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(self._required(args, "channel", "channel_not_found"))
        message = self._message(channel.id, self._required(args, "message_ts", "message_not_found"))
        digits = message["ts"].replace(".", "")
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel.id}/p{digits}"
        if message.get("thread_ts") not in (None, message["ts"]):
            link += f"?thread_ts={message['thread_ts']}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    def _checked_view(self, args: dict[str, Any], kind: str) -> dict[str, Any]:
        view = self._json_arg(args, "view", "invalid_arguments")
        if view is None:
            raise _invalid("invalid_arguments", ["missing required field: view"], with_errors=False)
        problems: list[Problem | str] = list(view_problems(view))
        if not problems and view.get("type") != kind:
            problems.append(Problem(f"must be {kind} here", "/view/type"))
        if problems:
            raise _invalid("invalid_arguments", problems, with_errors=False)
        return dict(view)

    def _store_view(self, view: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        external_id = view.get("external_id", "")
        if external_id:
            for other in self._views.values():
                if other["external_id"] == external_id and other["id"] != view_id:
                    raise _Fail("duplicate_external_id", f"external_id {external_id!r} in use")
        previous = self._views.get(view_id) if view_id else None
        vid = view_id or self._new_id("V")
        stored = {
            "id": vid,
            "team_id": TEAM_ID,
            "type": view["type"],
            "blocks": self._with_block_ids(view["blocks"]),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(self.clock())}.{secrets.token_hex(4)}",
            "title": view.get("title"),
            "clear_on_close": view.get("clear_on_close", False),
            "notify_on_close": view.get("notify_on_close", False),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": None,
            "root_view_id": previous["root_view_id"] if previous else vid,
            "app_id": API_APP_ID,
            "external_id": external_id,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        self._views[vid] = stored
        return copy.deepcopy(stored)

    def _existing_view(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise _invalid(
                "invalid_arguments", ["must provide view_id or external_id"], with_errors=False
            )
        for stored in self._views.values():
            if stored["id"] == view_id or (external_id and stored["external_id"] == external_id):
                expected = args.get("hash")
                if expected and expected != stored["hash"]:
                    raise _Fail("hash_conflict", "the view changed since that hash")
                return stored
        raise _Fail("not_found", f"no view {view_id or external_id!r}")

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = args.get("trigger_id") or args.get("interactivity_pointer")
        if not trigger:
            raise _invalid(
                "invalid_arguments", ["missing required field: trigger_id"], with_errors=False
            )
        if not _TRIGGER_ID.match(str(trigger)):
            raise _Fail("invalid_trigger_id", f"malformed trigger_id {trigger!r}")
        if trigger in self._used_triggers:
            raise _Fail("exchanged_trigger_id", "trigger_id already used")
        view = self._checked_view(args, "modal")
        self._used_triggers.add(trigger)
        stored = self._store_view(view)
        self._opened.append(stored["id"])
        return {"view": stored}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        existing = self._existing_view(args)
        view = self._checked_view(args, existing["type"])
        return {"view": self._store_view(view, existing["id"])}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._required(args, "user_id")
        view = self._checked_view(args, "home")
        current = self._home.get(user)
        expected = args.get("hash")
        if current and expected and expected != self._views[current]["hash"]:
            raise _Fail("hash_conflict", "the home tab changed since that hash")
        stored = self._store_view(view, current)
        self._home[user] = stored["id"]
        return {"view": stored}

    def _conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args.get("name") or "")
        if not name:
            raise _Fail("invalid_name_required", "no name")
        if len(name) > 80:
            raise _Fail("invalid_name_maxlength", f"name has {len(name)} characters")
        if not _CHANNEL_NAME.match(name):
            raise _Fail("invalid_name_specials", f"{name!r}: only a-z, 0-9, - and _")
        if not name.strip("-_"):
            raise _Fail("invalid_name_punctuation", f"{name!r} is only punctuation")
        if self._find_by_name(name) is not None:
            raise _Fail("name_taken", f"{name!r} exists")
        channel_id = self.add_channel(name, is_private=_bool(args.get("is_private")))
        return {"channel": self._channels[channel_id].info()}

    def _conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(self._required(args, "channel", "channel_not_found"))
        users = _user_list(self._required(args, "users", "no_user"))
        if channel.is_archived:
            raise _Fail("is_archived")
        if BOT_USER_ID not in channel.members:
            raise _Fail("not_in_channel", "the bot is not in the channel")
        errors: list[dict[str, Any]] = []
        for user in users:
            error = None
            if user == BOT_USER_ID:
                error = "cant_invite_self"
            elif user not in self._users:
                error = "user_not_found"
            elif user in channel.members:
                error = "already_in_channel"
            if error:
                errors.append({"user": user, "ok": False, "error": error})
        invalid = {e["user"] for e in errors}
        # force=true invites the valid ones and lists the rest; with none valid it still fails.
        if errors and (not _bool(args.get("force")) or len(invalid) == len(set(users))):
            raise _Fail(errors[0]["error"], f"invite refused: {errors}", errors=errors)
        channel.members.update(u for u in users if u not in invalid)
        result: dict[str, Any] = {"channel": channel.info()}
        if errors:
            result["errors"] = errors
        return result

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(self._required(args, "channel", "channel_not_found"))
        return {"channel": channel.info()}

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        types = set(str(args.get("types") or "public_channel").split(","))
        exclude_archived = _bool(args.get("exclude_archived"))
        limit = min(int(args.get("limit") or 100), 1000)
        offset = 0
        if args.get("cursor"):
            try:
                offset = int(base64.b64decode(str(args["cursor"])).decode().split(":")[1])
            except (ValueError, IndexError):
                raise _Fail("invalid_cursor") from None

        def listed(c: _Channel) -> bool:
            kind = "im" if c.is_im else "private_channel" if c.is_private else "public_channel"
            # A bot sees private channels only if it is in them.
            visible = not c.is_private or BOT_USER_ID in c.members
            return kind in types and visible and not (exclude_archived and c.is_archived)

        channels = [c.info() for c in self._channels.values() if listed(c)]
        page = channels[offset : offset + limit]
        more = offset + limit < len(channels)
        cursor = base64.b64encode(f"offset:{offset + limit}".encode()).decode() if more else ""
        return {"channels": page, "response_metadata": {"next_cursor": cursor}}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        """Open (or find) a DM with one user; a channel id returns that channel."""
        if args.get("channel"):
            return {"channel": {"id": self._channel(args["channel"]).id}}
        users = _user_list(args.get("users"))
        if not users:
            raise _Fail("users_list_not_supplied", "no users")
        if len(users) > 1:
            raise _Fail("not_implemented", "the fake opens DMs with one user only")
        if users[0] not in self._users:
            raise _Fail("user_not_found", f"no user {users[0]!r}")
        dm = self._post_target(users[0])
        return {"channel": {"id": dm.id}, "no_op": False, "already_open": False}

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = self._required(args, "filename")
        length = self._required(args, "length")
        if not str(length).isdigit():
            raise _invalid("invalid_arguments", ["length must be a number"], with_errors=False)
        file_id = self._new_id("F")
        self._files[file_id] = {
            "id": file_id,
            "name": str(filename),
            "length": int(length),
            "content": None,
            "shared": False,
        }
        return {"upload_url": f"{self.root_url}/upload/v1/{file_id}", "file_id": file_id}

    async def _upload(
        self, request: web.Request, file_id: str, received: float
    ) -> web.StreamResponse:
        """The upload URL: the file's bytes as the raw body (or a multipart `file`)."""
        if request.content_type == "multipart/form-data":
            posted = await request.post()
            part = posted.get("file")
            data = part.file.read() if hasattr(part, "file") else str(part or "").encode()
        else:
            data = await request.read()
        with self._lock:
            reserved = self._files.get(file_id)
            if request.method != "POST" or reserved is None or reserved["content"] is not None:
                return web.Response(status=404, text="Not Found")
            reserved["content"] = data
            self._counts["requests"] += 1
        return web.Response(status=200, text=f"OK - {len(data)}")

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        listed = self._json_arg(args, "files", "invalid_arguments")
        if not isinstance(listed, list) or not listed:
            raise _invalid(
                "invalid_arguments", ["missing required field: files"], with_errors=False
            )
        channel = self._channel(args["channel_id"]) if args.get("channel_id") else None
        if channel is not None and BOT_USER_ID not in channel.members and not channel.is_im:
            raise _Fail("not_in_channel", f"the bot is not in {channel.id}")
        found = []
        for item in listed:
            stored = self._files.get(str((item or {}).get("id")))
            if stored is None or stored["content"] is None or stored["shared"]:
                raise _Fail("file_not_found", f"file {item!r} not uploaded")
            found.append((stored, item))
        comment = str(args.get("initial_comment") or "")
        shared = []
        for stored, item in found:
            stored.update(
                shared=True,
                title=str(item.get("title") or stored["name"]),
                channel=channel.id if channel else None,
                initial_comment=comment,
                size=len(stored["content"]),
            )
            shared.append({k: v for k, v in stored.items() if k != "content"})
        if channel is not None:
            files = [{"id": f["id"], "name": f["name"], "title": f["title"]} for f in shared]
            message = {"type": "message", "user": BOT_USER_ID, "text": comment, "files": files}
            self._store(channel.id, message, str(args.get("thread_ts") or "") or None)
        return {"files": shared}

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(self._required(args, "channel", "channel_not_found"))
        if channel.is_private or channel.is_im:
            raise _Fail("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise _Fail("is_archived")
        if BOT_USER_ID in channel.members:
            return {
                "channel": channel.info(),
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        channel.members.add(BOT_USER_ID)
        return {"channel": channel.info()}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(self._required(args, "user", "user_not_found"))
        if user is None:
            raise _Fail("user_not_found", f"no user {args['user']!r}")
        result = copy.deepcopy(user)
        if not _bool(args.get("include_locale")):
            result.pop("locale")
        return {"user": result}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self._required(args, "usergroup", "no_such_subteam")
        if group not in self._usergroups:
            raise _Fail("no_such_subteam", f"no user group {group!r}")
        return {"users": list(self._usergroups[group])}

    def _team_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "team": {
                "id": TEAM_ID,
                "name": TEAM_NAME,
                "url": f"https://{TEAM_DOMAIN}.slack.com/",
                "domain": TEAM_DOMAIN,
                "email_domain": "",
                "icon": {"image_default": True},
                "avatar_base_url": "https://ca.slack-edge.com/",
                "is_verified": False,
            }
        }

    # --- response URLs ---------------------------------------------------------------------

    async def _hook(
        self, request: web.Request, headers: dict[str, str], received: float
    ) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        with self._lock:
            status, text, reason = self._respond(request.path, body)
            answer = _Answer(status, text, reason=reason)
            args = body if isinstance(body, dict) else {}
            self._record(
                "response_url",
                request.method,
                request.path,
                headers,
                args,
                "json",
                answer,
                received,
            )
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        # Slack answers response URLs in plain text: "ok", or the error code.
        return web.Response(status=status, text=text)

    def _respond(self, path: str, body: Any) -> tuple[int, str, str | None]:
        hook = self._hooks.get(path)
        if hook is None:
            return 404, "no_service", "unknown response URL"
        if not isinstance(body, dict):
            return 400, "invalid_payload", "body is not a JSON object"
        try:
            if _bool(body.get("delete_original")):
                self._delete_original(hook)
            else:
                self._respond_with_message(hook, dict(body))
        except _Fail as fail:
            return (404 if fail.error.endswith("not_found") else 400), fail.error, fail.reason
        self._responses.append({"url": self.root_url + path, **copy.deepcopy(body)})
        return 200, "ok", None

    def _delete_original(self, hook: dict[str, Any]) -> None:
        channel_id = hook["channel"]
        message = self._message(channel_id, hook["message_ts"])
        self._messages[channel_id].remove(message)

    def _respond_with_message(self, hook: dict[str, Any], body: dict[str, Any]) -> None:
        content = self._checked_content(body)
        channel_id = hook["channel"]
        if _bool(body.get("replace_original")) and hook["message_ts"]:
            message = self._message(channel_id, hook["message_ts"])
            # Unlike chat.update, a replacement keeps nothing of the original.
            for key in ("text", "blocks", "attachments"):
                message.pop(key, None)
            message.update({"text": "", **content})
            message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        elif body.get("response_type") == "in_channel":
            channel = self._channel(channel_id)
            self._store(channel.id, self._bot_message(content, {}), body.get("thread_ts"))
        else:
            self._ephemerals.append(
                {
                    "channel": channel_id,
                    "user": hook["user"],
                    "message_ts": self._next_ts(),
                    "thread_ts": body.get("thread_ts"),
                    "via": "response_url",
                    **content,
                }
            )

    # --- control endpoints for a client in another process ------------------------------------

    async def _control(self, request: web.Request) -> web.StreamResponse:
        path, method = request.path, request.method
        if method == "GET" and path == "/__fake/stats":
            return web.json_response(self.counts)
        if method == "GET" and path == "/__fake/messages":
            try:
                return web.json_response(self.messages(request.query.get("channel", "")))
            except _Fail:
                return web.json_response({"error": "channel_not_found"}, status=404)
        if method == "POST" and path == "/__fake/channels":
            spec = await request.json()
            channel_id = self.add_channel(
                spec["name"],
                spec.get("id"),
                spec.get("members", ()),
                is_private=bool(spec.get("is_private", False)),
            )
            return web.json_response({"id": channel_id})
        if method == "POST" and path == "/__fake/users":
            spec = await request.json()
            self.add_user(spec["id"], spec["name"], bool(spec.get("is_admin", False)))
            return web.json_response({})
        if method == "POST" and path == "/__fake/clear":
            self.clear()
            return web.json_response({})
        return web.json_response({"error": "not_found"}, status=404)


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a FakeSlackApi until SIGTERM/SIGINT, printing ``READY <base url>`` once listening."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.slack_api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="bot token to require")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every response"
    )
    parser.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="NAME[=ID]",
        help="pre-create a channel with the bot in it (repeatable)",
    )
    parser.add_argument(
        "--no-record", action="store_true", help="keep counts and state only, not requests"
    )
    args = parser.parse_args(argv)
    fake = FakeSlackApi(
        args.token, args.latency, host=args.host, port=args.port, record=not args.no_record
    )
    for spec in args.channel:
        name, _, channel_id = spec.partition("=")
        fake.add_channel(name, channel_id or None)
    url = fake.start()
    print(f"READY {url}", flush=True)
    try:
        _wait_for_signal()
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["DEFAULT_TOKEN", "FakeSlackApi", "FoundButton", "RecordedRequest", "main"]
