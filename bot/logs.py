"""Logging set-up. Log ids and event types, never names, free text or LINE ids.

Our own code logs ids and event types only. Libraries are less careful: slack_bolt
logs whole request bodies (a bad signature, an unhandled request), SQLAlchemy puts
statement parameters in its exception texts, and an exception's text can hold any
value it was raised about. Every record that reaches a handler set up here passes
through `PrivacyFilter`, which keeps the record but drops those parts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import UTC, datetime

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Libraries that log statement parameters or request bodies at debug or info level.
LIBRARIES = ("aiosqlite", "sqlalchemy", "linebot", "slack_bolt", "slack_sdk", "psycopg")

# A LINE user, group or room id: U/C/R and 32 hex digits.
_LINE_ID = re.compile(r"\b[UCR][0-9a-f]{32}\b")
# What follows "body:" (slack_bolt's "(signature: …, timestamp: …, body: …)") or a
# request body dumped in an "Unhandled request (…)" warning.
_BODY = re.compile(r"(\bbody\b\s*[:=]\s*).*", re.IGNORECASE | re.DOTALL)
_UNHANDLED = re.compile(r"(Unhandled request\s*)\(.*", re.DOTALL)
# SQLAlchemy's "[parameters: …]" (and a statement's literal values in "[SQL: …]").
_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\s*$|\s*\n|\s*\(Background)", re.DOTALL)
_SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
# Japanese phone numbers (090-1234-5678, 03 1234 5678, +81 90…); not dates or ids.
_PHONE = re.compile(r"(?<![\w-])(?:\+81[- ]?|0)\d{1,4}[- ]?\d{1,4}[- ]?\d{4}(?![\w-])")
# Key = value pairs of form-encoded bodies (Slack's payload=…, text=…).
_FORM = re.compile(r"\b(payload|text|user_name|response_url|trigger_id)=[^&\s]*")


def ref(value: str) -> str:
    """A stable, short, one-way reference to an id (e.g. a LINE user id) for logs."""
    return "ref:" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]


def scrub(text: str) -> str:
    """Text with request bodies, SQL parameters, LINE ids, e-mails and phones removed."""
    # Each pattern runs only where a plain substring says it could match: most records
    # ("outbox: sent line push #12") pass through at the cost of a few `in` tests.
    if "Unhandled request" in text:
        text = _UNHANDLED.sub(r"\1(body withheld)", text)
    if "body" in text or "Body" in text or "BODY" in text:
        text = _BODY.sub(r"\1(withheld)", text)
    if "[parameters: " in text:
        text = _PARAMETERS.sub("[parameters withheld]", text)
        text = _SQL_PARAMETERS.sub("[parameters withheld]", text)
    if "=" in text:
        text = _FORM.sub(r"\1=(withheld)", text)
    if len(text) >= 33:
        text = _LINE_ID.sub(lambda m: ref(m.group(0)), text)
    if "@" in text:
        text = _EMAIL.sub("(e-mail withheld)", text)
    if "0" in text or "+81" in text:
        text = _PHONE.sub("(number withheld)", text)
    return text


class PrivacyFilter(logging.Filter):
    """Rewrite a record so that what is written holds no body, parameter or LINE id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_tsunagu_scrubbed", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format string: keep the template only
            message = str(record.msg)
        record.msg, record.args = scrub(message), None
        if record.exc_info and record.exc_info[1] is not None:
            # The traceback's last line is the exception's text (SQLAlchemy puts the
            # parameters there): format it once, scrubbed; formatters reuse exc_text.
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        record._tsunagu_scrubbed = True
        return True


def private_handler(handler: logging.Handler) -> logging.Handler:
    """The handler with the privacy filter and our format (idempotent)."""
    if not any(isinstance(f, PrivacyFilter) for f in handler.filters):
        handler.addFilter(PrivacyFilter())
    handler.setFormatter(logging.Formatter(FORMAT))
    return handler


def quiet_libraries() -> None:
    """Keep library loggers (and their children made so far) at warning or above.

    slack_bolt gives each of its classes its own logger ("slack_bolt.RequestVerification")
    and sets that logger's level from the root's when the app is built; a level set
    on "slack_bolt" alone is then overridden by the child's own level. Children are
    set here too, and the Slack adapter builds Bolt with a base logger at warning.
    """
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.split(".", 1)[0] in LIBRARIES:
            logger.setLevel(max(logger.level, logging.WARNING))


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
        if record.exc_text:  # already scrubbed by the privacy filter
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send logs to stderr once, at the level given, as text or JSON lines (`fmt`), through
    the privacy filter."""
    root = logging.getLogger()
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(FORMAT)
    ours: list[logging.Handler] = [h for h in root.handlers if getattr(h, "_tsunagu", False)]
    if not ours:
        handler = private_handler(logging.StreamHandler())
        handler._tsunagu = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        ours = [handler]
    for each in ours:
        each.setFormatter(formatter)
    root.setLevel(level.upper())
    quiet_libraries()
