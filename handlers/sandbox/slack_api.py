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
CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,79}$")


@dataclass
class SlackPerson:
    """A member of the sandbox workspace."""

    id: str
    name: str
    real_name: str
    is_coordinator: bool = False


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

    def __init__(self, token: str, signing_secret: str, changes: Changes) -> None:
        self.token = token
        self.changes = changes
        self.verifier = SignatureVerifier(signing_secret)
        self.people: dict[str, SlackPerson] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, list[dict[str, Any]]] = {}
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
        return [Route("/{method}", self._call, methods=["GET", "POST"])]

    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        raw = await request.body()
        kind = request.headers.get("content-type", "")
        if raw and "json" in kind:
            params.update(json.loads(raw))
        elif raw:
            params.update(dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)))
        for key in ("blocks", "view"):
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
        """users.info."""
        person = self.people.get(str(params.get("user", "")))
        if person is None:
            return "user_not_found"
        return {
            "user": {
                "id": person.id,
                "team_id": TEAM_ID,
                "name": person.name,
                "real_name": person.real_name,
                "is_bot": False,
                "tz": "Asia/Tokyo",
                "profile": {"display_name": person.name, "real_name": person.real_name},
            }
        }

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
        """The signed block_actions request for a button click on a message."""
        if user_id not in self.people:
            raise LookupError("unknown user")
        message = next((m for m in self.messages.get(channel_id, []) if m["ts"] == ts), None)
        if message is None:
            raise LookupError("unknown message")
        block_id: str = ""
        element: dict[str, Any] | None = None
        for block in message.get("blocks", []):
            for candidate in block.get("elements", []):
                if candidate.get("action_id") == action_id and candidate.get("value") == value:
                    block_id, element = str(block.get("block_id", "")), candidate
        if element is None:
            raise LookupError("no such button")
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
                "is_ephemeral": False,
            },
            "trigger_id": self.new_trigger(user_id),
            "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": channel.name},
            "message": copy.deepcopy(message),
            "state": {"values": {}},
            "response_url": "https://hooks.slack.com/actions/sandbox",
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

    def view_submission(
        self, user_id: str, view_id: str, values: dict[str, dict[str, str]]
    ) -> tuple[str, dict[str, str]]:
        """The signed view_submission request for an open modal with its inputs filled."""
        view = next((v for v in self.views.get(user_id, []) if v["id"] == view_id), None)
        if view is None:
            raise LookupError("no such view")
        submitted = copy.deepcopy(view)
        submitted["state"] = {
            "values": {
                block: {
                    action: {"type": "plain_text_input", "value": value}
                    for action, value in actions.items()
                }
                for block, actions in values.items()
            }
        }
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
        }


class _ApiError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error
