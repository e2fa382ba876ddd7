"""The language a person chose where their platform's setting would otherwise decide.

In Slack a person's language is their Slack locale (`users.info`); `/tsunagu lang en`
keeps a choice that wins over it, in the database so that every process and restart
sees it. Reads are cached briefly: a choice made in another process shows within
CACHE_TTL_S, one made here at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import LOCALES
from storage import repo

CACHE_TTL_S = 60.0


class PersonLanguages:
    """Chosen languages of the people of one channel, read through a short cache."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        channel: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._maker = maker
        self.channel = channel
        self._clock = clock
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def chosen(self, user_key: str) -> str | None:
        """The language this person chose here, or None (their platform's then decides)."""
        key = user_key
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._maker() as session:
            locale = await repo.chosen_language(session, self.channel, user_key)
        self._cache[key] = (now + CACHE_TTL_S, locale)
        return locale

    async def choose(self, user_key: str, locale: str) -> None:
        """Keep this person's choice (one of LOCALES)."""
        if locale not in LOCALES:
            raise ValueError(f"unknown locale {locale!r}")
        async with self._maker.begin() as session:
            await repo.choose_language(session, self.channel, user_key, locale)
        self._cache[user_key] = (self._clock() + CACHE_TTL_S, locale)

    async def forget(self, user_key: str) -> None:
        """Remove this person's choice: their platform's language applies again."""
        async with self._maker.begin() as session:
            await repo.forget_language(session, self.channel, user_key)
        self._cache[user_key] = (self._clock() + CACHE_TTL_S, None)
