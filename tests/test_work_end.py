"""A project's work and its end through the real app (issue #13, life-work): hours in
Slack and in a LINE flow, delivery recorded in the team channel and confirmed (or
questioned) by the group in LINE, completion by the group or a coordinator with thanks,
feedback flows and a draft case, pause / resume / cancel, the group's withdrawal and a
volunteer's capacity. Bad inputs get polite answers and the conversation stays."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.coordination import Coordination
from bot.lifecycle.service import Lifecycle
from bot.lifecycle.work import HoursRequest, parse_hours
from storage.models import Agreement
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
from tests.test_matching_flow import add_volunteers, pushes_to
from tests.test_slack_coordination import CHANNEL
from tests.test_team_channels import (
    ISHIDA,
    app,  # noqa: F401  (the fixture: LINE and Slack on their fakes)
    form_team,
    in_channel,
    run,
    shown,
    team_channel,
)

TOKYO = ZoneInfo("Asia/Tokyo")


def today() -> date:
    return datetime.now(TOKYO).date()


def agree(database_url: str, project_id: int) -> None:
    """The kickoff agreement proposed and confirmed through the Lifecycle service (its
    Slack and LINE surfaces belong to the group's part of #13)."""

    async def job(maker: Any) -> None:
        coordination = Coordination(
            maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel=""
        )
        life = Lifecycle(maker, coordination)
        async with maker.begin() as session:
            row = await life.propose_agreement(
                session,
                project_id,
                actor=ISHIDA,
                deliverable="Facebook運用マニュアル",
                scope="ページの立ち上げと運用ルール",
                success_measures="職員が自分で投稿できる",
                meeting_rhythm="隔週",
                end_date=today() + timedelta(days=30),
            )
            assert isinstance(row, Agreement)
            await life.answer_agreement(session, row.id, confirm=True)

    run(database_url, job)


def group_of(server: AppServer, fake_line: FakeLineApi, database_url: str) -> LineUser:
    return LineUser(
        server, fake_line, str(scalar(database_url, "SELECT user_key FROM organizations"))
    )


def newest_push(fake_line: FakeLineApi, user_id: str, text: str) -> dict[str, Any]:
    return fake_line.wait_for(
        lambda: [m for m in pushes_to(fake_line, user_id) if text in said(m)], timeout=10
    )[-1]


def thread_says(fake_slack: FakeSlackApi, text: str) -> bool:
    return any(text in shown(m) for m in fake_slack.messages(CHANNEL))


def channel_says(fake_slack: FakeSlackApi, channel: str, text: str) -> bool:
    return any(text in shown(m) for m in fake_slack.messages(channel))


def test_hours_delivery_group_completes_feedback_and_case_draft(
    app: AppServer,  # noqa: F811
    fake_line: FakeLineApi,
    fake_slack: FakeSlackApi,
    database_url: str,
) -> None:
    fake_slack.add_user(ISHIDA, "ishida")
    ids = form_team(app, fake_line, fake_slack, database_url, linked={"石田 真理": ISHIDA})
    channel = team_channel(fake_slack, database_url)
    project_id = int(scalar(database_url, "SELECT id FROM projects"))
    member = in_channel(app, fake_slack, ISHIDA, channel)

    # Hours in Slack: the project is the channel's; bad entries are answered politely.
    said_ = member.command("hours 3 団体とのヒアリング").json()["text"]
    assert f"#{project_id}" in said_ and "3時間を記録しました" in said_
    yesterday = (today() - timedelta(days=1)).isoformat()
    said_ = member.command(f"hours {yesterday} 1.5 資料作り").json()["text"]
    assert yesterday in said_ and "あなたの合計: 4.5時間" in said_
    assert "24時間以下" in member.command("hours 30 徹夜").json()["text"]
    tomorrow = (today() + timedelta(days=1)).isoformat()
    assert "未来の日付" in member.command(f"hours {tomorrow} 2 予定").json()["text"]
    assert (
        "つながっていません"
        in (in_channel(app, fake_slack, OUTSIDER, channel).command("hours 2 x").json()["text"])
    )
    assert scalar(database_url, "SELECT sum(minutes) FROM hours_entries") == 270
    # Hours in LINE for the member who did not link Slack: a short flow.
    aoki = LineUser(app, fake_line, ids["青木 健"])
    aoki.say("稼働記録")
    assert "何時間" in aoki.text()
    aoki.say("25")
    assert "24時間以下" in aoki.text()  # the question stays
    aoki.sticker()
    assert "何時間" in aoki.text()
    aoki.say("2時間")
    assert "いつの活動" in aoki.text()
    aoki.say(tomorrow)
    assert "未来の日付" in aoki.text()
    aoki.say("今日")
    aoki.say("ヒアリングの準備")
    assert "この内容でよろしいですか" in aoki.text()
    aoki.tap("記録する")
    assert "2時間" in aoki.text() and "記録しました" in aoki.text()
    assert scalar(database_url, "SELECT sum(minutes) FROM hours_entries") == 390
    # Coordinators see the totals, per project and per person.
    coord = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    totals = coord.command("hours").json()["text"]
    assert "6.5時間" in totals and "石田 真理: 4.5時間" in totals and "青木 健: 2時間" in totals
    card = shown(coord.command(f"project {project_id}").json())
    assert "チームと稼働" in card and "合計 6.5時間" in card
    assert "石田 真理: 4.5時間・同時参加 1/1件" in card
    assert "権限" not in member.command("hours").json()["text"]  # a member reads their own
    assert f"#{project_id} 4.5h" in member.command("hours").json()["text"]

    # Delivery before the agreement: refused, politely.
    assert (
        "この操作はできません"
        in member.command("deliver https://x.example/m 手引き").json()["text"]
    )
    agree(database_url, project_id)
    said_ = member.command(
        "deliver https://example.org/manual.pdf Facebook運用マニュアル 100ページ"
    )
    assert "納品を記録しました" in said_.json()["text"]
    assert scalar(database_url, "SELECT status FROM projects") == "delivered"
    fake_slack.wait_for(
        lambda: any("納品を記録しました" in shown(m) for m in fake_slack.messages(channel)),
        timeout=10,
    )

    # The group reads the delivery in LINE; first it says what is missing.
    group = group_of(app, fake_line, database_url)
    card = newest_push(fake_line, group.user_id, "成果物が届きました")
    assert "https://example.org/manual.pdf" in said(card)
    group.last = [card]
    group.tap("足りない点を伝える")
    assert "足りない点" in group.text()
    group.sticker()
    assert "文字で送ってください" in group.text()
    group.say("目次をつけてほしいです")
    assert "チームに伝えました" in group.text()
    fake_slack.wait_for(
        lambda: any("目次をつけてほしいです" in shown(m) for m in fake_slack.messages(channel)),
        timeout=10,
    )
    # The team delivers a new version; the group gets a new card.
    said_ = member.command("deliver https://example.org/manual-v2.pdf 目次をつけました")
    assert "納品を記録しました" in said_.json()["text"]
    card = newest_push(fake_line, group.user_id, "manual-v2.pdf")
    assert scalar(database_url, "SELECT count(*) FROM deliveries") == 2
    # Then it confirms, and completes the project itself.
    group.last = [card]
    group.tap("受け取りを確認")
    assert "受け取りの確認をありがとうございます" in group.text()
    group.tap("完了にする")
    assert "完了にしました" in group.text()
    assert scalar(database_url, "SELECT status FROM projects") == "completed"
    # Completing pushes the group its thanks; an answer to the group while that push
    # waits would follow it as a push too (to keep the order): let it go out first.
    app.settle()
    group.last = [card]
    group.tap("受け取りを確認")  # an old card, tapped again
    assert "すでに確認済み" in group.text()
    actions = [r[0] for r in query(database_url, "SELECT action FROM audit_log ORDER BY id")]
    for action in ("hours_logged", "deliver", "delivery_confirmed", "complete", "case_draft"):
        assert action in actions, action

    # Members are thanked with their own hours, and asked for feedback.
    thanks = newest_push(fake_line, ids["青木 健"], "プロジェクトが完了しました")
    assert "2時間のご協力" in said(thanks)
    aoki.last = [thanks]
    aoki.tap("アンケートに答える")
    assert "1（よくなかった）" in aoki.text()
    aoki.say("7")
    assert "選択肢にありません" in aoki.text()
    aoki.tap("5")
    aoki.say("団体の皆さんと一緒に考えられてよかった")
    aoki.tap("名前つきで公開可")
    aoki.tap("送る")
    assert "ありがとうございました" in aoki.text()
    group_thanks = newest_push(fake_line, group.user_id, "チームは合計")
    assert "6.5時間" in said(group_thanks)
    group.last = [group_thanks]
    group.tap("アンケートに答える")
    group.tap("4")
    group.say("丁寧に進めてもらえました")
    group.tap("匿名なら公開可")
    group.tap("送る")
    rows = query(database_url, "SELECT author_type, score, publish FROM feedback ORDER BY id")
    assert [tuple(r) for r in rows] == [("volunteer", 5, "named"), ("organization", 4, "anonymous")]
    # The draft case is written from the project; coordinators are told.
    assert scalar(database_url, "SELECT count(*) FROM cases WHERE status = 'draft'") == 1
    fake_slack.wait_for(lambda: thread_says(fake_slack, "事例の下書き"), timeout=10)
    case = str(query(database_url, "SELECT * FROM cases")[0])
    assert "Facebook運用マニュアル" in case
    # Feedback given after completion, published by name, is in the draft too; the
    # group's (anonymous) words as well, without its name.
    assert "団体の皆さんと一緒に考えられてよかった" in case and "丁寧に進めてもらえました" in case


def test_coordinators_pause_resume_deliver_complete_and_cancel(
    app: AppServer,  # noqa: F811
    fake_line: FakeLineApi,
    fake_slack: FakeSlackApi,
    database_url: str,
) -> None:
    ids = form_team(app, fake_line, fake_slack, database_url)
    channel = team_channel(fake_slack, database_url)
    project_id = int(scalar(database_url, "SELECT id FROM projects"))
    coord = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    outsider = SlackUser(app, fake_slack, OUTSIDER, CHANNEL)
    assert "コーディネーターのみ" in outsider.command(f"pause {project_id}").json()["text"]
    assert scalar(database_url, "SELECT status FROM projects") == "team_formed"

    said_ = coord.command(f"pause {project_id} 団体の年度末のため").json()["text"]
    assert "一時停止" in said_ and "団体の年度末のため" in said_
    group = group_of(app, fake_line, database_url)
    told = newest_push(fake_line, group.user_id, "一時停止中")
    assert "理由: 団体の年度末のため" in said(told)
    newest_push(fake_line, ids["青木 健"], "一時停止")
    assert "この操作はできません" in coord.command(f"pause {project_id}").json()["text"]
    # The team channel reads it too, in its own language.
    fake_slack.wait_for(lambda: channel_says(fake_slack, channel, "一時停止"), timeout=10)
    # Resuming goes back where the pause found it: the team, not a skipped agreement.
    said_ = coord.command(f"resume {project_id}").json()["text"]
    assert "チーム結成" in said_
    assert scalar(database_url, "SELECT status FROM projects") == "team_formed"
    fake_slack.wait_for(lambda: channel_says(fake_slack, channel, "チーム結成"), timeout=10)
    # Paused after the agreement, it resumes at work.
    agree(database_url, project_id)
    assert "一時停止" in coord.command(f"pause {project_id}").json()["text"]
    assert "合意済み・活動中" in coord.command(f"resume {project_id}").json()["text"]
    # A coordinator records the delivery in the team channel, then completes.
    assert (
        "使い方"
        in in_channel(app, fake_slack, COORDINATORS[0], channel).command("deliver").json()["text"]
    )
    assert (
        "チームのチャンネル"
        in coord.command("deliver https://example.org/a 勘定科目表").json()["text"]
    )
    said_ = in_channel(app, fake_slack, COORDINATORS[0], channel).command(
        "deliver https://example.org/a 勘定科目表"
    )
    assert "納品を記録しました" in said_.json()["text"]
    assert "完了にしました" in coord.command(f"complete {project_id}").json()["text"]
    thanks = newest_push(fake_line, ids["石田 真理"], "プロジェクトが完了しました")
    assert "0時間のご協力" in said(thanks)
    assert "この操作はできません" in coord.command(f"cancel-project {project_id}").json()["text"]
    assert "見つかりません" in coord.command("complete 999").json()["text"]
    # Capacity is free again: the members hold no project any more.
    assert scalar(database_url, "SELECT status FROM projects") == "completed"


def test_cancel_tells_group_and_members(
    app: AppServer,  # noqa: F811
    fake_line: FakeLineApi,
    fake_slack: FakeSlackApi,
    database_url: str,
) -> None:
    ids = form_team(app, fake_line, fake_slack, database_url, programme=False)
    project_id = int(scalar(database_url, "SELECT id FROM projects"))
    coord = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    said_ = coord.command(f"cancel-project {project_id} 団体の解散").json()["text"]
    assert "中止" in said_
    group = group_of(app, fake_line, database_url)
    assert "理由: 団体の解散" in said(newest_push(fake_line, group.user_id, "中止"))
    assert "理由: 団体の解散" in said(newest_push(fake_line, ids["青木 健"], "中止"))
    # The table names the group and the members; the audit log keeps who and why.
    row = query(
        database_url,
        "SELECT actor, detail FROM audit_log WHERE action = 'cancel' AND subject_id = :p",
        p=project_id,
    )
    detail = row[0][1] if isinstance(row[0][1], dict) else json.loads(row[0][1])
    assert row[0][0] == COORDINATORS[0] and detail["reason"] == "団体の解散"


def test_group_withdraws_with_confirmation_and_volunteer_capacity(
    app: AppServer,  # noqa: F811
    fake_line: FakeLineApi,
    fake_slack: FakeSlackApi,
    database_url: str,
) -> None:
    group = LineUser(app, fake_line)
    submit_group_request(group)
    project_id = int(scalar(database_url, "SELECT id FROM projects"))
    group.say("相談状況")
    assert "事務局で確認中" in group.text()
    group.tap(f"#{project_id} を取り下げ")
    assert "元には戻せません" in group.text()
    group.say("うーん")  # neither button: nothing is withdrawn
    assert scalar(database_url, "SELECT status FROM projects") == "submitted"
    group.say("相談状況")
    group.tap(f"#{project_id} を取り下げ")
    group.tap("取り下げない")
    assert "取り下げはしませんでした" in group.text()
    assert scalar(database_url, "SELECT status FROM projects") == "submitted"
    group.say("相談状況")
    group.tap(f"#{project_id} を取り下げ")
    confirm = group.last
    group.tap("取り下げる")
    assert "取り下げました" in group.text()
    assert scalar(database_url, "SELECT status FROM projects") == "withdrawn"
    fake_slack.wait_for(lambda: thread_says(fake_slack, "団体が取り下げ"), timeout=10)
    group.last = confirm
    group.tap("取り下げる")  # a second tap
    assert "取り下げできません" in group.text()
    group.say("相談状況")
    assert "取り下げ済み" in group.text() and "を取り下げ" not in " ".join(group.labels())

    # A volunteer sees and changes how many projects at a time.
    person = LineUser(app, fake_line)
    person.say("同時参加数")
    assert "まだボランティア登録がありません" in person.text()
    ids = add_volunteers(database_url, fake_line)
    aoki = LineUser(app, fake_line, ids["青木 健"])
    aoki.say("同時参加数")
    assert "いま 1 件" in aoki.text()
    aoki.tap("2件")
    assert "2 件にしました" in aoki.text()
    capacity = "SELECT capacity FROM volunteers WHERE display_name = '青木 健'"
    assert scalar(database_url, capacity) == 2
    aoki.say("同時参加数")
    assert aoki.labels() == ["1件", "2件", "3件"]


def test_hours_as_typed_in_slack() -> None:
    typed = parse_hours(["2026-12-03", "1.5", "#12", "資料", "作り"])
    assert typed == HoursRequest("1.5", date(2026, 12, 3), 12, "資料 作り")
    assert parse_hours(["3", "hearing", "with", "the", "group"]).note == "hearing with the group"
    assert parse_hours(["１．５", "x"]).hours == "１．５"
    assert parse_hours(["2026-02-30", "2"]).bad_date
    assert parse_hours(["hearing", "3"]).hours is None  # the hours come first
