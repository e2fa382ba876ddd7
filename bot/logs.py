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
    # Libraries that log statement parameters or request bodies at debug level would
    # put names, messages and LINE ids in the log: they stay at warning whatever our level.
    for name in ("aiosqlite", "sqlalchemy", "linebot", "slack_bolt", "slack_sdk", "psycopg"):
        logging.getLogger(name).setLevel(logging.WARNING)
