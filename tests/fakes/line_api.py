"""A fake LINE Messaging API on 127.0.0.1 for tests and benchmarks.

The real line-bot-sdk client reaches it through ``Configuration(host=base_url)``.
It checks what LINE checks (bearer token, request bodies against LINE's OpenAPI
file plus the documented limits, single-use reply tokens, retry keys), records
what it received, and can answer 429/500 on demand. Optionally it adds latency,
enforces request-rate limits (``rate_limits=LINE_RATE_LIMITS`` for LINE's own) and
a monthly message quota (pushes and multicasts count per recipient, replies not).

It serves from a background thread with its own event loop, so sync tests, async
tests and a separate process (``python -m tests.fakes.line_api``) can all use it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..line_events import BOT_USER_ID
from .openapi import (
    Problem,
    image_problem,
    request_problems,
    rich_menu_problems,
    schema_problems,
    warm_up,
)
from .waiting import Changes

DEFAULT_TOKEN = "test-token"

_PROFILE_PATH = re.compile(r"^/v2/bot/profile/([^/]+)$")
_RICH_MENU = re.compile(r"^/v2/bot/richmenu/(richmenu-[0-9a-f]{32})$")
_RICH_MENU_CONTENT = re.compile(r"^/v2/bot/richmenu/([^/]+)/content$")
_RICH_MENU_ALIAS = re.compile(r"^/v2/bot/richmenu/alias/(?!list$)([^/]+)$")
_DEFAULT_RICH_MENU = re.compile(r"^/v2/bot/user/all/richmenu/([^/]+)$")
_USER_RICH_MENU = re.compile(r"^/v2/bot/user/(?!all/)([^/]+)/richmenu(?:/([^/]+))?$")
_USER_ID = re.compile(r"^U[0-9a-f]{32}$")
MAX_RICH_MENUS = 1000
MAX_RICH_MENU_IMAGE = 1024 * 1024
_SEND_SCHEMAS = {
    "/v2/bot/message/reply": "ReplyMessageRequest",
    "/v2/bot/message/push": "PushMessageRequest",
    "/v2/bot/message/multicast": "MulticastRequest",
}
# LINE can quote these kinds of message, so it returns a quoteToken for them.
_QUOTABLE = frozenset({"text", "textV2", "sticker", "image", "video"})
_AUTH_FAILED = (
    "Authentication failed. Confirm that the access token in the authorization header is valid."
)
_FAULT_MESSAGES = {429: "Too many requests", 500: "Internal server error"}
_RATE_LIMITED = "The API rate limit has been exceeded. Try again later."
_MONTHLY_LIMIT = "You have reached your monthly limit."
# LINE's documented request limits per channel, requests a second.
LINE_RATE_LIMITS = {"/v2/bot/message/multicast": 200.0, "/v2/bot/message/push": 2000.0}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, and how it answered."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, None without a body, the raw text if it was not JSON
    status: int
    time: float  # time.time() when received, comparable across processes
    reason: str | None = None  # why it was rejected
    injected: bool = False  # answered by fail_next() rather than by the rules
    response: Any = None
    user_id: str | None = None  # whom a reply went to, if the token was issued for a user

    @property
    def rejected(self) -> bool:
        """Return True if it broke a rule (not an injected fault, not a retry-key duplicate)."""
        return self.status >= 400 and not self.injected and self.status != 409


@dataclass
class _Fault:
    remaining: int
    status: int
    path_prefix: str | None
    retry_after: float | None


@dataclass
class _Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    injected: bool = False
    user_id: str | None = None


@dataclass
class _Token:
    user_id: str | None
    issued_at: float


class FakeLineApi:
    """A fake LINE Messaging API server; ``start()`` returns its base URL."""

    def __init__(
        self,
        access_token: str = DEFAULT_TOKEN,
        latency: float = 0.0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        validate: bool = True,
        reply_token_ttl: float = 60.0,
        accept_any_reply_token: bool = False,
        any_profile: bool = False,
        record: bool = True,
        clock: Callable[[], float] = time.monotonic,
        bot_user_id: str = BOT_USER_ID,
        bot_display_name: str = "Tsunagu",
        rate_limits: dict[str, float] | None = None,
        quota: int | None = None,
        arrival_latency: float = 0.0,
    ) -> None:
        self.access_token = access_token
        self.latency = latency
        # Seconds before a request counts as received (a slow network on the way in): a
        # client killed meanwhile has sent nothing, as far as LINE knows.
        self.arrival_latency = arrival_latency
        self.host = host
        self.port = port
        # Full schema validation costs ~0.3 ms a request; benchmarks may turn it off.
        # LINE's documented limits are checked either way.
        self.validate = validate
        self.reply_token_ttl = reply_token_ttl
        # A load generator in another process invents its own tokens.
        self.accept_any_reply_token = accept_any_reply_token
        # Answer any profile lookup with a made-up profile (for load generators).
        self.any_profile = any_profile
        self.record = record
        self.clock = clock
        self.bot_info: dict[str, Any] = {
            "userId": bot_user_id,
            "basicId": "@tsunagu",
            "displayName": bot_display_name,
            "chatMode": "bot",
            "markAsReadMode": "auto",
        }
        self.quota_limit: int | None = quota
        self.quota_used = 0
        # path -> (requests a second, tokens left, when last topped up): a token bucket
        # holding one second's worth, refilled continuously.
        self._rates: dict[str, tuple[float, float, float]] = {}

        self._lock = threading.Lock()
        # What tests wait on: bumped by every recorded request.
        self._changes = Changes()
        self._profiles: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, _Token] = {}
        self._used_tokens: set[str] = set()
        self._retry_keys: dict[str, tuple[str, Any]] = {}
        self._faults: list[_Fault] = []
        # Rich menus: id -> the menu object as LINE answers it; id -> (content type, image).
        self._rich_menus: dict[str, dict[str, Any]] = {}
        self._rich_menu_images: dict[str, tuple[str, bytes]] = {}
        self._rich_menu_aliases: dict[str, str] = {}
        self._default_rich_menu: str | None = None
        self._user_rich_menus: dict[str, str] = {}
        self._message_ids = 600_000_000_000_000_000
        self._reset_recordings()
        for path, rate in (rate_limits or {}).items():
            self.set_rate_limit(path, rate)

        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._startup_error: BaseException | None = None

    def _reset_recordings(self) -> None:
        self._requests: list[RecordedRequest] = []
        self._replies: list[dict[str, Any]] = []
        self._pushes: list[dict[str, Any]] = []
        # Accepted pushes by their X-Line-Retry-Key (the app's outbox key).
        self._pushes_by_key: dict[str, dict[str, Any]] = {}
        self._multicasts: list[dict[str, Any]] = []
        self._deliveries: list[tuple[str | None, dict[str, Any]]] = []
        self._reply_times: list[dict[str, Any]] = []
        self._loadings: list[dict[str, Any]] = []
        self._menu_counts = dict.fromkeys(("created", "links", "unlinks"), 0)
        self._push_times: list[dict[str, Any]] = []
        self._counts = dict.fromkeys(
            ("requests", "replies", "pushes", "multicasts", "errors", "injected", "duplicates"), 0
        )
        self._recent_errors: list[dict[str, Any]] = []

    # --- lifecycle ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Return ``http://host:port`` (the port is known once started)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Start serving in a background thread and return the base URL."""
        if self._thread is not None:
            raise RuntimeError("FakeLineApi is already running")
        if self.validate:
            warm_up()  # parse the specs now, not inside the first request's latency
        # Binding here, not in the thread, means the port is known and taken on return.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        self._startup_error = None
        self._thread = threading.Thread(
            target=self._serve, args=(sock, ready), name=f"FakeLineApi:{self.port}", daemon=True
        )
        self._thread.start()
        ready.wait(10)
        if self._startup_error is not None or not ready.is_set():
            self._thread.join(1)
            self._thread = None
            raise RuntimeError("FakeLineApi failed to start") from self._startup_error
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

    def __enter__(self) -> FakeLineApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        # No access log: it costs more than the handler at benchmark rates.
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
        # One catch-all route: unknown paths must still get LINE's error shape, and
        # fault injection applies before any routing.
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    # --- configuration -------------------------------------------------------------

    def issue_reply_token(self, user_id: str | None = None) -> str:
        """Issue a single-use reply token (remembering whose event it belongs to)."""
        token = secrets.token_hex(16)
        with self._lock:
            self._tokens[token] = _Token(user_id, self.clock())
        return token

    def set_profile(
        self,
        user_id: str,
        display_name: str = "LINE user",
        language: str | None = "ja",
        *,
        picture_url: str | None = None,
        status_message: str | None = None,
    ) -> None:
        """Make ``GET /v2/bot/profile/{user_id}`` answer this profile."""
        profile: dict[str, Any] = {"userId": user_id, "displayName": display_name}
        # LINE omits fields the user has not set or consented to, rather than sending null.
        for key, value in (
            ("language", language),
            ("pictureUrl", picture_url),
            ("statusMessage", status_message),
        ):
            if value is not None:
                profile[key] = value
        with self._lock:
            self._profiles[user_id] = profile

    def set_quota(self, limit: int | None, used: int | None = None) -> None:
        """Set the monthly message limit (None = no limit) and optionally the usage so far."""
        with self._lock:
            self.quota_limit = limit
            if used is not None:
                self.quota_used = used

    def set_rate_limit(self, path: str, rate: float | None) -> None:
        """Allow at most ``rate`` requests a second to ``path`` (None: no limit); 429 beyond."""
        with self._lock:
            if rate is None:
                self._rates.pop(path, None)
            else:
                self._rates[path] = (rate, rate, time.monotonic())

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        path_prefix: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``n`` requests (under ``path_prefix`` if given) with ``status``."""
        with self._lock:
            self._faults.append(_Fault(n, status, path_prefix, retry_after))

    def clear(self) -> None:
        """Forget everything recorded; profiles, tokens, retry keys and faults stay."""
        with self._lock:
            self._reset_recordings()

    # --- what was received ---------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Return every request received, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def replies(self) -> list[dict[str, Any]]:
        """Return the bodies of accepted reply requests."""
        with self._lock:
            return list(self._replies)

    @property
    def pushes(self) -> list[dict[str, Any]]:
        """Return the bodies of accepted push requests."""
        with self._lock:
            return list(self._pushes)

    def push_with_key(self, retry_key: str) -> dict[str, Any] | None:
        """The accepted push sent with this X-Line-Retry-Key, if any."""
        with self._lock:
            return self._pushes_by_key.get(retry_key)

    @property
    def multicasts(self) -> list[dict[str, Any]]:
        """Return the bodies of accepted multicast requests."""
        with self._lock:
            return list(self._multicasts)

    @property
    def errors(self) -> list[RecordedRequest]:
        """Return requests rejected for breaking a rule, each with its ``reason``."""
        with self._lock:
            return [r for r in self._requests if r.rejected]

    @property
    def counts(self) -> dict[str, int]:
        """Return counters of requests, replies, pushes, errors (kept even without recording)."""
        with self._lock:
            return dict(self._counts)

    def messages_to(self, user_id: str) -> list[dict[str, Any]]:
        """Return the messages delivered to ``user_id`` by reply, push or multicast, in order."""
        with self._lock:
            return [message for to, message in self._deliveries if to == user_id]

    def stats(self) -> dict[str, Any]:
        """Return counts and delivery times, as served at ``GET /__fake/stats``."""
        with self._lock:
            return {
                **self._counts,
                "quotaUsed": self.quota_used,
                "replyTimes": list(self._reply_times),
                "pushTimes": list(self._push_times),
                "recentErrors": list(self._recent_errors),
            }

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
        self, user_id: str, count: int, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until ``user_id`` has received at least ``count`` messages and return them."""
        messages: list[dict[str, Any]] = self.wait_for(self._arrived(user_id, count), timeout)
        return messages

    async def wait_for_messages_async(
        self, user_id: str, count: int, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Async form of ``wait_for_messages``."""
        arrived = self._arrived(user_id, count)
        messages: list[dict[str, Any]] = await self.wait_for_async(arrived, timeout)
        return messages

    def _arrived(self, user_id: str, count: int) -> Callable[[], list[dict[str, Any]] | None]:
        def check() -> list[dict[str, Any]] | None:
            messages = self.messages_to(user_id)
            return messages if len(messages) >= count else None

        return check

    def _summary(self) -> str:
        with self._lock:
            errors = [
                f"{r.method} {r.path} -> {r.status} ({r.reason})"
                for r in self._requests
                if r.rejected
            ]
            return f"counts={self._counts}, errors={errors[-5:]}"

    # --- request handling ------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = time.time()
        if request.path.startswith("/__fake/"):
            return await self._control(request)
        raw = await request.read()
        if self.arrival_latency > 0:
            await asyncio.sleep(self.arrival_latency)
            if request.transport is None or request.transport.is_closing():
                return web.Response(status=499)  # the client is gone: nothing arrived
        body: Any = None
        bad_json = False
        if request.method == "POST" and _RICH_MENU_CONTENT.match(request.path):
            body = raw  # an image, not JSON
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body, bad_json = raw.decode("utf-8", "replace"), True
        headers = {k.lower(): v for k, v in request.headers.items()}
        # _process never awaits, so checks and state changes of one request cannot
        # interleave with another's (two pushes with one retry key, one reply token).
        answer = self._process(request.method, request.path, headers, body, bad_json)
        self._record(request.method, request.path, headers, body, answer, received)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if isinstance(answer.body, bytes):  # a rich menu's image
            return web.Response(body=answer.body, status=answer.status, headers=answer.headers)
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)

    def _process(
        self, method: str, path: str, headers: dict[str, str], body: Any, bad_json: bool
    ) -> _Answer:
        answer = (
            self._take_fault(path)
            or self._take_rate(path)
            or self._route(method, path, headers, body, bad_json)
        )
        answer.headers.setdefault("X-Line-Request-Id", str(uuid.uuid4()))
        return answer

    def _take_fault(self, path: str) -> _Answer | None:
        with self._lock:
            for fault in self._faults:
                if fault.path_prefix is None or path.startswith(fault.path_prefix):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    break
            else:
                return None
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        message = _FAULT_MESSAGES.get(fault.status, "Injected fault")
        return _Answer(
            fault.status, {"message": message}, headers, reason="injected fault", injected=True
        )

    def _take_rate(self, path: str) -> _Answer | None:
        with self._lock:
            limit = self._rates.get(path)
            if limit is None:
                return None
            rate, tokens, at = limit
            now = time.monotonic()
            tokens = min(rate, tokens + (now - at) * rate)
            if tokens < 1:
                self._rates[path] = (rate, tokens, now)
                return _Answer(429, {"message": _RATE_LIMITED}, reason=f"over {rate:g} requests/s")
            self._rates[path] = (rate, tokens - 1, now)
            return None

    def _route(
        self, method: str, path: str, headers: dict[str, str], body: Any, bad_json: bool
    ) -> _Answer:
        if headers.get("authorization") != f"Bearer {self.access_token}":
            return _Answer(401, {"message": _AUTH_FAILED}, reason="missing or wrong bearer token")
        if method == "POST" and path in _SEND_SCHEMAS:
            if bad_json or not isinstance(body, dict):
                return _Answer(
                    400,
                    {
                        "message": "The request body has 1 error(s)",
                        "details": [{"message": "must be a JSON object", "property": ""}],
                    },
                    reason="body is not a JSON object",
                )
            return self._send(path, headers, body)
        if path.startswith(("/v2/bot/richmenu", "/v2/bot/user/")) and not _PROFILE_PATH.match(path):
            return self._rich_menu_route(method, path, headers, body, bad_json)
        if method == "POST" and path == "/v2/bot/chat/loading/start":
            return self._loading(body, bad_json)
        if method == "GET":
            match = _PROFILE_PATH.match(path)
            if match:
                return self._profile(match.group(1))
            if path == "/v2/bot/message/quota":
                with self._lock:
                    limit = self.quota_limit
                return _Answer(
                    200, {"type": "none"} if limit is None else {"type": "limited", "value": limit}
                )
            if path == "/v2/bot/message/quota/consumption":
                with self._lock:
                    return _Answer(200, {"totalUsage": self.quota_used})
            if path == "/v2/bot/info":
                return _Answer(200, dict(self.bot_info))
        return _Answer(404, {"message": "Not found"}, reason=f"no such endpoint: {method} {path}")

    # --- rich menus (messaging-api.yml, "/v2/bot/richmenu*" and "/v2/bot/user/*/richmenu")

    def _json_problems(self, schema: str, body: Any, bad_json: bool) -> _Answer | None:
        if bad_json or not isinstance(body, dict):
            return self._invalid([Problem("", "must be a JSON object")])
        problems = schema_problems("messaging", schema, body) if self.validate else []
        if schema == "RichMenuRequest":
            problems += rich_menu_problems(body)
        return self._invalid(problems) if problems else None

    def _rich_menu_route(
        self, method: str, path: str, headers: dict[str, str], body: Any, bad_json: bool
    ) -> _Answer:
        with self._lock:
            return self._rich_menu_locked(method, path, headers, body, bad_json)

    def _rich_menu_locked(
        self, method: str, path: str, headers: dict[str, str], body: Any, bad_json: bool
    ) -> _Answer:
        menus, aliases = self._rich_menus, self._rich_menu_aliases
        not_found = _Answer(404, {"message": "Not found"}, reason=f"not found: {method} {path}")

        def usable(menu_id: str) -> _Answer | None:
            if menu_id not in menus:
                return _Answer(400, {"message": "richmenu not found"}, reason="no such menu")
            if menu_id not in self._rich_menu_images:
                # LINE: a rich menu without an image cannot be used.
                return _Answer(
                    400,
                    {"message": "must upload richmenu image before applying it to user"},
                    reason="menu has no image",
                )
            return None

        if path in ("/v2/bot/richmenu", "/v2/bot/richmenu/validate") and method == "POST":
            bad = self._json_problems("RichMenuRequest", body, bad_json)
            if bad is not None:
                return bad
            if path.endswith("validate"):
                return _Answer(200, {})
            if len(menus) >= MAX_RICH_MENUS:
                return _Answer(400, {"message": "richmenu limit exceeded"}, reason="1000 menus")
            menu_id = "richmenu-" + secrets.token_hex(16)
            menus[menu_id] = {"richMenuId": menu_id, **body}
            self._menu_counts["created"] += 1
            return _Answer(200, {"richMenuId": menu_id})
        if path == "/v2/bot/richmenu/list" and method == "GET":
            return _Answer(200, {"richmenus": [dict(m) for m in menus.values()]})
        if path == "/v2/bot/richmenu/alias/list" and method == "GET":
            return _Answer(
                200,
                {"aliases": [{"richMenuAliasId": a, "richMenuId": m} for a, m in aliases.items()]},
            )
        if path == "/v2/bot/richmenu/alias" and method == "POST":
            bad = self._json_problems("CreateRichMenuAliasRequest", body, bad_json)
            if bad is not None:
                return bad
            if body["richMenuAliasId"] in aliases:
                return _Answer(
                    400, {"message": "conflict richmenu alias id"}, reason="alias exists"
                )
            refused = usable(body["richMenuId"])
            if refused is not None:
                return refused
            aliases[body["richMenuAliasId"]] = body["richMenuId"]
            return _Answer(200, {})
        if path == "/v2/bot/richmenu/bulk/link" and method == "POST":
            bad = self._json_problems("RichMenuBulkLinkRequest", body, bad_json)
            if bad is not None:
                return bad
            refused = usable(body["richMenuId"])
            if refused is not None:
                return refused
            for user_id in body["userIds"]:
                self._user_rich_menus[user_id] = body["richMenuId"]
            return _Answer(202, {})
        match = _RICH_MENU_ALIAS.match(path)
        if match:
            name = match.group(1)
            if method == "GET":
                if name not in aliases:
                    return not_found
                return _Answer(200, {"richMenuAliasId": name, "richMenuId": aliases[name]})
            if method == "POST":
                bad = self._json_problems("UpdateRichMenuAliasRequest", body, bad_json)
                if bad is not None:
                    return bad
                if name not in aliases:
                    return _Answer(400, {"message": "richmenu alias not found"}, reason="no alias")
                refused = usable(body["richMenuId"])
                if refused is not None:
                    return refused
                aliases[name] = body["richMenuId"]
                return _Answer(200, {})
            if method == "DELETE":
                if aliases.pop(name, None) is None:
                    return _Answer(400, {"message": "richmenu alias not found"}, reason="no alias")
                return _Answer(200, {})
        match = _RICH_MENU_CONTENT.match(path)
        if match:
            menu_id = match.group(1)
            if menu_id not in menus:
                return not_found
            if method == "GET":
                if menu_id not in self._rich_menu_images:
                    return not_found
                content_type, image = self._rich_menu_images[menu_id]
                return _Answer(200, image, {"Content-Type": content_type})
            if method == "POST":
                return self._rich_menu_image(menu_id, headers, body)
        match = _RICH_MENU.match(path)
        if match:
            menu_id = match.group(1)
            if menu_id not in menus:
                return not_found
            if method == "GET":
                return _Answer(200, dict(menus[menu_id]))
            if method == "DELETE":
                del menus[menu_id]
                self._rich_menu_images.pop(menu_id, None)
                self._user_rich_menus = {
                    u: m for u, m in self._user_rich_menus.items() if m != menu_id
                }
                if self._default_rich_menu == menu_id:
                    self._default_rich_menu = None
                return _Answer(200, {})
        if path == "/v2/bot/user/all/richmenu":
            if method == "GET":
                if self._default_rich_menu is None:
                    return _Answer(404, {"message": "no default richmenu"}, reason="no default")
                return _Answer(200, {"richMenuId": self._default_rich_menu})
            if method == "DELETE":
                self._default_rich_menu = None
                return _Answer(200, {})
        match = _DEFAULT_RICH_MENU.match(path)
        if match and method == "POST":
            refused = usable(match.group(1))
            if refused is not None:
                return refused
            self._default_rich_menu = match.group(1)
            return _Answer(200, {})
        match = _USER_RICH_MENU.match(path)
        if match:
            user_id, menu_id = match.group(1), match.group(2)
            if not _USER_ID.match(user_id):
                return _Answer(400, {"message": "The value for the 'userId' parameter is invalid"})
            if menu_id is None and method == "GET":
                linked = self._user_rich_menus.get(user_id)
                if linked is None:
                    return _Answer(404, {"message": "the user has no richmenu"}, reason="none")
                return _Answer(200, {"richMenuId": linked})
            if menu_id is None and method == "DELETE":
                self._user_rich_menus.pop(user_id, None)
                self._menu_counts["unlinks"] += 1
                return _Answer(200, {})
            if menu_id is not None and method == "POST":
                refused = usable(menu_id)
                if refused is not None:
                    return refused
                self._user_rich_menus[user_id] = menu_id
                self._menu_counts["links"] += 1
                return _Answer(200, {})
        return _Answer(404, {"message": "Not found"}, reason=f"no such endpoint: {method} {path}")

    def _rich_menu_image(self, menu_id: str, headers: dict[str, str], body: Any) -> _Answer:
        """Upload a menu's image: once, JPEG or PNG, at most 1 MB, exactly the menu's size."""
        content_type = headers.get("content-type", "").split(";")[0].strip()
        if content_type not in ("image/jpeg", "image/png"):
            return _Answer(415, {"message": "Unsupported Media Type"}, reason=content_type)
        if menu_id in self._rich_menu_images:
            return _Answer(
                400,
                {"message": "An image has already been uploaded to the richmenu"},
                reason="image already uploaded",
            )
        if not isinstance(body, bytes) or not body:
            return _Answer(400, {"message": "image is empty"}, reason="no image")
        if len(body) > MAX_RICH_MENU_IMAGE:
            return _Answer(413, {"message": "Request Entity Too Large"}, reason="image > 1 MB")
        problem = image_problem(body, content_type, self._rich_menus[menu_id]["size"])
        if problem is not None:
            return _Answer(400, {"message": problem}, reason=problem)
        self._rich_menu_images[menu_id] = (content_type, body)
        return _Answer(200, {})

    def _loading(self, body: Any, bad_json: bool) -> _Answer:
        """`chat/loading/start`: one user's chat shows the loading animation."""
        if bad_json or not isinstance(body, dict):
            return self._invalid([Problem("", "must be a JSON object")])
        problems = schema_problems("messaging", "ShowLoadingAnimationRequest", body)
        seconds = body.get("loadingSeconds", 20)
        if isinstance(seconds, int) and seconds % 5:
            problems.append(Problem("loadingSeconds", "must be a multiple of 5"))
        chat = body.get("chatId")
        if isinstance(chat, str) and not _USER_ID.match(chat):
            # Only one-on-one chats show it: a group or room id is refused.
            problems.append(Problem("chatId", "must be the user ID of a one-on-one chat"))
        if problems:
            return self._invalid(problems)
        with self._lock:
            self._loadings.append({"chatId": chat, "loadingSeconds": seconds, "at": time.time()})
        return _Answer(202, {})

    # --- what tests read about rich menus and loading animations

    def rich_menus(self) -> dict[str, dict[str, Any]]:
        """The menus by id, as LINE would list them."""
        with self._lock:
            return {k: dict(v) for k, v in self._rich_menus.items()}

    def rich_menu_aliases(self) -> dict[str, str]:
        """Alias id -> menu id."""
        with self._lock:
            return dict(self._rich_menu_aliases)

    def rich_menu_image(self, menu_id: str) -> tuple[str, bytes] | None:
        """A menu's uploaded (content type, image), if any."""
        with self._lock:
            return self._rich_menu_images.get(menu_id)

    def default_rich_menu(self) -> str | None:
        """The account's default menu id."""
        with self._lock:
            return self._default_rich_menu

    def rich_menu_of(self, user_id: str) -> str | None:
        """The menu linked to one user (None: the default applies)."""
        with self._lock:
            return self._user_rich_menus.get(user_id)

    def alias_of(self, user_id: str) -> str | None:
        """The alias of the menu a user sees (their own, else the default)."""
        with self._lock:
            menu = self._user_rich_menus.get(user_id, self._default_rich_menu)
            return next((a for a, m in self._rich_menu_aliases.items() if m == menu), None)

    def rich_menu_counts(self) -> dict[str, int]:
        """Menus created, links and unlinks made."""
        with self._lock:
            return dict(self._menu_counts)

    def loadings(self) -> list[dict[str, Any]]:
        """Every accepted `chat/loading/start`, in order."""
        with self._lock:
            return list(self._loadings)

    def _profile(self, user_id: str) -> _Answer:
        with self._lock:
            profile = self._profiles.get(user_id)
        if profile is None and self.any_profile:
            profile = {"userId": user_id, "displayName": f"User {user_id[-4:]}", "language": "ja"}
        if profile is None:
            return _Answer(404, {"message": "Not found"}, reason=f"no profile for {user_id}")
        return _Answer(200, dict(profile))

    def _send(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> _Answer:
        retry_key = headers.get("x-line-retry-key") if path != "/v2/bot/message/reply" else None
        if retry_key is not None:
            try:
                uuid.UUID(retry_key)
            except ValueError:
                return _Answer(
                    400,
                    {"message": "The value for the 'X-Line-Retry-Key' header is invalid"},
                    reason=f"retry key is not a UUID: {retry_key!r}",
                )
            with self._lock:
                accepted = self._retry_keys.get(retry_key)
            if accepted is not None:
                # LINE's documented answer to a retry of an accepted request: 409, the
                # first request's id, and no second delivery.
                request_id, first_body = accepted
                return _Answer(
                    409,
                    {"message": "The retry key is already accepted", **first_body},
                    {"X-Line-Accepted-Request-Id": request_id},
                    reason="retry key already accepted",
                )

        problems = request_problems(_SEND_SCHEMAS[path], body, schema=self.validate)
        if problems:
            return self._invalid(problems)
        if path == "/v2/bot/message/reply":
            return self._accept_reply(body)
        recipients = body["to"] if isinstance(body["to"], list) else [body["to"]]
        request_id = str(uuid.uuid4())
        with self._lock:
            # Replies are free; push and multicast count once per recipient.
            if (
                self.quota_limit is not None
                and self.quota_used + len(recipients) > self.quota_limit
            ):
                return _Answer(
                    429, {"message": _MONTHLY_LIMIT}, reason="monthly message quota exhausted"
                )
            self.quota_used += len(recipients)
            answer_body = (
                {} if path.endswith("multicast") else {"sentMessages": self._sent(body["messages"])}
            )
            if retry_key is not None:
                self._retry_keys[retry_key] = (request_id, answer_body)
            if path.endswith("multicast"):
                self._counts["multicasts"] += 1
                if self.record:
                    self._multicasts.append(body)
            else:
                self._counts["pushes"] += 1
                self._push_times.append({"to": body["to"], "receivedAt": time.time()})
                if self.record:
                    self._pushes.append(body)
                    if retry_key is not None:
                        self._pushes_by_key[retry_key] = body
            if self.record:
                self._deliveries.extend((to, m) for to in recipients for m in body["messages"])
        return _Answer(200, answer_body, {"X-Line-Request-Id": request_id})

    def _reply_token_problem(self, token: Any) -> str | None:
        """Return why ``token`` cannot be used now, or None; call with the lock held."""
        if not isinstance(token, str):
            return "no reply token"
        if token in self._used_tokens:
            return "reply token already used"
        issued = self._tokens.get(token)
        if issued is None:
            return None if self.accept_any_reply_token else "unknown reply token"
        if self.clock() - issued.issued_at > self.reply_token_ttl:
            return "reply token expired"
        return None

    def _accept_reply(self, body: dict[str, Any]) -> _Answer:
        token = body["replyToken"]
        with self._lock:
            reason = self._reply_token_problem(token)
            if reason is not None:
                return _Answer(400, {"message": "Invalid reply token"}, reason=reason)
            issued = self._tokens.pop(token, None)
            self._used_tokens.add(token)
            user_id = issued.user_id if issued else None
            self._counts["replies"] += 1
            self._reply_times.append(
                {"replyToken": token, "userId": user_id, "receivedAt": time.time()}
            )
            if self.record:
                self._replies.append(body)
                self._deliveries.extend((user_id, m) for m in body["messages"])
            return _Answer(200, {"sentMessages": self._sent(body["messages"])}, user_id=user_id)

    def _sent(self, messages: Sequence[Any]) -> list[dict[str, str]]:
        """Build ``sentMessages``; call with the lock held (it advances the id counter)."""
        sent = []
        for message in messages:
            self._message_ids += 1
            entry = {"id": str(self._message_ids)}
            if isinstance(message, dict) and message.get("type") in _QUOTABLE:
                entry["quoteToken"] = secrets.token_urlsafe(24)
            sent.append(entry)
        return sent

    @staticmethod
    def _invalid(problems: list[Problem]) -> _Answer:
        body = {
            "message": f"The request body has {len(problems)} error(s)",
            "details": [{"message": p.message, "property": p.property} for p in problems],
        }
        return _Answer(400, body, reason="; ".join(map(str, problems)))

    def _record(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Any,
        answer: _Answer,
        received: float,
    ) -> None:
        entry = RecordedRequest(
            method,
            path,
            headers,
            body,
            answer.status,
            received,
            reason=answer.reason,
            injected=answer.injected,
            response=answer.body,
            user_id=answer.user_id,
        )
        with self._lock:
            self._counts["requests"] += 1
            if answer.injected:
                self._counts["injected"] += 1
            elif answer.status == 409:
                self._counts["duplicates"] += 1
            elif answer.status >= 400:
                self._counts["errors"] += 1
                self._recent_errors = [
                    *self._recent_errors[-19:],
                    {
                        "method": method,
                        "path": path,
                        "status": answer.status,
                        "reason": answer.reason,
                    },
                ]
            if self.record:
                self._requests.append(entry)
        self._changes.bump()

    # --- control endpoints for a benchmark in another process ----------------------------

    async def _control(self, request: web.Request) -> web.StreamResponse:
        path, method = request.path, request.method
        if method == "GET" and path == "/__fake/stats":
            return web.json_response(self.stats())
        if method == "POST" and path == "/__fake/reply-tokens":
            spec = await request.json()
            tokens = [
                self.issue_reply_token(spec.get("userId")) for _ in range(int(spec.get("count", 1)))
            ]
            return web.json_response(tokens)
        if method == "POST" and path == "/__fake/profiles":
            spec = await request.json()
            self.set_profile(
                spec["userId"], spec.get("displayName", "LINE user"), spec.get("language", "ja")
            )
            return web.json_response({})
        if method == "POST" and path == "/__fake/quota":
            spec = await request.json()
            self.set_quota(spec.get("limit"), spec.get("used"))
            return web.json_response({})
        if method == "POST" and path == "/__fake/clear":
            self.clear()
            return web.json_response({})
        return web.json_response({"message": "Not found"}, status=404)


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a FakeLineApi until SIGTERM/SIGINT, printing ``READY <url>`` once listening."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.line_api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="channel access token to require")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every response"
    )
    parser.add_argument(
        "--no-validate", action="store_true", help="skip schema validation (limits still apply)"
    )
    parser.add_argument(
        "--any-reply-token", action="store_true", help="accept unknown reply tokens (once each)"
    )
    parser.add_argument("--any-profile", action="store_true", help="answer every profile lookup")
    parser.add_argument("--reply-token-ttl", type=float, default=60.0)
    parser.add_argument(
        "--no-record", action="store_true", help="keep counts and times only, not bodies"
    )
    parser.add_argument(
        "--rate-limits", action="store_true", help="enforce LINE's push/multicast request rates"
    )
    parser.add_argument("--quota", type=int, default=None, help="monthly message limit")
    args = parser.parse_args(argv)
    fake = FakeLineApi(
        args.token,
        args.latency,
        host=args.host,
        port=args.port,
        validate=not args.no_validate,
        reply_token_ttl=args.reply_token_ttl,
        accept_any_reply_token=args.any_reply_token,
        any_profile=args.any_profile,
        record=not args.no_record,
        rate_limits=LINE_RATE_LIMITS if args.rate_limits else None,
        quota=args.quota,
    )
    url = fake.start()
    print(f"READY {url}", flush=True)
    try:
        _wait_for_signal()
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["LINE_RATE_LIMITS", "FakeLineApi", "RecordedRequest", "main"]
