"""Dated messages keep their date (issue #13).

An announcement or reminder about an event is written with `expires_at` = the event's
start. When the LINE budget would hold it past that moment (or it is still unsent when
the moment comes), the dispatcher marks it "expired" instead of sending it late, and
this tells the coordinators, in the coordinator channel, what did not go and to whom,
so that they can reach those people another way.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox_rows as outbox
from bot.cards import plain
from bot.i18n import T, Texts
from storage.models import Organization, Volunteer


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    expired = T(
        "⏰ LINEの送信上限のため、次のお知らせは開催（{when}）までに送れず、取り消しました:\n"
        "「{what}」\n届かなかった方（{n}名）: {names}\n必要に応じて別の方法でご連絡ください。",
        "⏰ The LINE message quota held this message past its event ({when}), so it was not "
        "sent:\n“{what}”\nNot reached ({n}): {names}\nPlease reach them another way if needed.",
    )
    not_signed_up = T("登録前の方 {n}名", "{n} not signed up yet")


TXT = _Texts

# At most this many names are listed; the rest are counted.
_MAX_NAMES = 40


def _recipients(item: outbox.Item) -> list[str]:
    if item.kind == "multicast":
        return [str(k) for k in item.payload.get("to") or ()]
    return [item.target]


def _what(item: outbox.Item) -> str:
    replies = outbox.replies_from(item.payload)
    first = replies[0].text if replies else ""
    line = first.strip().splitlines()[0] if first.strip() else ""
    return plain(line[:80] + ("…" if len(line) > 80 else ""))


class Expiry:
    """Tells the coordinators about a dated message that expired unsent."""

    def __init__(self, coordinator_channel: str, *, locale: str, timezone: str) -> None:
        self.coordinator_channel = coordinator_channel
        self.locale = locale
        self._tz = ZoneInfo(timezone)

    async def names(self, session: AsyncSession, channel: str, keys: list[str]) -> list[str]:
        """The people behind LINE ids, as coordinators know them (name, or the group)."""
        found: dict[str, str] = {}
        for v in await session.scalars(
            select(Volunteer).where(Volunteer.channel == channel, Volunteer.user_key.in_(keys))
        ):
            found[v.user_key] = v.display_name
        for g in await session.scalars(
            select(Organization).where(
                Organization.channel == channel, Organization.user_key.in_(keys)
            )
        ):
            found.setdefault(g.user_key, f"{g.name}（{g.contact_name}）")
        names = [plain(found[k]) for k in keys if k in found]
        unknown = len(keys) - len(names)
        shown = names[:_MAX_NAMES]
        if len(names) > _MAX_NAMES:
            shown.append(f"+{len(names) - _MAX_NAMES}")
        if unknown:
            shown.append(TXT.not_signed_up(self.locale, n=unknown))
        return shown

    async def tell(self, session: AsyncSession, item: outbox.Item, now: datetime) -> None:
        """Post the note in the caller's transaction (the one that expires the row)."""
        if not self.coordinator_channel or item.expires_at is None:
            return
        keys = _recipients(item)
        local = item.expires_at.astimezone(self._tz)
        when = local.strftime("%m/%d %H:%M")
        text = TXT.expired(
            self.locale,
            when=when,
            what=_what(item),
            n=len(keys),
            names=", ".join(await self.names(session, item.channel, keys)) or "-",
        )
        await outbox.enqueue(
            session,
            channel="slack",
            kind="post",
            target=self.coordinator_channel,
            payload={"text": text},
            key=outbox.key_for("expired", item.id),
            now=now,
        )


__all__ = ["Expiry"]
