"""Waiting on a fake platform without spinning: a test's `wait_for` wakes as soon as the
fake records a request, and otherwise looks again after a pause that grows (5 ms, 10 ms,
... 50 ms) for conditions on other things (the database). Polling every 5 ms, a waiting
test's predicates (copies of the fake's messages, database queries) took a good part of
a core from the app they wait for."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

LONGEST_PAUSE = 0.05


class Changes:
    """A counter of what a fake recorded, which waiters can sleep on."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._count = 0

    def bump(self) -> None:
        """Something arrived: wake every waiter."""
        with self._condition:
            self._count += 1
            self._condition.notify_all()

    @property
    def count(self) -> int:
        with self._condition:
            return self._count

    def _changed_since(self, seen: int, timeout: float) -> bool:
        """Sleep until the count differs from `seen` (True) or `timeout` passes (False)."""
        with self._condition:
            return self._condition.wait_for(lambda: self._count != seen, timeout=timeout)

    def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float,
        interval: float,
        summary: Callable[[], str],
    ) -> Any:
        """Return `predicate()` once truthy; raise TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        pause = interval
        while True:
            seen = self.count
            value = predicate()
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"condition not met within {timeout}s; {summary()}")
            if not self._changed_since(seen, min(pause, left)):
                pause = min(pause * 2, max(interval, LONGEST_PAUSE))

    async def wait_for_async(
        self,
        predicate: Callable[[], Any],
        timeout: float,
        interval: float,
        summary: Callable[[], str],
    ) -> Any:
        """Like `wait_for`, sleeping with asyncio (the event loop keeps running)."""
        deadline = time.monotonic() + timeout
        pause = interval
        while True:
            seen = self.count
            value = predicate()
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"condition not met within {timeout}s; {summary()}")
            await asyncio.sleep(min(pause, left))
            if self.count == seen:
                pause = min(pause * 2, max(interval, LONGEST_PAUSE))
