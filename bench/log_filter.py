"""What the privacy filter (bot/logs.py) costs per log record written.

Writes the same records through a stderr-like handler twice in one run: plainly (the
baseline: format and write) and with the privacy filter, and prints microseconds per
record for each kind of record the app writes.

    .venv/bin/python bench/log_filter.py [--records 20000]
"""

from __future__ import annotations

import argparse
import io
import logging
import time

from bot.logs import FORMAT, private_handler

LINE_ID = "U" + "0123456789abcdef" * 2
RECORDS = {
    "outbox sent (most common)": ("bot.outbox", "outbox: sent %s %s #%d", ("line", "push", 123)),
    "inbox event failed": (
        "bot.inbox",
        "inbox: event %s (%s) failed",
        ("01HXYZABCDEFGHJKMNPQRSTVWX", "text"),
    ),
    "bolt unhandled request": (
        "slack_bolt.App",
        "Unhandled request (%s)",
        ('payload={"type":"block_actions","user":{"id":"U0X"},"actions":[{"value":"x"}]}',),
    ),
    "sqlalchemy error text": (
        "bot.inbox",
        "could not store: %s",
        (f"value too long [SQL: INSERT ...] [parameters: {{'user_key': '{LINE_ID}'}}]",),
    ),
}


def per_record(
    handler: logging.Handler, name: str, msg: str, args: tuple[object, ...], n: int
) -> float:
    logger = logging.getLogger(f"bench.{name}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    start = time.perf_counter()
    for _ in range(n):
        logger.info(msg, *args)
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=20000)
    n = p.parse_args().records
    print(f"{'record':28} {'baseline µs':>12} {'filtered µs':>12} {'added µs':>9}")
    for label, (name, msg, args) in RECORDS.items():
        plain = logging.StreamHandler(io.StringIO())
        plain.setFormatter(logging.Formatter(FORMAT))
        filtered = private_handler(logging.StreamHandler(io.StringIO()))
        base = per_record(plain, name, msg, args, n)
        with_filter = per_record(filtered, name, msg, args, n)
        print(f"{label:28} {base:12.1f} {with_filter:12.1f} {with_filter - base:9.1f}")


if __name__ == "__main__":
    main()
