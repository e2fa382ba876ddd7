"""Tests of the LINE fakes: the fake API via the real SDK, the event builders, the spec checks."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    MessageAction,
    MulticastRequest,
    PostbackAction,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    TextMessage,
)
from linebot.v3.messaging.exceptions import ApiException
from linebot.v3.models.events import UnknownEvent  # what WebhookParser falls back to
from linebot.v3.webhooks import (
    FollowEvent,
    ImageMessageContent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
)

from tests import line_events as ev
from tests.fakes.line_api import FakeLineApi
from tests.fakes.openapi import validate_event, validate_request, validate_response

TOKEN = "test-token"
SECRET = "channel-secret"
USER = ev.new_user_id("volunteer-1")
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeLineApi]:
    with FakeLineApi(TOKEN) as api:
        yield api


@asynccontextmanager
async def sdk(fake: FakeLineApi, token: str = TOKEN) -> AsyncIterator[AsyncMessagingApi]:
    async with AsyncApiClient(Configuration(host=fake.base_url, access_token=token)) as client:
        yield AsyncMessagingApi(client)


def error_body(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


def quick_reply(n: int, label: str = "はい") -> QuickReply:
    # construct() skips the SDK's own max-13 check, as a bot building dicts would.
    items = [QuickReplyItem(action=MessageAction(label=label, text=label)) for _ in range(n)]
    return QuickReply.construct(items=items)


# --- the fake API through the real SDK ------------------------------------------------


@pytest.mark.asyncio
async def test_valid_reply_is_accepted_and_recorded(fake: FakeLineApi) -> None:
    token = fake.issue_reply_token(USER)
    message = TextMessage(
        text="ようこそ！",
        quick_reply=QuickReply(
            items=[
                QuickReplyItem(
                    action=PostbackAction(
                        label="参加する", data="step=join", display_text="参加する"
                    )
                ),
            ]
        ),
    )
    async with sdk(fake) as api:
        response = await api.reply_message(
            ReplyMessageRequest(reply_token=token, messages=[message])
        )

    assert len(response.sent_messages) == 1 and response.sent_messages[0].quote_token
    [accepted] = fake.replies
    assert accepted["replyToken"] == token and accepted["messages"] == [message.to_dict()]
    assert fake.messages_to(USER) == [message.to_dict()]
    [recorded] = fake.requests
    assert (recorded.method, recorded.path, recorded.status) == (
        "POST",
        "/v2/bot/message/reply",
        200,
    )
    assert recorded.headers["authorization"] == f"Bearer {TOKEN}"
    assert recorded.user_id == USER and fake.errors == []
    assert validate_response("ReplyMessageResponse", recorded.response) == []


@pytest.mark.asyncio
async def test_wrong_access_token_is_401(fake: FakeLineApi) -> None:
    async with sdk(fake, token="wrong") as api:
        with pytest.raises(ApiException) as caught:
            await api.get_bot_info()
    assert caught.value.status == 401
    assert "Authentication failed" in error_body(caught.value)["message"]
    assert fake.errors[0].status == 401


@pytest.mark.asyncio
async def test_six_messages_are_rejected(fake: FakeLineApi) -> None:
    token = fake.issue_reply_token(USER)
    request = ReplyMessageRequest.construct(
        reply_token=token, messages=[TextMessage(text=str(i)) for i in range(6)]
    )
    async with sdk(fake) as api:
        with pytest.raises(ApiException) as caught:
            await api.reply_message(request)
    body = error_body(caught.value)
    assert caught.value.status == 400 and body["message"].startswith("The request body has")
    assert [d["property"] for d in body["details"]] == ["messages"]
    assert fake.replies == [] and fake.messages_to(USER) == []


@pytest.mark.asyncio
async def test_fourteen_quick_reply_items_are_rejected(fake: FakeLineApi) -> None:
    token = fake.issue_reply_token(USER)
    message = TextMessage.construct(type="text", text="どれ？", quick_reply=quick_reply(14))
    async with sdk(fake) as api:
        with pytest.raises(ApiException) as caught:
            await api.reply_message(ReplyMessageRequest(reply_token=token, messages=[message]))
    assert caught.value.status == 400
    assert {d["property"] for d in error_body(caught.value)["details"]} == {
        "messages[0].quickReply.items"
    }


@pytest.mark.asyncio
async def test_label_of_21_characters_is_rejected(fake: FakeLineApi) -> None:
    token = fake.issue_reply_token(USER)
    message = TextMessage(text="どれ？", quick_reply=quick_reply(1, label="あ" * 21))
    async with sdk(fake) as api:
        with pytest.raises(ApiException) as caught:
            await api.reply_message(ReplyMessageRequest(reply_token=token, messages=[message]))
    [detail] = error_body(caught.value)["details"]
    assert detail["property"] == "messages[0].quickReply.items[0].action.label"
    assert "20" in detail["message"]
    # A rejected reply leaves its token usable, so the fixed reply can still go out.
    async with sdk(fake) as api:
        fixed = TextMessage(text="どれ？", quick_reply=quick_reply(1, label="あ" * 20))
        await api.reply_message(ReplyMessageRequest(reply_token=token, messages=[fixed]))


@pytest.mark.asyncio
async def test_text_message_without_text_is_rejected(fake: FakeLineApi) -> None:
    # A generic OpenAPI validator lets {"type": "text"} through; discriminator dispatch must not.
    token = fake.issue_reply_token(USER)
    request = ReplyMessageRequest(reply_token=token, messages=[TextMessage.construct(type="text")])
    async with sdk(fake) as api:
        with pytest.raises(ApiException) as caught:
            await api.reply_message(request)
    assert error_body(caught.value)["details"] == [
        {"message": "must be specified", "property": "messages[0].text"}
    ]


@pytest.mark.asyncio
async def test_reused_reply_token_is_rejected(fake: FakeLineApi) -> None:
    token = fake.issue_reply_token(USER)
    async with sdk(fake) as api:
        await api.reply_message(
            ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="1")])
        )
        with pytest.raises(ApiException) as caught:
            await api.reply_message(
                ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="2")])
            )
    assert caught.value.status == 400
    assert error_body(caught.value) == {"message": "Invalid reply token"}
    assert fake.errors[0].reason == "reply token already used"
    assert fake.messages_to(USER) == [{"type": "text", "text": "1"}]


@pytest.mark.asyncio
async def test_expired_and_unknown_reply_tokens_are_rejected() -> None:
    now = [1000.0]
    with FakeLineApi(TOKEN, reply_token_ttl=60, clock=lambda: now[0]) as fake:
        token = fake.issue_reply_token(USER)
        now[0] += 61  # a fake clock, so the test need not wait a minute
        async with sdk(fake) as api:
            for reply_token in (token, "never-issued"):
                request = ReplyMessageRequest(
                    reply_token=reply_token, messages=[TextMessage(text="遅い")]
                )
                with pytest.raises(ApiException) as caught:
                    await api.reply_message(request)
                assert error_body(caught.value) == {"message": "Invalid reply token"}
        assert [e.reason for e in fake.errors] == ["reply token expired", "unknown reply token"]


@pytest.mark.asyncio
async def test_fail_next_answers_500_twice_then_recovers(fake: FakeLineApi) -> None:
    token = fake.issue_reply_token(USER)
    fake.fail_next(2, status=500, path_prefix="/v2/bot/message/")
    request = ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="再送")])
    async with sdk(fake) as api:
        for _ in range(2):
            with pytest.raises(ApiException) as caught:
                await api.reply_message(request)
            assert caught.value.status == 500
        await api.reply_message(request)  # the token survived the failures
    assert [r.status for r in fake.requests] == [500, 500, 200]
    assert fake.errors == [] and fake.counts["injected"] == 2
    assert fake.messages_to(USER) == [{"type": "text", "text": "再送"}]


@pytest.mark.asyncio
async def test_fail_next_429_sends_retry_after_and_only_matches_its_prefix(
    fake: FakeLineApi,
) -> None:
    fake.set_profile(USER, "花子")
    fake.fail_next(1, status=429, path_prefix="/v2/bot/message/push", retry_after=2)
    async with sdk(fake) as api:
        assert (await api.get_profile(USER)).display_name == "花子"  # not under the prefix
        with pytest.raises(ApiException) as caught:
            await api.push_message(PushMessageRequest(to=USER, messages=[TextMessage(text="x")]))
    assert caught.value.status == 429 and caught.value.headers["Retry-After"] == "2"


@pytest.mark.asyncio
async def test_repeated_retry_key_is_409_and_not_delivered_twice(fake: FakeLineApi) -> None:
    key = str(uuid.uuid4())
    request = PushMessageRequest(to=USER, messages=[TextMessage(text="マッチしました")])
    async with sdk(fake) as api:
        first = await api.push_message_with_http_info(request, x_line_retry_key=key)
        with pytest.raises(ApiException) as caught:
            await api.push_message(request, x_line_retry_key=key)
    assert caught.value.status == 409
    assert caught.value.headers["X-Line-Accepted-Request-Id"] == first.headers["X-Line-Request-Id"]
    assert len(fake.pushes) == 1 and fake.messages_to(USER) == [
        {"type": "text", "text": "マッチしました"}
    ]
    assert fake.errors == []


@pytest.mark.asyncio
async def test_retry_key_of_a_failed_push_can_be_retried(fake: FakeLineApi) -> None:
    key = str(uuid.uuid4())
    request = PushMessageRequest(to=USER, messages=[TextMessage(text="x")])
    fake.fail_next(1, status=500)
    async with sdk(fake) as api:
        with pytest.raises(ApiException):
            await api.push_message(request, x_line_retry_key=key)
        await api.push_message(request, x_line_retry_key=key)
    assert len(fake.pushes) == 1


@pytest.mark.asyncio
async def test_profile_quota_and_bot_info(fake: FakeLineApi) -> None:
    fake.set_profile(USER, "Taro", language="en")
    fake.set_quota(1, used=0)
    async with sdk(fake) as api:
        profile = await api.get_profile(USER)
        with pytest.raises(ApiException) as caught:
            await api.get_profile(ev.new_user_id("stranger"))
        await api.push_message(PushMessageRequest(to=USER, messages=[TextMessage(text="1")]))
        with pytest.raises(ApiException) as over_quota:
            await api.push_message(PushMessageRequest(to=USER, messages=[TextMessage(text="2")]))
        quota = await api.get_message_quota()
        usage = await api.get_message_quota_consumption()
        info = await api.get_bot_info()
    assert (profile.user_id, profile.display_name, profile.language) == (USER, "Taro", "en")
    assert caught.value.status == 404 and error_body(caught.value) == {"message": "Not found"}
    assert over_quota.value.status == 429
    assert (quota.type.value, quota.value, usage.total_usage) == ("limited", 1, 1)
    assert info.user_id == ev.BOT_USER_ID


def test_unknown_path_is_404_with_line_error_shape_from_sync_code(fake: FakeLineApi) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    response = httpx.post(f"{fake.base_url}/v2/bot/message/broadcast", json={}, headers=auth)
    assert response.status_code == 404 and response.json() == {"message": "Not found"}
    assert response.headers["x-line-request-id"]


def test_multicast_delivers_to_every_recipient_and_wait_for_sees_it(fake: FakeLineApi) -> None:
    users = [ev.new_user_id(i) for i in range(3)]
    body = {"to": users, "messages": [{"type": "text", "text": "新しい募集があります"}]}

    def send_later() -> None:
        httpx.post(
            f"{fake.base_url}/v2/bot/message/multicast",
            json=body,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )

    threading.Timer(0.05, send_later).start()
    assert fake.wait_for_messages(users[2], 1, timeout=5) == body["messages"]
    assert all(fake.messages_to(u) == body["messages"] for u in users)
    with pytest.raises(TimeoutError):
        fake.wait_for(lambda: len(fake.multicasts) > 1, timeout=0.05)


@pytest.mark.asyncio
async def test_any_reply_token_mode_still_rejects_reuse() -> None:
    with FakeLineApi(TOKEN, accept_any_reply_token=True, validate=False) as fake:
        async with sdk(fake) as api:
            request = ReplyMessageRequest(
                reply_token="made-up-by-a-load-generator", messages=[TextMessage(text="a")]
            )
            await api.reply_message(request)
            with pytest.raises(ApiException):
                await api.reply_message(request)
            # Limits are checked even without schema validation.
            long_text = TextMessage(text="😀" * 2501)  # 5002 UTF-16 code units
            with pytest.raises(ApiException) as caught:
                await api.reply_message(
                    ReplyMessageRequest(reply_token="another", messages=[long_text])
                )
        assert error_body(caught.value)["details"][0]["property"] == "messages[0].text"
        assert await fake.wait_for_async(lambda: fake.counts["replies"] == 1)


def test_cli_process_serves_and_stops_on_sigterm() -> None:
    cmd = [
        sys.executable,
        "-m",
        "tests.fakes.line_api",
        "--port",
        "0",
        "--token",
        "cli-token",
        "--no-validate",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            # Bounded wait, so a server that never starts fails the test instead of hanging it.
            ready, _, _ = select.select([proc.stdout], [], [], 15)
            assert ready, "no READY line within 15 s"
            line = proc.stdout.readline().strip()
            assert line.startswith("READY http://127.0.0.1:"), line
            url = line.split()[1]
            [token] = httpx.post(
                f"{url}/__fake/reply-tokens", json={"userId": USER, "count": 1}
            ).json()
            reply = {"replyToken": token, "messages": [{"type": "text", "text": "hi"}]}
            response = httpx.post(
                f"{url}/v2/bot/message/reply",
                json=reply,
                headers={"Authorization": "Bearer cli-token"},
            )
            assert response.status_code == 200, response.text
            stats = httpx.get(f"{url}/__fake/stats").json()
            assert (stats["replies"], stats["errors"]) == (1, 0)
            assert stats["replyTimes"][0]["replyToken"] == token
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0


# --- event builders ----------------------------------------------------------------------


def test_builders_parse_into_the_right_sdk_classes() -> None:
    events = [
        ev.follow(USER, "r1"),
        ev.text(USER, "r2", "ボランティアしたい 🙌"),
        ev.sticker(USER, "r3"),
        ev.image(USER, "r4"),
        ev.location(USER, "r5", title="東京駅"),
        ev.postback(USER, "r6", "step=date", params={"date": "2025-04-01"}),
        ev.unfollow(USER),
    ]
    body = ev.payload(events)
    parsed = WebhookParser(SECRET).parse(body.decode("utf-8"), ev.sign(body, SECRET))

    assert [type(e) for e in parsed] == [
        FollowEvent,
        MessageEvent,
        MessageEvent,
        MessageEvent,
        MessageEvent,
        PostbackEvent,
        UnfollowEvent,
    ]
    assert [type(e.message) for e in parsed[1:5]] == [
        TextMessageContent,
        StickerMessageContent,
        ImageMessageContent,
        LocationMessageContent,
    ]
    assert parsed[1].message.text == "ボランティアしたい 🙌" and parsed[1].reply_token == "r2"
    assert parsed[5].postback.data == "step=date" and parsed[5].postback.params == {
        "date": "2025-04-01"
    }
    assert all(isinstance(e.source, UserSource) and e.source.user_id == USER for e in parsed)


def test_incomplete_text_event_is_unknown_to_the_sdk_and_rejected_by_the_spec() -> None:
    # Why the builders validate: without quoteToken the SDK gives up silently.
    event = ev.text(USER, "r", "hi")
    del event["message"]["quoteToken"]
    body = json.dumps({"destination": ev.BOT_USER_ID, "events": [event]}).encode()
    [parsed] = WebhookParser(SECRET).parse(body.decode(), ev.sign(body, SECRET))
    assert isinstance(parsed, UnknownEvent)
    assert validate_event(event) == ["message.quoteToken: must be specified"]


def test_payload_is_compact_utf8_and_signature_checks_out() -> None:
    body = ev.payload([ev.text(USER, "r", "こんにちは")])
    assert "こんにちは".encode() in body and b": " not in body and b", " not in body
    parser = WebhookParser(SECRET)
    with pytest.raises(InvalidSignatureError):
        parser.parse(body.decode(), ev.sign(body, "other-secret"))
    assert ev.webhook_headers(body, SECRET)["X-Line-Signature"] == ev.sign(body, SECRET)


def test_ids_are_unique_timestamps_monotonic_and_redelivery_keeps_the_id() -> None:
    events = [ev.text(USER, f"r{i}", "x") for i in range(50)]
    timestamps = [e["timestamp"] for e in events]
    assert timestamps == sorted(timestamps) and len(set(timestamps)) == 50
    ids = {e["webhookEventId"] for e in events}
    assert len(ids) == 50 and all(len(i) == 26 for i in ids)
    assert ev.text(USER, "r", "x", timestamp=42)["timestamp"] == 42

    again = ev.redelivered(events[0])
    assert again["deliveryContext"] == {"isRedelivery": True}
    assert again["webhookEventId"] == events[0]["webhookEventId"]
    assert events[0]["deliveryContext"] == {"isRedelivery": False}  # the original is untouched


# --- spec checks without a server ----------------------------------------------------------


def reply(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"replyToken": "t", "messages": list(messages)}


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"type": "txt", "text": "a"}, "messages[0].type: must be one of"),
        ({"type": "text", "text": "a" * 5001}, "messages[0].text: must be at most 5000 UTF-16"),
        (
            {
                "type": "text",
                "text": "a",
                "quickReply": {"items": [{"action": {"type": "postback", "label": "a"}}]},
            },
            "messages[0].quickReply.items[0].action.data: must be specified",
        ),
        (
            {
                "type": "text",
                "text": "a",
                "quickReply": {
                    "items": [{"action": {"type": "postback", "label": "a", "data": "d" * 301}}]
                },
            },
            "messages[0].quickReply.items[0].action.data: must be at most 300",
        ),
        (
            {
                "type": "text",
                "text": "a",
                "quickReply": {
                    "items": [
                        {
                            "action": {
                                "type": "postback",
                                "label": "a",
                                "data": "d",
                                "displayText": "d" * 301,
                            }
                        }
                    ]
                },
            },
            "messages[0].quickReply.items[0].action.displayText: must be at most 300",
        ),
        (
            {
                "type": "text",
                "text": "a",
                "quickReply": {"items": [{"action": {"type": "clipboard", "label": "a"}}]},
            },
            "messages[0].quickReply.items[0].action.clipboardText: must be specified",
        ),
        (
            {
                "type": "template",
                "altText": "a" * 401,
                "template": {
                    "type": "confirm",
                    "text": "ok?",
                    "actions": [{"type": "message", "label": "y", "text": "y"}] * 2,
                },
            },
            "messages[0].altText: must be at most 400",
        ),
        (
            {
                "type": "template",
                "altText": "a",
                "template": {
                    "type": "buttons",
                    "text": "a" * 161,
                    "actions": [{"type": "message", "label": "y", "text": "y"}],
                },
            },
            "messages[0].template.text: must be at most 160",
        ),
        (
            {
                "type": "template",
                "altText": "a",
                "template": {
                    "type": "buttons",
                    "title": "t",
                    "text": "a" * 61,
                    "actions": [{"type": "message", "label": "y", "text": "y"}],
                },
            },
            "messages[0].template.text: must be at most 60",
        ),
        (
            {
                "type": "template",
                "altText": "a",
                "template": {
                    "type": "buttons",
                    "text": "a",
                    "actions": [{"type": "message", "label": "y", "text": "y"}] * 5,
                },
            },
            "messages[0].template.actions: must have at most 4 actions",
        ),
        (
            {
                "type": "template",
                "altText": "a",
                "template": {
                    "type": "confirm",
                    "text": "a",
                    "actions": [{"type": "message", "label": "y", "text": "y"}],
                },
            },
            "messages[0].template.actions: must have exactly 2 actions",
        ),
        (
            {
                "type": "template",
                "altText": "a",
                "template": {
                    "type": "confirm",
                    "text": "a" * 241,
                    "actions": [{"type": "message", "label": "y", "text": "y"}] * 2,
                },
            },
            "messages[0].template.text: must be at most 240",
        ),
        (
            {
                "type": "template",
                "altText": "a",
                "template": {"type": "confirm", "text": "a", "actions": [{"label": "y"}] * 2},
            },
            "messages[0].template.actions[0].type: must be specified",
        ),
        (
            {
                "type": "flex",
                "altText": "a",
                "contents": {
                    "type": "bubble",
                    "body": {
                        "type": "box",
                        "layout": "vertical",
                        "contents": [{"type": "button", "action": {"type": "postback"}}],
                    },
                },
            },
            "messages[0].contents.body.contents[0].action.data: must be specified",
        ),
        (
            {
                "type": "flex",
                "altText": "a",
                "contents": {
                    "type": "bubble",
                    "body": {"type": "box", "layout": "diagonal", "contents": []},
                },
            },
            "messages[0].contents.body.layout: must be one of",
        ),
    ],
)
def test_request_checks_find_nested_problems(message: dict[str, Any], problem: str) -> None:
    errors = validate_request("ReplyMessageRequest", reply(message))
    assert any(e.startswith(problem) for e in errors), errors


def test_request_checks_accept_valid_messages_and_count_utf16() -> None:
    postback = {
        "type": "postback",
        "label": "あ" * 20,
        "data": "d" * 300,
        "displayText": "は" * 300,
    }
    messages: list[dict[str, Any]] = [
        {
            "type": "text",
            "text": "あ" * 5000,
            "quickReply": {"items": [{"type": "action", "action": postback}] * 13},
        },
        {
            "type": "template",
            "altText": "a" * 400,
            "template": {
                "type": "buttons",
                "title": "t",
                "text": "a" * 60,
                "actions": [postback] * 4,
            },
        },
        {"type": "sticker", "packageId": "446", "stickerId": "1988"},
    ]
    assert validate_request("ReplyMessageRequest", reply(*messages)) == []
    assert validate_request("ReplyMessageRequest", reply({"type": "text", "text": "😀" * 2501}))
    assert (
        validate_request(
            "PushMessageRequest", {"to": USER, "messages": [{"type": "text", "text": "a"}] * 5}
        )
        == []
    )
    too_many = {"to": [USER] * 501, "messages": [{"type": "text", "text": "a"}]}
    assert validate_request("MulticastRequest", too_many)[0].startswith("to: must have 1 to 500")


def test_fake_responses_match_the_spec(fake: FakeLineApi) -> None:
    fake.set_profile(USER, "Taro", language=None)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for path, schema in [
        (f"/v2/bot/profile/{USER}", "UserProfileResponse"),
        ("/v2/bot/message/quota", "MessageQuotaResponse"),
        ("/v2/bot/message/quota/consumption", "QuotaConsumptionResponse"),
        ("/v2/bot/info", "BotInfoResponse"),
        ("/v2/bot/nothing-here", "ErrorResponse"),
    ]:
        assert validate_response(schema, httpx.get(fake.base_url + path, headers=auth).json()) == []
    bad = httpx.post(
        f"{fake.base_url}/v2/bot/message/push", json={"to": USER, "messages": []}, headers=auth
    )
    assert bad.status_code == 400 and validate_response("ErrorResponse", bad.json()) == []


def test_fake_can_be_used_from_inside_a_running_event_loop() -> None:
    async def scenario() -> int:
        with FakeLineApi(TOKEN) as fake:
            token = fake.issue_reply_token(USER)
            async with sdk(fake) as api:
                await api.reply_message(
                    ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="a")])
                )
            return len(await fake.wait_for_messages_async(USER, 1))

    assert asyncio.run(scenario()) == 1


# ---------------------------------------------------------------- multicast, quota, limits


def multicast(users: list[str], text: str = "お知らせ") -> MulticastRequest:
    """A multicast request through the SDK's own model."""
    return MulticastRequest(to=users, messages=[TextMessage(text=text)])


@pytest.mark.asyncio
async def test_multicast_with_a_retry_key_is_delivered_once_and_409_on_repeat(
    fake: FakeLineApi,
) -> None:
    users = [ev.new_user_id(f"m{i}") for i in range(3)]
    key = str(uuid.uuid4())
    async with sdk(fake) as api:
        await api.multicast(multicast(users), x_line_retry_key=key)
        with pytest.raises(ApiException) as repeat:
            await api.multicast(multicast(users), x_line_retry_key=key)
        await api.multicast(multicast(users, "二通目"), x_line_retry_key=str(uuid.uuid4()))
    assert repeat.value.status == 409
    assert "X-Line-Accepted-Request-Id" in repeat.value.headers
    assert all([m["text"] for m in fake.messages_to(u)] == ["お知らせ", "二通目"] for u in users)
    assert fake.counts["multicasts"] == 2 and fake.counts["duplicates"] == 1
    assert fake.errors == []


@pytest.mark.asyncio
async def test_multicast_limits_500_recipients_and_5_messages(fake: FakeLineApi) -> None:
    users = [ev.new_user_id(f"n{i}") for i in range(501)]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    six = [{"type": "text", "text": str(i)} for i in range(6)]
    async with httpx.AsyncClient(base_url=fake.base_url, headers=auth) as client:
        too_many = await client.post(
            "/v2/bot/message/multicast",
            json={"to": users, "messages": [{"type": "text", "text": "x"}]},
        )
        too_long = await client.post(
            "/v2/bot/message/multicast", json={"to": users[:2], "messages": six}
        )
        no_text = await client.post(
            "/v2/bot/message/multicast", json={"to": users[:2], "messages": [{"type": "text"}]}
        )
        ok = await client.post(
            "/v2/bot/message/multicast",
            json={"to": users[:500], "messages": six[:5]},
        )
    assert [too_many.status_code, too_long.status_code, no_text.status_code] == [400, 400, 400]
    assert "500" in fake.errors[0].reason  # type: ignore[operator]
    assert ok.status_code == 200 and ok.json() == {}
    assert len(fake.messages_to(users[499])) == 5 and fake.messages_to(users[500]) == []
    assert fake.quota_used == 500


@pytest.mark.asyncio
async def test_quota_counts_each_multicast_recipient_and_push_but_not_replies(
    fake: FakeLineApi,
) -> None:
    users = [ev.new_user_id(f"q{i}") for i in range(4)]
    fake.set_quota(6, used=0)
    token = fake.issue_reply_token(users[0])
    async with sdk(fake) as api:
        await api.reply_message(
            ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="返信")])
        )
        await api.multicast(multicast(users))
        await api.push_message(PushMessageRequest(to=USER, messages=[TextMessage(text="1")]))
        usage = await api.get_message_quota_consumption()
        with pytest.raises(ApiException) as over:
            await api.multicast(multicast(users[:2]))  # 5 + 2 > 6: refused whole
        await api.push_message(PushMessageRequest(to=USER, messages=[TextMessage(text="2")]))
        with pytest.raises(ApiException) as full:
            await api.push_message(PushMessageRequest(to=USER, messages=[TextMessage(text="3")]))
        quota = await api.get_message_quota()
        final = await api.get_message_quota_consumption()
    assert usage.total_usage == 5
    assert over.value.status == 429 and full.value.status == 429
    assert error_body(over.value) == {"message": "You have reached your monthly limit."}
    assert (quota.type.value, quota.value, final.total_usage) == ("limited", 6, 6)
    assert [m["text"] for m in fake.messages_to(USER)] == ["1", "2"]
    assert fake.messages_to(users[1]) == [{"type": "text", "text": "お知らせ"}]


@pytest.mark.asyncio
async def test_no_quota_reads_as_none_and_quota_can_be_set_from_another_process(
    fake: FakeLineApi,
) -> None:
    async with sdk(fake) as api:
        unlimited = await api.get_message_quota()
        async with httpx.AsyncClient(base_url=fake.base_url) as control:
            await control.post("/__fake/quota", json={"limit": 100, "used": 80})
        limited = await api.get_message_quota()
        usage = await api.get_message_quota_consumption()
    assert unlimited.type.value == "none"
    assert (limited.type.value, limited.value, usage.total_usage) == ("limited", 100, 80)


@pytest.mark.asyncio
async def test_rate_limit_refuses_requests_beyond_the_rate_and_recovers() -> None:
    with FakeLineApi(access_token=TOKEN, rate_limits={"/v2/bot/message/multicast": 5}) as fake:
        users = [ev.new_user_id("r")]
        async with sdk(fake) as api:
            results = await asyncio.gather(
                *(api.multicast(multicast(users, str(i))) for i in range(8)),
                return_exceptions=True,
            )
            await api.push_message(PushMessageRequest(to=USER, messages=[TextMessage(text="p")]))
            await asyncio.sleep(0.25)  # a second's worth refills at 5/s: one more after 0.2 s
            await api.multicast(multicast(users, "later"))
        refused = [r for r in results if isinstance(r, ApiException)]
        assert len(refused) == 3 and all(r.status == 429 for r in refused)
        assert error_body(refused[0])["message"].startswith("The API rate limit has been exceeded")
        assert len(fake.messages_to(users[0])) == 6  # five at once, one after the refill
        assert fake.messages_to(USER) == [{"type": "text", "text": "p"}]  # push not limited


@pytest.mark.asyncio
async def test_latency_delays_answers_but_the_request_is_recorded_on_arrival() -> None:
    with FakeLineApi(access_token=TOKEN, latency=0.3) as fake:
        async with sdk(fake) as api:
            task = asyncio.create_task(
                api.push_message(PushMessageRequest(to=USER, messages=[TextMessage(text="x")]))
            )
            await fake.wait_for_async(lambda: fake.pushes, timeout=2)
            assert not task.done()  # delivered already, answer still on its way
            await task
