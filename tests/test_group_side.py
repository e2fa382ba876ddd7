"""The group's side of a project's life (issue #13), through the real app over HTTP:
its answers to the proposed team (confirm, decline, ask for a change), the proposal's
reminder and expiry, and the kickoff agreement written in the team channel and
confirmed (or sent back) in LINE."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest

from bot.coordination import Coordination
from bot.lifecycle.service import Lifecycle
from storage.db import make_engine, make_sessionmaker
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import COORDINATORS, OUTSIDER, AppServer, SlackUser, query, said, scalar
from tests.test_matching_flow import pushes_to
from tests.test_slack_coordination import CHANNEL
from tests.test_team_channels import form_team, propose_team, team_channel

ALL = "SELECT count(*) FROM matches WHERE state = 'accepted'"
ASK = "連絡先を伝えてもよいですか"


@pytest.fixture
def app(slack_app: AppServer) -> AppServer:
    """Here the app always has Slack."""
    return slack_app


def thread_texts(fake: FakeSlackApi) -> str:
    return "\n".join(m.get("text", "") for m in fake.messages(CHANNEL))


def audit(database_url: str, action: str) -> int:
    return int(scalar(database_url, f"SELECT count(*) FROM audit_log WHERE action = '{action}'"))


def test_group_declines_the_team_then_a_late_click_is_answered_politely(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    ids, group, proposal = propose_team(app, fake_line, fake_slack, database_url)
    # The card is a flex message with text altText, three answers and the deadline.
    assert proposal["type"] == "flex" and "ご回答ください" in said(proposal)
    group.last = [proposal]
    labels = [i["action"]["label"] for i in group.quick_replies()]
    assert labels == ["このチームで進める", "このチームは辞退", "変更を依頼する"]
    group.tap("このチームは辞退")
    assert "辞退として承りました" in group.text()
    assert scalar(database_url, "SELECT status FROM projects") == "recruiting"
    assert scalar(database_url, ALL) == 0  # members released
    fake_line.wait_for(
        lambda: any("チーム編成を見直す" in said(m) for m in pushes_to(fake_line, ids["青木 健"])),
        timeout=10,
    )
    fake_slack.wait_for(lambda: "団体がチーム案" in thread_texts(fake_slack), timeout=10)
    assert audit(database_url, "reject_team") == 1
    # The old card tapped again: a polite answer, nothing changes.
    group.last = [proposal]
    group.tap("このチームで進める")
    assert "いま確認できる状態ではありません" in group.text()
    assert scalar(database_url, "SELECT status FROM projects") == "recruiting"
    assert fake_line.errors == [] and fake_slack.errors == []


def test_people_never_asked_are_asked_once_and_the_contacts_are_exchanged(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    from tests.support import LineUser

    ids, group, proposal = propose_team(app, fake_line, fake_slack, database_url)
    # The volunteers signed up before the question existed: each is asked once.
    asked = fake_line.wait_for(
        lambda: [
            m
            for m in pushes_to(fake_line, ids["青木 健"])
            if "連絡先を伝えてもよいですか" in said(m)
        ],
        timeout=10,
    )
    assert len(asked) == 1
    aoki = LineUser(app, fake_line, ids["青木 健"])
    aoki.last = asked
    aoki.tap("共有してよい")
    assert "連絡先を入力" in aoki.text()
    aoki.sticker()
    assert "文字で送ってください" in aoki.text()
    aoki.say("aoki@example.org")
    assert "この連絡先をお伝えします" in aoki.text()
    ishida_asked = [m for m in pushes_to(fake_line, ids["石田 真理"]) if ASK in said(m)]
    ishida = LineUser(app, fake_line, ids["石田 真理"])
    ishida.last = ishida_asked
    ishida.tap("共有しない")
    assert "事務局を通じて" in ishida.text()
    # The group answered at intake (not to share): it is not asked again.
    assert not [m for m in pushes_to(fake_line, group.user_id) if ASK in said(m)]
    assert scalar(database_url, "SELECT share_contact FROM organizations") == "no"

    group.last = [proposal]
    group.tap("このチームで進める")
    assert scalar(database_url, "SELECT status FROM projects") == "team_formed"
    # Each side gets what the other consented to share, and only that.
    team = fake_line.wait_for(
        lambda: [m for m in pushes_to(fake_line, group.user_id) if "チームのメンバー" in said(m)],
        timeout=10,
    )[0]
    assert "aoki@example.org" in said(team) and "石田（" in said(team)
    assert "連絡先は事務局経由" in said(team)
    fake_line.wait_for(
        lambda: [
            m for m in pushes_to(fake_line, ids["石田 真理"]) if "共有されていません" in said(m)
        ],
        timeout=10,
    )
    assert fake_line.errors == [] and fake_slack.errors == []


def test_group_asks_for_a_change_in_words(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    _, group, proposal = propose_team(app, fake_line, fake_slack, database_url)
    group.last = [proposal]
    group.tap("変更を依頼する")
    assert "文字で送ってください" in group.text()
    group.sticker()  # not words: asked again, nothing sent
    assert "文字で送ってください" in group.text()
    assert scalar(database_url, "SELECT status FROM projects") == "team_proposed"
    group.say("デザインができる方にも入ってほしいです")
    assert "事務局に伝えました" in group.text()
    assert scalar(database_url, "SELECT status FROM projects") == "recruiting"
    fake_slack.wait_for(
        lambda: "変更依頼: デザインができる方にも" in thread_texts(fake_slack), timeout=10
    )
    assert audit(database_url, "reject_team") == 1
    assert fake_line.errors == [] and fake_slack.errors == []


def test_proposal_reminder_then_expiry_in_the_groups_language(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    _, group, proposal = propose_team(app, fake_line, fake_slack, database_url)
    sent = scalar(database_url, "SELECT proposal_sent_at FROM projects")
    assert sent is not None

    async def run_job(days: float) -> tuple[int, int]:
        engine = make_engine(database_url)
        try:
            maker = make_sessionmaker(engine)
            coordination = Coordination(
                maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel="C0COORDS01"
            )
            expires = await _expiry(maker)
            at = expires - timedelta(days=1) + timedelta(days=days)
            return await Lifecycle(maker, coordination).expire_and_remind_proposals(at)
        finally:
            await engine.dispose()

    assert asyncio.run(run_job(-1)) == (0, 0)
    assert asyncio.run(run_job(0.1)) == (1, 0)
    assert asyncio.run(run_job(0.2)) == (0, 0)  # reminded once
    assert asyncio.run(run_job(1.01)) == (0, 1)
    fake_line.wait_for(
        lambda: any("期限が過ぎた" in said(m) for m in pushes_to(fake_line, group.user_id)),
        timeout=15,
    )
    assert any("までにご確認" in said(m) for m in pushes_to(fake_line, group.user_id))
    assert scalar(database_url, "SELECT status FROM projects") == "recruiting"
    group.last = [proposal]
    group.tap("このチームで進める")  # after expiry
    assert "いま確認できる状態ではありません" in group.text()


async def _expiry(maker: Any) -> Any:
    from sqlalchemy import select

    from storage.models import Project

    async with maker() as session:
        return await session.scalar(select(Project.proposal_expires_at))


def _fill(
    member: SlackUser, fake: FakeSlackApi, deliverable: str, end: date, *, view: Any = None
) -> Any:
    from tests import slack_requests as sr

    opened = view or fake.views_opened()[-1]
    values = {
        "deliverable": {"value": deliverable},
        "scope": {"value": "投稿の作り方と運用ルール"},
        "success_measures": {"value": "職員3人が一人で投稿できる"},
        "meeting_rhythm": {"value": "毎週火曜 19時"},
        "end_date": {"value": {"type": "datepicker", "selected_date": end.isoformat()}},
    }
    body = sr.view_submission(
        member.user_id,
        opened["callback_id"],
        opened.get("private_metadata", ""),
        values,
        view=opened,
    )
    return member.post(body)


def test_kickoff_agreement_from_the_team_channel_confirmed_in_line_then_rescoped(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    fake_slack.add_user("U0MEMBER01", "aoki")
    ids = form_team(app, fake_line, fake_slack, database_url, linked={"青木 健": "U0MEMBER01"})
    channel = team_channel(fake_slack, database_url)
    group_id = str(scalar(database_url, "SELECT user_key FROM organizations"))

    # Someone outside the team is refused politely, and the refusal is audited.
    outsider = SlackUser(app, fake_slack, OUTSIDER, channel)
    response = outsider.command("agree")
    assert "メンバーと事務局だけ" in response.json()["text"]
    assert audit(database_url, "agreement_refused") == 1
    assert fake_slack.views_opened() == []

    member = SlackUser(app, fake_slack, "U0MEMBER01", channel)
    member.command("agree")
    view = fake_slack.wait_for(lambda: fake_slack.views_opened(), timeout=10)[-1]
    assert view["callback_id"] == "kickoff_agreement"
    # An end date in the past keeps the form open with the reason under the field.
    past = _fill(member, fake_slack, "Facebook運用マニュアル", date(2020, 1, 1), view=view)
    assert past.status_code == 200 and "end_date" in past.text
    end = date.today() + timedelta(days=40)
    ok = _fill(member, fake_slack, "Facebook運用マニュアル（100ページ）", end, view=view)
    assert ok.status_code == 200 and "errors" not in ok.text
    card = fake_line.wait_for(
        lambda: [m for m in pushes_to(fake_line, group_id) if "合意案" in said(m)], timeout=10
    )[-1]
    assert card["type"] == "flex" and "Facebook運用マニュアル" in said(card)

    from tests.support import LineUser

    group = LineUser(app, fake_line, group_id)
    group.last = [card]
    group.tap("確定する")
    assert "（第1版）を確定しました" in group.text()
    assert scalar(database_url, "SELECT status FROM projects") == "agreed"
    assert (
        scalar(database_url, "SELECT deliverable FROM projects")
        == "Facebook運用マニュアル（100ページ）"
    )
    fake_slack.wait_for(
        lambda: any("第1版を確定" in m.get("text", "") for m in fake_slack.messages(channel)),
        timeout=10,
    )
    group.last = [card]
    group.tap("確定する")  # a second click
    assert "すでに回答済み" in group.text()

    # Re-scoping: a coordinator opens the form again, prefilled from version 1.
    coord = SlackUser(app, fake_slack, COORDINATORS[0], channel)
    coord.command("agree")
    again = fake_slack.wait_for(lambda: fake_slack.views_opened()[1:], timeout=10)[-1]
    shown = str(again["blocks"])
    assert "Facebook運用マニュアル（100ページ）" in shown and "第2版" in shown
    _fill(coord, fake_slack, "会計の勘定科目表", end, view=again)
    card2 = fake_line.wait_for(
        lambda: [m for m in pushes_to(fake_line, group_id) if "第2版" in said(m)], timeout=10
    )[-1]
    group.last = [card2]
    group.tap("変更を依頼")
    assert "変更してほしい点" in group.text()
    group.say("期間をもう2週間延ばしたいです")
    assert "チームに伝えました" in group.text()
    fake_slack.wait_for(
        lambda: any("2週間延ばしたい" in m.get("text", "") for m in fake_slack.messages(channel)),
        timeout=10,
    )
    assert scalar(database_url, "SELECT deliverable FROM projects") == (
        "Facebook運用マニュアル（100ページ）"
    )
    rows = query(database_url, "SELECT version, status FROM agreements ORDER BY version")
    assert [tuple(r) for r in rows] == [(1, "confirmed"), (2, "change_requested")]
    assert audit(database_url, "agreement_proposed") == 2
    assert audit(database_url, "agreement_change") == 1
    assert ids and fake_line.errors == [] and fake_slack.errors == []


def test_groups_hear_programme_announcements_in_their_language(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    from sqlalchemy import select, update

    from bot.programmes.service import Programmes
    from bot.programmes.teams import TeamChannels, TeamSettings
    from storage.models import Announcement, Organization, Phase
    from tests.test_team_channels import EVE, run

    form_team(app, fake_line, fake_slack, database_url)
    group_id = str(scalar(database_url, "SELECT user_key FROM organizations"))

    async def fire(maker: Any) -> str:
        coordination = Coordination(
            maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel="C0COORDS01"
        )
        programmes = Programmes(
            maker, coordination, locale="ja", teams=TeamChannels(maker, TeamSettings(locale="ja"))
        )
        async with maker.begin() as session:
            await session.execute(update(Organization).values(locale="en"))
            kickoff = await session.scalar(select(Phase.id).where(Phase.kind == "kickoff"))
            row = Announcement(
                phase_id=kickoff,
                key="group-eve",
                offset_days=-1,
                at_local="18:00",
                audience=["groups"],
                text_ja="明日は{phase}です。チームとお会いしましょう。",
                text_en="Tomorrow is the {phase}. Come and meet your team.",
                send_at=EVE,
            )
            session.add(row)
            await session.flush()
            ann = row.id
        return await programmes.fire(int(ann), now=EVE + timedelta(minutes=1))

    assert run(database_url, fire) == "sent"
    got = fake_line.wait_for(
        lambda: [m for m in pushes_to(fake_line, group_id) if "meet your team" in said(m)],
        timeout=10,
    )
    assert "Tomorrow is the Kickoff" in said(got[0]) and "明日" not in said(got[0])
