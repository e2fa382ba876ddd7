"""A version number the sandbox page waits on: every recorded call bumps it."""

from __future__ import annotations

import asyncio
import contextlib


class Changes:
    """Counts changes and wakes long-polling readers (one event loop, no threads)."""

    def __init__(self) -> None:
        self.version = 0
        self._event: asyncio.Event | None = None
        self.closing = False

    def bump(self) -> None:
        """Something the page shows has changed."""
        self.version += 1
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, since: int, wait_s: float) -> int:
        """Return the version once it differs from ``since`` or ``wait_s`` seconds pass."""
        if self.version != since or self.closing:
            return self.version
        if self._event is None:
            self._event = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), wait_s)
        return self.version

    def close(self) -> None:
        """Release every waiter (the server is stopping)."""
        self.closing = True
        self.bump()
