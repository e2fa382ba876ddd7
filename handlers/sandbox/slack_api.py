"""The sandbox's Slack: a fake Web API, its workspace, and the signed requests Slack sends.

The app's real AsyncWebClient calls these routes over HTTP (SLACK_API_BASE_URL points
here). Messages, threads, ephemerals, modals and channels are kept per channel and per
user; the page renders them and sends clicks, modal submissions and slash commands back to
POST /slack/events, signed with slack_sdk's own signature code.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handlers.sandbox.changes import Changes

TEAM_ID, TEAM_DOMAIN, TEAM_NAME = "T0SANDBOX1", "tsunagu-sandbox", "Tsunagu Sandbox"
API_APP_ID, BOT_USER_ID, BOT_ID = "A0SANDBOX1", "U0SANDBOT1", "B0SANDBOT1"
RESPONSE_URL_USES = 5
CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,79}$")


@dataclass
class SlackPerson:
    """A member of the sandbox workspace."""

    id: str
    name: str
    real_name: str
    is_coordinator: bool = False
    # The language the person chose in Slack (users.info with include_locale).
    locale: str = "ja-JP"


@dataclass
class Channel:
    """A channel (or a direct-message conversation with the bot)."""

    id: str
    name: str
    is_im: bool = False
    topic: str = ""
    members: list[str] = field(default_factory=list)
    created: int = field(default_factory=lambda: int(time.time()))


class SlackWorld:
    """The fake Slack: people, channels, messages, ephemerals and open modals."""

    def __init__(
        self, token: str, signing_secret: str, changes: Changes, base_url: str = ""
    ) -> None:
        self.token = token
        # Where the app reaches this fake (response_urls point here too).
        self.base_url = base_url.rstrip("/")
        self._responses: dict[str, dict[str, Any]] = {}
        self.changes = changes
        self.verifier = SignatureVerifier(signing_secret)
        self.people: dict[str, SlackPerson] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, list[dict[str, Any]]] = {}
        # Each person's App Home (views.publish) and the files the app uploaded.
        self.homes: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.errors: list[str] = []
        self._triggers: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._last_us = 0

    # ---------------------------------------------------------------- the workspace

    def add_person(self, person: SlackPerson) -> None:
        """Add a member of the workspace."""
        self.people[person.id] = person

    def add_channel(self, channel: Channel) -> Channel:
        """Add a channel (the bot is always a member)."""
        if BOT_USER_ID not in channel.members:
            channel.members.append(BOT_USER_ID)
        self.channels[channel.id] = channel
        self.messages.setdefault(channel.id, [])
        self.changes.bump()
        return channel

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0S{next(self._ids):08d}"

    def _ts(self) -> str:
        self._last_us = max(int(time.time() * 1_000_000), self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def _channel(self, ref: str) -> Channel | None:
        """A channel by id or #name; a user id means the bot's DM with that user."""
        ref = ref.lstrip("#")
        if ref in self.channels:
            return self.channels[ref]
        if ref in self.people:
            im_id = "D" + ref[1:]
            if im_id not in self.channels:
                self.add_channel(Channel(im_id, self.people[ref].name, is_im=True, members=[ref]))
            return self.channels[im_id]
        return next((c for c in self.channels.values() if c.name == ref), None)

    # ---------------------------------------------------------------- the Web API

    def routes(self) -> list[Route]:
        """One route for every Web API method (mounted under /sandbox/slack-api)."""
        return [
            Route("/respond/{key}", self._respond, methods=["POST"]),
            Route("/upload/{file_id}", self._upload, methods=["POST"]),
            Route("/{method}", self._call, methods=["GET", "POST"]),
        ]

    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        raw = await request.body()
        kind = request.headers.get("content-type", "")
        if raw and "json" in kind:
            params.update(json.loads(raw))
        elif raw:
            params.update(dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)))
        for key in ("blocks", "view", "files"):
            if isinstance(params.get(key), str) and params[key]:
                params[key] = json.loads(params[key])
        return params

    async def _call(self, request: Request) -> Response:
        params = await self._params(request)
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if (bearer or params.get("token")) != self.token:
            return self._fail("invalid_auth")
        method = request.path_params["method"]
        handler = getattr(self, "api_" + method.replace(".", "_"), None)
        if handler is None:
            return self._fail("unknown_method")
        result: dict[str, Any] | str = handler(params)
        if isinstance(result, str):
            return self._fail(result)
        self.changes.bump()
        return JSONResponse({"ok": True, **result})

    def _fail(self, error: str) -> Response:
        self.errors.append(error)
        return JSONResponse({"ok": False, "error": error})

    def _info(self, channel: Channel) -> dict[str, Any]:
        return {
            "id": channel.id,
            "name": channel.name,
            "is_channel": not channel.is_im,
            "is_im": channel.is_im,
            "is_private": False,
            "is_member": True,
            "is_archived": False,
            "created": channel.created,
            "topic": {"value": channel.topic},
            "num_members": len(channel.members),
        }

    def api_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        """auth.test: who the token belongs to."""
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": "tsunagu",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _message(self, params: dict[str, Any], ts: str) -> dict[str, Any]:
        text = str(params.get("text") or "")
        blocks = params.get("blocks") or []
        if not text and not blocks:
            raise _ApiError("no_text")
        if len(blocks) > 50:
            raise _ApiError("invalid_blocks")
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": BOT_ID,
            "user": BOT_USER_ID,
            "text": text,
            "blocks": blocks,
            "ts": ts,
        }
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        return message

    def api_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """chat.postMessage: a message or a thread reply."""
        channel = self._channel(str(params.get("channel", "")))
        if channel is None:
            return "channel_not_found"
        try:
            message = self._message(params, self._ts())
        except _ApiError as exc:
            return exc.error
        thread = message.get("thread_ts")
        if thread and not any(m["ts"] == thread for m in self.messages[channel.id]):
            return "thread_not_found"
        self.messages[channel.id].append(message)
        return {"channel": channel.id, "ts": message["ts"], "message": message}

    def api_chat_update(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """chat.update: replace a message's text and blocks."""
        channel = self._channel(str(params.get("channel", "")))
        if channel is None:
            return "channel_not_found"
        ts = str(params.get("ts", ""))
        for i, old in enumerate(self.messages[channel.id]):
            if old["ts"] == ts:
                try:
                    new = self._message(params, ts)
                except _ApiError as exc:
                    return exc.error
                if "thread_ts" in old:
                    new["thread_ts"] = old["thread_ts"]
                new["edited"] = True
                self.messages[channel.id][i] = new
                return {"channel": channel.id, "ts": ts, "text": new["text"]}
        return "message_not_found"

    def api_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """chat.postEphemeral: a message only one person sees."""
        channel = self._channel(str(params.get("channel", "")))
        user = str(params.get("user", ""))
        if channel is None:
            return "channel_not_found"
        if user not in self.people:
            return "user_not_found"
        ts = self._ts()
        self.ephemerals.append(
            {
                "channel": channel.id,
                "user": user,
                "ts": ts,
                "text": str(params.get("text") or ""),
                "blocks": params.get("blocks") or [],
            }
        )
        return {"message_ts": ts}

    def _view(self, view: Any, view_id: str) -> dict[str, Any]:
        if not isinstance(view, dict) or view.get("type") != "modal":
            raise _ApiError("invalid_arguments")
        out = copy.deepcopy(view)
        out.update(id=view_id, team_id=TEAM_ID, app_id=API_APP_ID, bot_id=BOT_ID)
        out.setdefault("private_metadata", "")
        out.setdefault("callback_id", "")
        out["state"] = {"values": {}}
        return out

    def api_views_open(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """views.open: a modal for whoever pressed the button (the trigger says who)."""
        user = self._triggers.pop(str(params.get("trigger_id", "")), None)
        if user is None:
            return "invalid_trigger_id"
        try:
            view = self._view(params.get("view"), self._new_id("V"))
        except _ApiError as exc:
            return exc.error
        self.views.setdefault(user, []).append(view)
        return {"view": view}

    def api_views_update(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """views.update: replace an open modal."""
        view_id = str(params.get("view_id") or "")
        for stack in self.views.values():
            for i, old in enumerate(stack):
                if old["id"] == view_id:
                    try:
                        stack[i] = self._view(params.get("view"), view_id)
                    except _ApiError as exc:
                        return exc.error
                    return {"view": stack[i]}
        return "not_found"

    def api_views_publish(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """views.publish: a person's App Home."""
        user, view = str(params.get("user_id") or ""), params.get("view")
        if user not in self.people:
            return "user_not_found"
        if not isinstance(view, dict) or view.get("type") != "home":
            return "invalid_arguments"
        home = copy.deepcopy(view)
        home.update(id=self.homes.get(user, {}).get("id") or self._new_id("V"), team_id=TEAM_ID)
        home["hash"] = self._ts()
        self.homes[user] = home
        return {"view": home}

    def api_conversations_open(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """conversations.open: the bot's DM with one person."""
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if len(users) != 1 or users[0] not in self.people:
            return "user_not_found"
        channel = self._channel(users[0])
        assert channel is not None
        return {"channel": {"id": channel.id}}

    def api_files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """files.getUploadURLExternal: reserve a file and give the URL to send it to."""
        name, length = str(params.get("filename") or ""), str(params.get("length") or "")
        if not name or not length.isdigit():
            return "invalid_arguments"
        file_id = self._new_id("F")
        self.files[file_id] = {"id": file_id, "name": name, "content": None, "shared": False}
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    async def _upload(self, request: Request) -> Response:
        reserved = self.files.get(request.path_params["file_id"])
        if reserved is None or reserved["content"] is not None:
            return Response("Not Found", status_code=404)
        content = await request.body()
        reserved["content"] = content
        return Response(f"OK - {len(content)}")

    def api_files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """files.completeUploadExternal: share the uploaded files in a channel (a DM)."""
        listed = params.get("files")
        channel = self._channel(str(params.get("channel_id") or ""))
        if not isinstance(listed, list) or not listed or channel is None:
            return "invalid_arguments"
        found = [self.files.get(str((f or {}).get("id"))) for f in listed]
        if any(f is None or f["content"] is None for f in found):
            return "file_not_found"
        shared = []
        for stored, item in zip(found, listed, strict=True):
            assert stored is not None
            stored.update(shared=True, title=str(item.get("title") or stored["name"]))
            shared.append(
                {
                    "id": stored["id"],
                    "name": stored["name"],
                    "title": stored["title"],
                    "size": len(stored["content"]),
                    "url_private_download": f"/sandbox/api/slack/files/{stored['id']}",
                }
            )
        ts = self._ts()
        text = str(params.get("initial_comment") or "")
        self.messages.setdefault(channel.id, []).append(
            {"type": "message", "user": BOT_USER_ID, "text": text, "ts": ts, "files": shared}
        )
        return {"files": shared}

    def file(self, file_id: str) -> tuple[str, bytes] | None:
        """A shared file's name and bytes (the page's download link)."""
        stored = self.files.get(file_id)
        if stored is None or not stored["shared"]:
            return None
        return stored["name"], stored["content"]

    def home_opened(self, user_id: str) -> tuple[str, dict[str, str]]:
        """The signed `app_home_opened` event Slack sends when someone opens the Home tab."""
        if user_id not in self.people:
            raise LookupError("unknown user")
        event = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": "D" + user_id[1:],
            "tab": "home",
            "event_ts": self._ts(),
        }
        body = json.dumps(
            {
                "token": "sandbox-verification-token",
                "team_id": TEAM_ID,
                "api_app_id": API_APP_ID,
                "event": event,
                "type": "event_callback",
                "event_id": f"Ev{secrets.token_hex(8).upper()}",
                "event_time": int(time.time()),
            },
            ensure_ascii=False,
        )
        return body, self._signed(body, "application/json")

    def home_action(self, user_id: str, action_id: str, value: str) -> tuple[str, dict[str, str]]:
        """The signed block_actions request for a button in this person's App Home."""
        home = self.homes.get(user_id)
        if user_id not in self.people or home is None:
            raise LookupError("no home for this user")
        block_id, element = "", None
        for block in home.get("blocks", []):
            for candidate in block.get("elements", []):
                if candidate.get("action_id") == action_id and candidate.get("value") == value:
                    block_id, element = str(block.get("block_id", "")), candidate
        if element is None:
            raise LookupError("no such button")
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": API_APP_ID,
            "token": "sandbox-verification-token",
            "container": {"type": "view", "view_id": home["id"]},
            "trigger_id": self.new_trigger(user_id),
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "view": copy.deepcopy(home),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": element.get("text"),
                    "value": value,
                    "type": "button",
                    "action_ts": self._ts(),
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)})
        return body, self._signed(body, "application/x-www-form-urlencoded")

    def api_conversations_create(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """conversations.create: a new channel (Slack's naming rules)."""
        name = str(params.get("name", ""))
        if not CHANNEL_NAME.match(name):
            return "invalid_name_specials"
        if any(c.name == name for c in self.channels.values()):
            return "name_taken"
        channel = self.add_channel(Channel(self._new_id("C"), name))
        return {"channel": self._info(channel)}

    def api_conversations_invite(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """conversations.invite: add people to a channel."""
        channel = self._channel(str(params.get("channel", "")))
        if channel is None:
            return "channel_not_found"
        users = [u for u in str(params.get("users", "")).split(",") if u]
        if not users:
            return "no_user"
        for user in users:
            if user not in self.people:
                return "user_not_found"
        channel.members += [u for u in users if u not in channel.members]
        return {"channel": self._info(channel)}

    def api_conversations_join(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """conversations.join: the bot is always a member here."""
        channel = self._channel(str(params.get("channel", "")))
        return "channel_not_found" if channel is None else {"channel": self._info(channel)}

    def api_conversations_setTopic(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """conversations.setTopic."""
        channel = self._channel(str(params.get("channel", "")))
        if channel is None:
            return "channel_not_found"
        channel.topic = str(params.get("topic", ""))
        return {"channel": self._info(channel)}

    def api_conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        """conversations.list (one page)."""
        channels = [self._info(c) for c in self.channels.values() if not c.is_im]
        return {"channels": channels, "response_metadata": {"next_cursor": ""}}

    def api_conversations_info(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """conversations.info."""
        channel = self._channel(str(params.get("channel", "")))
        return "channel_not_found" if channel is None else {"channel": self._info(channel)}

    def api_conversations_members(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """conversations.members (one page)."""
        channel = self._channel(str(params.get("channel", "")))
        if channel is None:
            return "channel_not_found"
        return {"members": channel.members, "response_metadata": {"next_cursor": ""}}

    def api_users_info(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """users.info (the locale only with include_locale, as in Slack)."""
        person = self.people.get(str(params.get("user", "")))
        if person is None:
            return "user_not_found"
        user: dict[str, Any] = {
            "id": person.id,
            "team_id": TEAM_ID,
            "name": person.name,
            "real_name": person.real_name,
            "is_bot": False,
            "tz": "Asia/Tokyo",
            "profile": {"display_name": person.name, "real_name": person.real_name},
        }
        if str(params.get("include_locale", "")).lower() in ("1", "true"):
            user["locale"] = person.locale
        return {"user": user}

    def api_usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any] | str:
        """usergroups.users.list."""
        users = self.usergroups.get(str(params.get("usergroup", "")))
        return "no_such_subteam" if users is None else {"users": users}

    # ---------------------------------------------------------------- requests to the app

    def _signed(self, body: str, content_type: str) -> dict[str, str]:
        ts = str(int(time.time()))
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": str(self.verifier.generate_signature(timestamp=ts, body=body)),
        }

    def _user(self, user_id: str) -> dict[str, Any]:
        person = self.people[user_id]
        return {"id": user_id, "username": person.name, "name": person.name, "team_id": TEAM_ID}

    def new_trigger(self, user_id: str) -> str:
        """A trigger id for this user (what Slack puts in a click; views.open needs it)."""
        trigger = f"{next(self._ids)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        self._triggers[trigger] = user_id
        return trigger

    def block_action(
        self, user_id: str, channel_id: str, ts: str, action_id: str, value: str
    ) -> tuple[str, dict[str, str]]:
        """The signed block_actions request for a button click on a message, or on an
        ephemeral message of this user (Slack then sends no `message`, only the container;
        its response_url is how the app answers or replaces that message)."""
        if user_id not in self.people:
            raise LookupError("unknown user")
        message, shown = self._clicked_message(user_id, channel_id, ts)
        block_id, element = _button_in(shown, action_id, value)
        channel = self.channels[channel_id]
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": API_APP_ID,
            "token": "sandbox-verification-token",
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel_id,
                "is_ephemeral": message is None,
            },
            "trigger_id": self.new_trigger(user_id),
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": channel.name},
            "state": {"values": {}},
            "response_url": self._response_url(user_id, channel_id, ts, message is None),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": element.get("text"),
                    "value": value,
                    "type": "button",
                    "action_ts": self._ts(),
                    **({"style": element["style"]} if element.get("style") else {}),
                }
            ],
        }
        if message is not None:
            payload["message"] = copy.deepcopy(message)
        body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)})
        return body, self._signed(body, "application/x-www-form-urlencoded")

    def _clicked_message(
        self, user_id: str, channel_id: str, ts: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The message clicked on: (the channel's message or None, what was shown), the
        second being this user's ephemeral message when the channel has none at `ts`."""
        message = next((m for m in self.messages.get(channel_id, []) if m["ts"] == ts), None)
        ephemeral = next(
            (
                e
                for e in self.ephemerals
                if e["ts"] == ts and e["user"] == user_id and e["channel"] == channel_id
            ),
            None,
        )
        shown = message or ephemeral
        if shown is None:
            raise LookupError("unknown message")
        return message, shown

    # ---------------------------------------------------------------- response_url

    def _response_url(self, user_id: str, channel_id: str, ts: str, ephemeral: bool) -> str:
        key = secrets.token_urlsafe(16)
        self._responses[key] = {
            "user": user_id,
            "channel": channel_id,
            "ts": ts,
            "ephemeral": ephemeral,
            "uses": 0,
        }
        return f"{self.base_url}/respond/{key}"

    async def _respond(self, request: Request) -> Response:
        """A POST to a response_url: a new message for the clicker (ephemeral unless
        response_type is in_channel), or the original replaced or deleted; at most five
        uses, as in Slack."""
        target = self._responses.get(request.path_params["key"])
        if target is None:
            return Response("no_such_url", status_code=404)
        if target["uses"] >= RESPONSE_URL_USES:
            return Response("used_too_often", status_code=404)
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return Response("invalid_payload", status_code=400)
        if not isinstance(body, dict):
            return Response("invalid_payload", status_code=400)
        target["uses"] += 1
        user, channel, ts = target["user"], target["channel"], target["ts"]
        if target["ephemeral"]:
            mine = [
                e
                for e in self.ephemerals
                if not (e["ts"] == ts and e["user"] == user and e["channel"] == channel)
            ]
            if body.get("delete_original"):
                self.ephemerals = mine
            elif body.get("replace_original"):
                for shown in self.ephemerals:
                    if shown["ts"] == ts and shown["user"] == user:
                        shown["text"] = str(body.get("text") or "")
                        shown["blocks"] = body.get("blocks") or []
        elif body.get("delete_original"):
            self.messages[channel] = [m for m in self.messages[channel] if m["ts"] != ts]
        elif body.get("replace_original"):
            try:
                self.api_chat_update({**body, "channel": channel, "ts": ts})
            except _ApiError as exc:
                return Response(exc.error, status_code=400)
        if not body.get("delete_original") and not body.get("replace_original"):
            if body.get("response_type") == "in_channel":
                try:
                    self.api_chat_postMessage({**body, "channel": channel})
                except _ApiError as exc:
                    return Response(exc.error, status_code=400)
            else:
                self.ephemerals.append(
                    {
                        "channel": channel,
                        "user": user,
                        "ts": self._ts(),
                        "text": str(body.get("text") or ""),
                        "blocks": body.get("blocks") or [],
                    }
                )
        self.changes.bump()
        return Response("ok", media_type="text/html")

    def view_submission(
        self, user_id: str, view_id: str, values: dict[str, dict[str, Any]]
    ) -> tuple[str, dict[str, str]]:
        """The signed view_submission request for an open modal with its inputs filled.

        `values` holds what the page's form holds, by block and action id: a string for a
        text, number, date or time, an option value for a select or radio button, a list
        of option values for a multi-select or checkboxes. The state is built as Slack's
        client sends it, from the view's own elements (option objects, nulls for empty)."""
        view = next((v for v in self.views.get(user_id, []) if v["id"] == view_id), None)
        if view is None:
            raise LookupError("no such view")
        submitted = copy.deepcopy(view)
        submitted["state"] = {"values": view_state(view, values)}
        payload: dict[str, Any] = {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "user": self._user(user_id),
            "api_app_id": API_APP_ID,
            "token": "sandbox-verification-token",
            "trigger_id": self.new_trigger(user_id),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)})
        return body, self._signed(body, "application/x-www-form-urlencoded")

    def slash_command(
        self, user_id: str, channel_id: str, command: str, text: str
    ) -> tuple[str, dict[str, str]]:
        """The signed slash-command request."""
        if user_id not in self.people:
            raise LookupError("unknown user")
        channel = self.channels.get(channel_id)
        if channel is None:
            raise LookupError("unknown channel")
        body = urlencode(
            {
                "token": "sandbox-verification-token",
                "team_id": TEAM_ID,
                "team_domain": TEAM_DOMAIN,
                "channel_id": channel_id,
                "channel_name": channel.name,
                "user_id": user_id,
                "user_name": self.people[user_id].name,
                "command": command,
                "text": text,
                "api_app_id": API_APP_ID,
                "is_enterprise_install": "false",
                "response_url": "https://hooks.slack.com/commands/sandbox",
                "trigger_id": self.new_trigger(user_id),
            }
        )
        return body, self._signed(body, "application/x-www-form-urlencoded")

    def close_view(self, user_id: str, view_id: str) -> None:
        """Slack closes a modal after a submission without errors, or on Cancel."""
        self.views[user_id] = [v for v in self.views.get(user_id, []) if v["id"] != view_id]
        self.changes.bump()

    def command_answer(self, user_id: str, channel_id: str, command: str, answer: Any) -> None:
        """Show a slash command's immediate answer, as Slack shows the app's response."""
        if not isinstance(answer, dict):
            answer = {"text": str(answer or "")}
        self.ephemerals.append(
            {
                "channel": channel_id,
                "user": user_id,
                "ts": self._ts(),
                "command": command,
                "text": str(answer.get("text") or ""),
                "blocks": answer.get("blocks") or [],
            }
        )
        self.changes.bump()

    # ---------------------------------------------------------------- for the page

    def snapshot(self) -> dict[str, Any]:
        """The workspace as the page shows it."""
        return {
            "people": [asdict(p) for p in self.people.values()],
            "channels": [asdict(c) for c in self.channels.values()],
            "messages": self.messages,
            "ephemerals": self.ephemerals,
            "views": self.views,
            "homes": self.homes,
        }


TEXT_ELEMENTS = ("plain_text_input", "number_input", "email_text_input", "url_text_input")
SINGLE_CHOICE = ("static_select", "radio_buttons")
MULTI_CHOICE = ("multi_static_select", "checkboxes")


def _all_options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    return options


def _option(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """The view's own option object for a value (what Slack puts in the state)."""
    for option in _all_options(element):
        if option.get("value") == value:
            return copy.deepcopy(option)
    raise LookupError(f"no option {value!r} in {element.get('action_id')!r}")


def _number(element: dict[str, Any], text: str) -> str:
    """Slack's client refuses a number outside the element's rules before sending."""
    try:
        number = float(text)
    except ValueError:
        raise LookupError(f"not a number in {element.get('action_id')!r}") from None
    if not element.get("is_decimal_allowed") and not number.is_integer():
        raise LookupError(f"a whole number is needed in {element.get('action_id')!r}")
    low, high = element.get("min_value"), element.get("max_value")
    if (low is not None and number < float(low)) or (high is not None and number > float(high)):
        raise LookupError(f"number out of range in {element.get('action_id')!r}")
    return text


def element_state(element: dict[str, Any], given: Any) -> dict[str, Any]:
    """One element's entry in view.state.values, as Slack sends it."""
    kind = str(element.get("type") or "")
    out: dict[str, Any] = {"type": kind}
    if kind in TEXT_ELEMENTS:
        text = str(given) if given not in (None, "") else ""
        if kind == "number_input" and text:
            text = _number(element, text.strip())
        out["value"] = text or None
    elif kind == "datepicker":
        date = str(given or "")
        if date and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
            raise LookupError("a date is YYYY-MM-DD")
        out["selected_date"] = date or None
    elif kind == "timepicker":
        clock = str(given or "")
        if clock and not re.fullmatch(r"\d{2}:\d{2}", clock):
            raise LookupError("a time is HH:mm")
        out["selected_time"] = clock or None
    elif kind in SINGLE_CHOICE:
        out["selected_option"] = _option(element, given) if given not in (None, "") else None
    elif kind in MULTI_CHOICE:
        chosen = given if isinstance(given, list) else ([] if given in (None, "") else [given])
        out["selected_options"] = [_option(element, v) for v in chosen]
    else:
        raise LookupError(f"the sandbox cannot submit a {kind!r} element")
    return out


def _initial(element: dict[str, Any]) -> Any:
    """What an untouched element holds (its initial value or options)."""
    kind = element.get("type")
    if kind in TEXT_ELEMENTS:
        return element.get("initial_value")
    if kind == "datepicker":
        return element.get("initial_date")
    if kind == "timepicker":
        return element.get("initial_time")
    if kind in SINGLE_CHOICE:
        return (element.get("initial_option") or {}).get("value")
    if kind in MULTI_CHOICE:
        return [o.get("value") for o in element.get("initial_options") or []]
    return None


def view_state(view: dict[str, Any], values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """view.state.values for every input block of the view: what the page sent, or the
    element's initial value where the page sent nothing for it."""
    state: dict[str, Any] = {}
    for block in view.get("blocks") or []:
        element = block.get("element") if block.get("type") == "input" else None
        if not isinstance(element, dict):
            continue
        block_id, action_id = str(block.get("block_id", "")), str(element.get("action_id", ""))
        given = (values.get(block_id) or {}).get(action_id, _initial(element))
        state[block_id] = {action_id: element_state(element, given)}
    return state


class _ApiError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _button_in(shown: dict[str, Any], action_id: str, value: str) -> tuple[str, dict[str, Any]]:
    """The block id and element of the button with this action and value (LookupError)."""
    for block in shown.get("blocks", []):
        accessory = block.get("accessory")
        for candidate in [*block.get("elements", []), *([accessory] if accessory else [])]:
            if candidate.get("action_id") == action_id and candidate.get("value") == value:
                return str(block.get("block_id", "")), candidate
    raise LookupError("no such button")
