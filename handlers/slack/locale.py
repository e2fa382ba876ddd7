"""Which language each Slack reader reads.

A person's private answers (ephemerals, DMs) and the modals they open follow the language
they chose with `/tsunagu lang` (bot.languages), else their own Slack language:
`users.info` with `include_locale`, cached per person. Messages a whole
channel reads follow that channel's setting (SLACK_CHANNEL_LOCALES), else the deployment
default (TSUNAGU_DEFAULT_LOCALE).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

# A person who changes their Slack language sees the new one within this time.
LOCALE_TTL_S = 3600.0
# After a failed look-up, try again only after this (the default is used meanwhile).
FAILED_TTL_S = 60.0


def from_slack(locale: str | None, default: str) -> str:
    """Slack's `ja-JP` / `en-US` / `en-GB`... as ja or en. Another language reads English
    (the closer of the two for someone who chose neither); no locale, the default."""
    if not locale:
        return default
    return "ja" if locale.lower().startswith("ja") else "en"


class SlackLocales:
    """Per-person language from users.info (cached), per-channel language from settings."""

    def __init__(
        self,
        client: AsyncWebClient,
        default: str,
        channel_locale: Callable[[str], str],
        *,
        chosen: Callable[[str], Awaitable[str | None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._chosen = chosen
        self.default = default
        self._channel_locale = channel_locale
        self._clock = clock
        self._people: dict[str, tuple[float, str]] = {}

    def of_channel(self, channel_id: str | None) -> str:
        """The language of messages everyone in this channel reads."""
        return self._channel_locale(channel_id) if channel_id else self.default

    async def of_user(self, user_id: str, channel_id: str | None = None) -> str:
        """The language this person chose, else their Slack language (cached); if Slack
        cannot say, the channel's."""
        if self._chosen is not None:
            chosen = await self._chosen(user_id)
            if chosen:
                return chosen
        fallback = self.of_channel(channel_id)
        now = self._clock()
        cached = self._people.get(user_id)
        if cached is not None and cached[0] > now:
            return cached[1] or fallback
        try:
            resp = await self.client.users_info(user=user_id, include_locale=True)
            user = resp.get("user") or {}
            locale = from_slack(user.get("locale"), "") if isinstance(user, dict) else ""
            self._people[user_id] = (now + LOCALE_TTL_S, locale)
        except (SlackApiError, ClientError, TimeoutError) as exc:
            log.info("slack: could not read a user's locale (%s)", type(exc).__name__)
            self._people[user_id] = (now + FAILED_TTL_S, "")
            return fallback
        return locale or fallback
