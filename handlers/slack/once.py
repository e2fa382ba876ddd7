"""Relaying Slack requests once: a retried event or a replayed click has no second effect."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_bolt.response import BoltResponse


def once_key(body: dict[str, Any]) -> tuple[str, str] | None:
    """What identifies one Slack request's effect, hashed to fit an event id, and its kind.

    An event: its event_id (also on every retry). A click: who clicked which action on
    which message at which action_ts. A modal submission: the view's id and hash and the
    values submitted. A command: its trigger_id. None for what has no effect to repeat.
    """
    kind = str(body.get("type") or "")
    parts: list[str]
    if kind == "event_callback" and body.get("event_id"):
        # Kept as it is (no hash): events recorded before this change keep their keys.
        event_kind = str((body.get("event") or {}).get("type", "event"))[:24]
        return str(body["event_id"])[:64], event_kind
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        action = actions[0] if isinstance(actions[0], dict) else {}
        container = body.get("container") or {}
        parts = [
            str((body.get("user") or {}).get("id", "")),
            str(action.get("action_id", "")),
            str(action.get("action_ts", "")),
            str(container.get("message_ts") or container.get("view_id") or ""),
            str(body.get("trigger_id", "")),
        ]
    elif kind == "view_submission":
        view = body.get("view") or {}
        values = (view.get("state") or {}).get("values") or {}
        parts = [
            str(view.get("id", "")),
            str(view.get("hash", "")),
            json.dumps(values, sort_keys=True, ensure_ascii=False),
        ]
    elif body.get("command") and body.get("trigger_id"):
        kind = "command"
        parts = [str(body["trigger_id"])]
    else:
        return None
    digest = hashlib.sha256("\x1f".join([kind, *parts]).encode("utf-8")).hexdigest()
    return digest, kind


class ForgetOnErrors(AsyncAck):
    """Bolt's ack; an answer with field errors first forgets the submission's key."""

    def __init__(self, forget: Callable[[], Awaitable[None]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._forget = forget

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        if kwargs.get("response_action") == "errors":
            await self._forget()
        return await super().__call__(*args, **kwargs)
