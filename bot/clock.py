"""A clock that can run ahead of the wall clock: the sandbox's fast-forward control."""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.base import utcnow


class ShiftableClock:
    """The wall clock plus an offset that only grows (the programme calendar's time)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward (never back); return the new time."""
        if delta > timedelta(0):
            self.offset += delta
        return self()
