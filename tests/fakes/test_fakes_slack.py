"""Tests of the Slack fakes: the fake Web API via the real slack_sdk, the Block Kit checks,
and the signed request builders via slack_sdk's verifier and a real Bolt app."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests import slack_requests as sr
from tests.fakes.block_kit import message_problems, view_problems
from tests.fakes.slack_api import FakeSlackApi

TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret"
COORDINATORS = "C0COORD0001"
HANAKO = "U0HANAKO01"  # a coordinator, in the coordinators channel
TARO = "U0TARO0001"  # a workspace member outside it
TS = re.compile(r"^\d{10}\.\d{6}$")
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeSlackApi]:
    with FakeSlackApi(TOKEN) as api:
        api.add_user(HANAKO, "hanako", is_admin=True)
        api.add_user(TARO, "taro")
        api.add_channel("coordinators", COORDINATORS, members=[HANAKO])
        yield api


def client(fake: FakeSlackApi, token: str | None = TOKEN, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=fake.base_url, **kwargs)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(label: str, action_id: str, value: str = "v", **extra: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
        **extra,
    }


def approval_blocks(match_id: int = 1) -> list[dict[str, Any]]:
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "新しいマッチ候補"}},
        section("*NPO つなぐ食堂* × *山田さん* (Web制作)"),
        {
            "type": "actions",
            "block_id": f"match-{match_id}",
            "elements": [
                button("承認", "approve", f"match:{match_id}", style="primary"),
                button("見送り", "decline", f"match:{match_id}", style="danger"),
            ],
        },
    ]


def modal(title: str = "ボランティア登録", **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "signup",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "送信"},
        "blocks": [
            {
                "type": "input",
                "block_id": "name",
                "label": {"type": "plain_text", "text": "お名前"},
                "element": {"type": "plain_text_input", "action_id": "value"},
            }
        ],
        **extra,
    }


async def slack_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value


# --- messages through the real AsyncWebClient ----------------------------------------------


async def test_post_update_and_thread_reply(fake: FakeSlackApi) -> None:
    api = client(fake)
    posted = await api.chat_postMessage(
        channel=COORDINATORS, text="新しいマッチ候補", blocks=approval_blocks()
    )
    assert posted["channel"] == COORDINATORS and TS.match(posted["ts"])
    assert posted["message"]["bot_id"] == sr.BOT_ID
    assert posted["message"]["user"] == sr.BOT_USER_ID
    # Slack gives every block without a block_id one of its own.
    assert all(b["block_id"] for b in posted["message"]["blocks"])

    reply = await api.chat_postMessage(
        channel="#coordinators", text="山田さんに連絡しました", thread_ts=posted["ts"]
    )
    assert float(reply["ts"]) > float(posted["ts"])
    updated = await api.chat_update(
        channel=COORDINATORS, ts=posted["ts"], text="承認済み", blocks=[section("✅ 承認済み")]
    )
    assert updated["ts"] == posted["ts"] and updated["text"] == "承認済み"

    parent, child = fake.messages(COORDINATORS)
    assert (parent["text"], parent["blocks"][0]["text"]["text"]) == ("承認済み", "✅ 承認済み")
    assert parent["edited"]["user"] == sr.BOT_USER_ID and parent["reply_count"] == 1
    assert child["thread_ts"] == parent["ts"] == parent["thread_ts"]
    assert fake.thread("coordinators", posted["ts"]) == [parent, child]
    assert fake.messages(COORDINATORS, replies=False) == [parent]
    assert fake.last_message(COORDINATORS) == child

    # A text-only update keeps the blocks, as Slack does.
    await api.chat_update(channel=COORDINATORS, ts=posted["ts"], text="承認済み (2)")
    assert fake.messages(COORDINATORS)[0]["blocks"][0]["text"]["text"] == "✅ 承認済み"
    assert fake.errors == []
    assert {r.encoding for r in fake.calls("chat.postMessage")} == {"json"}


async def test_update_and_reply_errors_use_slack_names(fake: FakeSlackApi) -> None:
    api = client(fake)
    posted = await api.chat_postMessage(channel=COORDINATORS, text="a")
    ts = posted["ts"]
    calls: list[tuple[str, dict[str, Any], str]] = [
        (
            "chat.update",
            {"channel": COORDINATORS, "ts": "1.000001", "text": "x"},
            "message_not_found",
        ),
        ("chat.update", {"channel": "C0NOWHERE1", "ts": ts, "text": "x"}, "channel_not_found"),
        ("chat.update", {"channel": COORDINATORS, "ts": ts}, "no_text"),
        ("chat.postMessage", {"channel": "C0NOWHERE1", "text": "x"}, "channel_not_found"),
        ("chat.postMessage", {"channel": COORDINATORS, "text": "x" * 40_001}, "msg_too_long"),
        ("chat.postMessage", {"channel": COORDINATORS}, "no_text"),
        (
            "chat.postMessage",
            {"channel": COORDINATORS, "text": "x", "thread_ts": "1.1"},
            "thread_not_found",
        ),
    ]
    for method, args, error in calls:
        # api_call, not chat_update(): slack_sdk warns (an error here) about a missing text.
        assert (await slack_error(api.api_call(method, json=args))).response["error"] == error
    assert [r.error for r in fake.errors] == [error for _, _, error in calls]


async def test_wrong_or_missing_token(fake: FakeSlackApi) -> None:
    error = await slack_error(client(fake, "xoxb-wrong").chat_postMessage(channel="C", text="x"))
    assert error.response.status_code == 200 and error.response["error"] == "invalid_auth"
    error = await slack_error(client(fake, None).auth_test())
    assert error.response["error"] == "not_authed"
    assert fake.messages(COORDINATORS) == []


def test_form_encoded_call_with_token_field_is_accepted(fake: FakeSlackApi) -> None:
    # Another client (or curl) may send a form with token= and blocks as a JSON string.
    response = httpx.post(
        fake.base_url + "chat.postMessage",
        data={"token": TOKEN, "channel": "coordinators", "text": "hi", "blocks": "[]"},
    )
    assert response.json()["ok"] is True
    [call] = fake.calls("chat.postMessage")
    assert call.encoding == "form" and "token" not in call.args and call.args["blocks"] == []
    bad = httpx.post(
        fake.base_url + "chat.postMessage",
        data={"token": TOKEN, "channel": "coordinators", "blocks": "[{"},
    )
    assert bad.json()["error"] == "invalid_blocks_format"


async def test_fifty_one_blocks_are_rejected_fifty_accepted(fake: FakeSlackApi) -> None:
    api = client(fake)
    await api.chat_postMessage(channel=COORDINATORS, text="ok", blocks=[section("x")] * 50)
    error = await slack_error(
        api.chat_postMessage(channel=COORDINATORS, text="too many", blocks=[section("x")] * 51)
    )
    assert error.response["error"] == "invalid_blocks"
    assert error.response["errors"] == ["no more than 50 items allowed [json-pointer:/blocks]"]
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]
    assert len(fake.messages(COORDINATORS)) == 1
    [rejected] = fake.errors
    assert rejected.method == "chat.postMessage" and "50 items" in (rejected.reason or "")


async def test_duplicated_action_id_in_one_block_is_rejected(fake: FakeSlackApi) -> None:
    api = client(fake)
    twice = {"type": "actions", "elements": [button("A", "pick"), button("B", "pick")]}
    error = await slack_error(api.chat_postMessage(channel=COORDINATORS, text="x", blocks=[twice]))
    assert error.response["error"] == "invalid_blocks"
    assert error.response["errors"] == [
        "duplicate action_id: pick [json-pointer:/blocks/0/elements/1/action_id]"
    ]
    # Slack's rule is per block: one approve button per match, each in its own block, is fine.
    await api.chat_postMessage(
        channel=COORDINATORS, text="2 matches", blocks=approval_blocks(1) + approval_blocks(2)
    )


async def test_button_text_over_75_characters_is_rejected(fake: FakeSlackApi) -> None:
    blocks: list[dict[str, Any]] = [{"type": "actions", "elements": [button("あ" * 76, "long")]}]
    error = await slack_error(
        client(fake).chat_postMessage(channel=COORDINATORS, text="x", blocks=blocks)
    )
    assert error.response["errors"] == [
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"
    ]
    blocks[0]["elements"][0]["text"]["text"] = "あ" * 75
    await client(fake).chat_postMessage(channel=COORDINATORS, text="x", blocks=blocks)


# --- the Block Kit tables, without a server ---------------------------------------------------

TEXT = {"type": "plain_text", "text": "t"}


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ({"type": "carousel"}, "unsupported type: carousel [json-pointer:/blocks/0/type]"),
        (
            section("x" * 3001),
            "must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
        ),
        (
            {"type": "header", "text": {"type": "plain_text", "text": "x" * 151}},
            "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
        ),
        (
            {"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}},
            "must be one of: plain_text [json-pointer:/blocks/0/text/type]",
        ),
        (
            {
                "type": "actions",
                "elements": [{**button("b", "a"), "text": {"type": "mrkdwn", "text": "b"}}],
            },
            "must be one of: plain_text [json-pointer:/blocks/0/elements/0/text/type]",
        ),
        (
            {"type": "actions", "elements": [button("b", "a" * 256)]},
            "must be less than 256 characters [json-pointer:/blocks/0/elements/0/action_id]",
        ),
        (
            {"type": "actions", "elements": [button("b", "a", "v" * 2001)]},
            "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
        ),
        (
            {"type": "actions", "elements": [button("b", "a", style="green")]},
            "must be one of: danger, primary [json-pointer:/blocks/0/elements/0/style]",
        ),
        (
            {"type": "actions", "elements": [button("b", "a", disabled=True)]},
            "invalid additional property: disabled [json-pointer:/blocks/0/elements/0]",
        ),
        (
            {"type": "divider", "block_id": "b" * 256},
            "must be less than 256 characters [json-pointer:/blocks/0/block_id]",
        ),
        (
            {"type": "actions", "elements": [button("b", f"a{i}") for i in range(26)]},
            "no more than 25 items allowed [json-pointer:/blocks/0/elements]",
        ),
        (
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11},
            "no more than 10 items allowed [json-pointer:/blocks/0/elements]",
        ),
        (
            {"type": "actions", "elements": [{"type": "plain_text_input", "action_id": "x"}]},
            "unsupported type: plain_text_input [json-pointer:/blocks/0/elements/0/type]",
        ),
        (
            {"type": "input", "element": {"type": "plain_text_input"}},
            "missing required field: label [json-pointer:/blocks/0]",
        ),
        (
            {"type": "input", "label": TEXT},
            "missing required field: element [json-pointer:/blocks/0]",
        ),
        ({"type": "section"}, "must provide text or fields [json-pointer:/blocks/0]"),
        (
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11},
            "no more than 10 items allowed [json-pointer:/blocks/0/fields]",
        ),
        (
            {"type": "section", "text": {"type": "mrkdwn", "text": "s", "emoji": True}},
            "invalid additional property: emoji [json-pointer:/blocks/0/text]",
        ),
        (
            {
                "type": "section",
                "text": TEXT,
                "accessory": {
                    "type": "static_select",
                    "action_id": "s",
                    "options": [{"text": TEXT, "value": "v" * 151}],
                },
            },
            "must be less than 151 characters [json-pointer:/blocks/0/accessory/options/0/value]",
        ),
    ],
)
def test_block_kit_checks(block: dict[str, Any], problem: str) -> None:
    assert [str(p) for p in message_problems([block])] == [problem]


def test_duplicate_block_ids_and_a_valid_kitchen_sink() -> None:
    assert [str(p) for p in message_problems([section("a") | {"block_id": "b"}] * 2)] == [
        "duplicate block_id: b [json-pointer:/blocks/1/block_id]"
    ]
    option = {"text": {"type": "plain_text", "text": "東京"}, "value": "tokyo"}
    blocks = [
        *approval_blocks(),
        {"type": "divider"},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": "*分野*\nWeb"}, TEXT],
            "accessory": {"type": "overflow", "action_id": "more", "options": [option]},
        },
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": "c"},
                {"type": "image", "image_url": "https://x/i.png", "alt_text": "i"},
            ],
        },
        {"type": "image", "image_url": "https://x/i.png", "alt_text": "i"},
        {
            "type": "input",
            "label": TEXT,
            "optional": True,
            "element": {"type": "static_select", "action_id": "area", "options": [option]},
        },
    ]
    assert message_problems(blocks) == []
    assert view_problems(modal()) == []
    assert view_problems({"type": "home", "blocks": blocks}) == []


# --- modals ---------------------------------------------------------------------------------


async def test_views_open_checks_title_length_and_trigger(fake: FakeSlackApi) -> None:
    api = client(fake)
    error = await slack_error(api.views_open(trigger_id=sr.new_trigger_id(), view=modal("x" * 25)))
    assert error.response["error"] == "invalid_arguments"
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]
    trigger = sr.new_trigger_id()
    opened = await api.views_open(trigger_id=trigger, view=modal("x" * 24))
    view = opened["view"]
    assert view["id"].startswith("V") and view["callback_id"] == "signup"
    assert view["state"] == {"values": {}} and view["root_view_id"] == view["id"]
    assert [v["id"] for v in fake.views_opened()] == [view["id"]]

    for trigger_id, error_code in [
        (trigger, "exchanged_trigger_id"),
        ("not-a-trigger", "invalid_trigger_id"),
    ]:
        error = await slack_error(api.views_open(trigger_id=trigger_id, view=modal()))
        assert error.response["error"] == error_code


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"submit": None}, "missing required field: submit"),
        ({"close": {"type": "plain_text", "text": "c" * 25}}, "must be less than 25 characters"),
        ({"callback_id": "c" * 256}, "must be less than 256 characters"),
        ({"private_metadata": "m" * 3001}, "must be less than 3001 characters"),
        ({"blocks": [section("s")] * 101}, "no more than 100 items allowed"),
        ({"title": {"type": "mrkdwn", "text": "t"}}, "must be one of: plain_text"),
    ],
)
def test_modal_limits(change: dict[str, Any], message: str) -> None:
    view = {k: v for k, v in (modal() | change).items() if v is not None}
    problems = [str(p) for p in view_problems(view)]
    assert len(problems) == 1 and problems[0].startswith(message), problems


async def test_views_update_and_publish(fake: FakeSlackApi) -> None:
    api = client(fake)
    view = (await api.views_open(trigger_id=sr.new_trigger_id(), view=modal()))["view"]
    updated = (await api.views_update(view_id=view["id"], hash=view["hash"], view=modal("2/3")))[
        "view"
    ]
    assert updated["id"] == view["id"] and updated["title"]["text"] == "2/3"
    assert fake.views_opened()[0]["title"]["text"] == "2/3"
    stale = await slack_error(api.views_update(view_id=view["id"], hash=view["hash"], view=modal()))
    assert stale.response["error"] == "hash_conflict"
    missing = await slack_error(api.views_update(view_id="V0NOTHERE", view=modal()))
    assert missing.response["error"] == "not_found"

    home = {"type": "home", "blocks": [section("ようこそ")]}
    published = (await api.views_publish(user_id=HANAKO, view=home))["view"]
    assert published["type"] == "home" and fake.home_view(HANAKO) == fake.view(published["id"])
    wrong = await slack_error(api.views_publish(user_id=HANAKO, view=modal()))
    assert wrong.response["error"] == "invalid_arguments"


# --- conversations, users, team --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", "invalid_name_required"),
        ("Match-1", "invalid_name_specials"),
        ("match 1", "invalid_name_specials"),
        ("マッチ", "invalid_name_specials"),
        ("m" * 81, "invalid_name_maxlength"),
        ("--", "invalid_name_punctuation"),
        ("coordinators", "name_taken"),
    ],
)
async def test_conversations_create_name_rules(fake: FakeSlackApi, name: str, error: str) -> None:
    assert (await slack_error(client(fake).conversations_create(name=name))).response[
        "error"
    ] == error


async def test_create_invite_info_list_join(fake: FakeSlackApi) -> None:
    api = client(fake)
    created = (await api.conversations_create(name="match-0042_web" + "x" * 66))["channel"]
    assert created["id"].startswith("C") and len(created["name"]) == 80
    assert created["is_member"] is True and created["creator"] == sr.BOT_USER_ID
    channel = created["id"]

    invited = await api.conversations_invite(channel=channel, users=[HANAKO, TARO])
    assert invited["channel"]["num_members"] == 3
    assert fake.members(channel) == {sr.BOT_USER_ID, HANAKO, TARO}
    again = await slack_error(api.conversations_invite(channel=channel, users=HANAKO))
    assert again.response["error"] == "already_in_channel"
    assert again.response["errors"] == [
        {"user": HANAKO, "ok": False, "error": "already_in_channel"}
    ]
    nobody = await slack_error(api.conversations_invite(channel=channel, users="U0NOBODY01"))
    assert nobody.response["error"] == "user_not_found"

    assert (await api.conversations_info(channel=channel))["channel"]["name"] == created["name"]
    private = fake.add_channel("secret", is_private=True, bot_member=False)
    listed = await api.conversations_list(types="public_channel,private_channel", limit=1)
    assert len(listed["channels"]) == 1 and listed["response_metadata"]["next_cursor"]
    page2 = await api.conversations_list(
        types="public_channel,private_channel", cursor=listed["response_metadata"]["next_cursor"]
    )
    names = {c["name"] for c in listed["channels"] + page2["channels"]}
    assert names == {"coordinators", created["name"]}  # not the private one the bot is not in

    outside = fake.add_channel("random", bot_member=False)
    assert (await api.conversations_join(channel=outside))["channel"]["is_member"] is True
    joined_again = await api.conversations_join(channel=outside)
    assert joined_again["warning"] == "already_in_channel"
    refused = await slack_error(api.conversations_join(channel=private))
    assert refused.response["error"] == "method_not_supported_for_channel_type"
    outsider = fake.add_channel("elsewhere", bot_member=False)
    error = await slack_error(api.conversations_invite(channel=outsider, users=TARO))
    assert error.response["error"] == "not_in_channel"


async def test_invite_with_force_skips_the_invalid_and_private_channels_are_listed_to_members(
    fake: FakeSlackApi,
) -> None:
    api = client(fake)
    team = (await api.conversations_create(name="kawasaki2017-hinata-p12", is_private=True))[
        "channel"
    ]
    assert team["is_private"] is True and team["is_member"] is True
    await api.conversations_invite(channel=team["id"], users=HANAKO)
    # HANAKO is in already and U0NOBODY01 does not exist: TARO is invited all the same.
    mixed = await api.conversations_invite(
        channel=team["id"], users=[HANAKO, TARO, "U0NOBODY01"], force=True
    )
    assert {e["error"] for e in mixed["errors"]} == {"already_in_channel", "user_not_found"}
    assert fake.members(team["id"]) == {sr.BOT_USER_ID, HANAKO, TARO}
    # With nobody left to invite, force does not make it succeed.
    none_valid = await slack_error(
        api.conversations_invite(channel=team["id"], users=[HANAKO, TARO], force=True)
    )
    assert none_valid.response["error"] == "already_in_channel"
    # name_taken, then found by name among the channels the bot can see (its private ones too).
    taken = await slack_error(api.conversations_create(name="kawasaki2017-hinata-p12"))
    assert taken.response["error"] == "name_taken"
    listed = await api.conversations_list(types="public_channel,private_channel")
    assert [c["id"] for c in listed["channels"] if c["name"] == team["name"]] == [team["id"]]


async def test_a_method_outside_the_granted_scopes_is_refused(fake: FakeSlackApi) -> None:
    api = client(fake)
    fake.scopes.discard("chat:write")
    refused = await slack_error(api.chat_postMessage(channel=HANAKO, text="hi"))
    assert refused.response["error"] == "missing_scope"
    assert refused.response["needed"] == "chat:write"
    assert "chat:write" not in refused.response.headers["x-oauth-scopes"]


async def test_users_usergroups_team_permalink_ephemeral_and_dm(fake: FakeSlackApi) -> None:
    api = client(fake)
    # The fake answers more than the app calls today; grant those methods' scopes here.
    fake.scopes |= {"users:read", "team:read"}
    fake.add_usergroup("S0COORDS01", [HANAKO])
    user = (await api.users_info(user=HANAKO, include_locale=True))["user"]
    assert (user["id"], user["name"], user["is_admin"], user["locale"]) == (
        HANAKO,
        "hanako",
        True,
        "ja-JP",
    )
    assert (await slack_error(api.users_info(user="U0NOBODY01"))).response[
        "error"
    ] == "user_not_found"
    assert (await api.usergroups_users_list(usergroup="S0COORDS01"))["users"] == [HANAKO]
    assert (await slack_error(api.usergroups_users_list(usergroup="S0NONE"))).response[
        "error"
    ] == "no_such_subteam"
    team = (await api.team_info())["team"]
    assert (team["id"], team["domain"]) == (sr.TEAM_ID, sr.TEAM_DOMAIN)

    posted = await api.chat_postMessage(channel=COORDINATORS, text="a")
    link = (await api.chat_getPermalink(channel=COORDINATORS, message_ts=posted["ts"]))["permalink"]
    assert link.endswith(f"/archives/{COORDINATORS}/p{posted['ts'].replace('.', '')}")

    sent = await api.chat_postEphemeral(channel=COORDINATORS, user=HANAKO, text="あなただけに")
    assert TS.match(sent["message_ts"])
    assert [e["text"] for e in fake.ephemerals(HANAKO)] == ["あなただけに"]
    outsider = await slack_error(api.chat_postEphemeral(channel=COORDINATORS, user=TARO, text="x"))
    assert outsider.response["error"] == "user_not_in_channel"

    dm = await api.chat_postMessage(channel=TARO, text="こんにちは")
    assert dm["channel"].startswith("D") and fake.messages(dm["channel"])[0]["text"] == "こんにちは"


async def test_unknown_method(fake: FakeSlackApi) -> None:
    error = await slack_error(client(fake).api_call("chat.scheduleEverything"))
    assert error.response["error"] == "unknown_method"


# --- faults --------------------------------------------------------------------------------------


async def test_fail_next_500_twice_then_ok(fake: FakeSlackApi) -> None:
    api = client(fake)
    fake.fail_next(2, 500, method="chat.postMessage")
    assert (await api.auth_test())["ok"]  # another method is not affected
    for _ in range(2):
        error = await slack_error(api.chat_postMessage(channel=COORDINATORS, text="x"))
        assert error.response.status_code == 500 and error.response["error"] == "fatal_error"
    await api.chat_postMessage(channel=COORDINATORS, text="x")
    assert [r.status for r in fake.calls("chat.postMessage")] == [500, 500, 200]
    assert fake.errors == [] and fake.counts["injected"] == 2

    # slack_sdk's own retry handler gets through the same faults.
    fake.fail_next(2, 500)
    retrying = client(
        fake,
        retry_handlers=[
            AsyncServerErrorRetryHandler(
                max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.0)
            )
        ],
    )
    await retrying.chat_postMessage(channel=COORDINATORS, text="retried")
    assert fake.messages(COORDINATORS)[-1]["text"] == "retried"


async def test_429_carries_retry_after_and_the_sdk_handler_honours_it(fake: FakeSlackApi) -> None:
    fake.fail_next(1, 429, retry_after=30)
    error = await slack_error(client(fake).chat_postMessage(channel=COORDINATORS, text="x"))
    assert error.response.status_code == 429 and error.response["error"] == "ratelimited"
    assert error.response.headers["Retry-After"] == "30"

    fake.fail_next(1, 429, retry_after=0)
    api = client(fake, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    await api.chat_postMessage(channel=COORDINATORS, text="after the wait")
    assert [r.status for r in fake.calls("chat.postMessage")] == [429, 429, 200]

    fake.fail_next(1, 200, error="is_archived")
    archived = await slack_error(client(fake).chat_postMessage(channel=COORDINATORS, text="x"))
    assert archived.response.status_code == 200 and archived.response["error"] == "is_archived"


async def test_latency_delays_answers() -> None:
    with FakeSlackApi(TOKEN, latency=0.05) as slow:
        started = time.monotonic()
        await client(slow).auth_test()
        assert time.monotonic() - started >= 0.05


# --- how slack_sdk sends each method ---------------------------------------------------------


async def test_how_the_async_client_encodes_each_method(fake: FakeSlackApi) -> None:
    api = client(fake)
    await api.auth_test()
    await api.chat_postMessage(channel=COORDINATORS, text="x")
    await api.conversations_create(name="new-one")
    await api.conversations_info(channel=COORDINATORS)
    seen = {(r.method, r.http_method, r.encoding) for r in fake.requests}
    assert seen == {
        ("auth.test", "POST", "query"),  # POST with no body, arguments in the query string
        ("chat.postMessage", "POST", "json"),
        ("conversations.create", "POST", "query"),
        ("conversations.info", "GET", "query"),
    }
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in fake.requests)


def test_sync_web_client(fake: FakeSlackApi) -> None:
    api = WebClient(token=TOKEN, base_url=fake.base_url)
    assert api.chat_postMessage(channel=COORDINATORS, text="同期")["ok"]
    assert api.conversations_info(channel=COORDINATORS)["channel"]["id"] == COORDINATORS
    # The sync client POSTs everything; arguments of "GET" methods travel as a form body.
    assert [(r.http_method, r.encoding) for r in fake.requests] == [
        ("POST", "json"),
        ("POST", "form"),
    ]
    assert fake.wait_for_messages(COORDINATORS, 1)[0]["text"] == "同期"


# --- CLI -------------------------------------------------------------------------------------


def test_cli_process_serves_and_stops_on_sigterm() -> None:
    cmd = [
        sys.executable,
        "-m",
        "tests.fakes.slack_api",
        "--port",
        "0",
        "--token",
        "xoxb-cli",
        "--channel",
        f"coordinators={COORDINATORS}",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 15)
            assert ready, "no READY line within 15 s"
            line = proc.stdout.readline().strip()
            assert re.fullmatch(r"READY http://127\.0\.0\.1:\d+/api/", line), line
            url = line.split()[1]
            api = WebClient(token="xoxb-cli", base_url=url)
            assert api.chat_postMessage(channel=COORDINATORS, text="from afar")["ok"]
            root = url.removesuffix("/api/")
            messages = httpx.get(f"{root}/__fake/messages", params={"channel": COORDINATORS})
            assert [m["text"] for m in messages.json()] == ["from afar"]
            assert httpx.get(f"{root}/__fake/stats").json()["messages"] == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0


# --- request builders: signatures ---------------------------------------------------------------


def test_signatures_verify_with_slack_sdk() -> None:
    verifier = SignatureVerifier(SECRET)
    body = sr.event_callback(sr.app_mention(HANAKO, f"<@{sr.BOT_USER_ID}> hi", COORDINATORS))
    headers = sr.signed(body, SECRET)
    assert headers["Content-Type"] == "application/json"
    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid_request(body.replace("hi", "hI"), headers)
    assert not verifier.is_valid_request(body, sr.signed(body, "another-secret"))
    stale = sr.signed(body, SECRET, timestamp=int(time.time()) - 6 * 60)
    assert not verifier.is_valid_request(body, stale)

    form_body = sr.slash_command(HANAKO, "/tsunagu", "status")
    form_headers = sr.signed(form_body, SECRET)
    assert form_headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert verifier.is_valid_request(form_body, form_headers)
    assert sr.retry_headers(2) == {"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"}


def test_slash_command_fields_are_slacks_in_slacks_order() -> None:
    fields = parse_qs(sr.slash_command(HANAKO, "/tsunagu", "承認 42", COORDINATORS))
    assert list(fields) == [
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    ]
    assert fields["command"] == ["/tsunagu"] and fields["text"] == ["承認 42"]
    assert fields["is_enterprise_install"] == ["false"]


def test_interactive_payloads_are_complete() -> None:
    payload = json.loads(
        parse_qs(sr.block_actions(HANAKO, "approve", "match:1", COORDINATORS, "1.000100"))[
            "payload"
        ][0]
    )
    assert set(payload) == {
        "type",
        "user",
        "api_app_id",
        "token",
        "container",
        "trigger_id",
        "team",
        "enterprise",
        "is_enterprise_install",
        "channel",
        "message",
        "state",
        "response_url",
        "actions",
    }
    [action] = payload["actions"]
    assert set(action) == {"action_id", "block_id", "text", "value", "type", "action_ts"}
    assert set(payload["user"]) == {"id", "username", "name", "team_id"}
    submission = json.loads(
        parse_qs(sr.view_submission(HANAKO, "signup", "m", {"name": {"value": "花子"}}))["payload"][
            0
        ]
    )
    assert submission["view"]["state"]["values"] == {
        "name": {"value": {"type": "plain_text_input", "value": "花子"}}
    }


# --- request builders through a real Bolt app ----------------------------------------------------


def bolt_app(fake: FakeSlackApi, seen: list[tuple[str, Any]]) -> AsyncApp:
    # The fake stands in for Slack's Web API (auth.test on the first request, and whatever
    # the listeners call); request verification stays on.
    app = AsyncApp(client=client(fake), signing_secret=SECRET, process_before_response=True)

    @app.action("approve")
    async def approve(ack: Any, body: dict[str, Any], client: AsyncWebClient, respond: Any) -> None:
        await ack()
        seen.append(("action", body["actions"][0]["value"]))
        channel, ts = body["channel"]["id"], body["container"]["message_ts"]
        await client.chat_update(channel=channel, ts=ts, text="承認済み", blocks=[section("✅")])
        await respond(text="承認しました", response_type="ephemeral")

    @app.command("/tsunagu")
    async def command(ack: Any, command: dict[str, Any]) -> None:
        await ack("受け付けました")
        seen.append(("command", command["text"]))

    @app.view("signup")
    async def submitted(ack: Any, view: dict[str, Any]) -> None:
        await ack()
        seen.append(("view", (view["private_metadata"], view["state"]["values"])))

    @app.event("app_mention")
    async def mentioned(event: dict[str, Any], request: AsyncBoltRequest) -> None:
        seen.append(("event", (event["text"], request.headers.get("x-slack-retry-num"))))

    return app


async def dispatch(app: AsyncApp, body: str, headers: dict[str, str]) -> Any:
    bolt_headers: dict[str, str | Sequence[str]] = {**headers}
    return await app.async_dispatch(AsyncBoltRequest(body=body, headers=bolt_headers))


async def test_bolt_routes_every_builder(fake: FakeSlackApi) -> None:
    seen: list[tuple[str, Any]] = []
    app = bolt_app(fake, seen)
    api = client(fake)
    await api.chat_postMessage(channel=COORDINATORS, text="候補", blocks=approval_blocks(7))

    found = fake.find_button(COORDINATORS, "承認")
    assert (found.action_id, found.value, found.block_id) == ("approve", "match:7", "match-7")
    with pytest.raises(LookupError, match="'承認'"):
        fake.find_button(COORDINATORS, "参加")
    body = sr.block_actions(
        HANAKO,
        found.action_id,
        found.value,
        COORDINATORS,
        found.message_ts,
        block_id=found.block_id,
        message=found.message,
        response_url=fake.response_url(COORDINATORS, found.message_ts, user=HANAKO),
    )
    response = await dispatch(app, body, sr.signed(body, SECRET))
    assert response.status == 200
    assert fake.messages(COORDINATORS)[0]["text"] == "承認済み"
    assert [e["text"] for e in fake.ephemerals(HANAKO)] == ["承認しました"]
    assert fake.responses()[0]["text"] == "承認しました"

    body = sr.slash_command(HANAKO, "/tsunagu", "status", COORDINATORS)
    response = await dispatch(app, body, sr.signed(body, SECRET))
    assert (response.status, response.body) == (200, "受け付けました")

    body = sr.view_submission(HANAKO, "signup", "volunteer:3", {"name": {"value": "花子"}})
    assert (await dispatch(app, body, sr.signed(body, SECRET))).status == 200

    event = sr.app_mention(HANAKO, f"<@{sr.BOT_USER_ID}> 状況は？", COORDINATORS)
    body = sr.event_callback(event)
    headers = {**sr.signed(body, SECRET), **sr.retry_headers(1)}
    assert (await dispatch(app, body, headers)).status == 200

    assert seen == [
        ("action", "match:7"),
        ("command", "status"),
        (
            "view",
            ("volunteer:3", {"name": {"value": {"type": "plain_text_input", "value": "花子"}}}),
        ),
        ("event", (f"<@{sr.BOT_USER_ID}> 状況は？", ["1"])),
    ]
    assert [r.method for r in fake.calls("auth.test")] == ["auth.test"]  # Bolt asked once


async def test_bolt_rejects_tampered_and_stale_requests(fake: FakeSlackApi) -> None:
    seen: list[tuple[str, Any]] = []
    app = bolt_app(fake, seen)
    body = sr.slash_command(HANAKO, "/tsunagu", "status")
    headers = sr.signed(body, SECRET)
    tampered = await dispatch(app, body.replace("status", "delete"), headers)
    assert tampered.status == 401
    stale = sr.signed(body, SECRET, timestamp=int(time.time()) - 6 * 60)
    assert (await dispatch(app, body, stale)).status == 401
    assert seen == [] and fake.requests == []  # refused before any Web API call

    challenge = sr.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    response = await dispatch(app, challenge, sr.signed(challenge, SECRET))
    assert response.status == 200
    assert json.loads(response.body) == {
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    }


async def test_post_rate_limits_per_channel_and_per_workspace() -> None:
    with FakeSlackApi(token=TOKEN, post_rate_limits=(1.0, 3.0)) as fake:
        ids = [fake.add_channel(f"team-{i}") for i in range(4)]
        api = client(fake)
        await api.chat_postMessage(channel=ids[0], text="one")
        with pytest.raises(SlackApiError) as same_channel:
            await api.chat_postMessage(channel=ids[0], text="two")
        await api.chat_postMessage(channel=ids[1], text="one")
        await api.chat_postMessage(channel=ids[2], text="one")
        with pytest.raises(SlackApiError) as workspace:
            await api.chat_postMessage(channel=ids[3], text="one")
        await api.chat_update(channel=ids[0], ts=fake.messages(ids[0])[0]["ts"], text="edited")
    for refused in (same_channel.value, workspace.value):
        assert refused.response.status_code == 429
        assert refused.response["error"] == "ratelimited"
        assert int(refused.response.headers["Retry-After"]) >= 1
    assert [len(fake.messages(i)) for i in ids] == [1, 1, 1, 0]


# --- files_upload_v2 to a direct message ---------------------------------------------------


async def test_files_upload_v2_to_a_dm_and_slacks_refusals(fake: FakeSlackApi) -> None:
    api = client(fake)
    dm = (await api.conversations_open(users=TARO))["channel"]["id"]
    assert dm.startswith("D") and fake.dm_id(TARO) == dm
    assert (await api.conversations_open(users=TARO))["channel"]["id"] == dm  # the same DM
    sent = await api.files_upload_v2(
        channel=dm,
        initial_comment="書き出しました",
        file_uploads=[
            {"content": "名前,地域\n花子,川崎\n", "filename": "volunteers.csv", "title": "一覧"},
            {"content": b"\x89PNG....", "filename": "funnel.png"},
        ],
    )
    assert [f["name"] for f in sent["files"]] == ["volunteers.csv", "funnel.png"]
    shared = fake.files(dm)
    assert shared[0]["content"] == "名前,地域\n花子,川崎\n".encode()
    assert shared[0]["title"] == "一覧" and shared[0]["initial_comment"] == "書き出しました"
    assert shared[1]["content"] == b"\x89PNG...."
    [message] = fake.messages(dm)
    assert message["text"] == "書き出しました" and len(message["files"]) == 2

    # A file never uploaded, a missing length, and a user who does not exist.
    unknown = await slack_error(api.files_completeUploadExternal(files=[{"id": "F0NOPE"}]))
    assert unknown.response["error"] == "file_not_found"
    no_length = await slack_error(
        api.api_call("files.getUploadURLExternal", params={"filename": "a"})
    )
    assert no_length.response["error"] == "invalid_arguments"
    nobody = await slack_error(api.conversations_open(users="U0NOBODY01"))
    assert nobody.response["error"] == "user_not_found"
    # Without files:write Slack says which scope is missing.
    fake.scopes.discard("files:write")
    missing = await slack_error(api.files_getUploadURLExternal(filename="a.csv", length=3))
    assert missing.response["error"] == "missing_scope"
