"""A group asks for translation in LINE: the request asks which language, the project
keeps it, and only translators of that language are suggested, with the reason."""

from __future__ import annotations

import pytest

from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import COORDINATORS, AppServer, LineUser, SlackUser, query, scalar
from tests.test_matching_flow import team_card
from tests.test_slack_coordination import CHANNEL, buttons, card_text


@pytest.fixture
def app(slack_app: AppServer) -> AppServer:
    """Here the app always has Slack."""
    return slack_app


def sign_up_translator(app: AppServer, fake_line: FakeLineApi, name: str, language: str) -> str:
    """A volunteer who translates `language`, signed up through LINE."""
    person = LineUser(app, fake_line)
    person.follow()
    person.tap("ボランティアとして登録")
    person.say(name)
    person.say("横浜市")
    person.pick_all("翻訳・通訳")
    person.pick_all(language)
    person.tap("会社員")
    person.tap("スキップ")
    person.tap("スキップ")
    person.say("5")
    person.tap("5時間")
    person.pick_all("土日祝")
    person.tap("オンライン")
    person.pick_all("国際・多文化共生")
    person.tap("共有しない")  # contact sharing (#13)
    person.tap("同意する")
    person.tap("この内容で保存")
    assert "登録が完了しました" in person.text()
    return person.user_id


def ask_for_translation(group: LineUser) -> None:
    group.follow()
    group.tap("団体として相談")
    group.say("多文化カフェ")
    group.tap("任意団体")
    group.tap("スキップ")  # the sector is optional
    group.pick_all("国際・多文化共生")
    group.say("川崎市")
    group.say("外国にルーツのある家族の交流の場を運営しています。")
    group.tap("スキップ")
    group.tap("スキップ")
    group.tap("スキップ")
    group.tap("スキップ")
    group.say("行政からのお知らせを英語で届けられるようにしたい。")
    group.pick_all("外国語翻訳")
    assert "翻訳・通訳が必要な言語" in group.text()
    group.say("フランス語を")  # not a choice: asked again, politely
    assert "翻訳・通訳が必要な言語" in group.text()
    group.pick_all("英語")
    group.tap("3か月以内")
    group.tap("オンライン")
    group.say("山田 花子")
    group.say("代表")
    group.tap("共有しない")  # contact sharing (#13)
    group.tap("同意する")
    summary = group.text()
    assert "翻訳の言語" in summary and "英語" in summary
    group.tap("この内容で相談する")
    assert "ご相談を受け付けました" in group.text()


def test_translation_request_keeps_the_language_and_matches_only_its_translators(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    sign_up_translator(app, fake_line, "英 太郎", "英語")
    sign_up_translator(app, fake_line, "中 次郎", "中国語")
    group = LineUser(app, fake_line)
    ask_for_translation(group)
    assert query(database_url, "SELECT languages FROM projects")[0][0] in ('["en"]', ["en"])
    fake_slack.wait_for(lambda: fake_slack.messages(CHANNEL, replies=False), timeout=10)
    coord = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    assert "翻訳の言語* 英語" in card_text(fake_slack.messages(CHANNEL, replies=False)[0])
    coord.click("受け付ける")
    fake_slack.wait_for(
        lambda: any("候補を提案" in buttons(m) for m in fake_slack.messages(CHANNEL)), timeout=10
    )
    coord.click("候補を提案")
    card = fake_slack.wait_for(lambda: team_card(fake_slack), timeout=10)
    shown = card_text(card)
    assert "*英*" in shown and "*中*" not in shown
    assert "翻訳（英語）が一致" in shown and "不足" not in shown
    assert "必要スキル* 翻訳（英語）" in shown
    names = query(
        database_url,
        "SELECT v.display_name FROM matches m JOIN volunteers v ON v.id = m.volunteer_id",
    )
    assert [n[0] for n in names] == ["英 太郎"]
    assert scalar(database_url, "SELECT count(*) FROM projects") == 1


def test_a_request_in_progress_under_version_1_resumes_at_the_language_question() -> None:
    from bot.conversation.engine import FlowState, prompt, resume
    from bot.flows.group import REQUEST_FLOW

    stored = FlowState(
        flow="request",
        version=1,
        phase="confirm",
        answers={
            "challenge": "行政からのお知らせを英語で届けたい。",
            "menus": ["translation"],
            "period": "asap",
            "mode": "online",
        },
    ).to_dict()
    state = resume(REQUEST_FLOW, stored)
    assert state.version == 2 and state.phase == "ask" and state.step == "languages"
    assert state.answers["menus"] == ["translation"]  # nothing already answered is lost
    asked = prompt(REQUEST_FLOW, state, "en")
    assert "Which languages do you need translated" in asked[-1].text
    # Without translation, the same stored state goes straight back to the summary.
    other = dict(stored, answers={**stored["answers"], "menus": ["website"]})
    assert resume(REQUEST_FLOW, other).phase == "confirm"
