"""Builders for what Slack sends to an app's request URL, signed as Slack signs them.

The test plays Slack here: it builds the body (Events API JSON, or the form-encoded
``payload=<json>`` of interactivity, or a slash command's form fields) and signs it with
``signed()``, which computes Slack's v0 signature: ``v0=`` + hex HMAC-SHA256 of
``v0:{timestamp}:{body}`` keyed with the signing secret. Computing it here is right: the app
under test must verify it with the SDK, never the other way round.

The shapes follow Slack's documented payloads field for field, so Bolt routes them exactly
as it routes Slack's own. Nothing here imports app code.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import secrets
import string
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

# The workspace and app every builder (and the fake Slack API) defaults to.
TEAM_ID = "T0TSUNAGU1"
TEAM_DOMAIN = "tsunagu-test"
TEAM_NAME = "Tsunagu Test"
API_APP_ID = "A0TSUNAGUA"
BOT_USER_ID = "U0TSUNAGUB"
BOT_ID = "B0TSUNAGUB"
# The deprecated verification token Slack still puts in every payload; Bolt ignores it
# unless the app is given one.
VERIFICATION_TOKEN = "legacy-verification-token"

Payload = dict[str, Any]

_ID_CHARS = string.ascii_uppercase + string.digits
_clock_lock = threading.Lock()
_last_ts_us = 0
_trigger_counter = itertools.count(1)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def new_ts() -> str:
    """Return a message/action timestamp like Slack's ("1700000000.000100"), always increasing."""
    global _last_ts_us
    with _clock_lock:
        _last_ts_us = max(int(time.time() * 1_000_000), _last_ts_us + 1)
        return f"{_last_ts_us // 1_000_000}.{_last_ts_us % 1_000_000:06d}"


def new_id(prefix: str, length: int = 10) -> str:
    """Return a Slack-shaped id: ``prefix`` and upper-case letters and digits (U…, C…, V…)."""
    return prefix + "".join(secrets.choice(_ID_CHARS) for _ in range(length))


def new_event_id() -> str:
    """Return an Events API event id ("Ev" + 10 characters)."""
    return new_id("Ev")


def new_trigger_id() -> str:
    """Return a trigger id shaped like Slack's ("<digits>.<digits>.<32 hex>")."""
    return f"{next(_trigger_counter) + 10**12}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def new_response_url(kind: str = "actions", team_id: str = TEAM_ID) -> str:
    """Return a response URL shaped like Slack's (``kind`` is "actions" or "commands")."""
    return (
        f"https://hooks.slack.com/{kind}/{team_id}/{secrets.randbelow(10**13)}/"
        f"{secrets.token_urlsafe(18)}"
    )


# --- signing -------------------------------------------------------------------------------


def signature(body: str | bytes, secret: str, timestamp: int | str) -> str:
    """Return Slack's v0 signature of ``body`` sent at ``timestamp``."""
    raw = body.encode() if isinstance(body, str) else body
    base = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed(body: str | bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Return the headers Slack sends with ``body``: content type, timestamp and signature."""
    ts = int(time.time()) if timestamp is None else timestamp
    text = body.decode() if isinstance(body, bytes) else body
    content_type = (
        "application/json" if text.startswith("{") else "application/x-www-form-urlencoded"
    )
    return {
        "Content-Type": content_type,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(body, secret, ts),
    }


def retry_headers(num: int, reason: str = "http_timeout") -> dict[str, str]:
    """Return the headers of Slack's ``num``-th redelivery of an event (1 = first retry)."""
    return {"X-Slack-Retry-Num": str(num), "X-Slack-Retry-Reason": reason}


def form(fields: Mapping[str, Any]) -> str:
    """Form-encode ``fields`` as Slack does (booleans as "true"/"false")."""
    return urlencode({k: (str(v).lower() if isinstance(v, bool) else v) for k, v in fields.items()})


def payload_form(payload: Payload) -> str:
    """Return the ``payload=<json>`` form body Slack uses for interactivity."""
    return urlencode({"payload": _compact(payload)})


# --- Events API ------------------------------------------------------------------------------


def event_callback(
    event: Payload,
    *,
    event_id: str | None = None,
    team_id: str = TEAM_ID,
    api_app_id: str = API_APP_ID,
    event_time: int | None = None,
    bot_user_id: str = BOT_USER_ID,
) -> str:
    """Return the JSON body of an Events API delivery of ``event``."""
    body = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or new_event_id(),
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + secrets.token_urlsafe(24),
    }
    return _compact(body)


def url_verification(challenge: str) -> str:
    """Return the JSON body of Slack's request-URL handshake."""
    return _compact(
        {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
    )


def _rich_text(text: str) -> list[Payload]:
    return [
        {
            "type": "rich_text",
            "block_id": new_id("", 5),
            "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
            ],
        }
    ]


def app_mention(
    user_id: str,
    text: str,
    channel_id: str,
    *,
    ts: str | None = None,
    thread_ts: str | None = None,
    team_id: str = TEAM_ID,
) -> Payload:
    """Return an ``app_mention`` event (``text`` should contain ``<@BOT_USER_ID>``)."""
    ts = ts or new_ts()
    event: Payload = {
        "type": "app_mention",
        "user": user_id,
        "text": text,
        "ts": ts,
        "team": team_id,
        "channel": channel_id,
        "event_ts": ts,
        "client_msg_id": str(uuid.uuid4()),
        "blocks": _rich_text(text),
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message_event(
    user_id: str,
    text: str,
    channel_id: str,
    *,
    channel_type: str = "channel",
    ts: str | None = None,
    thread_ts: str | None = None,
    team_id: str = TEAM_ID,
) -> Payload:
    """Return a ``message`` event from a person (``channel_type`` "im" for a DM)."""
    event = app_mention(user_id, text, channel_id, ts=ts, thread_ts=thread_ts, team_id=team_id)
    event["type"] = "message"
    event["channel_type"] = channel_type
    return event


# --- interactivity ----------------------------------------------------------------------------


def _user(user_id: str, user_name: str | None, team_id: str) -> Payload:
    name = user_name or user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def _find_element(message: Payload | None, action_id: str) -> tuple[str | None, Payload | None]:
    """Return (block_id, element) of the element with ``action_id`` in ``message``."""
    for block in (message or {}).get("blocks") or []:
        candidates = [block.get("accessory"), block.get("element"), *block.get("elements", [])]
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return block.get("block_id"), element
    return None, None


def block_actions(
    user_id: str,
    action_id: str,
    value: str | None,
    channel_id: str,
    message_ts: str,
    *,
    block_id: str | None = None,
    trigger_id: str | None = None,
    response_url: str | None = None,
    message: Payload | None = None,
    user_name: str | None = None,
    channel_name: str = "coordinators",
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
    action: Payload | None = None,
    state: Payload | None = None,
) -> str:
    """Return the form body Slack posts when someone clicks a button in a message.

    ``message`` is the message as stored (e.g. from the fake's ``find_button``); the button's
    text, style and block id are taken from it when present. ``action`` overrides the action
    entry entirely (for selects and other elements).
    """
    found_block_id, element = _find_element(message, action_id)
    if action is None:
        action = {
            "action_id": action_id,
            "block_id": block_id or found_block_id or new_id("", 5),
            "text": (element or {}).get("text")
            or {"type": "plain_text", "text": action_id, "emoji": True},
            "type": "button",
            "action_ts": new_ts(),
        }
        if value is not None:
            action["value"] = value
        if element and "style" in element:
            action["style"] = element["style"]
    if message is None:
        message = {
            "type": "message",
            "subtype": "bot_message",
            "text": "",
            "ts": message_ts,
            "bot_id": BOT_ID,
            "blocks": [],
        }
    payload: Payload = {
        "type": "block_actions",
        "user": _user(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "message": copy.deepcopy(message),
        "state": state or {"values": {}},
        "response_url": response_url or new_response_url("actions", team_id),
        "actions": [action],
    }
    return payload_form(payload)


def _state_value(value: Any) -> Payload:
    if isinstance(value, dict):
        return value
    return {"type": "plain_text_input", "value": value}


def view_submission(
    user_id: str,
    callback_id: str,
    private_metadata: str = "",
    values: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    view_id: str | None = None,
    view: Payload | None = None,
    user_name: str | None = None,
    trigger_id: str | None = None,
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
    bot_id: str = BOT_ID,
) -> str:
    """Return the form body Slack posts when someone submits a modal.

    ``values`` maps block_id -> action_id -> value; a plain value becomes
    ``{"type": "plain_text_input", "value": ...}``, a dict is used as it is (for selects).
    ``view`` is the view as opened (e.g. from the fake's ``views_opened()``); its blocks and
    title are kept and ``callback_id``/``private_metadata``/state override it.
    """
    state = {
        block: {action: _state_value(v) for action, v in actions.items()}
        for block, actions in (values or {}).items()
    }
    base: Payload = copy.deepcopy(view) if view is not None else {}
    vid = view_id or base.get("id") or new_id("V")
    full_view: Payload = {
        "id": vid,
        "team_id": team_id,
        "type": "modal",
        "blocks": [],
        "private_metadata": private_metadata,
        "callback_id": callback_id,
        "state": {"values": state},
        "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
        "title": {"type": "plain_text", "text": "Tsunagu", "emoji": True},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": None,
        "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
        "previous_view_id": None,
        "root_view_id": vid,
        "app_id": api_app_id,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": bot_id,
    }
    for key in ("blocks", "title", "close", "submit", "external_id", "hash"):
        if key in base:
            full_view[key] = base[key]
    payload: Payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": team_domain},
        "user": _user(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "view": full_view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return payload_form(payload)


def slash_command(
    user_id: str,
    command: str,
    text: str = "",
    channel_id: str = "C0GENERAL1",
    *,
    channel_name: str = "general",
    user_name: str | None = None,
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
    response_url: str | None = None,
    trigger_id: str | None = None,
) -> str:
    """Return the form body Slack posts for a slash command, fields in Slack's order."""
    return form(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "team_domain": team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name or user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": api_app_id,
            "is_enterprise_install": False,
            "response_url": response_url or new_response_url("commands", team_id),
            "trigger_id": trigger_id or new_trigger_id(),
        }
    )


__all__ = [
    "API_APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_DOMAIN",
    "TEAM_ID",
    "TEAM_NAME",
    "VERIFICATION_TOKEN",
    "app_mention",
    "block_actions",
    "event_callback",
    "form",
    "message_event",
    "new_event_id",
    "new_id",
    "new_response_url",
    "new_trigger_id",
    "new_ts",
    "payload_form",
    "retry_headers",
    "signature",
    "signed",
    "slash_command",
    "url_verification",
    "view_submission",
]


def app_home_opened(user_id: str, *, tab: str = "home", channel_id: str = "D0HOME0001") -> Payload:
    """Return an ``app_home_opened`` event (a person opened the app's Home tab)."""
    return {
        "type": "app_home_opened",
        "user": user_id,
        "channel": channel_id,
        "tab": tab,
        "event_ts": new_ts(),
    }


def home_block_actions(
    user_id: str, action_id: str, view: Payload, *, value: str | None = None
) -> str:
    """Return the form body Slack posts when someone clicks a button in their App Home
    (``view`` as the fake stores it): the container is the view, there is no channel."""
    block_id, element = None, None
    for block in view.get("blocks") or []:
        for candidate in block.get("elements") or []:
            if candidate.get("action_id") == action_id and (
                value is None or candidate.get("value") == value
            ):
                block_id, element = block.get("block_id"), candidate
    assert element is not None, f"no {action_id} in the view"
    action = {**element, "block_id": block_id, "action_ts": new_ts()}
    payload: Payload = {
        "type": "block_actions",
        "user": _user(user_id, None, TEAM_ID),
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": view["id"]},
        "trigger_id": new_trigger_id(),
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": copy.deepcopy(view),
        "actions": [action],
    }
    return payload_form(payload)
