"""A volunteer signs up in LINE: signed webhooks in, replies through the real SDK out."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from storage import repo
from storage.db import make_engine, make_sessionmaker
from storage.models import Volunteer
from tests.fakes.line_api import FakeLineApi
from tests.support import AppServer, LineUser


def load_volunteer(database_url: str, user_id: str) -> Volunteer | None:
    """Read a volunteer (with skills) straight from the database."""

    async def go() -> Volunteer | None:
        engine = make_engine(database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await _get(session, user_id)
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def _get(session: AsyncSession, user_id: str) -> Volunteer | None:
    return await repo.get_volunteer(session, "line", user_id)


def sign_up_ja(user: LineUser) -> None:
    """Walk the whole Japanese sign-up, tapping and typing as a person would."""
    user.follow()
    assert "友だち追加ありがとうございます" in user.text()
    assert user.labels() == ["ボランティアとして登録", "団体として相談"]
    user.tap("ボランティアとして登録")
    assert "お名前" in user.text()
    user.say("山田 花子")
    assert "市区町村" in user.text()
    user.say("川崎市　中原区")  # full-width space: NFKC folds it
    assert "スキル" in user.text()
    user.pick_all("会計・経理", "翻訳・通訳")
    assert "言語" in user.text()
    user.pick_all("英語", "ベトナム語")
    assert "ご職業" in user.text()
    user.tap("会社員")
    assert "お勤め先" in user.text()
    user.say("川崎電機")
    assert "勤務先の制度" in user.text()
    user.tap("個人で参加")
    assert "年代" in user.text()
    user.tap("40代")
    user.say("１０年")  # full-width digits and a unit
    assert "何時間" in user.text()
    user.tap("5時間")
    user.pick_all("土日祝")
    user.tap("どちらでも")
    user.pick_all("福祉（子ども）", "環境")
    assert "連絡先を伝えてもよいですか" in user.text()
    user.sticker()  # not an answer: asked again, politely
    assert "連絡先を伝えてもよいですか" in user.text()
    user.tap("共有してよい")
    assert "連絡先を入力" in user.text()
    user.say("hanako@example.org")
    assert "個人情報" in user.text()
    user.tap("同意する")
    summary = user.text()
    assert "・連絡先: hanako@example.org" in summary
    assert "・お名前: 山田 花子" in summary
    assert "・地域: 川崎市 中原区" in summary
    assert "・スキル: 会計・経理、翻訳・通訳" in summary
    assert "・翻訳の言語: 英語、ベトナム語" in summary
    assert "・経験年数: 10年" in summary
    user.tap("この内容で保存")
    assert "登録が完了しました" in user.text()


def test_full_sign_up_in_japanese(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    user = LineUser(app, fake_line, language="ja")
    sign_up_ja(user)

    volunteer = load_volunteer(database_url, user.user_id)
    assert volunteer is not None
    assert volunteer.display_name == "山田 花子"
    assert volunteer.area == "川崎市 中原区"
    assert [s.skill for s in volunteer.skills] == ["accounting", "translation"]
    assert volunteer.languages == ["en", "vi"]
    assert volunteer.occupation == "employee"
    assert volunteer.experience_years == 10
    assert volunteer.hours_per_week == 5
    assert (volunteer.share_contact, volunteer.contact) == ("yes", "hanako@example.org")
    assert volunteer.availability == ["weekend"]
    assert volunteer.mode == "either"
    assert volunteer.interests == ["children", "environment"]
    assert volunteer.status == "active"
    assert volunteer.consent_version == "2026-11"
    assert volunteer.consented_at is not None
    assert fake_line.errors == []


def test_full_sign_up_in_english(app: AppServer, fake_line: FakeLineApi, database_url: str) -> None:
    user = LineUser(app, fake_line, language="en")
    user.follow()
    assert "Thanks for adding Tsunagu" in user.text()
    user.tap("Join as a volunteer")
    user.say("Sam")
    user.say("Hachioji")
    user.pick_all("Web development", "Writing/editing")
    user.tap("Self-employed")
    user.tap("Skip")
    user.tap("3 years")
    user.say("4 hours")
    user.pick_all("Weekday evenings", "Weekends")
    user.tap("Online")
    user.pick_all("Community building")
    user.tap("No, don't")  # contact sharing (#13)
    user.tap("I agree")
    assert "・Skills: Web development, Writing/editing" in user.text()
    user.tap("Save")
    assert "You're signed up" in user.text()
    volunteer = load_volunteer(database_url, user.user_id)
    assert volunteer is not None
    assert volunteer.locale == "en"
    assert [s.skill for s in volunteer.skills] == ["web", "writing"]
    assert volunteer.hours_per_week == 4
    assert fake_line.errors == []
