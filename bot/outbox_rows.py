"""Writing outbox rows: the messages a state change causes, in the caller's transaction.

Callers write rows with `enqueue` (one message) or `fan_out` (one message to many LINE
people, as "multicast" rows of up to 500 recipients), keyed with `key_for` so a repeated
write adds nothing. `Item` is one row as a transport and the budget see it. The
dispatcher that sends the rows is `bot.outbox`; this module does not import it, so the
budget (which writes its warnings as rows and is consulted by the dispatcher) sits
between the two without an import circle.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation.model import Choice, Panel, Reply
from storage import repo
from storage.base import utcnow

_NAMESPACE = uuid.UUID("0b8a3f0e-5c1d-4a57-9a53-6f3cfb8f0d21")

# LINE's limit on recipients of one multicast call.
MULTICAST_MAX = 500
# Kinds that reach people through LINE's paid push/multicast endpoints.
PAID_KINDS = frozenset({"push", "multicast"})


@dataclass
class Item:
    """One claimed outbox row as the transport sees it."""

    id: int
    channel: str
    kind: str
    target: str
    payload: dict[str, Any]
    key: str
    attempts: int
    ref_type: str | None = None
    ref_id: int | None = None
    # A dated message: not sent by then, it is never sent (see bot.expiry).
    expires_at: datetime | None = None
    # Filled by the dispatcher for kinds that refer to an earlier Slack message.
    thread_ts: str | None = None
    ts: str | None = None

    @property
    def urgent(self) -> bool:
        """True if this message must not wait for budget (e.g. an answer to the person)."""
        return bool(self.payload.get("urgent"))

    @property
    def recipients(self) -> int:
        """How many people this row reaches (what LINE counts against the quota)."""
        if self.kind == "multicast":
            return len(self.payload.get("to") or ())
        return 1


def key_for(*parts: object) -> str:
    """A stable idempotency key (a UUID) for a message caused by these facts."""
    return str(uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts)))


def replies_payload(replies: list[Reply], *, urgent: bool = False) -> dict[str, Any]:
    """Neutral replies as plain data for a LINE push row (`urgent`: never held for budget)."""
    return {
        "urgent": urgent,
        "replies": [_reply_data(r) for r in replies],
    }


def _choice_data(c: Choice) -> dict[str, Any]:
    return {"label": c.label, "data": c.data, "display": c.display}


def _choice(c: dict[str, Any]) -> Choice:
    return Choice(c["label"], c["data"], c.get("display"))


def _reply_data(r: Reply) -> dict[str, Any]:
    data: dict[str, Any] = {"text": r.text, "choices": [_choice_data(c) for c in r.choices]}
    if r.panels:  # only when there are some: most rows are plain text
        data["panels"] = [
            {
                "title": p.title,
                "kind": p.kind,
                "fields": [list(f) for f in p.fields],
                "body": p.body,
                "note": p.note,
                "buttons": [_choice_data(c) for c in p.buttons],
            }
            for p in r.panels
        ]
    return data


def replies_from(payload: dict[str, Any]) -> list[Reply]:
    """Plain data back to neutral replies (for the LINE transport)."""
    return [
        Reply(
            r["text"],
            tuple(_choice(c) for c in r.get("choices", [])),
            tuple(
                Panel(
                    title=p["title"],
                    kind=p.get("kind", "info"),
                    fields=tuple((str(a), str(b)) for a, b in p.get("fields", ())),
                    body=p.get("body"),
                    note=p.get("note"),
                    buttons=tuple(_choice(c) for c in p.get("buttons", ())),
                )
                for p in r.get("panels", ())
            ),
        )
        for r in payload.get("replies", [])
    ]


async def enqueue(
    session: AsyncSession,
    *,
    channel: str,
    kind: str,
    target: str,
    payload: dict[str, Any],
    key: str,
    ref_type: str | None = None,
    ref_id: int | None = None,
    now: datetime | None = None,
    expires_at: datetime | None = None,
) -> None:
    """Write one outgoing message in the caller's transaction (a repeated key is ignored).

    `expires_at`: a dated message (about an event) that must not go out after it."""
    await repo.add_outbox(
        session,
        channel=channel,
        kind=kind,
        target=target,
        payload=payload,
        key=key,
        ref_type=ref_type,
        ref_id=ref_id,
        due_at=now or utcnow(),
        expires_at=expires_at,
    )


async def fan_out(
    session: AsyncSession,
    *,
    channel: str,
    targets: Sequence[str],
    replies: list[Reply],
    key: str,
    urgent: bool = False,
    now: datetime | None = None,
    expires_at: datetime | None = None,
) -> int:
    """Write one message to many people as multicast rows of <= 500; return the row count.

    Targets are deduplicated in order. Row i is keyed `key_for(key, i)`, so writing the
    same fan-out again (a job that fires twice) adds nothing. Each row has its own
    target, so the rows of one fan-out go out side by side rather than one after another;
    the price is that a fan-out is not ordered against pushes to the same people.
    """
    unique = list(dict.fromkeys(t for t in targets if t))
    base = replies_payload(replies, urgent=urgent)
    rows = 0
    for index, start in enumerate(range(0, len(unique), MULTICAST_MAX)):
        row_key = key_for(key, index)
        await enqueue(
            session,
            channel=channel,
            kind="multicast",
            target=f"multicast:{row_key}",
            payload={**base, "to": unique[start : start + MULTICAST_MAX]},
            key=row_key,
            now=now,
            expires_at=expires_at,
        )
        rows += 1
    return rows
