"""Logging set-up. Log ids and event types, never names, free text or LINE ids."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Send logs to stderr once, at the level given."""
    root = logging.getLogger()
    if not any(getattr(h, "_tsunagu", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._tsunagu = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())
    # The SDK logs the full signature of a rejected webhook and unknown event types;
    # keep those at warning.
    logging.getLogger("linebot").setLevel(logging.WARNING)
