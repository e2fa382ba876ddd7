"""Observability: `/metrics` after real traffic, JSON logs without personal data."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import line_events as le
from tests.conftest import COORDINATOR_CHANNEL_ID
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import (
    COORDINATORS,
    HTTP,
    SECRET,
    SLACK_SECRET,
    SLACK_TOKEN,
    TOKEN,
    AppServer,
    LineUser,
    SlackUser,
    make_settings,
    scalar,
    submit_group_request,
)
from tests.test_fanout_crash import Server

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """GET /metrics and parse it with prometheus-client's own parser."""
    response = HTTP.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when the series does not exist yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Wait for a condition (polling, no fixed sleep); return its first truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def app(database_url: str, fake_line: FakeLineApi, fake_slack: FakeSlackApi) -> Any:
    """LINE and Slack on their fakes; a failed push is given up after two attempts."""
    settings = make_settings(
        database_url,
        fake_line.base_url,
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET=SLACK_SECRET,
        SLACK_API_BASE_URL=fake_slack.base_url,
        SLACK_COORDINATOR_CHANNEL=COORDINATOR_CHANNEL_ID,
        SLACK_COORDINATOR_IDS=",".join(COORDINATORS),
        TSUNAGU_OUTBOX_BASE_DELAY="0.05",
        TSUNAGU_OUTBOX_MAX_ATTEMPTS="2",
    )
    with AppServer(settings) as server:
        yield server


def test_metrics_count_webhooks_outbox_dead_letters_budget_and_leader(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    fake_line.set_quota(1000, 120)
    before = scrape(app.url)

    # A group asks for help in LINE; its card reaches the coordinators in Slack.
    group = LineUser(app, fake_line)
    submit_group_request(group)
    fake_slack.wait_for(lambda: fake_slack.messages(COORDINATOR_CHANNEL_ID))
    # A coordinator accepts it while LINE fails: the notice to the group is given up.
    fake_line.fail_next(10, 500, path_prefix="/v2/bot/message/push")
    coordinator = SlackUser(app, fake_slack, COORDINATORS[0], "coordinators")
    coordinator.click("受け付ける")
    assert coordinator.command("quota").status_code == 200
    until(lambda: scalar(database_url, "SELECT count(*) FROM outbox WHERE status = 'dead'") == 1)

    after = until(
        lambda: (s := scrape(app.url)) and value(s, "tsunagu_scheduler_leader") == 1 and s
    )

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    line_events = {
        kind: grew("tsunagu_webhook_events_total", platform="line", type=kind)
        for kind in ("follow", "message", "postback")
    }
    assert line_events["follow"] == 1
    assert line_events["message"] >= 5 and line_events["postback"] >= 1
    # One event per webhook request, and every request timed.
    assert sum(line_events.values()) == grew(
        "tsunagu_webhook_duration_seconds_count", platform="line"
    )
    assert grew("tsunagu_webhook_events_total", platform="slack", type="block_actions") == 1
    assert grew("tsunagu_webhook_events_total", platform="slack", type="slash_command") == 1
    assert grew("tsunagu_webhook_duration_seconds_count", platform="slack") == 2
    assert value(after, "tsunagu_webhook_duration_seconds_bucket", platform="line", le="+Inf") > 0
    # Read from the database and LINE at scrape time.
    assert value(after, "tsunagu_outbox_dead_letters") == 1
    assert value(after, "tsunagu_outbox_messages", state="dead") == 1
    assert value(after, "tsunagu_outbox_messages", state="pending") >= 0
    assert value(after, "tsunagu_line_budget_limit") == 1000
    assert value(after, "tsunagu_line_budget_used") >= 120
    # Labels carry types and states only: nothing a person wrote or a LINE id.
    text = HTTP.get(f"{app.url}/metrics").text
    assert group.user_id not in text and "こども未来塾" not in text


def test_json_logs_are_one_object_a_line_without_personal_data(
    database_url: str, fake_line: FakeLineApi, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    extra = {"TSUNAGU_LOG_FORMAT": "json", "TSUNAGU_LOG_LEVEL": "INFO"}
    server = Server(database_url, fake_line.base_url, tmp_path, log, extra=extra)
    try:
        shim = type("Url", (), {"url": f"http://127.0.0.1:{server.port}"})()
        person = LineUser(shim, fake_line)  # type: ignore[arg-type]
        person.follow()
        person.tap("ボランティアとして登録")
        person.say("山田 花子")
        person.say("hanako@example.com 090-1234-5678")
        # A bad signature is logged (as a warning, by type only).
        body = le.payload([le.text(person.user_id, "0" * 32, "山田 花子")])
        bad = HTTP.post(
            f"{shim.url}/line/webhook",
            content=body,
            headers=le.webhook_headers(body, "not-the-secret"),
        )
        assert bad.status_code == 401
    finally:
        server.stop()
    lines = [line for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "pid", "message"} <= set(r) for r in records)
    messages = [r["message"] for r in records]
    assert any(m.startswith("Tsunagu is up") for m in messages)
    assert any(r["logger"].startswith("uvicorn") for r in records)  # the server's own too
    assert any("bad signature" in m for m in messages)
    for secret in ("山田", "花子", "hanako@example.com", "090-1234-5678", person.user_id, TOKEN):
        assert secret not in log.read_text(encoding="utf-8")


@pytest.mark.slow
def test_metrics_add_up_over_worker_processes(
    database_url: str, fake_line: FakeLineApi, tmp_path: Path
) -> None:
    """Under --workers 2 every scrape, whichever worker answers, counts all the events."""
    log = tmp_path / "server.log"
    extra = {"TSUNAGU_WORKERS": "2"}
    server = Server(database_url, fake_line.base_url, tmp_path, log, extra=extra)
    try:
        url = f"http://127.0.0.1:{server.port}"
        people = 12
        # Fresh connections, so the kernel hands the webhooks to either worker.
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(limits=fresh, timeout=30) as client:
            answers: list[int] = []

            def follow(n: int) -> None:
                body = le.payload([le.follow(le.new_user_id(f"metrics-{n}"), uuid.uuid4().hex)])
                headers = le.webhook_headers(body, SECRET)
                answers.append(
                    client.post(f"{url}/line/webhook", content=body, headers=headers).status_code
                )

            threads = [threading.Thread(target=follow, args=(n,)) for n in range(people)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert answers == [200] * people
            for _ in range(6):
                samples = scrape(url)
                counted = value(
                    samples, "tsunagu_webhook_events_total", platform="line", type="follow"
                )
                assert counted == people
                timed = value(samples, "tsunagu_webhook_duration_seconds_count", platform="line")
                assert timed == people

        def leaders() -> dict[str, float] | None:
            found = {
                dict(labels).get("pid", ""): v
                for (name, labels), v in scrape(url).items()
                if name == "tsunagu_scheduler_leader"
            }
            # One series per live worker; exactly one of them runs the calendar.
            return found if len(found) == 2 and sum(found.values()) == 1 else None

        assert all(until(leaders, timeout=30))
    finally:
        server.stop()
