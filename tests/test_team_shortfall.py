"""A team that cannot reach its minimum never stalls in silence: the card says what is
short and what would fix it, the coordinators are told when everyone invited has
answered, and a volunteer who raises a hand with the missing skill is named on the card
rather than the skill being called missing. Through LINE and Slack only."""

from __future__ import annotations

import pytest

from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import (
    COORDINATORS,
    AppServer,
    LineUser,
    SlackUser,
    said,
    scalar,
    submit_group_request,
)
from tests.test_cohort_e2e import sign_up, team_card_of
from tests.test_matching_flow import pushes_to
from tests.test_slack_coordination import CHANNEL, buttons, card_text, group_pushes

GROUP = "こども未来塾"  # submit_group_request: 課題整理ワークショップ, facilitation required


@pytest.fixture
def app(slack_app: AppServer) -> AppServer:
    """Here the app always has Slack."""
    return slack_app


def accept_invitation(app: AppServer, fake_line: FakeLineApi, person: LineUser) -> None:
    person.last = fake_line.wait_for(
        lambda: [m for m in pushes_to(fake_line, person.user_id) if "ご招待" in said(m)],
        timeout=10,
    )[-1:]
    person.tap("参加する")
    assert "参加を承諾しました" in person.text()


def test_a_short_team_is_explained_and_a_raised_hand_completes_it(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    # Only a consultant (nice to have for a workshop) has signed up so far.
    mori = sign_up(app, fake_line, "森 大地", "川崎市", ["経営・戦略"], "どちらでも")
    group = LineUser(app, fake_line)
    submit_group_request(group)
    fake_slack.wait_for(lambda: fake_slack.messages(CHANNEL, replies=False), timeout=10)
    coord = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    coord.click("受け付ける")
    fake_line.wait_for(lambda: group_pushes(fake_line, group), timeout=10)

    # The card proposes him (a reason to be there) and says what is short and the fix.
    card = fake_slack.wait_for(
        lambda: (m := team_card_of(fake_slack, GROUP)) and "森" in card_text(m) and m, timeout=10
    )
    shown = card_text(card)
    assert "ファシリテーション を持つ候補がいません" in shown
    assert "チーム案は1人で、最小人数2人に届きません" in shown
    assert "条件を編集" in shown and "✅" not in shown

    # He is invited and accepts; everyone has answered and the team is still short:
    # the coordinators are told in the card's thread, with the reason.
    coord.click("全員を承認")
    accept_invitation(app, fake_line, mori)
    told = fake_slack.wait_for(
        lambda: [m for m in fake_slack.messages(CHANNEL) if "チームを編成できません" in m["text"]],
        timeout=10,
    )
    assert "承諾 1人" in told[0]["text"] and "ファシリテーション" in told[0]["text"]
    assert told[0].get("thread_ts") and told[0]["thread_ts"] != told[0]["ts"]
    assert scalar(database_url, "SELECT status FROM projects") == "recruiting"

    # A facilitator signs up, sees the project under 募集中 and raises her hand: the card
    # names her as a holder instead of calling the skill missing.
    hayashi = sign_up(app, fake_line, "林 さくら", "川崎市", ["ファシリテーション"], "どちらでも")
    hayashi.say("募集中のプロジェクト")
    assert GROUP in hayashi.text()
    hayashi.tap("#1 に興味あり")
    card = fake_slack.wait_for(
        lambda: (m := team_card_of(fake_slack, GROUP)) and "林🙋" in card_text(m) and m,
        timeout=10,
    )
    shown = card_text(card)
    assert "ファシリテーション はまだチーム案にありません" in shown
    assert "不足しているスキル" not in shown and "を持つ候補がいません" not in shown

    # One click proposes her, one approves: the team is complete and the group sees it.
    coord.click("候補を提案")
    card = fake_slack.wait_for(
        lambda: (m := team_card_of(fake_slack, GROUP)) and "全員を承認" in buttons(m) and m,
        timeout=10,
    )
    assert "✅ このチームで必要スキルをすべてカバー" in card_text(card)
    coord.click("全員を承認")
    accept_invitation(app, fake_line, hayashi)
    proposal = fake_line.wait_for(
        lambda: [m for m in pushes_to(fake_line, group.user_id) if "チーム案" in said(m)],
        timeout=10,
    )[0]
    assert "森" in said(proposal) and "林" in said(proposal)
    assert fake_slack.errors == [] and fake_line.errors == []
