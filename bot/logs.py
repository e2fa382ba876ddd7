"""Logging set-up. Log ids and event types, never names, free text or LINE ids."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, process, message, exception.

    It writes the same message as the text format, so it carries no more than it does:
    ids and event types (the `extra` fields of a record are not copied).
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single line of JSON."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send logs to stderr once, at the level given, as text or JSON lines (`fmt`)."""
    root = logging.getLogger()
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(FORMAT)
    ours: list[logging.Handler] = [h for h in root.handlers if getattr(h, "_tsunagu", False)]
    if not ours:
        handler = logging.StreamHandler()
        handler._tsunagu = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        ours = [handler]
    for each in ours:
        each.setFormatter(formatter)
    root.setLevel(level.upper())
    # Libraries that log statement parameters or request bodies at debug level would
    # put names, messages and LINE ids in the log: they stay at warning whatever our level.
    for name in ("aiosqlite", "sqlalchemy", "linebot", "slack_bolt", "slack_sdk", "psycopg"):
        logging.getLogger(name).setLevel(logging.WARNING)
