"""The LINE webhook contract: signatures, exactly-once, order, health."""

from __future__ import annotations

import gc
import json
import time

from tests import line_events as le
from tests.fakes.line_api import FakeLineApi
from tests.support import HTTP, AppServer, LineUser, make_settings, scalar


def test_missing_or_bad_signature_is_refused_and_nothing_is_stored(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    user = LineUser(app, fake_line)
    body = le.payload([le.text(user.user_id, user.token(), "こんにちは")])
    missing = HTTP.post(f"{app.url}/line/webhook", content=body, timeout=5)
    assert missing.status_code == 401
    wrong = user.post([le.text(user.user_id, user.token(), "こんにちは")], secret="not-the-secret")
    assert wrong.status_code == 401
    tampered_headers = le.webhook_headers(body, "test-channel-secret-0123456789abcdef")
    tampered = HTTP.post(
        f"{app.url}/line/webhook",
        content=body.replace("こんにちは".encode(), "さようなら".encode()),
        headers=tampered_headers,
        timeout=5,
    )
    assert tampered.status_code == 401
    app.settle()
    assert scalar(database_url, "SELECT count(*) FROM inbound_events") == 0
    assert scalar(database_url, "SELECT count(*) FROM conversations") == 0
    assert fake_line.requests == []


def test_signed_but_malformed_body_gets_400(app: AppServer, fake_line: FakeLineApi) -> None:
    from tests.support import SECRET

    body = b'{"destination": "U0", "events": [ this is not json'
    response = HTTP.post(
        f"{app.url}/line/webhook", content=body, headers=le.webhook_headers(body, SECRET)
    )
    assert response.status_code == 400
    body = json.dumps({"destination": "U0"}).encode()
    response = HTTP.post(
        f"{app.url}/line/webhook", content=body, headers=le.webhook_headers(body, SECRET)
    )
    assert response.status_code == 400


def test_line_verification_request_with_no_events_is_ok(
    app: AppServer, fake_line: FakeLineApi
) -> None:
    user = LineUser(app, fake_line)
    assert user.post([]).status_code == 200


def test_redelivered_event_takes_effect_once(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    user = LineUser(app, fake_line)
    user.follow()
    event = le.text(user.user_id, user.token(), "こんにちは")
    user.send(event)
    again = le.redelivered(event)
    assert user.post([again]).status_code == 200
    assert user.post([event, event]).status_code == 200  # the same id twice in one body
    app.settle()
    token = event["replyToken"]
    assert sum(1 for r in fake_line.replies if r["replyToken"] == token) == 1
    assert scalar(database_url, "SELECT count(*) FROM inbound_events") == 2
    assert fake_line.errors == []


def test_events_in_one_body_are_applied_in_timestamp_order(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    user = LineUser(app, fake_line)
    user.follow()
    user.tap("ボランティアとして登録")
    now = int(time.time() * 1000)
    first = le.text(user.user_id, user.token(), "さくら", timestamp=now)
    second = le.text(user.user_id, user.token(), "横浜市", timestamp=now + 1)
    assert user.post([second, first]).status_code == 200  # delivered out of order
    reply_to_second = fake_line.wait_for(
        lambda: next(
            (r for r in fake_line.replies if r["replyToken"] == second["replyToken"]), None
        )
    )
    assert "スキル" in reply_to_second["messages"][-1]["text"]
    state = scalar(database_url, "SELECT state FROM conversations")
    answers = (json.loads(state) if isinstance(state, str) else state)["flow"]["answers"]
    assert answers == {"display_name": "さくら", "area": "横浜市"}


def test_a_late_older_event_does_not_answer_the_current_question(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    user = LineUser(app, fake_line)
    user.follow()
    user.tap("ボランティアとして登録")
    now = int(time.time() * 1000)
    late = le.text(user.user_id, user.token(), "遅れて届いた", timestamp=now - 60_000)
    user.say("さくら")
    assert "市区町村" in user.text()
    assert user.post([le.redelivered(late)]).status_code == 200
    fake_line.wait_for(
        lambda: scalar(database_url, "SELECT count(*) FROM inbound_events WHERE status='stale'")
    )
    user.say("横浜市")
    assert "スキル" in user.text()
    assert not any(r["replyToken"] == late["replyToken"] for r in fake_line.replies)


def test_group_chat_events_are_ignored(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    user = LineUser(app, fake_line)
    event = le.text(user.user_id, user.token(), "hello")
    event["source"] = {"type": "group", "groupId": "C" + "0" * 32, "userId": user.user_id}
    assert user.post([event]).status_code == 200
    app.settle()
    assert fake_line.replies == []


def test_healthz_answers_when_the_database_does(app: AppServer) -> None:
    response = HTTP.get(f"{app.url}/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_without_line_credentials_the_server_starts_and_says_why(database_url: str) -> None:
    # Without any credentials the app would play LINE itself (sandbox): asked not to here.
    with AppServer(make_settings(database_url, None, TSUNAGU_SANDBOX="off")) as server:
        assert HTTP.get(f"{server.url}/healthz").status_code == 200
        response = HTTP.post(f"{server.url}/line/webhook", content=b"{}")
        assert response.status_code == 503
        assert "LINE_CHANNEL_SECRET" in response.text


def test_a_server_freezes_what_it_loaded_at_start_and_hands_it_back_at_stop(
    database_url: str, fake_line: FakeLineApi, gc_frozen_by_the_session: None
) -> None:
    """The server's default (create_app(freeze_gc=True)): the collector leaves alone the
    objects loaded at start while it serves; after a stop they may be collected again."""
    gc.unfreeze()  # the session's freeze (conftest), put back after the test
    settings = make_settings(database_url, fake_line.base_url)
    with AppServer(settings, freeze_gc=True) as app:
        assert gc.get_freeze_count() > 100_000
        assert gc.get_threshold()[0] == 10_000
        user = LineUser(app, fake_line)
        assert user.follow()
    assert gc.get_freeze_count() == 0
