"""Coordinators edit what a project needs in Slack: the modal, its inline errors, who
may do it, the audit, the cards and the thread, recomputed suggestions, and two
coordinators editing at once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests import slack_requests as sr
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import COORDINATORS, OUTSIDER, AppServer, SlackUser, query, scalar
from tests.test_matching_flow import accepted_request, add_volunteers, team_card
from tests.test_slack_coordination import CHANNEL, card_text


@pytest.fixture
def app(slack_app: AppServer) -> AppServer:
    """Here the app always has Slack."""
    return slack_app


def picked(*keys: str) -> dict[str, Any]:
    return {
        "type": "multi_static_select",
        "selected_options": [{"text": {"type": "plain_text", "text": k}, "value": k} for k in keys],
    }


def needs_values(
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
    lo: str = "2",
    hi: str = "5",
    hours: str = "3",
    mode: str = "either",
) -> dict[str, dict[str, Any]]:
    return {
        "needs_required": {"value": picked(*required)},
        "needs_optional": {"value": picked(*optional)},
        "needs_team_min": {"value": {"type": "number_input", "value": lo}},
        "needs_team_max": {"value": {"type": "number_input", "value": hi}},
        "needs_hours": {"value": {"type": "number_input", "value": hours}},
        "needs_mode": {
            "value": {
                "type": "static_select",
                "selected_option": {"text": {"type": "plain_text", "text": mode}, "value": mode},
            }
        },
    }


def open_needs(user: SlackUser, fake: FakeSlackApi) -> dict[str, Any]:
    before = len(fake.views_opened())
    user.click("条件を編集")
    return fake.wait_for(lambda: fake.views_opened()[before:], timeout=10)[-1]


def submit_needs(user: SlackUser, view: dict[str, Any], values: dict[str, Any]) -> Any:
    body = sr.view_submission(
        user.user_id, view["callback_id"], view["private_metadata"], values, view=view
    )
    response = user.post(body)
    assert response.status_code == 200, response.text
    return json.loads(response.text) if response.text else None


def needs_row(database_url: str) -> tuple[Any, ...]:
    row = query(
        database_url,
        "SELECT required_skills, optional_skills, team_min, team_max, hours_per_week, mode, "
        "version FROM projects",
    )[0]
    return (
        json.loads(row[0]) if isinstance(row[0], str) else row[0],
        json.loads(row[1]) if isinstance(row[1], str) else row[1],
        *row[2:],
    )


def project_card(fake: FakeSlackApi) -> dict[str, Any]:
    return next(m for m in fake.messages(CHANNEL, replies=False) if "相談" in m.get("text", ""))


def test_edit_needs_validates_saves_and_recomputes_suggestions(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    add_volunteers(database_url, fake_line)
    accepted_request(app, fake_line, fake_slack)
    coord = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    shown = card_text(project_card(fake_slack))
    assert "必要スキル* ファシリテーション" in shown and "人数* 2〜5人" in shown
    # Accept proposed a first team: the facilitators, and 上田 for consulting (nice to have).
    card = fake_slack.wait_for(lambda: team_card(fake_slack), timeout=10)
    assert "青木" in card_text(card) and "上田" in card_text(card)

    view = open_needs(coord, fake_slack)  # the team card's button (the newest)
    assert view["title"]["text"] == "条件を編集"
    required = next(b for b in view["blocks"] if b.get("block_id") == "needs_required")
    assert [o["value"] for o in required["element"]["initial_options"]] == ["facilitation"]
    assert len(required["element"]["options"]) >= 20
    before = needs_row(database_url)

    # Inline errors: the modal stays open, nothing is saved.
    bad = submit_needs(coord, view, needs_values((), ("web",), lo="4", hi="3", hours="0"))
    assert bad["response_action"] == "errors"
    errors = bad["errors"]
    assert "1つ以上" in errors["needs_required"]
    assert "最小人数が最大人数を超えて" in errors["needs_team_min"]
    assert "1〜40" in errors["needs_hours"]
    both = submit_needs(coord, view, needs_values(("writing",), ("writing",), lo="1", hi="11"))
    assert "両方" in both["errors"]["needs_optional"]
    assert "1〜10" in both["errors"]["needs_team_max"]
    assert needs_row(database_url) == before

    # A person who is not a coordinator cannot save.
    outsider = SlackUser(app, fake_slack, OUTSIDER, CHANNEL)
    submit_needs(outsider, view, needs_values(("law",)))
    fake_slack.wait_for(lambda: fake_slack.ephemerals(OUTSIDER), timeout=10)
    assert needs_row(database_url) == before

    # Writing, online-friendly team of 1-2: only 上田 (Yokohama, online) holds it.
    assert submit_needs(
        coord, view, needs_values(("writing",), ("consulting",), lo="1", hi="2", hours="4")
    ) in (None, {})
    assert fake_slack.wait_for(
        lambda: needs_row(database_url)[:6] == (["writing"], ["consulting"], 1, 2, 4, "either"),
        timeout=10,
    )
    assert needs_row(database_url)[6] == before[6] + 1
    audit = query(database_url, "SELECT actor, detail FROM audit_log WHERE action='edit_needs'")
    assert len(audit) == 1 and audit[0][0] == COORDINATORS[0]
    # Suggestions recomputed: 上田 proposed; the earlier proposals withdrawn, their history kept.
    card = fake_slack.wait_for(
        lambda: (m := team_card(fake_slack)) and "石田" not in card_text(m) and m, timeout=10
    )
    shown = card_text(card)
    assert "上田" in shown and "ライティング・編集" in shown
    states = dict(
        query(
            database_url,
            "SELECT v.display_name, m.state FROM matches m "
            "JOIN volunteers v ON v.id = m.volunteer_id",
        )
    )
    # 石田 (facilitation only) has no reason to be there any more; 青木 may stay for
    # consulting, now nice to have.
    assert states["上田 翔"] == "suggested" and states["石田 真理"] == "withdrawn"
    # The request card shows the new needs, in place; the thread says who changed what.
    fake_slack.wait_for(
        lambda: "ライティング・編集" in card_text(project_card(fake_slack)), timeout=10
    )
    assert "人数* 1〜2人" in card_text(project_card(fake_slack))
    note = fake_slack.wait_for(
        lambda: [m for m in fake_slack.messages(CHANNEL) if "条件を変更しました" in m["text"]],
        timeout=10,
    )[0]
    assert f"<@{COORDINATORS[0]}>" in note["text"]
    assert "ファシリテーション → ライティング・編集" in note["text"]
    assert "2〜5 → 1〜2" in note["text"]
    # `/tsunagu project 1` shows the needs.
    one = coord.command("project 1").json()
    assert "ライティング・編集" in card_text(one) and "週4時間" in card_text(one)
    assert fake_slack.errors == [] and fake_line.errors == []


def test_two_coordinators_edit_at_once_the_second_is_told(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    accepted_request(app, fake_line, fake_slack)
    first = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    second = SlackUser(app, fake_slack, COORDINATORS[1], CHANNEL)
    view_a = open_needs(first, fake_slack)
    view_b = open_needs(second, fake_slack)
    submit_needs(first, view_a, needs_values(("facilitation", "community"), lo="3"))
    fake_slack.wait_for(lambda: needs_row(database_url)[2] == 3, timeout=10)
    submit_needs(second, view_b, needs_values(("law",), lo="2"))
    told = fake_slack.wait_for(lambda: fake_slack.ephemerals(COORDINATORS[1]), timeout=10)
    assert "編集している間に" in told[-1]["text"] and f"<@{COORDINATORS[0]}>" in told[-1]["text"]
    assert needs_row(database_url)[0] == ["facilitation", "community"]
    assert scalar(database_url, "SELECT count(*) FROM audit_log WHERE action='edit_needs'") == 1


def test_a_non_coordinator_cannot_open_the_needs_modal(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi
) -> None:
    accepted_request(app, fake_line, fake_slack)
    SlackUser(app, fake_slack, OUTSIDER, CHANNEL).click("条件を編集")
    told = fake_slack.wait_for(lambda: fake_slack.ephemerals(OUTSIDER), timeout=10)
    assert "コーディネーターのみ" in told[0]["text"]
    assert fake_slack.views_opened() == []
