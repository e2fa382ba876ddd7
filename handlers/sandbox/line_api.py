"""The sandbox's LINE: a fake Messaging API, the people who chat, and what they saw.

The app's real line-bot-sdk client calls these routes over HTTP (LINE_API_BASE_URL points
here), so replies and pushes travel exactly as they would to api.line.me. Each call is
recorded in the chat of the LINE user it was for; the page renders those chats.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handlers.sandbox.changes import Changes

MAX_MESSAGES = 5
MESSAGE_TYPES = {
    "text",
    "sticker",
    "image",
    "video",
    "audio",
    "location",
    "imagemap",
    "template",
    "flex",
    "textV2",
}
BOT_DESTINATION = "U0000000000000000000000000sandbox"


@dataclass
class Persona:
    """A LINE user of the sandbox (a volunteer or a group contact)."""

    user_id: str
    name: str
    kind: str  # volunteer | group | unknown
    language: str
    followed: bool = False


class LineWorld:
    """The fake LINE: personas, their chats, reply tokens and retry keys."""

    def __init__(self, access_token: str, channel_secret: str, changes: Changes) -> None:
        self.access_token = access_token
        self.channel_secret = channel_secret
        self.changes = changes
        self.personas: dict[str, Persona] = {}
        self.chats: dict[str, list[dict[str, Any]]] = {}
        self.errors: list[str] = []
        self._reply_tokens: dict[str, str] = {}
        self._retry_keys: set[str] = set()
        self._ids = itertools.count(1)
        self._last_ms = 0
        # Rich menus as LINE keeps them: menus, images, aliases, the default, per-user links.
        self.menus: dict[str, dict[str, Any]] = {}
        self.menu_images: dict[str, tuple[str, bytes]] = {}
        self.aliases: dict[str, str] = {}
        self.default_menu: str | None = None
        self.user_menus: dict[str, str] = {}
        # Whose chat shows the loading animation, until when (ms since the epoch).
        self.loading: dict[str, int] = {}

    # ---------------------------------------------------------------- people

    def add_persona(
        self, name: str, kind: str, language: str, user_id: str | None = None
    ) -> Persona:
        """Add (or rename) a LINE user; returns it."""
        uid = user_id or "U" + secrets.token_hex(16)
        persona = self.personas.get(uid)
        if persona is None:
            persona = Persona(uid, name, kind, language)
            self.personas[uid] = persona
        else:
            persona.name, persona.kind, persona.language = name, kind, language
        self.chats.setdefault(uid, [])
        self.changes.bump()
        return persona

    def _persona(self, user_id: str) -> Persona:
        # The bot may push to someone the page has not met (demo data from `tsunagu demo`).
        if user_id not in self.personas:
            self.add_persona(f"LINE user {user_id[-4:]}", "unknown", "ja", user_id)
        return self.personas[user_id]

    def _record(self, user_id: str, entry: dict[str, Any]) -> None:
        self._persona(user_id)
        if entry.get("from") == "bot":
            self.loading.pop(user_id, None)  # LINE hides the animation when a message comes
        entry.update(id=next(self._ids), at=int(time.time() * 1000))
        self.chats[user_id].append(entry)
        self.changes.bump()

    # ---------------------------------------------------------------- what the page sends

    def _now_ms(self) -> int:
        self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
        return self._last_ms

    def webhook(
        self, user_id: str, kind: str, *, text: str = "", data: str = "", display: str = ""
    ) -> tuple[bytes, str]:
        """The signed webhook body LINE would send for this person's action."""
        persona = self._persona(user_id)
        ts = self._now_ms()
        event: dict[str, Any] = {
            "type": kind,
            "mode": "active",
            "timestamp": ts,
            "source": {"type": "user", "userId": user_id},
            "webhookEventId": f"{ts:013d}" + secrets.token_hex(7)[:13].upper(),
            "deliveryContext": {"isRedelivery": False},
        }
        if kind != "unfollow":
            token = secrets.token_hex(16)
            self._reply_tokens[token] = user_id
            event["replyToken"] = token
        if kind == "follow":
            event["follow"] = {"isUnblocked": persona.followed}
            persona.followed = True
            self._record(user_id, {"from": "system", "text": "follow"})
        elif kind == "unfollow":
            persona.followed = False
            self._record(user_id, {"from": "system", "text": "unfollow"})
        elif kind == "message":
            event["message"] = {
                "id": str(next(self._ids)),
                "type": "text",
                "quoteToken": secrets.token_urlsafe(24),
                "text": text,
            }
            self._record(user_id, {"from": "user", "text": text})
        elif kind == "postback":
            event["postback"] = {"data": data}
            # LINE shows the tapped button's displayText as the person's own message.
            self._record(user_id, {"from": "user", "text": display, "postback": data})
        else:
            raise ValueError(f"unsupported event {kind!r}")
        body = json.dumps(
            {"destination": BOT_DESTINATION, "events": [event]},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        return body, self.sign(body)

    def sign(self, body: bytes) -> str:
        """X-Line-Signature as LINE computes it (the sandbox plays LINE; the app verifies
        it with the SDK's WebhookParser)."""
        digest = hmac.new(self.channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")

    # ---------------------------------------------------------------- the Messaging API

    def routes(self) -> list[Route]:
        """The Messaging API routes the SDK calls (mounted under /sandbox/line-api)."""
        return [
            Route("/v2/bot/message/reply", self._reply, methods=["POST"]),
            Route("/v2/bot/message/push", self._push, methods=["POST"]),
            Route("/v2/bot/message/multicast", self._multicast, methods=["POST"]),
            Route("/v2/bot/profile/{user_id}", self._profile, methods=["GET"]),
            Route("/v2/bot/chat/loading/start", self._loading_start, methods=["POST"]),
            Route("/v2/bot/richmenu", self._menu_create, methods=["POST"]),
            Route("/v2/bot/richmenu/list", self._menu_list, methods=["GET"]),
            Route("/v2/bot/richmenu/alias", self._alias_create, methods=["POST"]),
            Route("/v2/bot/richmenu/alias/list", self._alias_list, methods=["GET"]),
            Route(
                "/v2/bot/richmenu/alias/{alias}", self._alias_one, methods=["GET", "POST", "DELETE"]
            ),
            Route("/v2/bot/richmenu/bulk/link", self._bulk_link, methods=["POST"]),
            Route("/v2/bot/richmenu/{menu_id}/content", self._menu_image, methods=["GET", "POST"]),
            Route("/v2/bot/richmenu/{menu_id}", self._menu_one, methods=["GET", "DELETE"]),
            Route("/v2/bot/user/all/richmenu", self._default_get, methods=["GET", "DELETE"]),
            Route("/v2/bot/user/all/richmenu/{menu_id}", self._default_set, methods=["POST"]),
            Route("/v2/bot/user/{user_id}/richmenu", self._user_menu, methods=["GET", "DELETE"]),
            Route("/v2/bot/user/{user_id}/richmenu/{menu_id}", self._user_link, methods=["POST"]),
        ]

    # ---------------------------------------------------------------- rich menus

    async def _api_json(self, request: Request) -> tuple[Any, Response | None]:
        if not self._authorised(request):
            return None, self._error(401, "Authentication failed")
        if request.method != "POST":
            return None, None
        try:
            return json.loads(await request.body() or b"{}"), None
        except ValueError:
            return None, self._error(400, "The request body has 1 error(s)")

    def _usable(self, menu_id: str) -> Response | None:
        if menu_id not in self.menus:
            return self._error(400, "richmenu not found")
        if menu_id not in self.menu_images:
            return self._error(400, "must upload richmenu image before applying it to user")
        return None

    async def _menu_create(self, request: Request) -> Response:
        body, error = await self._api_json(request)
        if error is not None:
            return error
        if not isinstance(body, dict) or not isinstance(body.get("areas"), list):
            return self._error(400, "size, name, chatBarText and areas are required")
        menu_id = "richmenu-" + secrets.token_hex(16)
        self.menus[menu_id] = {"richMenuId": menu_id, **body}
        return JSONResponse({"richMenuId": menu_id})

    async def _menu_list(self, request: Request) -> Response:
        _, error = await self._api_json(request)
        return error or JSONResponse({"richmenus": list(self.menus.values())})

    async def _menu_one(self, request: Request) -> Response:
        _, error = await self._api_json(request)
        if error is not None:
            return error
        menu_id = request.path_params["menu_id"]
        if menu_id not in self.menus:
            return JSONResponse({"message": "Not found"}, status_code=404)
        if request.method == "GET":
            return JSONResponse(self.menus[menu_id])
        del self.menus[menu_id]
        self.menu_images.pop(menu_id, None)
        self.user_menus = {u: m for u, m in self.user_menus.items() if m != menu_id}
        if self.default_menu == menu_id:
            self.default_menu = None
        self.changes.bump()
        return JSONResponse({})

    async def _menu_image(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._error(401, "Authentication failed")
        menu_id = request.path_params["menu_id"]
        if menu_id not in self.menus:
            return JSONResponse({"message": "Not found"}, status_code=404)
        if request.method == "GET":
            if menu_id not in self.menu_images:
                return JSONResponse({"message": "Not found"}, status_code=404)
            content_type, image = self.menu_images[menu_id]
            return Response(image, media_type=content_type)
        content_type = request.headers.get("content-type", "").split(";")[0]
        if content_type not in ("image/png", "image/jpeg"):
            return self._error(415, "Unsupported Media Type")
        if menu_id in self.menu_images:
            return self._error(400, "An image has already been uploaded to the richmenu")
        image = await request.body()
        if not image or len(image) > 1024 * 1024:
            return self._error(400, "the image must be 1 byte to 1 MB")
        self.menu_images[menu_id] = (content_type, image)
        return JSONResponse({})

    async def _alias_create(self, request: Request) -> Response:
        body, error = await self._api_json(request)
        if error is not None:
            return error
        name, menu_id = str(body.get("richMenuAliasId", "")), str(body.get("richMenuId", ""))
        if name in self.aliases:
            return self._error(400, "conflict richmenu alias id")
        refused = self._usable(menu_id)
        if refused is not None:
            return refused
        self.aliases[name] = menu_id
        return JSONResponse({})

    async def _alias_list(self, request: Request) -> Response:
        _, error = await self._api_json(request)
        aliases = [{"richMenuAliasId": a, "richMenuId": m} for a, m in self.aliases.items()]
        return error or JSONResponse({"aliases": aliases})

    async def _alias_one(self, request: Request) -> Response:
        body, error = await self._api_json(request)
        if error is not None:
            return error
        name = request.path_params["alias"]
        if name not in self.aliases:
            if request.method == "GET":
                return JSONResponse({"message": "Not found"}, status_code=404)
            return self._error(400, "richmenu alias not found")
        if request.method == "GET":
            return JSONResponse({"richMenuAliasId": name, "richMenuId": self.aliases[name]})
        if request.method == "DELETE":
            del self.aliases[name]
            return JSONResponse({})
        refused = self._usable(str(body.get("richMenuId", "")))
        if refused is not None:
            return refused
        self.aliases[name] = body["richMenuId"]
        self.changes.bump()
        return JSONResponse({})

    async def _bulk_link(self, request: Request) -> Response:
        body, error = await self._api_json(request)
        if error is not None:
            return error
        refused = self._usable(str(body.get("richMenuId", "")))
        if refused is not None:
            return refused
        for user_id in body.get("userIds") or []:
            self.user_menus[str(user_id)] = body["richMenuId"]
        self.changes.bump()
        return JSONResponse({}, status_code=202)

    async def _default_get(self, request: Request) -> Response:
        _, error = await self._api_json(request)
        if error is not None:
            return error
        if request.method == "DELETE":
            self.default_menu = None
            self.changes.bump()
            return JSONResponse({})
        if self.default_menu is None:
            return JSONResponse({"message": "no default richmenu"}, status_code=404)
        return JSONResponse({"richMenuId": self.default_menu})

    async def _default_set(self, request: Request) -> Response:
        _, error = await self._api_json(request)
        if error is not None:
            return error
        menu_id = request.path_params["menu_id"]
        refused = self._usable(menu_id)
        if refused is not None:
            return refused
        self.default_menu = menu_id
        self.changes.bump()
        return JSONResponse({})

    async def _user_menu(self, request: Request) -> Response:
        _, error = await self._api_json(request)
        if error is not None:
            return error
        user_id = request.path_params["user_id"]
        if request.method == "DELETE":
            self.user_menus.pop(user_id, None)
            self.changes.bump()
            return JSONResponse({})
        if user_id not in self.user_menus:
            return JSONResponse({"message": "the user has no richmenu"}, status_code=404)
        return JSONResponse({"richMenuId": self.user_menus[user_id]})

    async def _user_link(self, request: Request) -> Response:
        _, error = await self._api_json(request)
        if error is not None:
            return error
        menu_id = request.path_params["menu_id"]
        refused = self._usable(menu_id)
        if refused is not None:
            return refused
        self.user_menus[request.path_params["user_id"]] = menu_id
        self.changes.bump()
        return JSONResponse({})

    async def _loading_start(self, request: Request) -> Response:
        body, error = await self._api_json(request)
        if error is not None:
            return error
        chat = str(body.get("chatId", ""))
        if chat not in self.personas:
            return self._error(400, "chatId: must be a user in a one-on-one chat")
        seconds = int(body.get("loadingSeconds", 20))
        self.loading[chat] = int(time.time() * 1000) + seconds * 1000
        self.changes.bump()
        return JSONResponse({}, status_code=202)

    def menu_of(self, user_id: str) -> dict[str, Any] | None:
        """The rich menu a person sees (their own, else the default), for the page."""
        menu_id = self.user_menus.get(user_id, self.default_menu)
        menu = self.menus.get(menu_id or "")
        if menu is None or menu_id not in self.menu_images:
            return None
        alias = next((a for a, m in self.aliases.items() if m == menu_id), None)
        return {
            "id": menu_id,
            "alias": alias,
            "image": f"/sandbox/api/line/richmenu/{menu_id}",
            "size": menu["size"],
            "chatBarText": menu.get("chatBarText", ""),
            "areas": menu["areas"],
        }

    def _error(self, status: int, message: str) -> Response:
        self.errors.append(f"{status} {message}")
        return JSONResponse({"message": message}, status_code=status)

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.access_token}"

    async def _body(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        if not self._authorised(request):
            return None, self._error(401, "Authentication failed")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return None, self._error(400, "The request body has 1 error(s)")
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_MESSAGES:
            return None, self._error(400, "messages: must be 1 to 5 message objects")
        for message in messages:
            if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
                return None, self._error(400, "messages: unknown message type")
        return body, None

    def _retry_seen(self, request: Request) -> bool:
        key = request.headers.get("x-line-retry-key")
        if not key:
            return False
        if key in self._retry_keys:
            return True
        self._retry_keys.add(key)
        return False

    async def _reply(self, request: Request) -> Response:
        body, error = await self._body(request)
        if body is None:
            return error or self._error(400, "bad request")
        user_id = self._reply_tokens.pop(str(body.get("replyToken", "")), None)
        if user_id is None:
            return self._error(400, "Invalid reply token")
        self._record(user_id, {"from": "bot", "via": "reply", "messages": body["messages"]})
        return JSONResponse({"sentMessages": self._sent(body["messages"])})

    async def _push(self, request: Request) -> Response:
        body, error = await self._body(request)
        if body is None:
            return error or self._error(400, "bad request")
        if self._retry_seen(request):
            return JSONResponse(
                {"message": "The retry key is already accepted", "sentMessages": []},
                status_code=409,
            )
        to = str(body.get("to", ""))
        if not to.startswith("U"):
            return self._error(400, "to: invalid user id")
        self._record(to, {"from": "bot", "via": "push", "messages": body["messages"]})
        return JSONResponse({"sentMessages": self._sent(body["messages"])})

    async def _multicast(self, request: Request) -> Response:
        body, error = await self._body(request)
        if body is None:
            return error or self._error(400, "bad request")
        if self._retry_seen(request):
            return JSONResponse({"message": "The retry key is already accepted"}, status_code=409)
        to = body.get("to")
        if not isinstance(to, list) or not 1 <= len(to) <= 500:
            return self._error(400, "to: 1 to 500 user ids")
        for user_id in to:
            self._record(
                str(user_id), {"from": "bot", "via": "multicast", "messages": body["messages"]}
            )
        return JSONResponse({})

    def _sent(self, messages: list[dict[str, Any]]) -> list[dict[str, str]]:
        return [
            {"id": str(next(self._ids)), "quoteToken": secrets.token_urlsafe(24)} for _ in messages
        ]

    async def _profile(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._error(401, "Authentication failed")
        persona = self.personas.get(request.path_params["user_id"])
        if persona is None:
            return JSONResponse({"message": "Not found"}, status_code=404)
        return JSONResponse(
            {"userId": persona.user_id, "displayName": persona.name, "language": persona.language}
        )

    # ---------------------------------------------------------------- for the page

    def snapshot(self) -> dict[str, Any]:
        """Personas and chats as the page shows them."""
        now = int(time.time() * 1000)
        return {
            "personas": [asdict(p) for p in self.personas.values()],
            "chats": self.chats,
            "menus": {uid: self.menu_of(uid) for uid in self.personas},
            "loading": [uid for uid, until in self.loading.items() if until > now],
        }
