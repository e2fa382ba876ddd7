"""The sandbox without a browser: when it starts, its fake LINE and Slack answering the
real SDK clients over HTTP, the page's signed requests through the real webhooks, and the
demo data loaded through the core (from the page's button and from `tsunagu demo`)."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    MulticastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
    TextMessage,
)
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from starlette.applications import Starlette
from starlette.routing import Mount

from bot.settings import SANDBOX_COORDINATOR_CHANNEL, SANDBOX_SQLITE_PATH, Settings
from handlers.cli import main as cli
from handlers.sandbox.changes import Changes
from handlers.sandbox.line_api import LineWorld
from handlers.sandbox.slack_api import Channel, SlackPerson, SlackWorld
from tests.browser.server import SandboxServer
from tests.support import HTTP, AppServer, scalar

REPO_ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- when the sandbox is on


def settings(**values: str) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_sandbox_is_on_without_credentials_and_off_with_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("LINE_CHANNEL_SECRET", "SLACK_BOT_TOKEN", "TSUNAGU_SANDBOX", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    line = {"LINE_CHANNEL_SECRET": "s", "LINE_CHANNEL_ACCESS_TOKEN": "t"}
    slack = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    assert settings().sandbox_enabled
    assert not settings(**line).sandbox_enabled
    assert not settings(**slack).sandbox_enabled
    assert settings(TSUNAGU_SANDBOX="on", **line, **slack).sandbox_enabled
    assert not settings(TSUNAGU_SANDBOX="off").sandbox_enabled
    with pytest.raises(ValueError):
        settings(TSUNAGU_SANDBOX="maybe")


def test_sandboxed_settings_use_their_own_database_never_the_real_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("DATABASE_URL", "TSUNAGU_SANDBOX_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    played = settings(PORT="8123", LINE_CHANNEL_SECRET="real").sandboxed("ls", "lt", "st", "ss")
    assert played.database_url == f"sqlite:///{SANDBOX_SQLITE_PATH}"
    assert played.line_channel_secret == "ls" and played.slack_bot_token == "st"
    assert played.line_api_base_url == "http://127.0.0.1:8123/sandbox/line-api"
    assert played.slack_api_base_url == "http://127.0.0.1:8123/sandbox/slack-api/"
    assert played.slack_coordinator_channel == SANDBOX_COORDINATOR_CHANNEL
    # A real programme's database (as a filled-in .env gives it) is never the sandbox's.
    monkeypatch.setenv("DATABASE_URL", "postgresql://tsunagu@db:5432/programme")
    real = Settings(_env_file=None)  # type: ignore[call-arg]
    assert real.sandboxed("a", "b", "c", "d").database_url == f"sqlite:///{SANDBOX_SQLITE_PATH}"
    # Only its own setting moves the sandbox's database.
    monkeypatch.setenv("TSUNAGU_SANDBOX_DATABASE_URL", "sqlite:///elsewhere.sqlite3")
    given = Settings(_env_file=None).sandboxed("a", "b", "c", "d")  # type: ignore[call-arg]
    assert given.database_url == "sqlite:///elsewhere.sqlite3"


def test_env_example_keeps_the_sandbox_out_of_the_real_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cp .env.example .env`, as the README says, then fill in the real database."""
    for name in Settings.model_fields.values():
        monkeypatch.delenv(str(name.alias), raising=False)
    example = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(example, encoding="utf-8")
    copied = Settings()
    assert copied.sandbox_enabled  # no credentials yet: the sandbox is on
    assert copied.sandboxed("a", "b", "c", "d").database_url == f"sqlite:///{SANDBOX_SQLITE_PATH}"
    # The operator fills in the programme's database and keeps the sandbox on.
    filled = example.replace(
        "# DATABASE_URL=", "DATABASE_URL=postgresql://tsunagu@db/programme\n# was: "
    )
    assert filled != example
    (tmp_path / ".env").write_text(filled + "\nTSUNAGU_SANDBOX=on\n", encoding="utf-8")
    real = Settings()
    assert real.database_url == "postgresql://tsunagu@db/programme"
    assert real.sandboxed("a", "b", "c", "d").database_url == f"sqlite:///{SANDBOX_SQLITE_PATH}"


def test_env_example_lists_every_setting() -> None:
    example = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    names = {str(field.alias) for field in Settings.model_fields.values()}
    assert names - listed == set()
    # Besides the app's settings, only what compose.yaml reads for PostgreSQL and Caddy.
    assert listed - names == {"POSTGRES_PASSWORD", "TSUNAGU_DOMAIN"}


def test_without_credentials_the_app_serves_the_sandbox_page_and_checks_signatures(
    database_url: str,
) -> None:
    with SandboxServer(database_url, TSUNAGU_SANDBOX="auto") as server:
        page = HTTP.get(server.url + "/")
        assert page.status_code == 200 and "Tsunagu sandbox" in page.text
        assert HTTP.get(server.url + "/sandbox/static/app.js").status_code == 200
        health = HTTP.get(server.url + "/healthz").json()
        # Nothing reaches the real LINE or Slack: the health check says so.
        assert health["sandbox"] is True
        assert health["channels"] == {"line": "sandbox", "slack": "sandbox"}
        # The webhooks still verify signatures with the SDKs.
        assert HTTP.post(server.url + "/line/webhook", content=b"{}").status_code == 401
        unsigned = HTTP.post(server.url + "/slack/events", content=b"command=/tsunagu")
        assert unsigned.status_code == 401


def test_with_credentials_the_sandbox_is_off(app: AppServer) -> None:
    assert HTTP.get(app.url + "/").text.startswith("Tsunagu is running")
    assert HTTP.get(app.url + "/sandbox/api/state").status_code == 404
    assert HTTP.get(app.url + "/healthz").json()["sandbox"] is False


# ---------------------------------------------------------------- the page's requests


def chat(state: dict[str, Any], user: str) -> list[dict[str, Any]]:
    return list(state["line"]["chats"].get(user, []))


def bot_texts(state: dict[str, Any], user: str) -> list[str]:
    return [
        m.get("text", "") for e in chat(state, user) if e["from"] == "bot" for m in e["messages"]
    ]


def test_a_persona_follows_taps_and_types_through_the_signed_webhook(database_url: str) -> None:
    with SandboxServer(database_url) as server:
        made = HTTP.post(
            f"{server.url}/sandbox/api/line/personas",
            json={"name": "Alex", "kind": "volunteer", "language": "en"},
        )
        user = made.json()["user_id"]
        assert (
            server.deliver(
                "/sandbox/api/line/webhook", {"user": user, "type": "follow"}
            ).status_code
            == 200
        )
        # The greeting is in the persona's LINE language (the app asked the fake's profile API).
        state = server.wait_for(lambda s: len(chat(s, user)) >= 2 and s)
        greeting = chat(state, user)[-1]
        assert greeting["via"] == "reply"
        assert "Thanks for adding Tsunagu" in greeting["messages"][0]["text"]
        items = greeting["messages"][-1]["quickReply"]["items"]
        volunteer = next(i["action"] for i in items if "volunteer" in i["action"]["label"])
        server.deliver(
            "/sandbox/api/line/webhook",
            {
                "user": user,
                "type": "postback",
                "data": volunteer["data"],
                "display": volunteer["displayText"],
            },
        )
        state = server.wait_for(lambda s: any("name" in t for t in bot_texts(s, user)[1:]) and s)
        assert chat(state, user)[2] == {
            **chat(state, user)[2],
            "from": "user",
            "text": volunteer["displayText"],
        }
        server.deliver(
            "/sandbox/api/line/webhook", {"user": user, "type": "message", "text": "Alex Kim"}
        )
        server.wait_for(lambda s: len([e for e in chat(s, user) if e["from"] == "bot"]) >= 3)
        # A body changed after signing is refused by the SDK's check: no reply follows.
        built = HTTP.post(
            f"{server.url}/sandbox/api/line/webhook",
            json={"user": user, "type": "message", "text": "hello"},
        ).json()
        forged = built["body"].replace("hello", "HELLO")
        answer = HTTP.post(
            server.url + "/line/webhook", content=forged.encode(), headers=built["headers"]
        )
        assert answer.status_code == 401
        assert (
            HTTP.post(
                f"{server.url}/sandbox/api/line/personas", json={"name": "", "kind": "x"}
            ).status_code
            == 400
        )


def test_slack_clicks_and_commands_go_through_bolt_with_real_signatures(database_url: str) -> None:
    with SandboxServer(database_url) as server:
        answer = server.deliver(
            "/sandbox/api/slack/request",
            {
                "type": "command",
                "user": "U0SANDMEMB1",
                "channel": SANDBOX_COORDINATOR_CHANNEL,
                "text": "projects",
            },
        )
        assert answer.status_code == 200
        assert "コーディネーター" in answer.json()["text"]  # refused: not a coordinator
        answer = server.deliver(
            "/sandbox/api/slack/request",
            {
                "type": "command",
                "user": "U0SANDCOOR1",
                "channel": SANDBOX_COORDINATOR_CHANNEL,
                "text": "help",
            },
        )
        assert "/tsunagu" in answer.json()["text"]
        HTTP.post(
            f"{server.url}/sandbox/api/slack/answer",
            json={
                "user": "U0SANDCOOR1",
                "channel": SANDBOX_COORDINATOR_CHANNEL,
                "command": "/tsunagu help",
                "answer": answer.json(),
            },
        )
        shown = server.state()["slack"]["ephemerals"]
        assert shown[-1]["user"] == "U0SANDCOOR1" and "/tsunagu" in shown[-1]["text"]
        bad = HTTP.post(
            f"{server.url}/sandbox/api/slack/request",
            json={
                "type": "block_actions",
                "user": "U0SANDCOOR1",
                "channel": SANDBOX_COORDINATOR_CHANNEL,
                "ts": "1.2",
            },
        )
        assert bad.status_code == 400


# ---------------------------------------------------------------- demo data


def count(database_url: str, table: str, where: str = "") -> int:
    return int(scalar(database_url, f"SELECT count(*) FROM {table} {where}"))


def cards(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        m for m in state["slack"]["messages"][SANDBOX_COORDINATOR_CHANNEL] if not m.get("thread_ts")
    ]


def buttons(message: dict[str, Any]) -> list[str]:
    return [
        e["text"]["text"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def test_the_demo_button_loads_groups_and_volunteers_through_the_core(database_url: str) -> None:
    with SandboxServer(database_url) as server:
        assert server.state()["line"]["personas"] == []
        loaded = HTTP.post(f"{server.url}/sandbox/api/demo", timeout=30).json()
        assert loaded == {"already_loaded": False, "projects": 5}
        assert count(database_url, "volunteers") == 18
        assert count(database_url, "organizations") == 5
        assert count(database_url, "projects", "WHERE status = 'recruiting'") == 5
        assert count(database_url, "audit_log", "WHERE action = 'accept'") == 5

        # Five request cards reach the coordinators, each updated to accepted with 候補を提案,
        # and Accept proposes a first team for each: five team cards with 全員を承認.
        def requests(s: dict[str, Any]) -> list[dict[str, Any]]:
            return [c for c in cards(s) if c["text"].startswith("新しい相談")]

        def proposals(s: dict[str, Any]) -> list[dict[str, Any]]:
            return [c for c in cards(s) if c["text"].startswith("チーム案")]

        state = server.wait_for(
            lambda s: (
                len(requests(s)) == 5
                and all("候補を提案" in buttons(c) for c in requests(s))
                and len(proposals(s)) == 5
                and all("全員を承認" in buttons(c) for c in proposals(s))
                and len(cards(s)) == 10
                and s
            ),
            timeout=60,
        )
        titles = " ".join(c["text"] for c in requests(state))
        for group in (
            "こども未来塾",
            "シェアドッグスクール",
            "みどりなくらし",
            "青丘社",
            "じもたんkids",
        ):
            assert group in titles
        assert len(state["line"]["personas"]) == 23
        again = HTTP.post(f"{server.url}/sandbox/api/demo", timeout=30).json()
        assert again["already_loaded"] is True
        assert count(database_url, "volunteers") == 18


def test_the_demo_programme_and_the_fast_forward_clock(database_url: str) -> None:
    with SandboxServer(database_url) as server:
        HTTP.post(f"{server.url}/sandbox/api/demo", timeout=60).raise_for_status()
        # The Kawasaki 2017 programme, moved to start today, and the requests joined it.
        assert count(database_url, "programmes") == 1
        assert count(database_url, "projects", "WHERE programme_id = 1") == 5
        # Announcements long past when it was written are not sent (nor reported missed).
        past = count(database_url, "announcements", "WHERE state = 'skipped'")
        scheduled = count(database_url, "announcements", "WHERE state = 'scheduled'")
        assert past >= 1 and scheduled >= 10
        before = server.state()["calendar_now"]
        # Out of range or malformed: a clear 400, the clock does not move.
        for bad in ({"hours": 0}, {"hours": "soon"}, {"hours": 10**6}):
            answer = HTTP.post(f"{server.url}/sandbox/api/clock", json=bad, timeout=10)
            assert answer.status_code == 400 and "hours" in answer.json()["error"]
        assert server.state()["calendar_now"] == before
        # Four weeks on: everything due on the way goes out, in order, once.
        moved = HTTP.post(f"{server.url}/sandbox/api/clock", json={"hours": 24 * 28}, timeout=120)
        assert moved.status_code == 200
        done = moved.json()["done"]
        assert done.get("sent", 0) >= 1 and not done.get("skipped")
        assert moved.json()["now"] > before
        sent = count(database_url, "announcements", "WHERE state = 'sent'")
        assert sent == done["sent"]
        assert count(database_url, "announcements", "WHERE state = 'skipped'") == past
        # The team-formation phase (about 6 weeks after the first briefing) is still ahead.
        assert count(database_url, "announcements", "WHERE state = 'scheduled'") == (
            scheduled - sent
        )


def test_tsunagu_demo_loads_once_and_refuses_real_platforms(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the working copy
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TSUNAGU_SANDBOX_DATABASE_URL", database_url)
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "real-secret")
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", "real-token")
    assert cli(["demo"]) == 2
    assert count(database_url, "volunteers") == 0
    monkeypatch.setenv("TSUNAGU_SANDBOX", "on")
    assert cli(["demo"]) == 0
    assert "Loaded 5 groups with 5 accepted requests and 18 volunteers" in capsys.readouterr().out
    assert count(database_url, "projects", "WHERE status = 'recruiting'") == 5
    # The cards wait in the outbox for the sandbox's coordinator channel.
    assert (
        count(
            database_url,
            "outbox",
            f"WHERE channel = 'slack' AND target = '{SANDBOX_COORDINATOR_CHANNEL}'",
        )
        >= 5
    )
    assert cli(["demo"]) == 0
    assert "already loaded" in capsys.readouterr().out
    assert count(database_url, "volunteers") == 18


# ---------------------------------------------------------------- the fakes and the SDKs


@pytest.fixture
def worlds() -> Iterator[tuple[str, LineWorld, SlackWorld]]:
    """The two fakes alone, served over HTTP for the SDK clients."""
    changes = Changes()
    line = LineWorld("line-token", "line-secret", changes)
    slack = SlackWorld("xoxb-slack", "slack-secret", changes)
    slack.add_person(SlackPerson("U0SANDCOOR1", "aoi", "Aoi", True))
    slack.add_channel(Channel("C0SANDCOORD", "coordinators", members=["U0SANDCOOR1"]))
    slack.usergroups["S0COORDS"] = ["U0SANDCOOR1"]
    app = Starlette(
        routes=[Mount("/line", routes=line.routes()), Mount("/slack", routes=slack.routes())]
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", line, slack
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_fake_line_answers_the_sdk_like_the_messaging_api(
    worlds: tuple[str, LineWorld, SlackWorld],
) -> None:
    url, line, _ = worlds
    user = line.add_persona("Mika", "volunteer", "ja").user_id
    config = Configuration(host=url + "/line", access_token="line-token")
    with ApiClient(config) as client:
        api = MessagingApi(client)
        profile = api.get_profile(user)
        assert (profile.display_name, profile.language) == ("Mika", "ja")
        body, signature = line.webhook(user, "message", text="こんにちは")
        assert line.sign(body) == signature
        token = json.loads(body)["events"][0]["replyToken"]
        api.reply_message(
            ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="はい")])
        )
        with pytest.raises(ApiException) as used:  # a reply token works once
            api.reply_message(
                ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="x")])
            )
        assert used.value.status == 400
        key = str(uuid.uuid4())
        api.push_message(
            PushMessageRequest(to=user, messages=[TextMessage(text="push")]), x_line_retry_key=key
        )
        with pytest.raises(ApiException) as again:  # the retry key was accepted already
            api.push_message(
                PushMessageRequest(to=user, messages=[TextMessage(text="push")]),
                x_line_retry_key=key,
            )
        assert again.value.status == 409
        other = line.add_persona("Group", "group", "en").user_id
        api.multicast(MulticastRequest(to=[user, other], messages=[TextMessage(text="all")]))
        with pytest.raises(ApiException) as missing:
            api.get_profile("U" + "0" * 32)
        assert missing.value.status == 404
    with ApiClient(Configuration(host=url + "/line", access_token="wrong")) as client:
        with pytest.raises(ApiException) as denied:
            MessagingApi(client).get_profile(user)
        assert denied.value.status == 401
    seen = [
        (e["from"], e.get("via"), e.get("text") or e["messages"][0]["text"])
        for e in line.chats[user]
    ]
    assert seen == [
        ("user", None, "こんにちは"),
        ("bot", "reply", "はい"),
        ("bot", "push", "push"),
        ("bot", "multicast", "all"),
    ]
    assert [e["messages"][0]["text"] for e in line.chats[other]] == ["all"]


def test_fake_slack_answers_the_sdk_like_the_web_api(
    worlds: tuple[str, LineWorld, SlackWorld],
) -> None:
    url, _, slack = worlds
    client = WebClient(token="xoxb-slack", base_url=url + "/slack/")
    assert client.auth_test()["bot_id"]
    posted = client.chat_postMessage(
        channel="C0SANDCOORD", text="card", blocks=[{"type": "divider"}]
    )
    ts = posted["ts"]
    client.chat_postMessage(channel="C0SANDCOORD", text="in the thread", thread_ts=ts)
    client.chat_update(channel="C0SANDCOORD", ts=ts, text="card v2")
    client.chat_postEphemeral(channel="C0SANDCOORD", user="U0SANDCOOR1", text="only you")
    client.chat_postMessage(channel="U0SANDCOOR1", text="a DM")
    messages = slack.messages["C0SANDCOORD"]
    assert [(m["text"], m.get("thread_ts")) for m in messages] == [
        ("card v2", None),
        ("in the thread", ts),
    ]
    assert slack.ephemerals[0]["text"] == "only you"
    assert [m["text"] for m in slack.messages["D0SANDCOOR1"]] == ["a DM"]

    created = client.conversations_create(name="team-kodomo-2017")["channel"]
    client.conversations_invite(channel=created["id"], users="U0SANDCOOR1")
    assert client.conversations_info(channel=created["id"])["channel"]["name"] == "team-kodomo-2017"
    names = [c["name"] for c in client.conversations_list()["channels"]]
    assert names == ["coordinators", "team-kodomo-2017"]
    assert client.users_info(user="U0SANDCOOR1")["user"]["name"] == "aoi"
    assert client.usergroups_users_list(usergroup="S0COORDS")["users"] == ["U0SANDCOOR1"]

    view = {
        "type": "modal",
        "callback_id": "ask",
        "title": {"type": "plain_text", "text": "Ask"},
        "blocks": [],
    }
    opened = client.views_open(trigger_id=slack.new_trigger("U0SANDCOOR1"), view=view)["view"]
    client.views_update(view_id=opened["id"], view={**view, "callback_id": "ask2"})
    assert slack.views["U0SANDCOOR1"][0]["callback_id"] == "ask2"

    for call, error in (
        (lambda: client.conversations_create(name="team-kodomo-2017"), "name_taken"),
        (lambda: client.chat_postMessage(channel="C0NOWHERE", text="x"), "channel_not_found"),
        (lambda: client.views_open(trigger_id="1.2.3", view=view), "invalid_trigger_id"),
        (
            lambda: client.chat_update(channel="C0SANDCOORD", ts="1.000001", text="x"),
            "message_not_found",
        ),
        (
            lambda: WebClient(token="xoxb-wrong", base_url=url + "/slack/").auth_test(),
            "invalid_auth",
        ),
    ):
        with pytest.raises(SlackApiError) as failed:
            call()
        assert failed.value.response["error"] == error


def test_the_start_banner_says_sandbox_not_enabled(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tsunagu")
    with SandboxServer(database_url, TSUNAGU_LOG_LEVEL="INFO"):
        banner = [r.getMessage() for r in caplog.records if r.name == "tsunagu"]
    assert "  LINE: sandbox (played by this app at /sandbox/line-api)" in banner
    assert "  Slack: sandbox (played by this app at /sandbox/slack-api)" in banner
    assert not [line for line in banner if "enabled" in line or "disabled" in line]


# ---------------------------------------------------------------- modals and ephemerals


def test_modal_state_is_built_as_slack_sends_it_and_parses_back() -> None:
    from bot.coordination import NeedsForm
    from handlers.sandbox.slack_api import view_state
    from handlers.slack import parse_needs, render_needs_modal

    form = NeedsForm(1, 3, ("facilitation",), (), 2, 4, 5, "online", ())
    view = render_needs_modal(form, "C1", "ja")
    # Nothing touched: every element holds its initial value, empty ones are null.
    untouched = view_state(view, {})
    assert untouched["needs_required"]["value"] == {
        "type": "multi_static_select",
        "selected_options": view["blocks"][1]["element"]["initial_options"],
    }
    assert untouched["needs_optional"]["value"] == {
        "type": "multi_static_select",
        "selected_options": [],
    }
    assert untouched["needs_team_min"]["value"] == {"type": "number_input", "value": "2"}
    assert untouched["needs_mode"]["value"]["selected_option"]["value"] == "online"
    view["state"] = {"values": untouched}
    assert parse_needs(view) == form
    # Changed in the page: option objects come from the view itself.
    changed = view_state(
        view,
        {
            "needs_required": {"value": ["facilitation", "web"]},
            "needs_team_min": {"value": "1"},
            "needs_hours": {"value": ""},
            "needs_mode": {"value": "in_person"},
        },
    )
    view["state"] = {"values": changed}
    parsed = parse_needs(view)
    assert parsed is not None
    assert parsed.required == ("facilitation", "web") and parsed.team_min == 1
    assert parsed.hours_per_week is None and parsed.mode == "in_person"
    assert changed["needs_hours"]["value"] == {"type": "number_input", "value": None}
    # What Slack's client would never send is refused.
    for bad in (
        {"needs_mode": {"value": "by-pigeon"}},
        {"needs_team_min": {"value": "11"}},
        {"needs_team_min": {"value": "1.5"}},
    ):
        with pytest.raises(LookupError):
            view_state(view, bad)


def _ephemeral(state: dict[str, Any], user: str, label: str) -> tuple[str, dict[str, Any]] | None:
    """The newest ephemeral of this user with a button labelled `label`: (ts, button)."""
    for shown in reversed(state["slack"]["ephemerals"]):
        if shown["user"] != user:
            continue
        for block in shown["blocks"]:
            for element in block.get("elements", []):
                if element.get("type") == "button" and element["text"]["text"] == label:
                    return str(shown["ts"]), element
    return None


def test_the_programme_editor_works_from_ephemeral_messages(database_url: str) -> None:
    aoi, ken, channel = "U0SANDCOOR1", "U0SANDCOOR2", SANDBOX_COORDINATOR_CHANNEL
    with SandboxServer(database_url) as server:

        def command(user: str, text: str) -> None:
            answer = server.deliver(
                "/sandbox/api/slack/request",
                {"type": "command", "user": user, "channel": channel, "text": text},
            )
            assert answer.status_code == 200
            HTTP.post(
                f"{server.url}/sandbox/api/slack/answer",
                json={
                    "user": user,
                    "channel": channel,
                    "command": f"/tsunagu {text}",
                    "answer": answer.json(),
                },
                timeout=10,
            ).raise_for_status()

        def click(user: str, label: str) -> None:
            ts, button = server.wait_for(lambda s: _ephemeral(s, user, label))
            answer = server.deliver(
                "/sandbox/api/slack/request",
                {
                    "type": "block_actions",
                    "user": user,
                    "channel": channel,
                    "ts": ts,
                    "action_id": button["action_id"],
                    "value": button["value"],
                },
            )
            assert answer.status_code == 200

        def submit(user: str, values: dict[str, Any]) -> httpx.Response:
            view = server.wait_for(lambda s: (s["slack"]["views"].get(user) or [None])[-1])
            answer = server.deliver(
                "/sandbox/api/slack/request",
                {"type": "view_submission", "user": user, "view_id": view["id"], "values": values},
            )
            HTTP.post(
                f"{server.url}/sandbox/api/slack/close",
                json={"user": user, "view_id": view["id"]},
                timeout=10,
            )
            return answer

        # Ken reads Slack in English, Aoi in Japanese: each gets their own language.
        command(ken, "programme")
        command(aoi, "programme")
        assert server.wait_for(lambda s: _ephemeral(s, ken, "New programme"))
        click(aoi, "新しいプログラム")
        view = server.wait_for(lambda s: (s["slack"]["views"].get(aoi) or [None])[-1])
        assert view["title"]["text"] == "新しいプログラム"
        # The time zone is left as drawn (its initial value is what Slack sends).
        answer = submit(aoi, {"name": {"v": "川崎 2026"}, "slug": {"v": "kawasaki2026"}})
        assert answer.status_code == 200 and answer.text == ""
        server.wait_for(lambda s: count(database_url, "programmes") == 1)
        assert scalar(database_url, "SELECT timezone FROM programmes") == "Asia/Tokyo"

        command(aoi, "programme")
        click(aoi, "フェーズを追加")
        answer = submit(
            aoi,
            {
                "kind": {"v": "briefing"},
                "title_ja": {"v": "事前説明会"},
                "start_date": {"v": "2027-01-20"},
                "start_time": {"v": "18:30"},
                "options": {"v": ["defaults", "rsvp"]},
            },
        )
        assert answer.status_code == 200 and answer.text == ""
        server.wait_for(lambda s: count(database_url, "phases") == 1)
        assert scalar(database_url, "SELECT kind FROM phases") == "briefing"
        assert scalar(database_url, "SELECT rsvp FROM phases") in (1, True)

        # Delete from the private list: Slack's confirm, then the list is drawn again
        # through the response_url, without the phase and with what happened on top.
        command(aoi, "programme")
        click(aoi, "削除")
        state = server.wait_for(
            lambda s: (
                any(
                    "削除し" in (e["text"] or "") and e["user"] == aoi
                    for e in s["slack"]["ephemerals"]
                )
                and s
            )
        )
        replaced = next(e for e in state["slack"]["ephemerals"] if "削除し" in e["text"])
        assert "#1" not in json.dumps(replaced["blocks"], ensure_ascii=False)
        assert scalar(database_url, "SELECT cancelled_at IS NOT NULL FROM phases") in (1, True)
        # A button of someone else's ephemeral, or an option not offered, is refused.
        ts, button = server.wait_for(lambda s: _ephemeral(s, ken, "New programme"))
        foreign = HTTP.post(
            f"{server.url}/sandbox/api/slack/request",
            json={
                "type": "block_actions",
                "user": aoi,
                "channel": channel,
                "ts": ts,
                "action_id": button["action_id"],
                "value": button["value"],
            },
            timeout=10,
        )
        assert foreign.status_code == 400
