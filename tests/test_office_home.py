"""The App Home and the programme modal, issue #14's second round, through signed Slack
requests against the fake Slack: hours logged are real numbers (targets, report, export),
Needs action lists what is most urgent first with a button each, the member page shows
a person's teams, hours and their teams' next announcements, targets are edited in the
programme modal, and the Home is drawn again when hours are logged or a delivery made."""

from __future__ import annotations

import asyncio
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from openpyxl import load_workbook

from bot.office.labels import hours_value
from storage.db import make_engine, make_sessionmaker
from tests import slack_requests as sr
from tests.conftest import COORDINATOR_CHANNEL_ID
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import COORDINATORS, AppServer, query, scalar
from tests.test_office_slack import (
    execute,
    files_in_dm,
    home_text,
    office,  # noqa: F401  (the fixture: the Kawasaki demo, LINE and Slack on their fakes)
    open_home,
    person,
    read_rows,
)
from tests.test_team_channels import (
    ISHIDA,
    app,  # noqa: F401  (the fixture: LINE and Slack on their fakes)
    form_team,
    in_channel,
    team_channel,
)
from tests.test_work_end import agree, today

COORDINATOR = COORDINATORS[0]


def actions_of(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in view["blocks"] for e in b.get("elements") or [] if e.get("action_id")]


def redrawn(fake: FakeSlackApi, user: str, check: Any, timeout: float = 20) -> str:
    """The user's Home once it reads as `check` wants (drawn again without reopening)."""
    return str(
        fake.wait_for(
            lambda: (v := fake.home_view(user)) and check(t := home_text(v)) and t,
            timeout=timeout,
        )
    )


def demo_projects(database_url: str) -> tuple[int, int, int]:
    """After the demo: its first project's team formed (two members) with a red check-in
    on its latest week; returns it and two projects still recruiting."""
    from sqlalchemy import delete, select

    from storage.models import CheckIn, Match, Project, Volunteer

    async def job() -> tuple[int, int, int]:
        engine = make_engine(database_url)
        try:
            async with make_sessionmaker(engine).begin() as s:
                projects = list((await s.scalars(select(Project).order_by(Project.id))).all())
                volunteers = list(await s.scalars(select(Volunteer.id).order_by(Volunteer.id)))
                formed = projects[0]
                await s.execute(delete(Match).where(Match.project_id == formed.id))
                for v in volunteers[:2]:
                    s.add(Match(project_id=formed.id, volunteer_id=v, state="accepted"))
                formed.status = "team_formed"
                s.add(CheckIn(project_id=formed.id, week=1, status="green"))
                s.add(CheckIn(project_id=formed.id, week=2, status="red"))
                return formed.id, projects[1].id, projects[2].id
        finally:
            await engine.dispose()

    return asyncio.run(job())


def test_needs_action_lists_the_most_urgent_first_each_with_its_button(
    office: AppServer,  # noqa: F811
    fake_slack: FakeSlackApi,
    database_url: str,
) -> None:
    formed, late_delivery, late_proposal = demo_projects(database_url)
    # A project at work past its agreed end date with nothing delivered, a team proposal
    # its group let lapse, and a message that could not be sent.
    execute(
        database_url,
        "INSERT INTO agreements (project_id, version, deliverable, scope, success_measures, "
        "meeting_rhythm, end_date, proposed_by, status, proposed_at) VALUES "
        f"({late_delivery}, 1, 'マニュアル', '範囲', '基準', '隔週', "
        f"'{(today() - timedelta(days=3)).isoformat()}', 'U0COORD001', 'confirmed', "
        "CURRENT_TIMESTAMP)",
    )
    execute(
        database_url,
        f"UPDATE projects SET status = 'agreed', team_channel_id = 'C0LATETEAM' "
        f"WHERE id = {late_delivery}",
    )
    lapsed = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    execute(
        database_url,
        f"UPDATE projects SET status = 'team_proposed', proposal_expires_at = '{lapsed}' "
        f"WHERE id = {late_proposal}",
    )
    execute(
        database_url,
        "INSERT INTO outbox (channel, kind, target, payload, key, status, attempts, due_at, "
        "created_at) VALUES ('line', 'push', 'U0DEADLETTER', '{}', 'dead-letter-test', "
        "'dead', 5, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    )
    view = open_home(office, fake_slack, COORDINATOR)
    text = home_text(view)
    # The demo's posts to its sandbox channel cannot go either: they count as well.
    found = re.search(r"送れなかったメッセージ: \*(\d+)\* 件", text)
    assert found is not None and int(found.group(1)) >= 1
    dead = int(found.group(1))
    # Most urgent first: undeliverable messages, the overdue delivery, the red check-in
    # (the demo's formed team), the lapsed proposal.
    order = [
        text.index(f"送れなかったメッセージ: *{dead}* 件"),
        text.index(f"*#{late_delivery}*"),
        text.index(f"*#{formed}*"),
        text.index(f"*#{late_proposal}*"),
    ]
    assert order == sorted(order)
    assert "納品予定日を過ぎて未納品" in text and "チーム提案の回答期限切れ" in text
    assert f"納品予定 {(today() - timedelta(days=3)).isoformat()}" in text
    buttons = {(e["action_id"], e.get("value")) for e in actions_of(view)}
    assert ("home_outbox", "outbox") in buttons
    assert ("home_channel", "C0LATETEAM") in buttons
    assert ("project_suggest", str(late_proposal)) in buttons
    channel = next(e for e in actions_of(view) if e["action_id"] == "home_channel")
    assert channel["url"].endswith("channel=C0LATETEAM")

    # The outbox button sends `/tsunagu outbox`'s answer to the coordinator's DM.
    coordinator = person(office, fake_slack, COORDINATOR)
    click = sr.home_block_actions(COORDINATOR, "home_outbox", view)
    assert coordinator.post(click).status_code == 200
    told = fake_slack.wait_for(
        lambda: (
            (dm := fake_slack.dm_id(COORDINATOR))
            and [m for m in fake_slack.messages(dm) if "配信状況" in m.get("text", "")]
        ),
        timeout=10,
    )
    failed = re.search(r"失敗 (\d+)", told[-1]["text"])
    assert failed is not None and int(failed.group(1)) >= dead
    # The channel button is only acknowledged (Slack opens the URL).
    click = sr.home_block_actions(COORDINATOR, "home_channel", view)
    assert coordinator.post(click).status_code == 200


def test_logged_hours_count_in_targets_the_report_and_the_hours_export(
    office: AppServer,  # noqa: F811
    fake_slack: FakeSlackApi,
    database_url: str,
) -> None:
    formed, _, _ = demo_projects(database_url)
    members = [
        r[0]
        for r in query(
            database_url,
            f"SELECT volunteer_id FROM matches WHERE project_id = {formed} "
            "AND state = 'accepted' ORDER BY volunteer_id",
        )
    ]
    day = (today() - timedelta(days=1)).isoformat()
    for volunteer, minutes in ((members[0], 90), (members[0], 60), (members[-1], 45)):
        execute(
            database_url,
            "INSERT INTO hours_entries (project_id, volunteer_id, day, minutes, note, "
            f"created_at) VALUES ({formed}, {volunteer}, '{day}', {minutes}, 'ヒアリング', "
            "CURRENT_TIMESTAMP)",
        )
    minutes = scalar(
        database_url,
        "SELECT sum(h.minutes) FROM hours_entries h JOIN projects p ON p.id = h.project_id "
        "JOIN programmes g ON g.id = p.programme_id WHERE g.slug = 'kawasaki2017'",
    )
    worked = hours_value(int(minutes))
    assert worked == 3.2  # 195 minutes
    text = home_text(open_home(office, fake_slack, COORDINATOR))
    assert f"• 活動時間: {worked} / 540" in text

    coordinator = person(office, fake_slack, COORDINATOR)
    coordinator.command("report kawasaki2017")
    uploads = files_in_dm(fake_slack, COORDINATOR, 5)
    workbook = next(u for u in uploads if u["name"].endswith(".xlsx"))
    wb = load_workbook(io.BytesIO(workbook["content"]))
    summary = {r[0]: r[1:4] for r in wb["概要"].iter_rows(min_row=4, values_only=True) if r[0]}
    assert summary["活動時間"][:2] == (540, worked)
    sheet = {r[0]: r[1:] for r in wb["活動時間"].iter_rows(values_only=True) if r and r[0]}
    assert sheet["活動時間（記録）"][0] == worked
    group = scalar(
        database_url,
        f"SELECT o.name FROM projects p JOIN organizations o ON o.id = p.organization_id "
        f"WHERE p.id = {formed}",
    )
    assert sheet[group][1] == worked  # per team: offered a week, then worked

    before = len(files_in_dm(fake_slack, COORDINATOR, 5))
    coordinator.command("export hours csv")
    rows = read_rows(files_in_dm(fake_slack, COORDINATOR, before + 1)[-1])
    column = rows[0].index("活動時間（記録）")
    per_member = sorted(float(r[column]) for r in rows[1:] if r[column] not in ("", "0"))
    assert per_member == [hours_value(45), hours_value(150)]


def test_targets_are_edited_in_the_programme_modal_and_the_home_shows_them(
    office: AppServer,  # noqa: F811
    fake_slack: FakeSlackApi,
    database_url: str,
) -> None:
    open_home(office, fake_slack, COORDINATOR)
    pid = scalar(database_url, "SELECT id FROM programmes WHERE slug = 'kawasaki2017'")
    coordinator = person(office, fake_slack, COORDINATOR)
    listing = coordinator.command("programme").json()
    edit = [
        e
        for b in listing.get("blocks") or []
        for e in b.get("elements") or []
        if e.get("action_id") == "programme_edit"
    ]
    assert [e["value"] for e in edit] == [str(pid)]

    def open_modal(user: str) -> dict[str, Any]:
        count = len(fake_slack.views_opened())
        click = sr.block_actions(
            user, "programme_edit", str(pid), COORDINATOR_CHANNEL_ID, "1.0", message=listing
        )
        assert person(office, fake_slack, user).post(click).status_code == 200
        return dict(
            fake_slack.wait_for(
                lambda: (v := fake_slack.views_opened())[count:] and v[-1], timeout=10
            )
        )

    view = open_modal(COORDINATOR)
    assert view["callback_id"] == "programme_modal"
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["target_hours"]["type"] == "number_input"
    assert inputs["target_hours"]["initial_value"] == "540"
    assert inputs["target_participants"]["initial_value"] == "18"
    assert inputs["name"]["initial_value"] == "プロボノチャレンジKAWASAKI 2017"
    assert "slug" not in inputs  # channel names depend on it

    def values(**changed: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for block_id, element in inputs.items():
            value = changed.get(block_id, element.get("initial_value", ""))
            out[block_id] = {"v": {"type": element["type"], "value": value}}
        return out

    def submit(user: str, form: dict[str, dict[str, Any]], modal: dict[str, Any]) -> Any:
        body = sr.view_submission(
            user, "programme_modal", modal["private_metadata"], form, view=modal
        )
        return person(office, fake_slack, user).post(body)

    # Bad numbers: told under each input, in the coordinator's language; nothing saved.
    bad = submit(COORDINATOR, values(target_hours="-5", target_teams="2.5"), view).json()
    assert bad["response_action"] == "errors"
    assert set(bad["errors"]) == {"target_hours", "target_teams"}
    assert "0以上の整数" in bad["errors"]["target_hours"]
    fake_slack.add_user(COORDINATORS[1], "coordinator2", locale="en-US")
    english = open_modal(COORDINATORS[1])
    assert "Target: Hours" in json.dumps(english["blocks"], ensure_ascii=False)
    told = submit(COORDINATORS[1], values(target_companies="many"), english).json()
    assert "whole number" in told["errors"]["target_companies"]
    targets = scalar(database_url, f"SELECT targets FROM programmes WHERE id = {pid}")
    assert (json.loads(targets) if isinstance(targets, str) else targets)["hours"] == 540

    # Saved: the hours target changes, the teams target is cleared; audited, and the Home
    # the coordinator has open is drawn again with the new targets.
    assert submit(COORDINATOR, values(target_hours="600", target_teams=""), view).status_code
    text = redrawn(fake_slack, COORDINATOR, lambda t: "• 活動時間: 0 / 600" in t)
    assert "• チーム数: 0 / 目標なし" in text
    saved = scalar(database_url, f"SELECT targets FROM programmes WHERE id = {pid}")
    saved = json.loads(saved) if isinstance(saved, str) else saved
    assert saved == {
        "participants": 18,
        "companies": 5,
        "consultations": 5,
        "applications": 5,
        "hours": 600,
    }
    detail = scalar(
        database_url,
        "SELECT detail FROM audit_log WHERE action = 'programme_targets' ORDER BY id DESC",
    )
    detail = json.loads(detail) if isinstance(detail, str) else detail
    assert detail["before"]["hours"] == 540 and detail["after"] == saved


def test_the_member_page_and_the_home_follow_hours_and_the_delivery(
    app: AppServer,  # noqa: F811
    fake_line: FakeLineApi,
    fake_slack: FakeSlackApi,
    database_url: str,
) -> None:
    fake_slack.add_user(ISHIDA, "ishida")
    form_team(app, fake_line, fake_slack, database_url, linked={"石田 真理": ISHIDA})
    channel = team_channel(fake_slack, database_url)
    project = int(scalar(database_url, "SELECT id FROM projects"))
    agree(database_url, project)
    # The agreed end date has passed with nothing delivered; the programme aims for 10 h;
    # the team's next announcement is still to go out.
    execute(
        database_url,
        f"UPDATE agreements SET end_date = '{(today() - timedelta(days=2)).isoformat()}'",
    )
    execute(database_url, """UPDATE programmes SET targets = '{"hours": 10}'""")
    soon = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    execute(
        database_url,
        "INSERT INTO announcements (phase_id, key, offset_days, offset_minutes, audience, "
        "audience_filter, text_ja, text_en, grace_minutes, send_at, state, detail, "
        "created_at, updated_at) SELECT id, 'midway', 0, 0, '[\"team_channels\"]', '{}', "
        f"'中間報告です', 'Midway report', 360, '{soon}', 'scheduled', '{{}}', "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM phases WHERE key = 'results'",
    )

    coordinator = home_text(open_home(app, fake_slack, COORDINATOR))
    assert f"*#{project}*" in coordinator and "納品予定日を過ぎて未納品" in coordinator
    assert "• 活動時間: 0 / 10" in coordinator
    mine = home_text(open_home(app, fake_slack, ISHIDA))
    assert f"#{project} " in mine and "合意済み" in mine  # the team with its state
    assert "あなたの活動時間*（記録の合計）: 0時間" in mine
    assert "チームへの次のお知らせ" in mine and "成果報告会" in mine

    # Hours logged in the team channel: both open Homes are drawn again.
    member = in_channel(app, fake_slack, ISHIDA, channel)
    assert "3時間を記録しました" in member.command("hours 3 団体とのヒアリング").json()["text"]
    mine = redrawn(fake_slack, ISHIDA, lambda t: "（記録の合計）: 3時間" in t)
    assert "あなたの記録 3時間" in mine
    redrawn(fake_slack, COORDINATOR, lambda t: "• 活動時間: 3 / 10" in t)

    # The delivery made: the overdue line leaves the coordinator's Home by itself.
    said = member.command("deliver https://example.org/manual 運用マニュアル").json()["text"]
    assert f"#{project}" in said
    text = redrawn(fake_slack, COORDINATOR, lambda t: "納品予定日を過ぎて未納品" not in t)
    assert "納品済み" in text
