"""Conversations in LINE over real HTTP: back, cancel, edit, resume, bad input, menus."""

from __future__ import annotations

import json
import logging
import time

import pytest

from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import (
    AppServer,
    LineUser,
    make_settings,
    query,
    scalar,
    submit_group_request,
)
from tests.test_line_signup import load_volunteer, sign_up_ja


def flow_state(database_url: str) -> dict:
    raw = scalar(database_url, "SELECT state FROM conversations")
    return json.loads(raw) if isinstance(raw, str) else raw


def test_back_cancel_and_edit_in_line(app: AppServer, fake_line: FakeLineApi) -> None:
    user = LineUser(app, fake_line)
    user.follow()
    user.tap("ボランティアとして登録")
    user.say("さくら")
    user.say("戻る")
    assert "お名前" in user.text() and "現在の回答: さくら" in user.text()
    assert "変更しない" in user.labels()
    user.tap("変更しない")
    assert "市区町村" in user.text()
    user.say("やめる")
    assert "保存していません" in user.text()
    assert "ボランティア登録" in user.labels()
    user.tap("ボランティア登録")
    assert "お名前" in user.text() and "現在の回答" not in user.text()


def test_edit_from_summary_then_save(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    user = LineUser(app, fake_line)
    user.follow()
    user.tap("ボランティアとして登録")
    user.say("さくら")
    user.say("八王子市")
    user.pick_all("会計・経理")
    user.tap("学生")
    user.tap("20代")
    user.tap("0年")
    user.tap("2時間")
    user.pick_all("平日夜")
    user.tap("オンライン")
    user.pick_all("まちづくり")
    user.tap("共有しない")  # contact sharing (#13)
    user.tap("同意する")
    user.tap("修正する")
    assert "どの項目" in user.text()
    user.tap("スキル")
    user.pick_all("翻訳・通訳")  # adds translation: its language question follows
    assert "言語" in user.text()
    user.pick_all("中国語")
    assert "・翻訳の言語: 中国語" in user.text()
    user.say("地域")
    user.say("日野市")
    assert "・地域: 日野市" in user.text()
    user.tap("この内容で保存")
    volunteer = load_volunteer(database_url, user.user_id)
    assert volunteer is not None
    assert volunteer.area == "日野市"
    assert [s.skill for s in volunteer.skills] == ["accounting", "translation"]
    assert volunteer.languages == ["zh"]


def test_every_bad_input_gets_a_polite_answer_and_the_question_again(
    app: AppServer, fake_line: FakeLineApi
) -> None:
    user = LineUser(app, fake_line)
    user.follow()
    user.sticker()
    assert "スタンプありがとうございます" in user.text()
    assert user.labels()[:2] == ["ボランティアとして登録", "団体として相談"]
    user.say("わかりません")
    assert "選択肢にありません" in user.text()
    user.tap("ボランティアとして登録")
    from tests import line_events as le

    user.send(le.image(user.user_id, user.token()))
    assert "画像" in user.text() and "お名前" in user.text()
    user.send(le.location(user.user_id, user.token(), title="駅", address="東京都千代田区"))
    assert "位置情報" in user.text() and "お名前" in user.text()
    user.say("あ" * 31)
    assert "30文字以内" in user.text()
    user.say("さくら")
    user.say("川崎市")
    user.say("空を飛ぶこと")
    assert "選択肢にありません" in user.text() and "スキル" in user.text()
    user.tap("完了 ✔")
    assert "少なくとも1つ" in user.text()
    user.pick_all("写真・動画")
    user.tap("会社員")
    user.tap("スキップ")
    user.tap("スキップ")
    user.say("たくさん")
    assert "数字で" in user.text()
    user.say("99")
    assert "0から60まで" in user.text()
    user.say("20")
    user.say("0")
    assert "1から40まで" in user.text()
    user.say("8")
    user.pick_all("土日祝")
    user.tap("対面")
    user.pick_all("動物")
    user.tap("共有しない")  # contact sharing (#13)
    user.tap("同意しない")
    assert "同意いただけない場合は登録できません" in user.text()
    user.tap("同意する")
    assert "この内容でよろしいですか" in user.text()
    user.say("うーん")
    assert "「この内容で保存」か「修正する」" in user.text()
    assert fake_line.errors == []


def test_an_old_button_is_answered_politely(app: AppServer, fake_line: FakeLineApi) -> None:
    user = LineUser(app, fake_line)
    user.follow()
    role_items = user.quick_replies()
    user.tap("ボランティアとして登録")
    from tests import line_events as le

    user.send(le.postback(user.user_id, user.token(), role_items[1]["action"]["data"]))
    assert "前の質問" in user.text() and "お名前" in user.text()


def test_switch_language_mid_flow(app: AppServer, fake_line: FakeLineApi) -> None:
    user = LineUser(app, fake_line)
    user.follow()
    user.tap("ボランティアとして登録")
    user.say("Alex")
    user.say("English")
    assert "I'll continue in English" in user.text()
    assert "Which city" in user.text()
    user.say("Chofu")
    assert "Which skills" in user.text()
    user.say("日本語")
    assert "スキル" in user.text()


def test_resume_after_a_server_restart(database_url: str, fake_line: FakeLineApi) -> None:
    settings = make_settings(database_url, fake_line.base_url)
    user_id = None
    with AppServer(settings) as first:
        user = LineUser(first, fake_line)
        user_id = user.user_id
        user.follow()
        user.tap("ボランティアとして登録")
        user.say("さくら")
        user.say("多摩市")
    with AppServer(settings) as second:
        again = LineUser(second, fake_line, user_id)
        again.say("help")
        assert "使い方" in again.text() and "スキル" in again.text()
        again.pick_all("法律")
        assert "ご職業" in again.text()
    assert flow_state(database_url)["flow"]["answers"]["area"] == "多摩市"


def test_after_a_long_silence_typed_text_re_asks(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    from tests import line_events as le

    user = LineUser(app, fake_line)
    user.follow()
    user.tap("ボランティアとして登録")
    user.say("さくら")
    later = int(time.time() * 1000) + 7 * 3600 * 1000
    user.send(le.text(user.user_id, user.token(), "こんにちは", timestamp=later))
    assert "前回の続き" in user.text() and "市区町村" in user.text()
    assert "area" not in flow_state(database_url)["flow"]["answers"]


def test_profile_pause_resume_and_edit_after_sign_up(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    user = LineUser(app, fake_line)
    sign_up_ja(user)
    user.tap("プロフィール")
    assert "・お名前: 山田 花子" in user.text() and "招待を受け付け中" in user.text()
    user.tap("休止")
    assert "休止しました" in user.text()
    assert load_volunteer(database_url, user.user_id).status == "paused"
    assert "再開" in user.labels()
    user.say("プロフィール")
    assert "休止中" in user.text()
    user.tap("再開")
    assert load_volunteer(database_url, user.user_id).status == "active"
    user.tap("変更")
    assert "この内容でよろしいですか" in user.text()
    user.tap("修正する")
    user.tap("活動時間/週")
    user.say("12時間")
    user.tap("この内容で保存")
    assert "更新しました" in user.text()
    volunteer = load_volunteer(database_url, user.user_id)
    assert volunteer.hours_per_week == 12
    # Editing keeps the original consent record.
    assert volunteer.consent_version == "2026-11"


def test_delete_my_data_removes_everything(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    user = LineUser(app, fake_line)
    sign_up_ja(user)
    user.say("退会")
    assert "削除してよろしいですか" in user.text()
    user.say("やっぱり")
    assert "「削除する」か「削除しない」" in user.text()
    user.tap("削除しない")
    assert load_volunteer(database_url, user.user_id) is not None
    user.tap("退会")
    user.tap("削除する")
    assert "すべて削除しました" in user.text()
    assert load_volunteer(database_url, user.user_id) is None
    assert scalar(database_url, "SELECT count(*) FROM volunteer_skills") == 0
    assert scalar(database_url, "SELECT count(*) FROM conversations") == 0
    leftovers = query(
        database_url,
        "SELECT count(*) FROM inbound_events WHERE user_key IS NOT NULL OR payload IS NOT NULL",
    )
    assert leftovers[0][0] == 0
    user.say("こんにちは")
    assert "友だち追加ありがとうございます" in user.text()


def test_delete_in_english(app: AppServer, fake_line: FakeLineApi, database_url: str) -> None:
    user = LineUser(app, fake_line, language="en")
    user.follow()
    user.say("delete my data")
    assert "cannot be undone" in user.text()
    user.tap("Delete")
    assert "Everything we held about you has been deleted" in user.text()


def test_unfollow_marks_inactive_and_refollow_welcomes_back(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    from tests import line_events as le

    user = LineUser(app, fake_line)
    sign_up_ja(user)
    user.send(le.unfollow(user.user_id), wait=False)
    fake_line.wait_for(lambda: load_volunteer(database_url, user.user_id).status == "inactive")
    user.send(le.follow(user.user_id, user.token(), is_unblocked=True))
    assert "おかえりなさい、山田 花子さん" in user.text()
    assert load_volunteer(database_url, user.user_id).status == "active"


def test_no_personal_data_in_logs(
    app: AppServer, fake_line: FakeLineApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = LineUser(app, fake_line)
    sign_up_ja(user)
    user.say("退会")
    user.tap("削除する")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (user.user_id, "山田", "花子", "川崎市", "中原区"):
        assert secret not in logged


# ---------------------------------------------------------------- side flows (#12)


def write_state(database_url: str, state: dict) -> None:
    """Store a conversation's state as an older release wrote it (the app is stopped)."""
    from sqlalchemy import create_engine, update

    from storage.db import sync_url
    from storage.models import Conversation

    engine = create_engine(sync_url(database_url))
    try:
        with engine.begin() as conn:
            conn.execute(update(Conversation).values(state=state))
    finally:
        engine.dispose()


def test_delete_mid_sign_up_then_keep_resumes_the_question(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    user = LineUser(app, fake_line)
    user.follow()
    user.tap("ボランティアとして登録")
    user.say("さくら")
    assert "市区町村" in user.text()
    user.say("退会")
    assert "削除してよろしいですか" in user.text()
    assert user.labels() == ["削除する", "削除しない"]
    state = flow_state(database_url)
    assert state["flow"]["flow"] == "delete" and state["flow"]["under"]["flow"] == "volunteer"
    user.sticker()
    assert "「削除する」か「削除しない」" in user.texts()[0] and "削除して" in user.text()
    user.say("たぶん")
    assert "「削除する」か「削除しない」" in user.text()
    user.tap("削除しない")
    assert user.texts()[0] == "削除を取りやめました。"
    assert "市区町村" in user.text()  # the sign-up asks its question again
    user.say("多摩市")
    assert "スキル" in user.text()
    state = flow_state(database_url)
    assert state["flow"]["flow"] == "volunteer"
    assert state["flow"]["answers"] == {"display_name": "さくら", "area": "多摩市"}
    assert state["v"] == 2 and "pending" not in state


def test_delete_cancelled_in_words_resumes_and_yes_deletes(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    user = LineUser(app, fake_line)
    user.follow()
    user.tap("ボランティアとして登録")
    user.say("さくら")
    user.say("delete my data")
    user.say("やめる")
    assert user.texts()[0] == "削除を取りやめました。" and "市区町村" in user.text()
    user.say("退会")
    user.tap("削除する")
    assert "すべて削除しました" in user.text()
    assert scalar(database_url, "SELECT count(*) FROM conversations") == 0


@pytest.mark.parametrize(
    ("pending", "answer", "said"),
    [
        ("delete", "削除しない", "削除を取りやめました。"),
        ("answer:999", "毎週15人ほどです。", "回答を事務局に伝えました。ありがとうございます！"),
        ("contact:", "やめる", "連絡先の入力を取りやめました（共有はしていません）。"),
        ("missing:999", "やめる", "取りやめました。"),
    ],
)
def test_a_conversation_stored_with_an_old_pending_string_goes_on(
    database_url: str, fake_line: FakeLineApi, pending: str, answer: str, said: str
) -> None:
    """A row written before the side flows (`pending` beside the flow) keeps working after
    deploy: the exchange it was in goes on, then the interrupted sign-up resumes."""
    settings = make_settings(database_url, fake_line.base_url)
    with AppServer(settings) as first:
        user = LineUser(first, fake_line)
        user_id = user.user_id
        user.follow()
        user.tap("ボランティアとして登録")
        user.say("さくら")
    old = flow_state(database_url)
    old_flow = {k: v for k, v in old["flow"].items() if k not in ("side", "under")}
    write_state(database_url, {"flow": old_flow, "pending": pending, "last_ms": old["last_ms"]})
    with AppServer(settings) as second:
        again = LineUser(second, fake_line, user_id)
        again.say("help")  # help re-asks what was pending, not the sign-up
        assert "使い方" in again.texts()[0] and "市区町村" not in again.text()
        again.say(answer)
        assert again.texts()[0] == said
        assert "市区町村" in again.text()
        again.say("多摩市")
        assert "スキル" in again.text()
    state = flow_state(database_url)
    assert state["flow"]["flow"] == "volunteer" and "pending" not in state


def test_a_language_word_answers_a_free_words_question(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    """Typed alone while the bot waits for free words (here: an answer to the office),
    「英語」 is the answer; on a choice step it still switches the language."""
    from tests import line_events as le

    user = LineUser(app, fake_line)
    user.follow()
    user.send(le.postback(user.user_id, user.token(), "qa|999"))
    assert "回答を入力" in user.text()
    user.say("英語")
    assert user.texts()[0] == "回答を事務局に伝えました。ありがとうございます！"
    assert flow_state(database_url)["flow"]["flow"] == "welcome"
    user.say("English")  # the welcome's role question is a choice: English switches
    assert "I'll continue in English" in user.texts()[0]


def test_a_group_answers_the_office_mid_request_and_the_request_resumes(
    slack_app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    """The side flow through the whole app: a coordinator's question arrives while the
    group is filling in a new request; it taps "回答する", answers, and the request asks
    its question again, its answers intact."""
    from tests.test_slack_coordination import coordinator, wait_card

    group = LineUser(slack_app, fake_line)
    submit_group_request(group)
    wait_card(fake_slack)
    group.tap("新しい相談")
    first_question = group.texts()[-1]
    coord = coordinator(slack_app, fake_slack)
    coord.click("質問する")
    fake_slack.wait_for(lambda: coord._last_view(), timeout=10)
    assert coord.submit("参加する子どもは何人くらいですか？").status_code == 200
    fake_line.wait_for(lambda: any(b["to"] == group.user_id for b in fake_line.pushes), timeout=10)
    group.last = [b for b in fake_line.pushes if b["to"] == group.user_id][-1]["messages"]
    group.tap("回答する")
    assert "回答を入力" in group.text()
    assert flow_state(database_url)["flow"]["under"]["flow"] == "request"
    group.sticker()
    assert group.texts()[0] == "回答は文字で送ってください。"
    group.say("英語")  # a language word typed here is the answer
    assert group.texts()[0] == "回答を事務局に伝えました。ありがとうございます！"
    assert group.texts()[-1] == first_question  # the request asks its first question again
    fake_line.wait_for(
        lambda: scalar(database_url, "SELECT answer FROM project_questions") == "英語",
        timeout=10,
    )
    assert flow_state(database_url)["flow"]["flow"] == "request"
