"""Issue #13's Done-when: a whole cohort, from sign-up to feedback, the next programme's
invitation to its briefing session, and the same volunteer matched into the second
cohort, through LINE and Slack (signed webhooks, the fake platforms), on SQLite and
PostgreSQL.

The kickoff agreement (life-group), hours, delivery, completion and feedback (life-work)
go through their LINE and Slack surfaces too.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.coordination import Coordination
from bot.programmes.schedule import parse_programme
from bot.programmes.service import Programmes
from storage.base import utcnow
from tests import slack_requests as sr
from tests.conftest import COORDINATOR_CHANNEL_ID
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import COORDINATORS, AppServer, LineUser, SlackUser, query, said, scalar
from tests.test_cohort_e2e import ask_for_help, members, sign_up, team_card_of
from tests.test_matching_flow import pushes_to
from tests.test_slack_coordination import CHANNEL, buttons
from tests.test_team_channels import run

TOKYO = ZoneInfo("Asia/Tokyo")
SNS = ("佐々木 蓮", "川崎市", ["SNS運用"], "どちらでも")
WRITER = ("高橋 葵", "川崎市", ["ライティング・編集"], "どちらでも")


@pytest.fixture
def app(slack_app: AppServer) -> AppServer:
    return slack_app


def coordination(maker: Any) -> Coordination:
    return Coordination(
        maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel=COORDINATOR_CHANNEL_ID
    )


def import_next_programme(database_url: str) -> int:
    """The office imports the next programme (as `tsunagu programme import` does)."""
    briefing = (utcnow() + timedelta(days=3)).astimezone(TOKYO).replace(tzinfo=None)
    data = {
        "programme": {"name": "さくら共助 2027", "slug": "sakura2027"},
        "phases": [
            {
                "key": "briefing",
                "kind": "briefing",
                "title": {"ja": "説明会", "en": "Briefing session"},
                "starts": briefing.replace(microsecond=0).isoformat(),
                "place": "川崎市役所",
                "announcements": [],
            }
        ],
    }

    async def job(maker: Any) -> int:
        result = await Programmes(maker, coordination(maker), locale="ja").import_spec(
            parse_programme(data), actor="cli"
        )
        return result.invited

    return int(run(database_url, job))


def form_team(
    app: AppServer,
    fake_line: FakeLineApi,
    fake_slack: FakeSlackApi,
    database_url: str,
    group: LineUser,
    name: str,
    people: dict[str, LineUser],
) -> int:
    """Accept the group's request, approve the proposed team, every member accepts in
    LINE and the group confirms the team; returns the project id."""
    coord = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    fake_slack.wait_for(
        lambda: any(name in m.get("text", "") and "受け付ける" in buttons(m)
                    for m in fake_slack.messages(CHANNEL, replies=False)),
        timeout=10,
    )  # fmt: skip
    coord.click("受け付ける")
    fake_slack.wait_for(
        lambda: (m := team_card_of(fake_slack, name)) and "全員を承認" in buttons(m), timeout=10
    )
    proposed = members(database_url, name, ("suggested",))
    coord.click("全員を承認")
    fake_line.wait_for(
        lambda: len(members(database_url, name, ("invited",))) == len(proposed), timeout=10
    )
    for person_name in members(database_url, name, ("invited",)):
        person = people[person_name]
        person.last = fake_line.wait_for(
            lambda p=person: [
                m
                for m in pushes_to(fake_line, p.user_id)
                if "ご招待" in said(m) and name in said(m)
            ],
            timeout=10,
        )[-1:]
        person.tap("参加する")
    group.last = fake_line.wait_for(
        lambda: [m for m in pushes_to(fake_line, group.user_id) if "チーム案" in said(m)],
        timeout=10,
    )[-1:]
    group.tap("このチームで進める")
    return int(
        scalar(
            database_url,
            "SELECT p.id FROM projects p JOIN organizations o ON o.id = p.organization_id "
            "WHERE o.name = :g ORDER BY p.id DESC",
            g=name,
        )
    )


def volunteer_id(database_url: str, name: str) -> int:
    return int(scalar(database_url, "SELECT id FROM volunteers WHERE display_name = :n", n=name))


def test_a_whole_cohort_runs_to_feedback_and_the_volunteer_serves_again(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    # Sign-up and request, in LINE.
    people = {v[0]: sign_up(app, fake_line, *v) for v in (SNS, WRITER)}
    group = ask_for_help(app, fake_line, "みなと子ども食堂", "SNS活用")
    # Accept, team proposal, the members' consent and the group's, in Slack and LINE.
    project = form_team(app, fake_line, fake_slack, database_url, group, "みなと子ども食堂", people)
    assert scalar(database_url, "SELECT status FROM projects WHERE id = :p", p=project) == (
        "team_formed"
    )
    team = set(members(database_url, "みなと子ども食堂", ("accepted",)))
    assert SNS[0] in team
    sns_id = volunteer_id(database_url, SNS[0])

    # The kickoff agreement: written in the team's Slack channel (here by a coordinator),
    # confirmed by the group in LINE.
    channel = str(
        fake_slack.wait_for(
            lambda: scalar(
                database_url, "SELECT team_channel_id FROM projects WHERE id = :p", p=project
            ),
            timeout=15,
        )
    )
    in_team = SlackUser(app, fake_slack, COORDINATORS[0], channel)
    in_team.command("agree")
    form = fake_slack.wait_for(lambda: fake_slack.views_opened(), timeout=10)[-1]
    values = {
        "deliverable": {"value": "Facebookページ運用マニュアル（100ページ）"},
        "scope": {"value": "Facebookページの開設と運用"},
        "success_measures": {"value": "月4回の投稿を団体だけで続けられる"},
        "meeting_rhythm": {"value": "隔週オンライン"},
        "end_date": {
            "value": {
                "type": "datepicker",
                "selected_date": (date.today() + timedelta(days=40)).isoformat(),
            }
        },
    }
    body = sr.view_submission(
        COORDINATORS[0], form["callback_id"], form.get("private_metadata", ""), values, view=form
    )
    assert in_team.post(body).status_code == 200
    group.last = fake_line.wait_for(
        lambda: [m for m in pushes_to(fake_line, group.user_id) if "合意案" in said(m)],
        timeout=10,
    )[-1:]
    group.tap("確定する")
    assert "確定しました" in group.text()
    assert scalar(database_url, "SELECT status FROM projects WHERE id = :p", p=project) == "agreed"

    # Hours in LINE (a short flow), delivery recorded in the team channel, confirmed and
    # completed by the group in LINE.
    sns = people[SNS[0]]
    sns.say("稼働記録")
    sns.say("3時間")
    sns.say("今日")
    sns.say("団体とのヒアリング")
    sns.tap("記録する")
    assert "記録しました" in sns.text()
    said_ = in_team.command("deliver https://example.org/manual.pdf Facebook運用マニュアル")
    assert "納品を記録しました" in said_.json()["text"]
    group.last = fake_line.wait_for(
        lambda: [m for m in pushes_to(fake_line, group.user_id) if "成果物が届きました" in said(m)],
        timeout=10,
    )[-1:]
    group.tap("受け取りを確認")
    group.tap("完了にする")
    assert "完了にしました" in group.text()
    assert scalar(database_url, "SELECT status FROM projects WHERE id = :p", p=project) == (
        "completed"
    )

    # Thanks with the volunteer's hours, and feedback in LINE.
    thanks = fake_line.wait_for(
        lambda: [m for m in pushes_to(fake_line, sns.user_id) if "完了しました" in said(m)],
        timeout=15,
    )[-1]
    assert "3時間のご協力" in said(thanks)
    sns.last = [thanks]
    sns.tap("アンケートに答える")
    sns.tap("5")
    sns.say("学びの多い1か月でした")
    sns.tap("匿名なら公開可")
    sns.tap("送る")
    assert "ありがとうございました" in sns.text()
    rows = query(database_url, "SELECT author_type, score, publish FROM feedback")
    assert [tuple(r) for r in rows] == [("volunteer", 5, "anonymous")]

    # The next programme is imported: its briefing session's invitation reaches the
    # volunteer and the group in LINE, each once.
    assert import_next_programme(database_url) == len(team) + 1
    invitation = fake_line.wait_for(
        lambda: [m for m in pushes_to(fake_line, sns.user_id) if "さくら共助 2027" in said(m)],
        timeout=15,
    )
    assert invitation[0]["type"] == "flex" and "説明会" in said(invitation[0])
    fake_line.wait_for(
        lambda: [m for m in pushes_to(fake_line, group.user_id) if "さくら共助 2027" in said(m)],
        timeout=15,
    )
    sns.last = invitation[-1:]
    assert "次回の案内を停止" in sns.labels()
    sns.tap("参加する")
    assert "参加を受け付けました" in sns.text()
    assert query(
        database_url,
        "SELECT state FROM attendance WHERE person_type = 'volunteer' AND person_id = :v",
        v=sns_id,
    ) == [("rsvp_yes",)]
    assert import_next_programme(database_url) == 0  # once per person

    # The second cohort: a new request that needs the same skill; the volunteer whose
    # project completed is free again and is matched into it.
    second = ask_for_help(app, fake_line, "ひまわり食堂", "SNS活用")
    project2 = form_team(app, fake_line, fake_slack, database_url, second, "ひまわり食堂", people)
    assert project2 != project
    assert SNS[0] in members(database_url, "ひまわり食堂", ("accepted",))
    assert scalar(database_url, "SELECT status FROM projects WHERE id = :p", p=project2) == (
        "team_formed"
    )
    # Every state change is in the audit log.
    moves = [
        row[0]
        for row in query(
            database_url,
            "SELECT action FROM audit_log WHERE subject_type = 'project' AND subject_id = :p "
            "ORDER BY id",
            p=project,
        )
    ]
    assert len(moves) >= 6, moves
    assert fake_slack.errors == [] and fake_line.errors == []
