"""A progress line for long CLI work (demo load, programme import): stderr, terminals only.

Piped or redirected output (scripts, cron, CI logs) stays clean: nothing is written
unless stderr is a terminal. The line names steps ("volunteers", "phases"), never the
people or texts being loaded.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

# What a long operation calls after each step: (steps done, steps in all, what it is doing).
ProgressFn = Callable[[int, int, str], None]

BAR_WIDTH = 24


class Progress:
    """Draw `label [#####.....] done/total step` on one line, redrawn in place."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._width = 0

    def __call__(self, done: int, total: int, step: str) -> None:
        """Show that `done` of `total` steps are done, the current one being `step`."""
        if not self.enabled:
            return
        total = max(total, 1)
        done = min(max(done, 0), total)
        filled = BAR_WIDTH * done // total
        line = f"{self.label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} {step}"
        # Pad over a longer previous line so no characters are left behind.
        self.stream.write("\r" + line.ljust(self._width))
        self._width = max(self._width, len(line))
        self.stream.flush()

    def close(self) -> None:
        """End the progress line, so what follows starts on a fresh line."""
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
