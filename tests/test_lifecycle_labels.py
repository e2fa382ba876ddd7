"""Every project state, read where people see a status today: `/tsunagu projects`, the
request card (`/tsunagu project ID`) and the group's own status view in LINE. The labels
come from the one state machine (bot/rules/states.py), in each reader's language."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from bot.rules.states import STATES
from storage.db import sync_url
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import COORDINATORS, AppServer, LineUser, SlackUser, submit_group_request


def _set_status(database_url: str, status: str) -> None:
    """Put the request in a state (test set-up: the walk is about what each surface reads)."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE projects SET status = :s"), {"s": status})
    finally:
        engine.dispose()


def test_every_state_reads_its_label_on_every_surface(
    slack_app: AppServer, database_url: str, fake_line: FakeLineApi, fake_slack: FakeSlackApi
) -> None:
    group = LineUser(slack_app, fake_line)
    submit_group_request(group)
    coordinator = SlackUser(slack_app, fake_slack, COORDINATORS[0], "coordinators")
    fake_slack.wait_for(lambda: fake_slack.messages("coordinators", replies=False), timeout=10)
    for key, state in STATES.items():
        _set_status(database_url, key)
        listing = coordinator.command("projects").json()["text"]
        assert f"#1 こども未来塾 — {state.coordinator('ja')} — " in listing, key
        card = coordinator.command("project 1").json()
        shown = [field["text"] for block in card["blocks"] for field in block.get("fields") or []]
        assert f"*状態*\n{state.coordinator('ja')}" in shown, (key, shown)
        group.say("相談状況")
        assert "#1 " in group.text() and state.group("ja") in group.text(), key
