"""Posting to Slack for the outbox: messages, updates, team channels and invitations.

Failures are classified for the dispatcher: passing (tried again later) or permanent.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.cards import Card
from bot.outbox import Item, PermanentError, TransientError
from bot.programmes.teams import CREATE_CHANNEL, INVITE, TeamChannels, team_project
from handlers.slack.views import render_card

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}

# Invitation answers that trying again cannot change and that need nothing done.
SKIPPED_INVITES = {
    "already_in_channel",
    "cant_invite_self",
    "user_not_found",
    "user_is_bot",
    "cant_invite",
    "user_is_restricted",
}


class SlackTransport:
    """The outbox transport for Slack (the Web API through the SDK's client)."""

    def __init__(self, client: AsyncWebClient, teams: TeamChannels | None) -> None:
        self.client = client
        self.teams = teams

    async def deliver(self, item: Item) -> dict[str, Any]:
        """Send one outbox item to Slack; classify failures as passing or permanent."""
        payload = item.payload
        card = Card.from_dict(payload["card"]) if "card" in payload else None
        text = card.fallback if card else str(payload.get("text", ""))
        blocks = render_card(card) if card else None
        try:
            project_id = team_project(item.target)
            if project_id is not None:
                if item.kind == CREATE_CHANNEL:
                    return await self._create_team_channel(project_id, payload)
                # A team's rows wait, in order, until its channel exists.
                item.target = await self._team_channel(project_id)
            if item.kind == INVITE:
                return await self._invite(item.target, payload)
            if item.kind == "update":
                resp = await self.client.chat_update(
                    channel=item.target,
                    ts=item.ts or str(payload.get("ts") or ""),
                    text=text,
                    blocks=blocks,
                )
            else:
                thread_ts = item.thread_ts or payload.get("thread_ts")
                resp = await self.client.chat_postMessage(
                    channel=item.target, text=text, blocks=blocks, thread_ts=thread_ts
                )
        except SlackApiError as exc:
            status = exc.response.status_code
            error = str(exc.response.get("error", ""))
            if status == 429 or status >= 500 or error in TRANSIENT_ERRORS:
                retry_after = exc.response.headers.get("Retry-After") or exc.response.headers.get(
                    "retry-after"
                )
                raise TransientError(
                    f"slack {status} {error}", float(retry_after) if retry_after else None
                ) from exc
            raise PermanentError(f"slack {error or status}") from exc
        except (TimeoutError, ClientError, OSError) as exc:
            raise TransientError(f"slack network {type(exc).__name__}") from exc
        return {"ts": resp.get("ts"), "channel": resp.get("channel")}

    async def _team_channel(self, project_id: int) -> str:
        channel = await self.teams.channel_of(project_id) if self.teams is not None else None
        if channel is None:
            raise TransientError(f"team channel of project {project_id} not created yet")
        return channel

    async def _create_team_channel(
        self, project_id: int, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """conversations.create, or the existing channel of that name (a retry after a
        crash, or a channel someone made by hand); its id is recorded on the project."""
        if self.teams is None:
            raise TransientError("team channels are not configured")
        existing = await self.teams.channel_of(project_id)
        if existing is not None:
            return {"channel": existing}
        name = str(payload["name"])
        try:
            resp = await self.client.conversations_create(
                name=name, is_private=bool(payload.get("private"))
            )
            channel_id = str(resp["channel"]["id"])
        except SlackApiError as exc:
            if exc.response.get("error") != "name_taken":
                raise
            found = await self._find_channel(name)
            if found is None:
                raise PermanentError("slack name_taken by a channel the bot cannot see") from exc
            channel_id = found
        await self.teams.record_channel(project_id, channel_id, name)
        log.info("slack: team channel ready for project %d", project_id)
        return {"channel": channel_id}

    async def _find_channel(self, name: str) -> str | None:
        cursor: str | None = None
        while True:
            resp = await self.client.conversations_list(
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=200,
                cursor=cursor,
            )
            channels: list[dict[str, Any]] = resp.get("channels", [])
            for channel in channels:
                if channel.get("name") == name:
                    if not channel.get("is_member") and not channel.get("is_private"):
                        await self.client.conversations_join(channel=channel["id"])
                    return str(channel["id"])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None

    async def _invite(self, channel: str, payload: dict[str, Any]) -> dict[str, Any]:
        """conversations.invite for listed users and user-group members; someone already
        in the channel, or who cannot be invited, does not hold up the rest."""
        users = [str(u) for u in payload.get("users") or []]
        for group in payload.get("usergroups") or []:
            resp = await self.client.usergroups_users_list(usergroup=group)
            members: list[str] = resp.get("users", [])
            users += [str(u) for u in members]
        users = list(dict.fromkeys(u for u in users if u))
        if users:
            try:
                resp = await self.client.conversations_invite(
                    channel=channel, users=",".join(users), force=True
                )
                skipped = len(resp.get("errors") or [])
            except SlackApiError as exc:
                if exc.response.get("error") not in SKIPPED_INVITES:
                    raise
                skipped = len(users)
            if skipped:
                log.info("slack: %d of %d invitations skipped", skipped, len(users))
        return {"channel": channel}
