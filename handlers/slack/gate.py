"""The coordinator gate: who may act, the polite refusal and its audit, private answers."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.coordination import TXT, Coordination
from handlers.slack.locale import SlackLocales

log = logging.getLogger(__name__)

MEMBERS_TTL_S = 60.0


class CoordinatorGate:
    """Coordinators are listed users or members of listed user groups (SLACK_COORDINATOR_IDS)."""

    def __init__(
        self,
        client: AsyncWebClient,
        locales: SlackLocales,
        coordination: Coordination,
        coordinator_ids: str,
    ) -> None:
        self.client = client
        self.locales = locales
        self.coordination = coordination
        ids = [i.strip() for i in coordinator_ids.split(",") if i.strip()]
        self._users = {i for i in ids if not i.startswith("S")}
        self._groups = [i for i in ids if i.startswith("S")]
        self._members: tuple[float, set[str]] = (0.0, set())

    async def is_coordinator(self, user_id: str) -> bool:
        """A listed user, or a member of the listed user group (cached for a minute)."""
        if user_id in self._users:
            return True
        if not self._groups:
            return False
        fetched_at, members = self._members
        if time.monotonic() - fetched_at > MEMBERS_TTL_S:
            members = set()
            for group in self._groups:
                try:
                    resp = await self.client.usergroups_users_list(usergroup=group)
                    members.update(resp.get("users", []))
                except (SlackApiError, ClientError, TimeoutError) as exc:
                    log.warning("slack: could not read user group members (%s)", type(exc).__name__)
                    members = self._members[1]
                    break
            self._members = (time.monotonic(), members)
        return user_id in members

    async def locale_of(self, user_id: str, channel_id: str | None = None) -> str:
        """The language of what only this person reads (answers, modals)."""
        return await self.locales.of_user(user_id, channel_id)

    async def refuse(self, user_id: str, channel_id: str | None, body: dict[str, Any]) -> None:
        """Tell a non-coordinator politely, and write the refusal to the audit log."""
        await self.record_refusal(user_id, body)
        loc = await self.locale_of(user_id, channel_id)
        await self.tell(user_id, channel_id, TXT.refused(loc))

    async def record_refusal(self, user_id: str, body: dict[str, Any]) -> None:
        """Who tried what (the action, modal or command; never what was typed), and when."""
        kind = str(body.get("type") or "")
        if kind == "block_actions":
            what = str(((body.get("actions") or [{}])[0] or {}).get("action_id", ""))
        elif kind == "view_submission":
            what = str((body.get("view") or {}).get("callback_id", ""))
        else:
            kind = "command"
            words = str(body.get("text") or "").split()
            what = f"{body.get('command', '')} {words[0].lower() if words else 'help'}"
        try:
            await self.coordination.record_refusal(user_id, kind, what[:64])
        except Exception:  # the refusal itself must still be answered
            log.exception("slack: could not audit a refusal")

    async def tell(self, user_id: str, channel_id: str | None, text: str) -> None:
        """Say something only this person sees: ephemeral in the channel, else a DM."""
        if not text:
            return
        try:
            if channel_id:
                await self.client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
                return
        except SlackApiError as exc:
            log.info("slack: ephemeral failed (%s); sending a DM", exc.response.get("error"))
        try:
            await self.client.chat_postMessage(channel=user_id, text=text)
        except (SlackApiError, ClientError, TimeoutError) as exc:
            log.warning("slack: could not tell a user (%s)", type(exc).__name__)
