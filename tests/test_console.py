"""Whole conversations through the console channel, as `tsunagu chat` shows them.

A dialogue is a list of `(user says, bot says)` pairs, Zulip-style. "User says" is a
typed line (str), or an int that taps the numbered choice of the last reply (as typing
a number does in `tsunagu chat`), or FOLLOW (adding the bot as a friend). "Bot says" is
a list of substrings that must all appear in the reply as `render()` prints it. The
inbox, dialogue and storage are the real ones, on the test database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dialogue import Dialogue
from bot.effects import EffectContext
from bot.inbox import Inbox
from handlers.console import CHANNEL, ConsoleChat, render
from storage import repo
from storage.db import make_engine, make_sessionmaker
from storage.models import Volunteer

FOLLOW = "(adds the bot as a friend)"
Line = tuple[str | int, list[str]]


class Transcript:
    """Plays dialogues against a console chat; keeps everything said, to show on failure."""

    def __init__(self, chat: ConsoleChat, maker: async_sessionmaker[AsyncSession]) -> None:
        self.chat = chat
        self.maker = maker
        self.log: list[str] = []

    async def play(self, dialogue: list[Line]) -> str:
        """Say each line and check the reply; return the last reply."""
        reply = ""
        for says, expected in dialogue:
            reply = await self._turn(says)
            missing = [text for text in expected if text not in reply]
            if missing:
                pytest.fail(f"the bot's last reply lacks {missing}\n\n{self}", pytrace=False)
        return reply

    async def _turn(self, says: str | int) -> str:
        offered = len(self.chat.choices)
        if says == FOLLOW:
            replies = await self.chat.follow()
        elif isinstance(says, int):
            if not 1 <= says <= offered:
                pytest.fail(f"no choice [{says}] to tap\n\n{self}", pytrace=False)
            replies = await self.chat.pick(says)
        else:
            if self.chat.would_tap(says):
                # The console would take it as a tap: write an int to mean that.
                pytest.fail(f"typed {says!r} would tap a choice\n\n{self}", pytrace=False)
            replies = await self.chat.say(says)
        reply = render(replies)
        self.log += [f"> {says}", reply]
        return reply

    async def volunteer(self) -> Volunteer | None:
        """This person's saved volunteer row, read fresh from the database."""
        async with self.maker() as session:
            return await repo.get_volunteer(session, CHANNEL, self.chat.user_key)

    async def count_volunteers(self) -> int:
        """How many volunteers the database holds."""
        async with self.maker() as session:
            return await repo.count_volunteers(session)

    async def has_conversation(self) -> bool:
        """True while the database holds this person's conversation state."""
        async with self.maker() as session:
            found = await repo.load_conversations(session, CHANNEL, [self.chat.user_key])
            return bool(found)

    def __str__(self) -> str:
        return "---- transcript so far ----\n" + "\n".join(self.log)


@asynccontextmanager
async def console(
    database_url: str, carry_on: Transcript | None = None
) -> AsyncIterator[Transcript]:
    """A running inbox on the database and one console user (carry_on: same user, new run)."""
    engine = make_engine(database_url)
    maker = make_sessionmaker(engine)
    inbox = Inbox(maker, Dialogue(), effects=EffectContext("2026-11"))
    await inbox.start()
    try:
        chat = ConsoleChat(inbox, user="hanako")
        if carry_on is None:
            yield Transcript(chat, maker)
        else:
            carry_on.chat, carry_on.maker = chat, maker
            carry_on.log.append("---- (the bot restarts) ----")
            yield carry_on
    finally:
        await inbox.stop()
        await engine.dispose()


# ---------------------------------------------------------------- dialogues

SIGN_UP_JA: list[Line] = [
    (
        FOLLOW,
        ["友だち追加ありがとうございます", "どちらでご利用ですか？", "[1] ボランティアとして登録"],
    ),
    (1, ["ボランティア（プロボノワーカー）登録を始めます", "お名前を教えてください"]),
    ("山田 花子", ["市区町村を教えてください", "[1] ◀ 戻る"]),
    ("川崎市　中原区", ["活かせるスキル", "（まだ選ばれていません）", "他の選択肢 ▶"]),
    ("会計、翻訳", ["選択中: 会計・経理、翻訳・通訳"]),
    ("完了", ["翻訳・通訳できる言語"]),
    ("英語, ベトナム語", ["選択中: 英語、ベトナム語"]),
    ("完了", ["現在のご職業は？", "[1] 会社員"]),
    (1, ["お勤め先の会社・団体名", "スキップ"]),
    ("川崎電機株式会社", ["勤務先の制度", "[1] 会社の制度で参加", "[2] 個人で参加"]),
    (1, ["年代を教えてください", "[4] 40代"]),
    ("40代", ["実務経験はおよそ何年", "[5] 10年"]),
    (5, ["1週間に活動できるのは何時間", "[4] 5時間"]),
    (4, ["活動しやすい時間帯は？", "[3] 土日祝"]),
    (3, ["選択中: 土日祝", "[3] ✓ 土日祝", "[4] 完了 ✔"]),
    (4, ["参加の形は？", "[3] どちらでも"]),
    (3, ["関心のある分野"]),
    ("子ども、環境", ["選択中: 福祉（子ども）、環境"]),
    ("完了", ["連絡先を伝えてもよいですか", "[2] 共有しない"]),
    (2, ["個人情報の取り扱いについて", "[1] 同意する"]),
    (
        1,
        [
            "【ボランティア登録】",
            "・お名前: 山田 花子",
            "・地域: 川崎市 中原区",
            "・スキル: 会計・経理、翻訳・通訳",
            "・翻訳の言語: 英語、ベトナム語",
            "・ご職業: 会社員",
            "・勤務先: 川崎電機株式会社",
            "・参加の経路: 会社の制度で参加",
            "・年代: 40代",
            "・経験年数: 10年",
            "・活動時間/週: 5時間",
            "・活動できる時間帯: 土日祝",
            "・参加の形: どちらでも",
            "・関心分野: 福祉（子ども）、環境",
            "[1] この内容で保存  [2] 修正する  [3] やめる",
        ],
    ),
]
SAVE_JA: list[Line] = [
    (1, ["登録が完了しました", "ご用件を選んでください。", "[1] プロフィール", "[4] 退会"]),
]


async def test_sign_up_in_japanese(database_url: str) -> None:
    async with console(database_url) as bot:
        await bot.play(SIGN_UP_JA + SAVE_JA)
        volunteer = await bot.volunteer()

    assert volunteer is not None
    assert (volunteer.display_name, volunteer.area) == ("山田 花子", "川崎市 中原区")
    assert [s.skill for s in volunteer.skills] == ["accounting", "translation"]
    assert volunteer.languages == ["en", "vi"]
    assert (volunteer.occupation, volunteer.experience_years) == ("employee", 10)
    assert (volunteer.employer, volunteer.via_company) == ("川崎電機株式会社", True)
    assert volunteer.age_band == "40s"
    assert (volunteer.hours_per_week, volunteer.availability) == (5, ["weekend"])
    assert (volunteer.mode, volunteer.interests) == ("either", ["children", "environment"])
    assert (volunteer.locale, volunteer.status) == ("ja", "active")
    assert volunteer.consent_version == "2026-11"


async def test_sign_up_in_english(database_url: str) -> None:
    async with console(database_url) as bot:
        await bot.play(
            [
                (FOLLOW, ["English is available: send “English” at any time."]),
                ("English", ["I'll continue in English.", "[1] Join as a volunteer"]),
                (1, ["Let's sign you up", "What should we call you?"]),
                ("Alice Smith", ["Which city or ward", "[1] ◀ Back"]),
                ("Yokohama", ["Which skills could you offer?", "(nothing selected yet)"]),
                ("Web development, Translation", ["Selected: Web development, Translation"]),
                ("Done", ["Which languages can you translate"]),
                ("Vietnamese", ["Selected: Vietnamese"]),
                ("done", ["What do you do at present?", "[2] Self-employed"]),
                # No employer question for the self-employed; the age band is optional.
                ("freelance", ["which age band are you in?", "Skip"]),
                ("skip", ["how many years of experience", "[4] 5 years"]),
                ("7 years", ["How many hours a week", "[3] 3 hours"]),
                (3, ["When are you usually available?"]),
                ("Weekday evenings, Weekends", ["Selected: Weekday evenings, Weekends"]),
                ("Done", ["How would you like to take part?", "[1] Online"]),
                (1, ["Which fields are you interested in?"]),
                ("Environment", ["Selected: Environment"]),
                ("Done", ["may we give the group your contact details?"]),
                ("No, don't", ["[How we handle your personal data]", "[1] I agree"]),
                (
                    1,
                    [
                        "[Volunteer sign-up]",
                        "・Name: Alice Smith",
                        "・Skills: Web development, Translation",
                        "・Languages: Vietnamese",
                        "・Occupation: Self-employed",
                        "・Experience: 7 years",
                        "・Hours a week: 3 hours",
                        "[1] Save  [2] Edit  [3] Cancel",
                    ],
                ),
                (1, ["You're signed up. Thank you!", "[1] Profile", "[8] 日本語"]),
            ]
        )
        volunteer = await bot.volunteer()

    assert volunteer is not None
    assert (volunteer.locale, volunteer.display_name) == ("en", "Alice Smith")
    assert [s.skill for s in volunteer.skills] == ["web", "translation"]
    assert volunteer.languages == ["vi"]
    assert volunteer.availability == ["weekday_evening", "weekend"]
    assert (volunteer.occupation, volunteer.mode) == ("self_employed", "online")
    assert (volunteer.employer, volunteer.via_company, volunteer.age_band) == (None, None, None)


async def test_back_and_cancel_mid_way(database_url: str) -> None:
    async with console(database_url) as bot:
        await bot.play(
            [
                (FOLLOW, ["どちらでご利用ですか？"]),
                (1, ["お名前を教えてください"]),
                ("花子", ["市区町村を教えてください"]),
                ("川崎市", ["活かせるスキル"]),
                ("戻る", ["市区町村を教えてください", "現在の回答: 川崎市", "変更しない"]),
                ("戻る", ["お名前を教えてください", "現在の回答: 花子"]),
                ("戻る", ["これが最初の質問です", "お名前を教えてください"]),
                ("太郎", ["市区町村を教えてください", "現在の回答: 川崎市"]),
                ("変更しない", ["活かせるスキル"]),
                (
                    "やめる",
                    [
                        "入力を中止しました。ここまでの回答は保存していません。",
                        "[1] ボランティア登録",
                    ],
                ),
            ]
        )
        assert await bot.count_volunteers() == 0
        # Starting again starts from nothing.
        reply = await bot.play([("登録", ["ボランティア（プロボノワーカー）登録を始めます"])])
        assert "現在の回答" not in reply


async def test_edit_one_answer_from_the_summary(database_url: str) -> None:
    async with console(database_url) as bot:
        await bot.play(
            [
                *SIGN_UP_JA,
                (2, ["どの項目を直しますか？", "[1] お名前", "[5] ご職業", "◀ 戻る"]),
                ("ご職業", ["現在のご職業は？", "現在の回答: 会社員", "変更しない"]),
                (
                    2,
                    [
                        "【ボランティア登録】",
                        "・ご職業: 自営業・フリーランス",
                        "・お名前: 山田 花子",
                    ],
                ),
                # An item's name typed at the summary goes straight to that question.
                ("地域", ["市区町村を教えてください", "現在の回答: 川崎市 中原区"]),
                ("横浜市港北区", ["・地域: 横浜市港北区", "[1] この内容で保存"]),
                *SAVE_JA,
            ]
        )
        volunteer = await bot.volunteer()

    assert volunteer is not None
    assert (volunteer.occupation, volunteer.area) == ("self_employed", "横浜市港北区")
    assert volunteer.display_name == "山田 花子"


async def test_bad_answers_get_a_polite_retry(database_url: str) -> None:
    async with console(database_url) as bot:
        await bot.play(
            [
                (FOLLOW, ["どちらでご利用ですか？"]),
                (1, ["お名前を教えてください"]),
                # empty
                (
                    "",
                    ["空のメッセージでした。もう一度入力してください。", "お名前を教えてください"],
                ),
                # too long
                (
                    "あ" * 31,
                    ["30文字以内でお願いします（いま31文字です）。", "お名前を教えてください"],
                ),
                ("花子", ["市区町村を教えてください"]),
                ("川崎市", ["活かせるスキル"]),
                # a choice not offered, typed; then Done with nothing picked
                ("料理", ["「料理」は選択肢にありません", "活かせるスキル"]),
                ("完了", ["少なくとも1つ選んでから「完了」を押してください。", "活かせるスキル"]),
                ("会計", ["選択中: 会計・経理"]),
                ("完了", ["現在のご職業は？"]),
                (
                    "宇宙飛行士",
                    [
                        "「宇宙飛行士」は選択肢にありません。下のボタンから選んでください。",
                        "現在のご職業は？",
                        "[1] 会社員",
                    ],
                ),
                # a number beyond the numbered choices is typed text, not a tap
                ("42", ["「42」は選択肢にありません", "現在のご職業は？"]),
                (1, ["お勤め先の会社・団体名"]),
                ("スキップ", ["年代を教えてください"]),
                ("90代", ["「90代」は選択肢にありません", "年代を教えてください"]),
                ("なし", ["実務経験はおよそ何年"]),
                # out of range
                ("99", ["0から60までの数字でお願いします。", "実務経験はおよそ何年"]),
                # not a number
                ("たくさん", ["数字で答えてください（例: 0）。", "実務経験はおよそ何年"]),
                ("３年", ["1週間に活動できるのは何時間"]),
                ("0", ["1から40までの数字でお願いします。", "1週間に活動できるのは何時間"]),
                ("12時間", ["活動しやすい時間帯は？"]),
            ]
        )
        assert await bot.count_volunteers() == 0


async def test_after_sign_up_profile_pause_resume_edit_and_delete(database_url: str) -> None:
    async with console(database_url) as bot:
        await bot.play(SIGN_UP_JA + SAVE_JA)
        await bot.play(
            [
                (
                    "プロフィール",
                    [
                        "【あなたの登録内容】",
                        "・お名前: 山田 花子",
                        "・地域: 川崎市 中原区",
                        "状態: 招待を受け付け中",
                        "[3] 休止",
                    ],
                ),
                ("休止", ["招待のお届けを休止しました", "[3] 再開"]),
            ]
        )
        volunteer = await bot.volunteer()
        assert volunteer is not None and volunteer.status == "paused"

        await bot.play(
            [
                ("休止", ["すでに休止中です。"]),
                (1, ["状態: 休止中（招待は届きません）"]),
                (3, ["招待の受け付けを再開しました", "[3] 休止"]),
            ]
        )
        volunteer = await bot.volunteer()
        assert volunteer is not None and volunteer.status == "active"

        await bot.play(
            [
                ("変更", ["【ボランティア登録】", "・地域: 川崎市 中原区", "[2] 修正する"]),
                (2, ["どの項目を直しますか？"]),
                ("地域", ["現在の回答: 川崎市 中原区"]),
                ("横浜市港北区", ["・地域: 横浜市港北区"]),
                ("この内容で保存", ["登録内容を更新しました。", "[1] プロフィール"]),
                (1, ["・地域: 横浜市港北区", "状態: 招待を受け付け中"]),
            ]
        )
        volunteer = await bot.volunteer()
        assert volunteer is not None
        assert (volunteer.area, volunteer.status) == ("横浜市港北区", "active")
        assert [s.skill for s in volunteer.skills] == ["accounting", "translation"]
        assert volunteer.consent_version == "2026-11"

        await bot.play(
            [
                ("退会", ["削除してよろしいですか？", "[1] 削除する  [2] 削除しない"]),
                (2, ["削除を取りやめました。", "[1] プロフィール"]),
            ]
        )
        assert await bot.volunteer() is not None

        await bot.play(
            [
                ("退会", ["削除してよろしいですか？"]),
                ("削除する", ["お預かりしていたデータをすべて削除しました。"]),
            ]
        )
        assert await bot.volunteer() is None
        assert await bot.count_volunteers() == 0
        assert not await bot.has_conversation()

        # Whoever writes next is a stranger again.
        await bot.play(
            [
                ("こんにちは", ["友だち追加ありがとうございます", "[1] ボランティアとして登録"]),
                (2, ["団体のご相談を受け付けます", "団体名を教えてください"]),
                ("やめる", ["保存していません"]),
                ("プロフィール", ["まだボランティア登録がありません。"]),
            ]
        )


async def test_a_conversation_survives_a_restart(database_url: str) -> None:
    async with console(database_url) as bot:
        await bot.play(
            [
                (FOLLOW, ["どちらでご利用ですか？"]),
                (1, ["お名前を教えてください"]),
                ("山田 花子", ["市区町村を教えてください"]),
                ("川崎市", ["活かせるスキル"]),
                ("会計", ["選択中: 会計・経理"]),
            ]
        )
    # The inbox and the engine are gone; a new process picks up the same database.
    async with console(database_url, carry_on=bot):
        await bot.play(
            [
                ("法律", ["活かせるスキル", "選択中: 会計・経理、法律"]),
                ("完了", ["現在のご職業は？"]),
                ("戻る", ["活かせるスキル", "選択中: 会計・経理、法律"]),
            ]
        )
    async with console(database_url, carry_on=bot):
        await bot.play(
            [
                (
                    FOLLOW,
                    ["前回の続きから再開します", "活かせるスキル", "選択中: 会計・経理、法律"],
                ),
                ("完了", ["現在のご職業は？"]),
                ("会社員", ["お勤め先"]),
                ("スキップ", ["年代"]),
                ("30代", ["実務経験"]),
                ("10", ["何時間"]),
                ("5時間", ["時間帯"]),
                ("土日", ["選択中: 土日祝"]),
                ("完了", ["参加の形"]),
                ("オンライン", ["関心のある分野"]),
                ("環境", ["選択中: 環境"]),
                ("完了", ["連絡先を伝えてもよいですか"]),
                ("共有しない", ["個人情報"]),
                (
                    "同意する",
                    ["・お名前: 山田 花子", "・地域: 川崎市", "・スキル: 会計・経理、法律"],
                ),
                ("この内容で保存", ["登録が完了しました"]),
            ]
        )
        volunteer = await bot.volunteer()

    assert volunteer is not None
    assert (volunteer.display_name, volunteer.area) == ("山田 花子", "川崎市")
    assert [s.skill for s in volunteer.skills] == ["accounting", "law"]


COMING_BACK: dict[str, list[Line]] = {
    "volunteer mid-edit": [
        *SIGN_UP_JA,
        *SAVE_JA,
        ("変更", ["【ボランティア登録】"]),
        (2, ["どの項目を直しますか？"]),
        ("地域", ["現在の回答: 川崎市 中原区"]),
    ],
    "volunteer asked to confirm deletion": [
        *SIGN_UP_JA,
        *SAVE_JA,
        ("退会", ["削除してよろしいですか？"]),
    ],
    "stranger asked to confirm deletion": [
        (FOLLOW, ["どちらでご利用ですか？"]),
        (2, ["団体名を教えてください"]),
        ("退会", ["削除してよろしいですか？"]),
    ],
}
# What the bot says when a tap does not fit the question it is waiting for.
NOT_THE_QUESTION = (
    "そのボタンは前の質問のものです",
    "「削除する」か「削除しない」を選んでください",
)


@pytest.mark.parametrize("before", COMING_BACK.values(), ids=COMING_BACK.keys())
async def test_coming_back_offers_choices_that_work(database_url: str, before: list[Line]) -> None:
    """`tsunagu chat` starts with a follow: the choices it then shows must answer something."""
    async with console(database_url) as bot:
        await bot.play(before)
    async with console(database_url, carry_on=bot):
        await bot.play([(FOLLOW, [])])
        reply = await bot.play([(1, [])])
    refused = [text for text in NOT_THE_QUESTION if text in reply]
    assert not refused, f"the bot refused the choice it had just offered\n\n{bot}"


async def test_english_units_are_singular_for_one(database_url: str) -> None:
    async with console(database_url) as bot:
        await bot.play(
            [
                (FOLLOW, []),
                ("English", ["[1] Join as a volunteer"]),
                (1, ["What should we call you?"]),
                ("Alice", ["Which city or ward"]),
                ("Yokohama", ["Which skills"]),
                ("Accounting", ["Selected: Accounting"]),
                ("Done", ["What do you do at present?"]),
                (1, ["Which company or organisation", "[1] Skip"]),
                (1, ["which age band", "[1] Under 20", "[6] 60 or over", "[7] Skip"]),
                ("60s", ["[1] 0 years  [2] 1 year  [3] 3 years"]),
                (2, ["[1] 1 hour  [2] 2 hours"]),
            ]
        )


# ---------------------------------------------------------------- the real command


def test_tsunagu_chat_command(database_url: str, tmp_path: Path) -> None:
    tsunagu = Path(sys.executable).parent / "tsunagu"
    env = {**os.environ, "DATABASE_URL": database_url, "TSUNAGU_LOG_LEVEL": "WARNING"}
    typed = ["1", "English", "Alice", "back", "cancel"]
    done = subprocess.run(
        [str(tsunagu), "chat", "--user", "alice"],
        input="\n".join(typed) + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # no .env file here
        timeout=60,
        check=False,
    )
    shown = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == 0, shown
    for expected in [
        "友だち追加ありがとうございます",
        "[1] ボランティアとして登録  [2] 団体として相談",
        "お名前を教えてください",
        "I'll continue in English.",
        "What should we call you?",
        "Which city or ward",
        "Current answer: Alice",
        "Stopped. Nothing you entered so far has been saved.",
        "[1] Volunteer sign-up",
    ]:
        assert expected in done.stdout, f"missing {expected!r}\n{shown}"
