"""Groups ask in LINE; coordinators decide in Slack; the outbox carries the messages."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from tests import line_events as le
from tests import slack_requests as sr
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import (
    COORDINATORS,
    HTTP,
    OUTSIDER,
    SLACK_SECRET,
    AppServer,
    LineUser,
    SlackUser,
    query,
    scalar,
    submit_group_request,
)

CHANNEL = "coordinators"


@pytest.fixture
def app(slack_app: AppServer) -> AppServer:
    """Here the app always has Slack."""
    return slack_app


def coordinator(app: AppServer, fake: FakeSlackApi, n: int = 0) -> SlackUser:
    return SlackUser(app, fake, COORDINATORS[n], CHANNEL)


def the_card(fake: FakeSlackApi) -> dict[str, Any] | None:
    """The newest top-level message of the coordinator channel (thread replies aside)."""
    top = fake.messages(CHANNEL, replies=False)
    return top[-1] if top else None


def wait_card(fake: FakeSlackApi) -> dict[str, Any]:
    return fake.wait_for(lambda: the_card(fake), timeout=10)


def wait_decided(fake: FakeSlackApi) -> dict[str, Any]:
    """The card once its decision buttons are gone (a decision was recorded)."""
    return fake.wait_for(
        lambda: (m := the_card(fake)) and "受け付ける" not in buttons(m) and m, timeout=10
    )


def card_text(message: dict[str, Any]) -> str:
    """Everything a coordinator reads on a card."""
    parts: list[str] = [message.get("text", "")]
    for block in message.get("blocks") or []:
        for key in ("text",):
            if isinstance(block.get(key), dict):
                parts.append(block[key]["text"])
        for field in block.get("fields") or []:
            parts.append(field["text"])
        for element in block.get("elements") or []:
            if isinstance(element.get("text"), dict):
                parts.append(element["text"]["text"])
            elif isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "\n".join(parts)


def buttons(message: dict[str, Any]) -> list[str]:
    return [
        e["text"]["text"]
        for b in message.get("blocks") or []
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def group_pushes(fake: FakeLineApi, user: LineUser) -> list[str]:
    return [
        m["text"] for body in fake.pushes if body["to"] == user.user_id for m in body["messages"]
    ]


def project_status(database_url: str) -> str:
    return str(scalar(database_url, "SELECT status FROM projects"))


# ---------------------------------------------------------------- intake and the card


def test_group_request_reaches_coordinators_as_a_card(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    group = LineUser(app, fake_line)
    submit_group_request(group)
    card = wait_card(fake_slack)
    shown = card_text(card)
    for expected in (
        "新しい相談: こども未来塾",
        "任意団体",
        "川崎市",
        "福祉（子ども）、子育て",
        "課題整理ワークショップ",
        "3か月以内",
        "活動の目的や優先順位を整理して",
        "ひと: 運営を手伝う人",
    ):
        assert expected in shown
    assert buttons(card) == ["受け付ける", "質問する", "見送る", "条件を編集"]
    assert project_status(database_url) == "submitted"
    org = query(
        database_url, "SELECT name, kind, sector, contact_name, consent_version FROM organizations"
    )
    assert org == [("こども未来塾", "voluntary", "npo", "佐藤 一郎", "2026-11")]
    assert fake_slack.errors == [] and fake_line.errors == []
    group.tap("相談状況")
    assert "事務局で確認中" in group.text()


def test_accept_updates_the_card_and_tells_the_group(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    group = LineUser(app, fake_line)
    submit_group_request(group)
    wait_card(fake_slack)
    coordinator(app, fake_slack).click("受け付ける")
    fake_line.wait_for(lambda: group_pushes(fake_line, group), timeout=10)
    assert "受け付けました" in group_pushes(fake_line, group)[0]
    card = wait_decided(fake_slack)
    assert f"<@{COORDINATORS[0]}> が" in card_text(card) and "受け付けました" in card_text(card)
    assert buttons(card) == ["候補を提案", "条件を編集"]  # recruiting: matching, or adjust needs
    assert len(fake_slack.messages(CHANNEL, replies=False)) == 1  # updated in place
    assert project_status(database_url) == "recruiting"
    audit = query(database_url, "SELECT actor, action FROM audit_log WHERE action='accept'")
    assert audit == [(COORDINATORS[0], "accept")]
    # The decision answers the group's own request: it goes even at the LINE quota limit.
    # (The group's other rows are its replies in the conversation, sent and emptied.)
    payloads = [
        json.loads(p) if isinstance(p, str) else p
        for (p,) in query(
            database_url,
            "SELECT payload FROM outbox WHERE channel = 'line' AND target = :who",
            who=group.user_id,
        )
    ]
    (payload,) = [p for p in payloads if "募集を始めます" in json.dumps(p, ensure_ascii=False)]
    assert payload["urgent"] is True
    group.say("相談状況")
    assert "ボランティア募集中" in group.text()


def test_ask_and_answer_can_repeat_then_decline(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    group = LineUser(app, fake_line)
    submit_group_request(group)
    card = wait_card(fake_slack)
    coord = coordinator(app, fake_slack)
    coord.click("質問する")
    view = fake_slack.wait_for(lambda: coord._last_view(), timeout=10)
    assert view["title"]["text"] == "団体への質問"
    assert coord.submit("参加する子どもは何人くらいですか？").status_code == 200
    fake_line.wait_for(lambda: group_pushes(fake_line, group), timeout=10)
    push = [b for b in fake_line.pushes if b["to"] == group.user_id][-1]
    assert "参加する子どもは何人くらいですか？" in push["messages"][0]["text"]
    assert push["messages"][0]["quickReply"]["items"][0]["action"]["label"] == "回答する"
    # The group just types the answer. (Until the question's push is recorded as sent,
    # an answer to the group goes as a push behind it, to keep their order: settle first.)
    app.settle()
    group.say("毎週15人ほどです。")
    assert "回答を事務局に伝えました" in group.text()
    thread = fake_slack.wait_for(
        lambda: [m for m in fake_slack.thread(CHANNEL, card["ts"]) if "回答" in m["text"]],
        timeout=10,
    )
    assert "毎週15人ほどです。" in thread[0]["text"]
    # A second question, answered after tapping "回答する".
    coord.click("質問する")
    fake_slack.wait_for(lambda: len(fake_slack.views_opened()) == 2, timeout=10)
    coord.submit("活動場所はどこですか？")
    fake_line.wait_for(lambda: len(group_pushes(fake_line, group)) == 2, timeout=10)
    group.last = [b for b in fake_line.pushes if b["to"] == group.user_id][-1]["messages"]
    app.settle()
    group.tap("回答する")
    assert "回答を入力" in group.text()
    group.say("中原区の公民館です。")
    fake_slack.wait_for(
        lambda: any("公民館" in m["text"] for m in fake_slack.thread(CHANNEL, card["ts"])),
        timeout=10,
    )
    answers = query(database_url, "SELECT answer FROM project_questions ORDER BY id")
    assert answers == [("毎週15人ほどです。",), ("中原区の公民館です。",)]
    # Then decline, with a reason the group reads.
    coord.click("見送る")
    fake_slack.wait_for(lambda: len(fake_slack.views_opened()) == 3, timeout=10)
    coord.submit("今期の対象地域外のため")
    fake_line.wait_for(lambda: len(group_pushes(fake_line, group)) == 3, timeout=10)
    assert "今期の対象地域外のため" in group_pushes(fake_line, group)[-1]
    assert project_status(database_url) == "declined"
    card = wait_decided(fake_slack)
    assert "見送りました" in card_text(card) and buttons(card) == []
    assert fake_slack.errors == [] and fake_line.errors == []


def test_empty_modal_gets_an_error_not_a_message(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi
) -> None:
    group = LineUser(app, fake_line)
    submit_group_request(group)
    wait_card(fake_slack)
    coord = coordinator(app, fake_slack)
    coord.click("見送る")
    response = coord.submit("   ")
    assert response.status_code == 200
    assert response.json()["response_action"] == "errors"
    app.settle()
    assert group_pushes(fake_line, group) == []


# ---------------------------------------------------------------- who may decide


def test_a_non_coordinator_is_refused_and_nothing_changes(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    group = LineUser(app, fake_line)
    submit_group_request(group)
    wait_card(fake_slack)
    SlackUser(app, fake_slack, OUTSIDER, CHANNEL).click("受け付ける")
    refusal = fake_slack.wait_for(lambda: fake_slack.ephemerals(OUTSIDER), timeout=10)
    assert "コーディネーターのみ" in refusal[0]["text"]
    assert project_status(database_url) == "submitted"
    assert group_pushes(fake_line, group) == []
    response = SlackUser(app, fake_slack, OUTSIDER, CHANNEL).command("projects")
    assert "コーディネーターのみ" in response.json()["text"]


def test_a_member_of_the_coordinator_user_group_may_decide(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    group = LineUser(app, fake_line)
    submit_group_request(group)
    wait_card(fake_slack)
    SlackUser(app, fake_slack, "U0GROUPED1", CHANNEL).click("受け付ける")
    fake_line.wait_for(lambda: group_pushes(fake_line, group), timeout=10)
    assert project_status(database_url) == "recruiting"


def test_two_coordinators_at_once_exactly_one_decision_wins(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    group = LineUser(app, fake_line)
    submit_group_request(group)
    wait_card(fake_slack)
    first, second = coordinator(app, fake_slack, 0), coordinator(app, fake_slack, 1)
    found = fake_slack.find_button(CHANNEL, "受け付ける")
    bodies = [
        sr.block_actions(
            u.user_id,
            found.action_id,
            found.value,
            found.channel_id,
            found.message_ts,
            message=found.message,
        )
        for u in (first, second)
    ]
    start = threading.Barrier(2)
    codes: list[int] = []

    def click(user: SlackUser, body: str) -> None:
        start.wait()
        codes.append(user.post(body).status_code)

    threads = [
        threading.Thread(target=click, args=(u, b))
        for u, b in zip((first, second), bodies, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200, 200]
    told = fake_slack.wait_for(
        lambda: fake_slack.ephemerals(COORDINATORS[0]) + fake_slack.ephemerals(COORDINATORS[1]),
        timeout=10,
    )
    assert len(told) == 1 and "すでに" in told[0]["text"]
    fake_line.wait_for(lambda: group_pushes(fake_line, group), timeout=10)
    app.settle()
    assert len(group_pushes(fake_line, group)) == 1
    assert scalar(database_url, "SELECT count(*) FROM audit_log WHERE action='accept'") == 1
    winner = scalar(database_url, "SELECT decided_by FROM projects")
    loser = COORDINATORS[1] if winner == COORDINATORS[0] else COORDINATORS[0]
    assert told[0]["user"] == loser


# ---------------------------------------------------------------- the request URL


def test_tampered_or_stale_signature_is_refused(app: AppServer, fake_slack: FakeSlackApi) -> None:
    body = sr.slash_command(COORDINATORS[0], "/tsunagu", "projects")
    url = f"{app.url}/slack/events"
    tampered = sr.signed(body, SLACK_SECRET)
    assert (
        HTTP.post(url, content=body.replace("projects", "volunteers"), headers=tampered).status_code
        == 401
    )
    stale = sr.signed(body, SLACK_SECRET, timestamp=int(time.time()) - 6 * 60)
    assert HTTP.post(url, content=body, headers=stale).status_code == 401
    wrong = sr.signed(body, "another-secret")
    assert HTTP.post(url, content=body, headers=wrong).status_code == 401
    assert HTTP.post(url, content=body).status_code == 401


def test_a_retried_event_has_no_second_effect(app: AppServer, fake_slack: FakeSlackApi) -> None:
    coord = coordinator(app, fake_slack)
    text = "<@U0TSUNAGUB> help"
    ts = fake_slack.add_message(CHANNEL, text, COORDINATORS[0])
    event = sr.app_mention(COORDINATORS[0], text, "C0COORDS01", ts=ts)
    body = sr.event_callback(event, event_id="Ev0RETRY0001")
    assert coord.post(body).status_code == 200
    assert coord.post(body, headers=sr.retry_headers(1)).status_code == 200
    assert coord.post(body, headers=sr.retry_headers(2, "http_error")).status_code == 200
    fake_slack.wait_for(lambda: fake_slack.thread(CHANNEL, ts)[1:] or None, timeout=10)
    app.settle()
    replies = fake_slack.thread(CHANNEL, ts)[1:]
    assert len(replies) == 1 and "/tsunagu" in replies[0]["text"]


def test_url_verification(app: AppServer, fake_slack: FakeSlackApi) -> None:
    response = coordinator(app, fake_slack).post(sr.url_verification("challenge-123"))
    assert response.status_code == 200 and "challenge-123" in response.text


def test_slash_commands(app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi) -> None:
    from tests.test_line_signup import sign_up_ja

    sign_up_ja(LineUser(app, fake_line))
    group = LineUser(app, fake_line)
    submit_group_request(group)
    wait_card(fake_slack)
    coord = coordinator(app, fake_slack)
    listing = coord.command("projects").json()["text"]
    assert "#1 こども未来塾" in listing and "審査待ち" in listing
    one = coord.command("project 1").json()
    assert "新しい相談: こども未来塾" in one["text"]
    assert any(b["type"] == "actions" for b in one["blocks"])
    assert "#99" in coord.command("project 99").json()["text"]
    volunteers = coord.command("volunteers").json()["text"]
    assert (
        "合計 1人" in volunteers
        and "会計・経理 1" in volunteers
        and "川崎市 中原区 1" in volunteers
    )
    assert "/tsunagu projects" in coord.command("help").json()["text"]
    assert "わかりませんでした" in coord.command("dance").json()["text"]
    assert "配信状況" in coord.command("outbox").json()["text"]


# ---------------------------------------------------------------- delivery through faults


def test_slack_and_line_failures_are_retried_with_exactly_one_delivery(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    fake_slack.fail_next(2, status=500, method="chat.postMessage")
    fake_slack.fail_next(1, status=429, method="chat.postMessage", retry_after=1)
    group = LineUser(app, fake_line)
    submit_group_request(group)
    wait_card(fake_slack)
    app.settle()
    assert len(fake_slack.messages(CHANNEL)) == 1
    fake_line.fail_next(1, status=500, path_prefix="/v2/bot/message/push")
    fake_line.fail_next(1, status=429, path_prefix="/v2/bot/message/push")
    coordinator(app, fake_slack).click("受け付ける")
    fake_line.wait_for(lambda: group_pushes(fake_line, group), timeout=15)
    app.settle()
    assert len(group_pushes(fake_line, group)) == 1
    assert scalar(database_url, "SELECT count(*) FROM outbox WHERE status != 'sent'") == 0
    assert scalar(database_url, "SELECT max(attempts) FROM outbox") >= 3


def test_group_follow_and_unfollow_do_not_break_requests(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi
) -> None:
    group = LineUser(app, fake_line)
    submit_group_request(group)
    wait_card(fake_slack)
    group.send(le.unfollow(group.user_id), wait=False)
    group.send(le.follow(group.user_id, group.token()))
    assert "おかえりなさい、こども未来塾さん" in group.text()
    assert "相談状況" in group.labels()


def test_each_reader_gets_answers_and_modals_in_their_own_slack_language(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi
) -> None:
    # The second coordinator and an outsider read Slack in English.
    fake_slack.add_user(COORDINATORS[1], "ken", locale="en-US")
    fake_slack.add_user(OUTSIDER, OUTSIDER.lower(), locale="en-GB")
    group = LineUser(app, fake_line)
    submit_group_request(group)
    card = wait_card(fake_slack)
    # The card everyone in the channel reads stays in the channel's language.
    assert "新しい相談" in card_text(card)
    english, japanese = coordinator(app, fake_slack, 1), coordinator(app, fake_slack, 0)
    assert "/tsunagu commands" in english.command("help").json()["text"]
    assert "/tsunagu の使い方" in japanese.command("help").json()["text"]
    assert "I don't know" in english.command("dance").json()["text"]
    SlackUser(app, fake_slack, OUTSIDER, CHANNEL).click("受け付ける")
    refusal = fake_slack.wait_for(lambda: fake_slack.ephemerals(OUTSIDER), timeout=10)
    assert "coordinator" in refusal[0]["text"].lower()
    # The modal opens in the clicker's language.
    english.click("質問する")
    opened = fake_slack.wait_for(lambda: fake_slack.calls("views.open"), timeout=10)
    assert opened[-1].args["view"]["title"]["text"] == "Ask the group"
    # Each person's language is asked once and cached.
    looked_up = [c.args.get("user") for c in fake_slack.calls("users.info")]
    assert looked_up.count(COORDINATORS[1]) == 1


def test_slack_locales_map_slack_languages_and_fall_back_to_the_channel() -> None:
    from bot.settings import Settings
    from handlers.slack.locale import from_slack

    assert from_slack("ja-JP", "en") == "ja" and from_slack("en-GB", "ja") == "en"
    assert from_slack("fr-FR", "ja") == "en" and from_slack(None, "ja") == "ja"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, SLACK_CHANNEL_LOCALES="C0COORD=en, teams=ja", TSUNAGU_DEFAULT_LOCALE="ja"
    )
    assert settings.channel_locale("C0COORD") == "en"
    assert settings.channel_locale("teams") == "ja"
    assert settings.channel_locale("C0OTHER") == "ja"
    with pytest.raises(ValueError, match="SLACK_CHANNEL_LOCALES"):
        Settings(_env_file=None, SLACK_CHANNEL_LOCALES="C0COORD=fr")  # type: ignore[call-arg]


def test_tsunagu_lang_wins_over_the_slack_locale_and_is_kept(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    fake_slack.add_user(COORDINATORS[1], "ken", locale="en-US")
    japanese, english = coordinator(app, fake_slack, 0), coordinator(app, fake_slack, 1)
    # Bad input: a polite answer in the reader's language, nothing stored.
    assert "I can't switch to “fr”" in english.command("lang fr").json()["text"]
    assert "選べません" in japanese.command("lang français").json()["text"]
    assert "Your language now: English" in english.command("lang").json()["text"]
    assert scalar(database_url, "SELECT count(*) FROM person_languages") == 0
    # Each chooses the other language; the answer comes in the language chosen.
    assert "From now on" in japanese.command("lang en").json()["text"]
    assert "日本語でお答えします" in english.command("lang 日本語").json()["text"]
    assert "/tsunagu commands" in japanese.command("help").json()["text"]
    assert "/tsunagu の使い方" in english.command("help").json()["text"]
    # Modals and private refusals follow the choice too.
    group = LineUser(app, fake_line)
    submit_group_request(group)
    wait_card(fake_slack)
    english.click("質問する")
    opened = fake_slack.wait_for(lambda: fake_slack.calls("views.open"), timeout=10)
    assert opened[-1].args["view"]["title"]["text"] != "Ask the group"
    japanese.click("質問する")
    fake_slack.wait_for(lambda: len(fake_slack.calls("views.open")) == 2, timeout=10)
    assert fake_slack.calls("views.open")[-1].args["view"]["title"]["text"] == "Ask the group"
    # Kept in the database, for every process and restart.
    rows = query(database_url, "SELECT user_key, locale FROM person_languages ORDER BY locale")
    assert [tuple(r) for r in rows] == [(COORDINATORS[0], "en"), (COORDINATORS[1], "ja")]
    # Help lists the verb in both languages.
    assert "/tsunagu lang ja|en|auto" in japanese.command("help").json()["text"]


def test_tsunagu_lang_auto_clears_the_choice_so_the_slack_locale_applies_again(
    app: AppServer, fake_slack: FakeSlackApi, database_url: str
) -> None:
    fake_slack.add_user(COORDINATORS[1], "ken", locale="en-US")
    english = coordinator(app, fake_slack, 1)
    assert "日本語でお答えします" in english.command("lang ja").json()["text"]
    assert "いまの言語: 日本語" in english.command("lang").json()["text"]
    # Cleared (said in the language read until now); Slack's language (English) from now
    # on; the row is gone.
    assert "言語の指定を外しました" in english.command("lang auto").json()["text"]
    assert scalar(database_url, "SELECT count(*) FROM person_languages") == 0
    assert "Your language now: English" in english.command("lang").json()["text"]
    # The other words clear too, and clearing when nothing is chosen is harmless.
    assert "choice is cleared" in english.command("lang reset").json()["text"]
    english.command("lang ja")
    assert "言語の指定を外しました" in english.command("lang 自動").json()["text"]
    assert "Your language now: English" in english.command("lang").json()["text"]
    assert scalar(database_url, "SELECT count(*) FROM person_languages") == 0
    assert "/tsunagu lang ja|en|auto" in english.command("help").json()["text"]


def test_a_late_click_and_a_refused_question_are_answered_in_the_clickers_language(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi
) -> None:
    fake_slack.add_user(COORDINATORS[1], "ken", locale="en-US")
    group = LineUser(app, fake_line)
    submit_group_request(group)
    wait_card(fake_slack)
    found = fake_slack.find_button(CHANNEL, "受け付ける")
    coordinator(app, fake_slack, 0).click("受け付ける")
    wait_decided(fake_slack)
    # The same (now stale) button, clicked late by each coordinator.
    for n in (1, 0):
        coordinator(app, fake_slack, n).post(
            sr.block_actions(
                COORDINATORS[n],
                found.action_id,
                found.value,
                found.channel_id,
                found.message_ts,
                message=found.message,
            )
        )
    english = fake_slack.wait_for(lambda: fake_slack.ephemerals(COORDINATORS[1]), timeout=10)
    japanese = fake_slack.wait_for(lambda: fake_slack.ephemerals(COORDINATORS[0]), timeout=10)
    assert english[0]["text"].startswith("This request was already accepted by")
    assert japanese[0]["text"].startswith("この相談はすでに")
    # An English reader's question about a decided request is refused in English too.
    coordinator(app, fake_slack, 1).post(
        sr.block_actions(
            COORDINATORS[1],
            "project_ask",
            found.value,
            found.channel_id,
            found.message_ts,
            message=found.message,
        )
    )
    told = fake_slack.wait_for(
        lambda: (e := fake_slack.ephemerals(COORDINATORS[1])) and len(e) == 2 and e, timeout=10
    )
    assert told[1]["text"].startswith("This request was already accepted by")
    assert fake_slack.calls("views.open") == []


def test_matching_and_programme_refusals_read_in_each_clickers_language(
    database_url: str,
) -> None:
    """The services' refusals carry every language: the Slack channel tells each clicker
    theirs (`ActionResult.text(locale)`), whatever the coordinators' channel reads."""
    from bot.coordination import Coordination
    from bot.matching.service import Matching
    from bot.programmes.service import Programmes
    from storage.db import make_engine, make_sessionmaker

    async def go() -> list[tuple[str, str]]:
        engine = make_engine(database_url)
        try:
            maker = make_sessionmaker(engine)
            coordination = Coordination(
                maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel=""
            )
            matching = Matching(maker, coordination)
            programmes = Programmes(maker, coordination, locale="ja")
            results = [
                await matching.propose(999, COORDINATORS[0]),
                await matching.act(999, None, COORDINATORS[0], "team_approve"),
                await programmes.delete_phase(999, COORDINATORS[0]),
            ]
            return [(r.text("ja"), r.text("en")) for r in results if not r.ok]
        finally:
            await engine.dispose()

    told = asyncio.run(go())
    assert len(told) == 3
    assert told[0] == ("相談 #999 は募集中ではありません。", "Request #999 is not recruiting.")
    assert all(ja != en and en.isascii() for ja, en in told)
