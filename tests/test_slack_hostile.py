"""Slack requests under attack, over real HTTP: refused before parsing, by size, replays
with one effect, and every refusal audited."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator

import httpx

from bot.coordination import ACCEPT, ASK
from tests import line_events as le
from tests import slack_requests as sr
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import (
    COORDINATORS,
    HTTP,
    OUTSIDER,
    SECRET,
    SLACK_SECRET,
    AppServer,
    LineUser,
    SlackUser,
    query,
    scalar,
    submit_group_request,
)
from tests.test_slack_coordination import CHANNEL, group_pushes, wait_card, wait_decided


def post(app: AppServer, body: bytes | str, headers: dict[str, str]) -> httpx.Response:
    return HTTP.post(f"{app.url}/slack/events", content=body, headers=headers, timeout=30)


def healthy(app: AppServer) -> bool:
    return HTTP.get(f"{app.url}/healthz", timeout=10).status_code == 200


# ---------------------------------------------------------------- item 3: the gate


def test_bad_timestamp_bad_bytes_and_huge_bodies_get_4xx(
    slack_app: AppServer, fake_slack: FakeSlackApi, database_url: str
) -> None:
    app = slack_app
    click = sr.block_actions(COORDINATORS[0], ACCEPT, "1:1", "C0COORDS01", sr.new_ts())
    # A click signed correctly, but over a timestamp that is not a number.
    headers = sr.signed(click, SLACK_SECRET)
    headers["X-Slack-Request-Timestamp"] = "abc"
    headers["X-Slack-Signature"] = sr.signature(click, SLACK_SECRET, "abc")
    assert post(app, click, headers).status_code == 401
    # Three bytes that are not UTF-8 (Slack sends UTF-8 only): 400, signed or not.
    raw = b"\xff\xfe\xfd"
    wrong = sr.signed(b"abc", SLACK_SECRET)
    assert post(app, raw, wrong).status_code == 400
    ts = int(time.time())
    right = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sr.signature(raw, SLACK_SECRET, ts),
    }
    assert post(app, raw, right).status_code == 400
    # A signed body Bolt cannot parse.
    broken = "payload=%7Bnot-json"
    assert post(app, broken, sr.signed(broken, SLACK_SECRET)).status_code == 400
    # 5 MB of random bytes with a wrong signature: refused by size.
    big = os.urandom(5 * 1024 * 1024)
    response = post(app, big, wrong)
    assert response.status_code == 413
    # The same without a Content-Length (chunked): read only up to the limit.

    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield os.urandom(1024 * 1024)

    chunked = HTTP.post(f"{app.url}/slack/events", content=chunks(), headers=wrong, timeout=30)
    assert chunked.status_code == 413
    # LINE's webhook has the same limit.
    line_big = HTTP.post(
        f"{app.url}/line/webhook",
        content=big,
        headers={"Content-Type": "application/json", "X-Line-Signature": "x"},
        timeout=30,
    )
    assert line_big.status_code == 413
    # Nothing was stored, and the app still answers and acts.
    assert scalar(database_url, "SELECT count(*) FROM inbound_events") == 0
    assert healthy(app)
    response = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL).command("help")
    assert response.status_code == 200 and "/tsunagu" in response.json()["text"]


def test_a_line_body_just_under_the_limit_is_still_read(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    user = LineUser(app, fake_line)
    # Many events in one body (LINE batches them), about 900 KB, signed: accepted.
    events = [le.text(user.user_id, user.token(), "あ" * 1000) for _ in range(250)]
    body = le.payload(events)
    assert 800_000 < len(body) < 1024 * 1024
    response = HTTP.post(
        f"{app.url}/line/webhook",
        content=body,
        headers=le.webhook_headers(body, SECRET),
        timeout=30,
    )
    assert response.status_code == 200
    assert scalar(database_url, "SELECT count(*) FROM inbound_events") == 250


# ---------------------------------------------------------------- item 4: replays


def test_a_replayed_modal_submission_asks_the_group_once(
    slack_app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    app = slack_app
    group = LineUser(app, fake_line)
    submit_group_request(group)
    wait_card(fake_slack)
    coord = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    coord.click("質問する")
    view = fake_slack.wait_for(lambda: coord._last_view(), timeout=10)
    body = sr.view_submission(
        coord.user_id,
        view["callback_id"],
        view.get("private_metadata", ""),
        {"text_block": {"text": "何人くらい参加しますか？"}},
        view=view,
    )
    headers = sr.signed(body, SLACK_SECRET)
    # The same signed bytes twice at once, then once more as Slack's retry.
    start = threading.Barrier(2)
    codes: list[int] = []

    def send() -> None:
        start.wait()
        codes.append(post(app, body, headers).status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert post(app, body, {**headers, **sr.retry_headers(1)}).status_code == 200
    assert codes == [200, 200]
    fake_line.wait_for(lambda: group_pushes(fake_line, group), timeout=10)
    fake_line.wait_for(
        lambda: scalar(database_url, "SELECT count(*) FROM outbox WHERE status = 'pending'") == 0,
        timeout=10,
    )
    assert scalar(database_url, "SELECT count(*) FROM project_questions") == 1
    asked = [t for t in group_pushes(fake_line, group) if "何人くらい参加しますか" in t]
    assert len(asked) == 1
    # A new question in a new modal still goes through.
    coord.click("質問する")
    fake_slack.wait_for(lambda: len(fake_slack.views_opened()) == 2, timeout=10)
    assert coord.submit("活動場所はどこですか？").status_code == 200
    fake_line.wait_for(lambda: len(group_pushes(fake_line, group)) == 2, timeout=10)
    assert scalar(database_url, "SELECT count(*) FROM project_questions") == 2


def test_a_modal_sent_back_with_errors_can_be_sent_again(
    slack_app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    app = slack_app
    group = LineUser(app, fake_line)
    submit_group_request(group)
    wait_card(fake_slack)
    coord = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    coord.click("見送る")
    view = fake_slack.wait_for(lambda: coord._last_view(), timeout=10)
    empty = sr.view_submission(
        coord.user_id, view["callback_id"], view.get("private_metadata", ""), view=view
    )
    for _ in range(2):  # the same empty form twice: the error both times
        response = post(app, empty, sr.signed(empty, SLACK_SECRET))
        assert response.json()["response_action"] == "errors"
    assert coord.submit("対象地域外のため", view=view).status_code == 200
    fake_line.wait_for(lambda: group_pushes(fake_line, group), timeout=10)
    assert scalar(database_url, "SELECT status FROM projects") == "declined"


def test_a_replayed_click_decides_once_and_says_nothing_twice(
    slack_app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    app = slack_app
    group = LineUser(app, fake_line)
    submit_group_request(group)
    wait_card(fake_slack)
    found = fake_slack.find_button(CHANNEL, "受け付ける")
    body = sr.block_actions(
        COORDINATORS[0],
        found.action_id,
        found.value,
        found.channel_id,
        found.message_ts,
        message=found.message,
    )
    headers = sr.signed(body, SLACK_SECRET)
    codes = [post(app, body, headers).status_code for _ in range(3)]
    codes.append(post(app, body, {**headers, **sr.retry_headers(1)}).status_code)
    assert codes == [200, 200, 200, 200]
    wait_decided(fake_slack)
    fake_line.wait_for(lambda: group_pushes(fake_line, group), timeout=10)
    fake_line.wait_for(
        lambda: scalar(database_url, "SELECT count(*) FROM outbox WHERE status = 'pending'") == 0,
        timeout=10,
    )
    assert scalar(database_url, "SELECT count(*) FROM audit_log WHERE action = 'accept'") == 1
    assert len(group_pushes(fake_line, group)) == 1
    # A replay is not a second click: nobody is told "already decided".
    assert fake_slack.ephemerals(COORDINATORS[0]) == []
    # The same button clicked for real again (a new action_ts) is answered as usual.
    again = sr.block_actions(
        COORDINATORS[0], found.action_id, found.value, found.channel_id, found.message_ts
    )
    assert post(app, again, sr.signed(again, SLACK_SECRET)).status_code == 200
    told = fake_slack.wait_for(lambda: fake_slack.ephemerals(COORDINATORS[0]), timeout=10)
    assert "すでに" in told[0]["text"]


def test_a_replayed_command_runs_once(
    slack_app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    app = slack_app
    body = sr.slash_command(COORDINATORS[0], "/tsunagu", "projects", "C0COORDS01")
    headers = sr.signed(body, SLACK_SECRET)
    first = post(app, body, headers)
    assert first.status_code == 200 and first.json()["text"]
    second = post(app, body, headers)
    assert second.status_code == 200 and second.content == b""
    kinds = query(database_url, "SELECT kind FROM inbound_events WHERE channel = 'slack'")
    assert kinds == [("command",)]


# ---------------------------------------------------------------- item 9: refusals audited


def test_every_refusal_is_audited_without_what_was_typed(
    slack_app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    app = slack_app
    group = LineUser(app, fake_line)
    submit_group_request(group)
    wait_card(fake_slack)
    outsider = SlackUser(app, fake_slack, OUTSIDER, CHANNEL)
    outsider.click("受け付ける")
    outsider.click("質問する")
    found = fake_slack.find_button(CHANNEL, "質問する")
    forged = sr.view_submission(
        OUTSIDER,
        "ask_question",
        f"{found.value.split(':')[0]}|C0COORDS01",
        {"text_block": {"text": "秘密の質問 090-1234-5678"}},
    )
    assert post(app, forged, sr.signed(forged, SLACK_SECRET)).status_code == 200
    assert "コーディネーターのみ" in outsider.command("projects").json()["text"]
    assert "コーディネーターのみ" in outsider.command("log 1").json()["text"]
    fake_slack.wait_for(lambda: len(fake_slack.ephemerals(OUTSIDER)) == 3, timeout=10)
    # The answers are acknowledged before the refusals are written (Slack's 3 s): wait for
    # the five audit rows, not for the answers alone.
    refused = "SELECT count(*) FROM audit_log WHERE action = 'refused'"
    fake_slack.wait_for(lambda: scalar(database_url, refused) == 5, timeout=10)
    rows = query(
        database_url,
        "SELECT actor, subject_type, detail, at FROM audit_log WHERE action = 'refused' "
        "ORDER BY id",
    )
    seen = [
        (actor, kind, (json.loads(d) if isinstance(d, str) else d)["what"])
        for actor, kind, d, _ in rows
    ]
    assert sorted(seen) == sorted(
        [
            (OUTSIDER, "block_actions", ACCEPT),
            (OUTSIDER, "block_actions", ASK),
            (OUTSIDER, "view_submission", "ask_question"),
            (OUTSIDER, "command", "/tsunagu projects"),
            (OUTSIDER, "command", "/tsunagu log"),
        ]
    )
    assert all(at is not None for *_, at in rows)
    everything = json.dumps([list(map(str, r)) for r in rows], ensure_ascii=False)
    assert "秘密" not in everything and "090-1234-5678" not in everything
    # Nothing was decided or asked.
    assert scalar(database_url, "SELECT status FROM projects") == "submitted"
    assert scalar(database_url, "SELECT count(*) FROM project_questions") == 0
    assert group_pushes(fake_line, group) == []
