"""The whole matching path on the fake servers: accepted request -> team card ->
approve -> LINE invitation -> accept -> the group confirms the team."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.coordination import Coordination
from bot.matching.service import Matching
from storage import repo
from storage.base import utcnow
from storage.db import make_engine, make_sessionmaker
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import (
    COORDINATORS,
    OUTSIDER,
    AppServer,
    LineUser,
    SlackUser,
    query,
    said,
    scalar,
    submit_group_request,
)
from tests.test_slack_coordination import CHANNEL, buttons, card_text, group_pushes

PEOPLE = [
    # name, area, skills, mode, slots
    ("青木 健", "川崎市中原区", ["facilitation", "consulting"], "either", ["weekend"]),
    ("石田 真理", "川崎市", ["facilitation"], "in_person", ["weekday_evening"]),
    ("上田 翔", "横浜市", ["consulting", "writing"], "online", ["weekend"]),
    ("江藤 梓", "仙台市", ["graphic_design"], "in_person", ["weekend"]),
]


def add_volunteers(database_url: str, fake_line: FakeLineApi) -> dict[str, str]:
    """Registered volunteers (as sign-up would leave them); returns name -> LINE id."""
    ids: dict[str, str] = {}

    async def go() -> None:
        engine = make_engine(database_url)
        try:
            async with make_sessionmaker(engine).begin() as session:
                for i, (name, area, skills, mode, slots) in enumerate(PEOPLE):
                    user_id = f"U{i:032x}"
                    ids[name] = user_id
                    fake_line.set_profile(user_id, display_name=name, language="ja")
                    await repo.save_volunteer(
                        session,
                        "line",
                        user_id,
                        {
                            "locale": "ja",
                            "display_name": name,
                            "area": area,
                            "occupation": "employee",
                            "experience_years": 5 + i,
                            "hours_per_week": 4,
                            "availability": slots,
                            "mode": mode,
                            "interests": ["children"],
                            "skills_other": None,
                            "languages": [],
                            "consent_version": "2026-11",
                            "consented_at": utcnow(),
                        },
                        skills,
                    )
        finally:
            await engine.dispose()

    asyncio.run(go())
    return ids


@pytest.fixture
def app(slack_app: AppServer) -> AppServer:
    """Here the app always has Slack."""
    return slack_app


def team_card(fake: FakeSlackApi) -> dict[str, Any] | None:
    for message in reversed(fake.messages(CHANNEL, replies=False)):
        if "チーム案" in message.get("text", ""):
            return message
    return None


def pushes_to(fake: FakeLineApi, user_id: str) -> list[dict[str, Any]]:
    """Messages pushed to one person, alone or as one of a multicast's recipients."""
    alone = [m for body in fake.pushes if body["to"] == user_id for m in body["messages"]]
    shared = [m for body in fake.multicasts if user_id in body["to"] for m in body["messages"]]
    return alone + shared


def accepted_request(app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi) -> LineUser:
    group = LineUser(app, fake_line)
    submit_group_request(group)  # 課題整理ワークショップ: facilitation required
    fake_slack.wait_for(lambda: fake_slack.messages(CHANNEL, replies=False), timeout=10)
    SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL).click("受け付ける")
    fake_line.wait_for(lambda: group_pushes(fake_line, group), timeout=10)
    fake_slack.wait_for(
        lambda: any("候補を提案" in buttons(m) for m in fake_slack.messages(CHANNEL)), timeout=10
    )
    return group


def test_accept_announces_then_team_card_invite_accept_and_group_confirms(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    ids = add_volunteers(database_url, fake_line)
    group = accepted_request(app, fake_line, fake_slack)
    # The best-fitting volunteers hear about the new project, once.
    fake_line.wait_for(lambda: pushes_to(fake_line, ids["青木 健"]), timeout=10)
    assert "【新しい募集】こども未来塾" in said(pushes_to(fake_line, ids["青木 健"])[0])
    assert pushes_to(fake_line, ids["江藤 梓"]) == []  # no facilitation skill: not a fit

    coord = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    coord.click("候補を提案")
    card = fake_slack.wait_for(lambda: team_card(fake_slack), timeout=10)
    shown = card_text(card)
    assert "必要スキル* ファシリテーション" in shown
    assert "青木" in shown and "石田" in shown and "江藤" not in shown
    assert "ファシリテーションのスキルが一致" in shown or "ファシリテーション" in shown
    assert "全員を承認" in buttons(card)

    coord.click("全員を承認")
    fake_line.wait_for(
        lambda: any("ご招待" in said(m) for m in pushes_to(fake_line, ids["青木 健"])), timeout=10
    )
    invitation = next(m for m in pushes_to(fake_line, ids["青木 健"]) if "ご招待" in said(m))
    # At the LINE quota limit an invitation still goes (it expires); a "new project"
    # notice may wait for budget.
    rows = [
        json.loads(raw) if isinstance(raw, str) else raw
        for (raw,) in query(database_url, "SELECT payload FROM outbox WHERE channel = 'line'")
    ]
    urgency = [(r["replies"][0]["text"], r.get("urgent")) for r in rows if r.get("replies")]
    invites = [flag for text, flag in urgency if "ご招待" in text]
    notices = [flag for text, flag in urgency if "【新しい募集】" in text]
    assert invites and all(flag is True for flag in invites)
    assert notices and all(flag is False for flag in notices)
    assert "こども未来塾" in said(invitation) and "佐藤" not in said(invitation)
    labels = [i["action"]["label"] for i in invitation["quickReply"]["items"]]
    assert labels == ["参加する", "辞退する"]

    invited = [
        row[0]
        for row in query(database_url, "SELECT volunteer_id FROM matches WHERE state='invited'")
    ]
    assert len(invited) >= 2
    for name in ("青木 健", "石田 真理"):
        person = LineUser(app, fake_line, ids[name])
        person.last = [m for m in pushes_to(fake_line, ids[name]) if "ご招待" in said(m)][-1:]
        person.tap("参加する")
        assert "参加を承諾しました" in person.text()
    others = scalar(database_url, "SELECT count(*) FROM matches WHERE state='invited'")
    for name in ("上田 翔",):
        if others:
            person = LineUser(app, fake_line, ids[name])
            person.last = [m for m in pushes_to(fake_line, ids[name]) if "ご招待" in said(m)][-1:]
            person.tap("辞退する")
            person.say("今月は忙しいため")
            assert "辞退を承りました" in person.text()
    # The team is complete: the group is shown first names and skills only.
    proposal = fake_line.wait_for(
        lambda: [m for m in pushes_to(fake_line, group.user_id) if "チーム案" in said(m)],
        timeout=10,
    )[0]
    assert "青木" in said(proposal) and "青木 健" not in said(proposal)
    group.last = [proposal]
    group.tap("このチームで進める")
    assert "チーム結成です" in group.text()
    assert scalar(database_url, "SELECT status FROM projects") == "team_formed"
    fake_line.wait_for(
        lambda: any(
            "チームが結成されました" in said(m) for m in pushes_to(fake_line, ids["青木 健"])
        ),
        timeout=10,
    )
    formed = next(m for m in pushes_to(fake_line, ids["青木 健"]) if "結成" in said(m))
    assert "佐藤 一郎" in said(formed)  # contact details only now, after both agreed
    history = query(
        database_url,
        "SELECT e.state FROM match_events e JOIN matches m ON m.id = e.match_id "
        "JOIN volunteers v ON v.id = m.volunteer_id WHERE v.display_name = '青木 健' ORDER BY e.id",
    )
    assert [h[0] for h in history] == ["suggested", "approved", "invited", "accepted"]
    assert fake_line.errors == [] and fake_slack.errors == []


def test_non_coordinator_and_two_coordinators_on_one_candidate(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    add_volunteers(database_url, fake_line)
    accepted_request(app, fake_line, fake_slack)
    SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL).click("候補を提案")
    fake_slack.wait_for(lambda: team_card(fake_slack), timeout=10)
    SlackUser(app, fake_slack, OUTSIDER, CHANNEL).click("承認")
    fake_slack.wait_for(lambda: fake_slack.ephemerals(OUTSIDER), timeout=10)
    assert scalar(database_url, "SELECT count(*) FROM matches WHERE state='invited'") == 0
    # Two coordinators press Approve and Reject on the same person at the same moment.
    import threading

    from tests import slack_requests as sr

    a = fake_slack.find_button(CHANNEL, "match_approve")
    r = fake_slack.find_button(CHANNEL, "match_swap")
    assert a.value == r.value  # the same candidate
    users = [SlackUser(app, fake_slack, c, CHANNEL) for c in COORDINATORS]
    bodies = [
        sr.block_actions(
            u.user_id, b.action_id, b.value, b.channel_id, b.message_ts, message=b.message
        )
        for u, b in zip(users, (a, r), strict=True)
    ]
    barrier = threading.Barrier(2)

    def click(u: SlackUser, body: str) -> None:
        barrier.wait()
        u.post(body)

    threads = [threading.Thread(target=click, args=x) for x in zip(users, bodies, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    told = fake_slack.wait_for(
        lambda: fake_slack.ephemerals(COORDINATORS[0]) + fake_slack.ephemerals(COORDINATORS[1]),
        timeout=10,
    )
    assert len(told) == 1 and "すでに" in said(told[0])
    match_id = int(a.value.split(":")[0])
    state = scalar(database_url, f"SELECT state FROM matches WHERE id={match_id}")
    assert state in ("invited", "rejected")


def test_invitation_reminder_then_expiry_proposes_the_next_candidate(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    ids = add_volunteers(database_url, fake_line)
    accepted_request(app, fake_line, fake_slack)
    coord = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    coord.click("候補を提案")
    fake_slack.wait_for(lambda: team_card(fake_slack), timeout=10)
    coord.click("承認")
    fake_line.wait_for(
        lambda: scalar(database_url, "SELECT count(*) FROM matches WHERE state='invited'"),
        timeout=10,
    )
    invited_at = datetime.now(UTC)

    async def run_job(at: datetime) -> tuple[int, int]:
        engine = make_engine(database_url)
        try:
            maker = make_sessionmaker(engine)
            coordination = Coordination(
                maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel="C0COORDS01"
            )
            return await Matching(maker, coordination, clock=lambda: at).expire_and_remind(at)
        finally:
            await engine.dispose()

    assert asyncio.run(run_job(invited_at + timedelta(days=1))) == (0, 0)
    assert asyncio.run(run_job(invited_at + timedelta(days=6, hours=1))) == (1, 0)
    assert asyncio.run(run_job(invited_at + timedelta(days=6, hours=2))) == (0, 0)  # once
    assert asyncio.run(run_job(invited_at + timedelta(days=7, minutes=1))) == (0, 1)
    name = next(
        n for n, u in ids.items() if any("ご招待" in said(m) for m in pushes_to(fake_line, u))
    )
    fake_line.wait_for(
        lambda: any("期限切れ" in said(m) for m in pushes_to(fake_line, ids[name])), timeout=15
    )
    texts = [said(m) for m in pushes_to(fake_line, ids[name])]
    assert any("【リマインド】" in t for t in texts)
    states = dict(query(database_url, "SELECT state, count(*) FROM matches GROUP BY state"))
    assert states.get("expired") == 1


def test_open_projects_and_raising_a_hand(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    ids = add_volunteers(database_url, fake_line)
    accepted_request(app, fake_line, fake_slack)
    outside = LineUser(app, fake_line, ids["江藤 梓"])  # a designer: not a fit
    outside.say("募集中のプロジェクト")
    assert "ありません" in outside.text()
    person = LineUser(app, fake_line, ids["石田 真理"])
    person.say("募集中のプロジェクト")
    assert "こども未来塾" in person.text()
    person.tap("#1 に興味あり")
    assert "興味ありと伝えました" in person.text()
    assert scalar(
        database_url,
        "SELECT m.raised_hand FROM matches m JOIN volunteers v ON v.id = m.volunteer_id "
        "WHERE v.display_name = '石田 真理'",
    ) in (1, True)
    person.say("募集中")
    assert "✓" in person.text()
    # She was already on the card Accept posted: the card now shows her raised hand.
    card = fake_slack.wait_for(
        lambda: (m := team_card(fake_slack)) and "🙋 立候補" in card_text(m) and m, timeout=10
    )
    assert "石田" in card_text(card)


def test_form_teams_for_all_recruiting_projects(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    add_volunteers(database_url, fake_line)
    accepted_request(app, fake_line, fake_slack)
    coord = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    assert "計算しています" in coord.command("teams").json()["text"]
    report = fake_slack.wait_for(lambda: fake_slack.ephemerals(COORDINATORS[0]), timeout=15)
    assert "1件中 1件を編成" in report[-1]["text"]
    card = fake_slack.wait_for(lambda: team_card(fake_slack), timeout=10)
    assert "必要スキルをすべてカバー" in card_text(card)
    suggested = scalar(database_url, "SELECT count(*) FROM matches WHERE state='suggested'")
    assert 2 <= suggested <= 5
    assert scalar(database_url, "SELECT count(*) FROM audit_log WHERE action='form_teams'") == 1
