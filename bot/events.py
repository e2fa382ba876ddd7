"""A webhook event in neutral form, as a channel adapter hands it to the core."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.conversation.model import MediaIn, PostbackIn, TextIn, UserInput

KINDS = ("follow", "unfollow", "text", "postback", "media", "other")


@dataclass(frozen=True, slots=True)
class Event:
    """One event from one person on one channel."""

    channel: str
    event_id: str
    user_key: str
    occurred_ms: int
    kind: str  # one of KINDS
    text: str | None = None
    data: str | None = None
    media: str | None = None
    reply_token: str | None = None
    # The person's language when the platform tells us (e.g. LINE profile), else None.
    language: str | None = None
    redelivery: bool = False

    @property
    def input(self) -> UserInput | None:
        """The person's input, or None for follow/unfollow/other events."""
        if self.kind == "text":
            return TextIn(self.text or "")
        if self.kind == "postback":
            return PostbackIn(self.data or "")
        if self.kind == "media":
            return MediaIn(self.media or "file")
        return None

    def payload(self) -> dict[str, Any]:
        """What the inbox stores until the event is applied."""
        out: dict[str, Any] = {}
        for name in ("text", "data", "media", "reply_token", "language"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.redelivery:
            out["redelivery"] = True
        return out

    @classmethod
    def from_stored(
        cls,
        *,
        channel: str,
        event_id: str,
        user_key: str,
        occurred_ms: int,
        kind: str,
        payload: dict[str, Any],
    ) -> Event:
        """Rebuild an event from an inbox row."""
        return cls(
            channel=channel,
            event_id=event_id,
            user_key=user_key,
            occurred_ms=occurred_ms,
            kind=kind,
            text=payload.get("text"),
            data=payload.get("data"),
            media=payload.get("media"),
            reply_token=payload.get("reply_token"),
            language=payload.get("language"),
            redelivery=bool(payload.get("redelivery")),
        )
