"""No personal data in the logs: request bodies, SQL parameters and LINE ids stay out of
what the app writes, with the app at INFO (its default) and over real HTTP.

(tests/conftest.py also scans every record of the whole run.)
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import private_handler, ref, scrub
from tests import line_events as le
from tests import slack_requests as sr
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import COORDINATORS, HTTP, SECRET, SLACK_SECRET, AppServer, LineUser

GROUP, TEXT, PHONE = "ひまわり子ども食堂", "ひみつの相談内容です", "090-8765-4321"


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """What the app's own stderr handler would write during the test."""
    buffer = io.StringIO()
    handler = private_handler(logging.StreamHandler(buffer))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)


def test_slack_bodies_never_reach_the_log(
    slack_app: AppServer, fake_slack: FakeSlackApi, written: io.StringIO
) -> None:
    url = f"{slack_app.url}/slack/events"
    body = sr.slash_command(COORDINATORS[0], "/tsunagu", f"progress {GROUP} {TEXT} {PHONE}")
    # A bad signature: refused (and once logged with the whole body by slack_bolt).
    assert HTTP.post(url, content=body, headers=sr.signed(body, "wrong")).status_code == 401
    # A signed click no listener handles: slack_bolt warns "Unhandled request (body)".
    click = sr.block_actions(
        COORDINATORS[0], "no_such_action", f"{GROUP} {PHONE}", "C0COORDS01", sr.new_ts()
    )
    assert HTTP.post(url, content=click, headers=sr.signed(click, SLACK_SECRET)).status_code in (
        200,
        404,
    )
    bolt = logging.getLogger("slack_bolt.RequestVerification")
    assert bolt.getEffectiveLevel() >= logging.WARNING
    log = written.getvalue()
    assert "refused" in log  # the refusals are logged, by what happened only
    for secret in (GROUP, TEXT, PHONE, "payload="):
        assert secret not in log


def test_a_failed_insert_logs_no_parameters(
    app: AppServer, fake_line: FakeLineApi, written: io.StringIO, database_url: str
) -> None:
    user = LineUser(app, fake_line)
    # A webhookEventId longer than the column (PostgreSQL refuses the insert), beside
    # an ordinary event: whatever the answer, the log holds neither text nor LINE id.
    odd = le.text(user.user_id, user.token(), f"{TEXT} {PHONE}")
    odd["webhookEventId"] = "E" * 100
    body = le.payload([odd, le.text(user.user_id, user.token(), TEXT)])
    response = HTTP.post(
        f"{app.url}/line/webhook", content=body, headers=le.webhook_headers(body, SECRET)
    )
    assert response.status_code < 600
    assert HTTP.get(f"{app.url}/healthz").status_code == 200
    log = written.getvalue()
    for secret in (TEXT, PHONE, user.user_id, "[parameters:"):
        assert secret not in log


def test_the_filter_drops_bodies_parameters_and_ids() -> None:
    line_id = "U" + "0123456789abcdef" * 2
    sqlalchemy_error = (
        "(psycopg.errors.StringDataRightTruncation) value too long\n"
        "[SQL: INSERT INTO inbound_events (channel, event_id) VALUES (%(channel)s, %(e)s)]\n"
        f"[parameters: {{'user_key': '{line_id}', 'payload': {{'text': '{TEXT}'}}}}]\n"
        "(Background on this error at: https://sqlalche.me/e/20/9h9h)"
    )
    cleaned = scrub(sqlalchemy_error)
    assert TEXT not in cleaned and line_id not in cleaned and "[parameters withheld]" in cleaned
    bolt = f"Invalid request signature detected (signature: v0=1, timestamp: 1, body: text={GROUP})"
    assert GROUP not in scrub(bolt) and "body: (withheld)" in scrub(bolt)
    assert scrub(f"push to {line_id} failed") == f"push to {ref(line_id)} failed"
    assert ref(line_id) == ref(line_id) and line_id not in ref(line_id)
    assert PHONE not in scrub(f"call {PHONE}") and "a@b.jp" not in scrub("mail a@b.jp")
    # Ids, counts and dates stay readable.
    kept = "outbox: sent line push #12 at 2026-12-04 16:08:31 (event 01HXYZ)"
    assert scrub(kept) == kept
