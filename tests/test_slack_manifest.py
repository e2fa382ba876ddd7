"""The Slack app manifest: every Web API method the code calls is covered by its scopes."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import yaml
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack_manifest import EVENT_SCOPES, METHOD_SCOPES, bot_scopes, manifest_yaml
from handlers.cli import main as cli
from tests.conftest import COORDINATOR_CHANNEL_ID
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import COORDINATORS, AppServer, LineUser, SlackUser, submit_group_request

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_URL = "https://tsunagu.example.org"


def web_api_methods() -> dict[str, str]:
    """slack_sdk's client method names and the Web API method each calls."""
    found: dict[str, str] = {}
    for name, function in inspect.getmembers(AsyncWebClient, inspect.iscoroutinefunction):
        if name.startswith("_") or name == "api_call":
            continue
        called = re.search(r'api_call\(\s*"([a-zA-Z.]+)"', inspect.getsource(function))
        if called:
            found[name] = called.group(1)
    return found


def test_every_web_api_method_in_the_code_has_its_scopes_in_the_manifest() -> None:
    methods = web_api_methods()
    assert methods["chat_postMessage"] == "chat.postMessage"  # the table is read right
    called: dict[str, set[str]] = {}
    for package in ("handlers", "bot"):
        for source in (REPO_ROOT / package).rglob("*.py"):
            text = source.read_text(encoding="utf-8")
            for name in re.findall(r"\.([a-zA-Z]+_[a-zA-Z_]+)\(", text):
                if name in methods:
                    called.setdefault(methods[name], set()).add(source.name)
            for method in re.findall(r'api_call\(\s*"([a-zA-Z.]+)"', text):
                called.setdefault(method, set()).add(source.name)
    assert {"chat.postMessage", "views.open", "conversations.create"} <= set(called)
    missing = {m: sorted(files) for m, files in called.items() if m not in METHOD_SCOPES}
    assert missing == {}, "add these methods and their scopes to bot/slack_manifest.py"
    document = yaml.safe_load(manifest_yaml(EXAMPLE_URL))
    granted = set(document["oauth_config"]["scopes"]["bot"])
    for method in called:
        assert set(METHOD_SCOPES[method]) <= granted, method


def test_the_committed_manifest_is_what_the_command_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "slack" / "manifest.yml"
    assert cli(["slack", "manifest", "--url", EXAMPLE_URL + "/", "--out", str(out)]) == 0
    assert f"{EXAMPLE_URL}/slack/events" in capsys.readouterr().out
    written = out.read_text(encoding="utf-8")
    assert written == (REPO_ROOT / "slack" / "manifest.yml").read_text(encoding="utf-8")
    document = yaml.safe_load(written)
    url = f"{EXAMPLE_URL}/slack/events"
    settings = document["settings"]
    assert settings["event_subscriptions"] == {
        "request_url": url,
        "bot_events": ["app_home_opened", "app_mention"],
    }
    assert settings["interactivity"] == {"is_enabled": True, "request_url": url}
    [command] = document["features"]["slash_commands"]
    assert command["command"] == "/tsunagu" and command["url"] == url
    scopes = document["oauth_config"]["scopes"]["bot"]
    assert scopes == bot_scopes()
    assert {"commands", *EVENT_SCOPES["app_mention"], "chat:write", "groups:write"} <= set(scopes)
    assert {"files:write", "im:write"} <= set(scopes)  # exports and the report to DMs
    assert document["features"]["app_home"]["home_tab_enabled"] is True
    # Slack's limits on the display fields.
    assert len(document["display_information"]["description"]) <= 140
    assert len(command["usage_hint"]) <= 1000


def test_the_manifest_command_wants_a_public_https_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "manifest.yml"
    for bad in ("http://tsunagu.example.org", "tsunagu.example.org", "https://"):
        assert cli(["slack", "manifest", "--url", bad, "--out", str(out)]) == 2
        assert "public HTTPS address" in capsys.readouterr().err
    assert not out.exists()


def test_the_fake_slack_saw_only_methods_the_manifest_covers(
    slack_app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi
) -> None:
    """Including what the SDKs call on their own (Bolt's auth.test)."""
    group = LineUser(slack_app, fake_line)
    submit_group_request(group)
    fake_slack.wait_for(lambda: fake_slack.messages(COORDINATOR_CHANNEL_ID))
    coordinator = SlackUser(slack_app, fake_slack, COORDINATORS[0], "coordinators")
    coordinator.click("受け付ける")
    assert coordinator.command("help").status_code == 200
    fake_slack.wait_for(lambda: fake_slack.calls("chat.update"))
    seen = {r.method for r in fake_slack.requests} - {"response_url"}
    assert {"auth.test", "chat.postMessage", "chat.update"} <= seen
    assert seen <= set(METHOD_SCOPES)
    assert fake_slack.errors == []
