"""A webhook event in neutral form, as a channel adapter hands it to the core."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.conversation.model import MediaIn, PostbackIn, TextIn, UserInput

KINDS = ("follow", "unfollow", "text", "postback", "media", "other")

# What the inbox and the conversations can store (storage/models.py): ids and keys are
# String(64), timestamps BIGINT. An event outside these would fail the INSERT it shares
# with every other event of the same moment, so the adapter refuses it first.
ID_MAX = 64
MS_MAX = 2**63 - 1
# A timestamp far in the future would make every real event of that person look older
# than the last one applied (stale) and freeze the conversation: a day of clock skew.
FUTURE_MS = 24 * 3600 * 1000
# Free text and postback data LINE can send (5,000 characters; postback data 300) with
# room to spare; anything longer is not from a person.
TEXT_MAX = 10_000


def clean_text(value: str) -> str:
    """Text as the databases can store it: no NUL, no lone UTF-16 surrogates."""
    if value.isascii() and "\x00" not in value:
        return value
    whole = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return whole.replace("\x00", "")


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

    def problem(self, now_ms: int) -> str | None:
        """Why the core cannot store this event (a short reason for the log), or None."""
        if not self.event_id or len(self.event_id) > ID_MAX:
            return f"event id of {len(self.event_id)} characters"
        if not self.user_key or len(self.user_key) > ID_MAX:
            return f"user key of {len(self.user_key)} characters"
        if not 0 <= self.occurred_ms <= MS_MAX:
            return "timestamp out of range"
        if self.occurred_ms > now_ms + FUTURE_MS:
            return "timestamp in the future"
        for name in ("text", "data"):
            value = getattr(self, name)
            if value is not None and len(value) > TEXT_MAX:
                return f"{name} of {len(value)} characters"
        return None

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
