"""`GET /metrics`: what an operator watches, in Prometheus's text format.

Two kinds of figures:

* counted in the process that sees them: webhook events by platform and type, and the
  webhook's latency. Under `tsunagu serve --workers N` every worker writes them to files
  in `PROMETHEUS_MULTIPROC_DIR` (the `serve` command makes that folder), and a scrape,
  whichever worker answers it, adds them up over all workers;
* read at scrape time: the outbox's rows by state and its dead letters (from the
  database, so the same whichever worker answers), the LINE message budget (this
  process's latest reading from LINE) and whether this process leads the scheduler
  (under several workers, one series per live worker, labelled `pid`).

No label carries personal data: platforms, event types and states only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.responses import Response

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# Outbox states that are still to be delivered or given up on (sent rows are history).
OUTBOX_STATES = ("pending", "sending", "deferred", "dead")

# The figures counted in this process (in multi-process mode: in this worker's files).
PROCESS = CollectorRegistry()
if not MULTIPROCESS:
    ProcessCollector(registry=PROCESS)

WEBHOOK_EVENTS = Counter(
    "tsunagu_webhook_events",
    "Webhook events received with a valid signature, by platform and event type.",
    ["platform", "type"],
    registry=PROCESS,
)
WEBHOOK_LATENCY = Histogram(
    "tsunagu_webhook_duration_seconds",
    "Time from a webhook request's arrival to the answer (signature check and storage).",
    ["platform"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=PROCESS,
)
SCHEDULER_LEADER = Gauge(
    "tsunagu_scheduler_leader",
    "1 if this process runs the programme calendar (holds the scheduler lease), else 0.",
    registry=PROCESS,
    multiprocess_mode="liveall",
)


# Labelled children, looked up once (a lookup takes the metric's lock each time).
_EVENT_CHILDREN: dict[tuple[str, str], Any] = {}
_LATENCY_CHILDREN: dict[str, Any] = {}


def count_events(platform: str, types: Iterable[str]) -> None:
    """Count webhook events of a platform by their type."""
    for kind in types:
        key = (platform, kind or "unknown")
        child = _EVENT_CHILDREN.get(key)
        if child is None:
            child = _EVENT_CHILDREN[key] = WEBHOOK_EVENTS.labels(*key)
        child.inc()


def slack_request_type(body: dict[str, object]) -> str:
    """The type of a Slack request: an Events API event type, an interaction, a command."""
    if body.get("command"):
        return "slash_command"
    kind = str(body.get("type") or "unknown")
    if kind == "event_callback":
        event = body.get("event")
        if isinstance(event, dict):
            return str(event.get("type") or "unknown")
    return kind


class Timer:
    """Observe how long a webhook request took, per platform."""

    def __init__(self, platform: str) -> None:
        self._platform = platform
        self._start = time.perf_counter()

    def done(self) -> None:
        """Record the time since the timer was made."""
        child = _LATENCY_CHILDREN.get(self._platform)
        if child is None:
            child = _LATENCY_CHILDREN[self._platform] = WEBHOOK_LATENCY.labels(self._platform)
        child.observe(time.perf_counter() - self._start)


@dataclass
class Snapshot:
    """The figures read at scrape time."""

    outbox: dict[str, int] = field(default_factory=dict)
    line_budget_used: int | None = None
    line_budget_limit: int | None = None


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot
        queue = GaugeMetricFamily(
            "tsunagu_outbox_messages",
            "Outbox rows not yet delivered, by state (pending, sending, deferred, dead).",
            labels=["state"],
        )
        for state in OUTBOX_STATES:
            queue.add_metric([state], snap.outbox.get(state, 0))
        yield queue
        yield GaugeMetricFamily(
            "tsunagu_outbox_dead_letters",
            "Messages given up after the last attempt (see /tsunagu outbox).",
            value=snap.outbox.get("dead", 0),
        )
        if snap.line_budget_used is not None:
            yield GaugeMetricFamily(
                "tsunagu_line_budget_used",
                "LINE messages counted against this month's quota (LINE's figure).",
                value=snap.line_budget_used,
            )
        if snap.line_budget_limit is not None:
            yield GaugeMetricFamily(
                "tsunagu_line_budget_limit",
                "This month's LINE message quota (absent when the plan has no limit).",
                value=snap.line_budget_limit,
            )


def exposition(snapshot: Snapshot) -> bytes:
    """The whole scrape: this process's (or all workers') counts, then the snapshot."""
    if MULTIPROCESS:
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
    else:
        counted = PROCESS
    read = CollectorRegistry(auto_describe=False)
    read.register(_SnapshotCollector(snapshot))
    return generate_latest(counted) + generate_latest(read)


def response(snapshot: Snapshot) -> Response:
    """The scrape as an HTTP response."""
    return Response(exposition(snapshot), media_type=CONTENT_TYPE_LATEST)


def process_exited() -> None:
    """Drop this worker's live series (the leader gauge) when it stops."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
