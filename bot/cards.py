"""Neutral cards for coordinators: what a Slack message shows, without Block Kit.

handlers/slack/views.py renders them (render_card); the outbox stores them as plain data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


def plain(text: str) -> str:
    """Text from a person, to be shown literally: no mentions, links or markup of theirs."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Button:
    """A button: its label, the action it triggers and the value it carries."""

    label: str
    action_id: str
    value: str
    style: str | None = None  # primary | danger


@dataclass(frozen=True)
class CardRow:
    """One item of a card with its own buttons (e.g. one proposed team member)."""

    text: str
    buttons: tuple[Button, ...] = ()
    context: str | None = None


@dataclass(frozen=True)
class Card:
    """A titled message with label/value fields, free text, buttons and a footer line."""

    title: str
    fallback: str
    fields: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    buttons: tuple[Button, ...] = ()
    context: str | None = None
    sections: tuple[str, ...] = field(default=())
    rows: tuple[CardRow, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain data for an outbox row."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Card:
        """Rebuild from plain data."""
        return cls(
            title=data["title"],
            fallback=data["fallback"],
            fields=tuple((str(a), str(b)) for a, b in data.get("fields", ())),
            body=data.get("body"),
            buttons=tuple(Button(**b) for b in data.get("buttons", ())),
            context=data.get("context"),
            sections=tuple(data.get("sections", ())),
            rows=tuple(
                CardRow(
                    text=r["text"],
                    buttons=tuple(Button(**b) for b in r.get("buttons", ())),
                    context=r.get("context"),
                )
                for r in data.get("rows", ())
            ),
        )


def summary_of(text: str, limit: int = 30) -> str:
    """A short quote of a challenge for messages."""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
