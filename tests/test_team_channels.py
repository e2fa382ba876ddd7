"""Team channels end to end on the fake servers: a formed team gets its Slack channel
with coordinators and linked members and a welcome; members link Slack with a one-time
code from LINE; announcements reach unlinked members in LINE; progress notes and the log;
weekly check-ins with buttons and flags (a fixed clock calling the job directly)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from bot.coordination import Coordination
from bot.programmes.calendar import calendar_text
from bot.programmes.checkins import CheckIns
from bot.programmes.service import Programmes
from bot.programmes.teams import (
    TeamChannels,
    TeamSettings,
    channel_name,
    normalise_code,
    slugify,
    team_target,
    unlinked_members,
)
from storage.db import make_engine, make_sessionmaker
from storage.models import Announcement, Phase, Programme, Project
from tests.conftest import COORDINATOR_CHANNEL_ID
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import (
    COORDINATORS,
    OUTSIDER,
    SLACK_SECRET,
    SLACK_TOKEN,
    AppServer,
    LineUser,
    SlackUser,
    make_settings,
    query,
    said,
    scalar,
)
from tests.test_matching_flow import accepted_request, add_volunteers, pushes_to, team_card
from tests.test_slack_coordination import CHANNEL

AOKI, ISHIDA = "U0AOKI0001", "U0ISHIDA01"
# Fixed dates well in the future: a notice's LINE copies expire once its session has
# begun by the wall clock, so a kickoff in the past would never reach anyone in LINE.
KICKOFF = datetime(2037, 12, 5, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo, a Saturday
EVE = datetime(2037, 12, 4, 9, 0, tzinfo=UTC)  # the day before at 18:00 in Tokyo
CODE = re.compile(r"/tsunagu link ([A-Z0-9]{8})")


@pytest.fixture
def app(database_url: str, fake_line: FakeLineApi, fake_slack: FakeSlackApi) -> Iterator[AppServer]:
    """The app with LINE and Slack on their fakes, without the programme scheduler: these
    tests call the check-in job with fixed clocks, so no timer may run it meanwhile."""
    settings = make_settings(
        database_url,
        fake_line.base_url,
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET=SLACK_SECRET,
        SLACK_API_BASE_URL=fake_slack.base_url,
        SLACK_COORDINATOR_CHANNEL=COORDINATOR_CHANNEL_ID,
        SLACK_COORDINATOR_IDS=",".join([*COORDINATORS, "S0COORDGRP"]),
        TSUNAGU_OUTBOX_BASE_DELAY="0.05",
        TSUNAGU_SCHEDULER="false",
    )
    server = AppServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- helpers


def run(database_url: str, job: Any) -> Any:
    """Run `job(maker)` against the test database from the test's own event loop."""

    async def go() -> Any:
        engine = make_engine(database_url)
        try:
            return await job(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def add_programme(database_url: str) -> int:
    """A programme with a calendar, and every project put into it."""

    async def job(maker: Any) -> int:
        async with maker.begin() as session:
            programme = Programme(
                name="川崎プロボノ 2017", slug="kawasaki2017", timezone="Asia/Tokyo"
            )
            session.add(programme)
            await session.flush()
            for key, kind, ja, en, at in (
                ("orientation", "orientation", "オリエンテーション", "Orientation", -7),
                ("kickoff", "kickoff", "キックオフ", "Kickoff", 0),
                ("results", "results", "成果報告会", "Results presentation", 70),
            ):
                phase = Phase(
                    programme_id=programme.id,
                    key=key,
                    kind=kind,
                    title_ja=ja,
                    title_en=en,
                    starts_at=KICKOFF + timedelta(days=at),
                    place="川崎市役所" if kind == "kickoff" else None,
                )
                session.add(phase)
                await session.flush()
                if kind == "kickoff":
                    session.add(
                        Announcement(
                            phase_id=phase.id,
                            key="eve",
                            offset_days=-1,
                            at_local="18:00",
                            audience=["team_channels"],
                            text_ja="明日はキックオフです！",
                            text_en="Kickoff is tomorrow!",
                            send_at=EVE,
                        )
                    )
            await session.execute(update(Project).values(programme_id=programme.id))
            return int(programme.id)

    return int(run(database_url, job))


def link_slack(database_url: str, name: str, slack_user: str) -> None:
    """A volunteer who linked Slack earlier."""

    async def job(maker: Any) -> None:
        async with maker.begin() as session:
            await session.execute(
                text("UPDATE volunteers SET slack_user_id = :s WHERE display_name = :n"),
                {"s": slack_user, "n": name},
            )

    run(database_url, job)


def form_team(
    app: AppServer,
    fake_line: FakeLineApi,
    fake_slack: FakeSlackApi,
    database_url: str,
    *,
    programme: bool = True,
    linked: dict[str, str] | None = None,
) -> dict[str, str]:
    """Walk matching as test_matching_flow does, up to the group confirming the team."""
    ids, group, proposal = propose_team(
        app, fake_line, fake_slack, database_url, programme=programme, linked=linked
    )
    group.last = [proposal]
    group.tap("このチームで進める")
    assert scalar(database_url, "SELECT status FROM projects") == "team_formed"
    return ids


def propose_team(
    app: AppServer,
    fake_line: FakeLineApi,
    fake_slack: FakeSlackApi,
    database_url: str,
    *,
    programme: bool = True,
    linked: dict[str, str] | None = None,
) -> tuple[dict[str, str], LineUser, dict[str, Any]]:
    """Walk matching up to the team proposal shown to the group: the volunteers' LINE ids,
    the group, and the proposal as the group received it."""
    ids = add_volunteers(database_url, fake_line)
    for name, user in (linked or {}).items():
        link_slack(database_url, name, user)
    group = accepted_request(app, fake_line, fake_slack)
    if programme:
        add_programme(database_url)
    coord = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    coord.click("候補を提案")
    fake_slack.wait_for(lambda: team_card(fake_slack), timeout=10)
    coord.click("全員を承認")
    fake_line.wait_for(
        lambda: (
            scalar(database_url, "SELECT count(*) FROM matches WHERE state='invited'") >= 2
            and not scalar(database_url, "SELECT count(*) FROM matches WHERE state='approved'")
        ),
        timeout=10,
    )
    invited = [
        row[0]
        for row in query(
            database_url,
            "SELECT v.display_name FROM matches m JOIN volunteers v ON v.id = m.volunteer_id "
            "WHERE m.state = 'invited' ORDER BY v.id",
        )
    ]
    for name in invited:
        invites = fake_line.wait_for(
            lambda n=name: [m for m in pushes_to(fake_line, ids[n]) if "ご招待" in said(m)],
            timeout=10,
        )
        person = LineUser(app, fake_line, ids[name])
        person.last = invites[-1:]
        if name in ("青木 健", "石田 真理"):
            person.tap("参加する")
        else:
            person.tap("辞退する")
            person.say("今月は忙しいため")
    proposal = fake_line.wait_for(
        lambda: [m for m in pushes_to(fake_line, group.user_id) if "チーム案" in said(m)],
        timeout=10,
    )[0]
    return ids, group, proposal


def shown(message: dict[str, Any]) -> str:
    """Everything a person reads in a message: text, sections, fields, context, buttons."""
    parts: list[str] = [message.get("text", "")]
    for block in message.get("blocks") or []:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        parts += [f["text"] for f in block.get("fields") or []]
        parts += [e.get("text", "") for e in block.get("elements") or [] if e["type"] == "mrkdwn"]
        parts += [e["text"]["text"] for e in block.get("elements") or [] if e["type"] == "button"]
    return "\n".join(parts)


def team_channel(fake: FakeSlackApi, database_url: str) -> str:
    """The team channel's id once the bot recorded it."""
    return str(
        fake.wait_for(
            lambda: scalar(database_url, "SELECT team_channel_id FROM projects"), timeout=15
        )
    )


def code_for(fake_line: FakeLineApi, user_id: str) -> str:
    """The newest link code pushed to this LINE user."""
    texts = fake_line.wait_for(
        lambda: [said(m) for m in pushes_to(fake_line, user_id) if CODE.search(said(m))],
        timeout=10,
    )
    found = CODE.search(texts[-1])
    assert found is not None
    return found.group(1)


def in_channel(app: AppServer, fake: FakeSlackApi, user: str, channel: str) -> SlackUser:
    """Someone acting in a given channel."""
    return SlackUser(app, fake, user, channel)


# ---------------------------------------------------------------- pure helpers


def test_channel_names_are_readable_ascii_with_a_stable_suffix() -> None:
    assert channel_name("kawasaki2017", "ひなた", 12) == "kawasaki2017-hinata-p12"
    assert channel_name(None, "キッチン・まっちゃ", 3) == "tsunagu-kitchin-matcha-p3"
    # Kanji are read (pykakasi), scripts kept apart as words.
    assert channel_name("kawasaki2017", "未来塾", 7) == "kawasaki2017-miraijuku-p7"
    assert channel_name("kawasaki2017", "こども未来塾", 1) == "kawasaki2017-kodomo-miraijuku-p1"
    assert channel_name("k", "じもたんkids", 2) == "k-jimotan-kids-p2"
    assert channel_name("k", "☆★", 4) == "k-team-p4"  # nothing readable
    assert slugify("Café de Kawasaki!") == "cafe-de-kawasaki"
    long = channel_name("x" * 40, "あ" * 200, 123456)
    assert len(long) <= 80 and long.endswith("-p123456") and re.fullmatch(r"[a-z0-9-]+", long)
    assert normalise_code(" abcd-ｅｆｇｈ ") == "ABCDEFGH"
    assert team_target(5) == "team:5"


def test_calendar_text_in_both_languages_with_local_dates() -> None:
    programme = Programme(name="Kawasaki 2017", slug="k", timezone="Asia/Tokyo")
    phases = [
        Phase(
            kind="kickoff",
            title_ja="キックオフ",
            title_en="Kickoff",
            starts_at=datetime(2026, 12, 4, 16, 0, tzinfo=UTC),  # the 5th in Tokyo
            ends_at=datetime(2026, 12, 4, 18, 0, tzinfo=UTC),
            place="川崎市役所",
        ),
        Phase(
            kind="team_work",
            title_ja="取り消し",
            title_en="Cancelled",
            starts_at=datetime(2026, 12, 6, tzinfo=UTC),
            cancelled_at=datetime(2026, 11, 1, tzinfo=UTC),
        ),
    ]
    ja = calendar_text(programme, phases, "ja")
    assert "2026年12月5日(土) 01:00–03:00 キックオフ（川崎市役所）" in ja
    assert "取り消し" not in ja
    assert "Sat, Dec 5, 2026 01:00–03:00 Kickoff (川崎市役所)" in calendar_text(
        programme, phases, "en"
    )
    assert "キックオフ" in calendar_text(None, [], "ja")


# ---------------------------------------------------------------- end to end


def test_formed_team_gets_a_channel_members_welcome_codes_and_announcements(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    fake_slack.add_user(ISHIDA, "ishida")
    fake_slack.add_user(AOKI, "aoki")
    ids = form_team(app, fake_line, fake_slack, database_url, linked={"石田 真理": ISHIDA})
    channel = team_channel(fake_slack, database_url)
    info = fake_slack.channel(channel)
    assert info["name"] == "kawasaki2017-kodomo-miraijuku-p1"
    assert scalar(database_url, "SELECT team_channel_name FROM projects") == info["name"]
    # Coordinators (listed and via the user group) and the linked member; not the others.
    members = fake_slack.wait_for(
        lambda: (
            fake_slack.members(channel) >= {*COORDINATORS, "U0GROUPED1", ISHIDA}
            and fake_slack.members(channel)
        ),
        timeout=10,
    )
    assert AOKI not in members and OUTSIDER not in members
    welcome = fake_slack.wait_for(lambda: fake_slack.messages(channel), timeout=10)[0]
    text = shown(welcome)
    for expected in (
        "こども未来塾",
        "来年度の計画",
        "キックオフで合意します",
        "青木（LINEで参加）",
        f"石田 <@{ISHIDA}>",
        "ファシリテーション",
        "川崎プロボノ 2017 の日程",
        "2037年12月5日(土) 10:00 キックオフ（川崎市役所）",
    ):
        assert expected in text, expected
    assert "青木 健" not in text  # first names only
    # The unlinked member gets a code (and no code for the linked one).
    code = code_for(fake_line, ids["青木 健"])
    assert not any(CODE.search(said(m)) for m in pushes_to(fake_line, ids["石田 真理"]))
    assert len(code) == 8 and not set(code) & set("01OIL")

    # The programme's announcement to team channels, fired as the scheduler would: it
    # reaches the channel, and the unlinked member in LINE.
    async def fire(maker: Any) -> str:
        coordination = Coordination(
            maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel=CHANNEL_ID
        )
        teams = TeamChannels(maker, TeamSettings(locale="ja"))
        programmes = Programmes(maker, coordination, locale="ja", teams=teams)
        async with maker() as session:
            ann = await session.scalar(select(Announcement.id))
        return await programmes.fire(int(ann), now=EVE + timedelta(minutes=1))

    dated = "SELECT count(*) FROM outbox WHERE channel = 'line' AND expires_at IS NOT NULL"
    assert scalar(database_url, dated) == 0
    assert run(database_url, fire) == "sent"
    fake_line.wait_for(
        lambda: any("明日はキックオフ" in said(m) for m in pushes_to(fake_line, ids["青木 健"])),
        timeout=10,
    )
    # The LINE copy is about the kickoff: held back by the budget, it would expire with it.
    assert scalar(database_url, dated) == 1
    assert not any("キックオフです" in said(m) for m in pushes_to(fake_line, ids["石田 真理"]))
    posted = fake_slack.wait_for(
        lambda: [m for m in fake_slack.messages(channel) if "明日はキックオフ" in m["text"]],
        timeout=10,
    )
    assert "Kickoff is tomorrow!" in posted[0]["text"]

    # Linking: the unlinked member types the code in Slack and is invited.
    aoki = in_channel(app, fake_slack, AOKI, CHANNEL)
    answer = aoki.command(f"link {code.lower()}").json()["text"]
    assert "つながりました" in answer and "Linked" in answer and "青木" in answer
    fake_slack.wait_for(lambda: AOKI in fake_slack.members(channel), timeout=10)
    assert scalar(database_url, "SELECT slack_user_id FROM volunteers WHERE id=1") == AOKI

    async def still_in_line(maker: Any) -> list[int]:
        async with maker() as session:
            return [v.id for v in await unlinked_members(session, 1)]

    assert run(database_url, still_in_line) == []
    # The same code again: used.
    again = in_channel(app, fake_slack, OUTSIDER, CHANNEL).command(f"link {code}").json()["text"]
    assert "すでに使われています" in again and "already been used" in again

    # Progress notes in the team channel, and the log.
    member = in_channel(app, fake_slack, AOKI, channel)
    assert "記録しました" in member.command("progress 課題を3つに整理しました").json()["text"]
    assert "記録しました" in member.command("progress ヒアリング <@U0X> 完了").json()["text"]
    log = member.command("log").json()["text"]
    assert "課題を3つに整理しました" in log and f"<@{AOKI}>" in log and "&lt;@U0X&gt;" in log
    assert log.index("課題を3つ") < log.index("ヒアリング")
    coordinator = in_channel(app, fake_slack, COORDINATORS[0], CHANNEL)
    assert "課題を3つに整理しました" in coordinator.command("log 1").json()["text"]
    refused = in_channel(app, fake_slack, OUTSIDER, CHANNEL).command("log 1").json()["text"]
    assert "コーディネーターのみ" in refused
    outside = in_channel(app, fake_slack, OUTSIDER, CHANNEL).command("progress hello").json()
    assert "チームのチャンネルで使ってください" in outside["text"]
    assert scalar(database_url, "SELECT count(*) FROM progress_notes") == 2
    assert fake_line.errors == [] and fake_slack.errors == []


def test_link_codes_from_line_bad_expired_used_and_taken(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    ids = add_volunteers(database_url, fake_line)
    link_slack(database_url, "石田 真理", ISHIDA)
    aoki = LineUser(app, fake_line, ids["青木 健"])
    aoki.say("Slack連携")
    assert "別のメッセージでお送りします" in aoki.text()
    code = code_for(fake_line, ids["青木 健"])
    fake_slack.add_user(AOKI, "aoki")
    fake_slack.add_user(ISHIDA, "ishida")
    slack = in_channel(app, fake_slack, AOKI, CHANNEL)

    bad = slack.command("link ZZZZ2222").json()["text"]
    assert "見つかりませんでした" in bad and "was not found" in bad
    assert "`/tsunagu link" in slack.command("link").json()["text"]
    # Someone whose Slack is linked to another volunteer is refused politely.
    taken = in_channel(app, fake_slack, ISHIDA, CHANNEL).command(f"link {code}").json()["text"]
    assert "別のボランティア" in taken and "another volunteer" in taken
    assert scalar(database_url, "SELECT used_at FROM link_codes") is None

    # An expired code.
    async def expire(maker: Any) -> None:
        async with maker.begin() as session:
            await session.execute(
                text("UPDATE link_codes SET expires_at = :t"),
                {"t": datetime.now(UTC) - timedelta(minutes=1)},
            )

    run(database_url, expire)
    assert "有効期限" in slack.command(f"link {code}").json()["text"]
    # A fresh code, typed with spaces and lower case, links (no team yet).
    aoki.say("link slack")
    fresh = fake_line.wait_for(
        lambda: (c := code_for(fake_line, ids["青木 健"])) != code and c, timeout=10
    )
    answer = slack.command(f"link {fresh[:4].lower()} {fresh[4:]}").json()["text"]
    assert "チームが結成されたら" in answer
    assert slack.command(f"link {fresh}").json()["text"].count("すでに使われています") == 1
    assert scalar(database_url, "SELECT slack_user_id FROM volunteers WHERE id=1") == AOKI
    assert scalar(database_url, "SELECT count(*) FROM link_codes WHERE used_at IS NOT NULL") == 1
    # Someone not registered asks in LINE: told to sign up first.
    stranger = LineUser(app, fake_line)
    stranger.follow()
    stranger.say("Slack連携")
    assert "別のメッセージ" not in stranger.text()
    assert fake_line.errors == [] and fake_slack.errors == []


def test_existing_channel_is_reused_and_weekly_checkins_flag_coordinators(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    fake_slack.add_user(ISHIDA, "ishida")
    # A channel of that name exists already (e.g. a retry after a crash): it is reused.
    existing = fake_slack.add_channel("kawasaki2017-kodomo-miraijuku-p1", members=[COORDINATORS[0]])
    form_team(app, fake_line, fake_slack, database_url, linked={"石田 真理": ISHIDA})
    channel = team_channel(fake_slack, database_url)
    assert channel == existing
    fake_slack.wait_for(lambda: fake_slack.messages(channel), timeout=10)  # the welcome
    assert {e.error for e in fake_slack.errors} == {"name_taken"}

    def job(at: datetime) -> int:
        async def go(maker: Any) -> int:
            coordination = Coordination(
                maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel=CHANNEL_ID
            )
            checkins = CheckIns(maker, coordination, clock=lambda: at)
            return await checkins.run_checkins(at)

        return int(run(database_url, go))

    assert job(KICKOFF - timedelta(days=1)) == 0  # before kickoff
    assert job(KICKOFF + timedelta(days=6)) == 0  # the first week is not over
    assert job(KICKOFF + timedelta(days=7, hours=1)) == 1
    assert job(KICKOFF + timedelta(days=7, hours=2)) == 0  # idempotent: once a week
    asked = fake_slack.wait_for(
        lambda: [m for m in fake_slack.messages(channel) if "第1週のチェックイン" in m["text"]],
        timeout=10,
    )
    assert {"🟢 順調", "🟡 要注意", "🔴 行き詰まり"} <= set(shown(asked[0]).split("\n"))

    # Anyone in the channel answers; the message updates in place with who answered.
    member = in_channel(app, fake_slack, ISHIDA, channel)
    member.click("🟢 順調")
    fake_slack.wait_for(
        lambda: f"<@{ISHIDA}> さんが" in shown(fake_slack.messages(channel)[-1]), timeout=10
    )
    assert "🟢 順調" in shown(fake_slack.messages(channel)[-1])
    assert scalar(database_url, "SELECT status FROM checkins WHERE week=1") == "green"
    # A click from another channel does not count.
    outside = in_channel(app, fake_slack, COORDINATORS[1], CHANNEL)
    from tests import slack_requests as sr

    button = fake_slack.find_button(channel, "🔴 行き詰まり")
    outside.post(
        sr.block_actions(
            COORDINATORS[1], button.action_id, button.value, CHANNEL_ID, button.message_ts
        )
    )
    fake_slack.wait_for(lambda: fake_slack.ephemerals(COORDINATORS[1]), timeout=10)
    assert scalar(database_url, "SELECT status FROM checkins WHERE week=1") == "green"

    # Week 2: 🔴 flags the team in the coordinator channel, once.
    assert job(KICKOFF + timedelta(days=14, hours=1)) == 1
    fake_slack.wait_for(
        lambda: any("第2週" in m["text"] for m in fake_slack.messages(channel)), timeout=10
    )
    member.click("🔴 行き詰まり")
    flag = fake_slack.wait_for(lambda: flags(fake_slack, "行き詰まり"), timeout=10)
    member.click("🟡 要注意")
    member.click("🔴 行き詰まり")
    fake_slack.wait_for(
        lambda: (
            scalar(database_url, "SELECT answered_by FROM checkins WHERE week=2") == ISHIDA
            and fake_slack.messages(channel)[-1].get("edited")
        ),
        timeout=10,
    )
    assert "こども未来塾" in flag[0] and f"<#{channel}>" in flag[0]
    # The old week's buttons are closed now.
    old = fake_slack.messages(channel)
    week1 = next(m for m in old if "第1週" in m["text"])
    found = next(b for b in (week1.get("blocks") or []) if b["type"] == "actions")
    green = found["elements"][0]
    member.post(sr.block_actions(ISHIDA, green["action_id"], green["value"], channel, week1["ts"]))
    told = fake_slack.wait_for(lambda: fake_slack.ephemerals(ISHIDA), timeout=10)
    assert "締め切られました" in told[-1]["text"]

    # Weeks 3 and 4 go unanswered: missed, then one flag for two in a row.
    assert job(KICKOFF + timedelta(days=21, hours=1)) == 1
    assert job(KICKOFF + timedelta(days=28, hours=1)) == 1
    assert flags(fake_slack, "未回答") == []
    assert job(KICKOFF + timedelta(days=35, hours=1)) == 1
    missed = fake_slack.wait_for(lambda: flags(fake_slack, "未回答"), timeout=10)
    assert "第3週・第4週" in missed[0]
    assert job(KICKOFF + timedelta(days=42, hours=1)) == 1  # week 5 missed: no second flag
    states = dict(query(database_url, "SELECT week, status FROM checkins"))
    assert states == {1: "green", 2: "red", 3: "missed", 4: "missed", 5: "missed", 6: "asked"}
    # After the programme's last phase, no more check-ins.
    assert job(KICKOFF + timedelta(days=77, hours=1)) == 0
    fake_slack.wait_for(
        lambda: any("第6週" in m["text"] for m in fake_slack.messages(channel)), timeout=10
    )
    assert len(flags(fake_slack, "行き詰まり")) == 1 and len(flags(fake_slack, "未回答")) == 1


CHANNEL_ID = COORDINATOR_CHANNEL_ID


def flags(fake: FakeSlackApi, word: str) -> list[str]:
    """Flags about the team in the coordinator channel (top-level posts) with this word."""
    return [
        m["text"]
        for m in fake.messages(CHANNEL, replies=False)
        if word in m.get("text", "") and "チーム（#" in m.get("text", "")
    ]


@pytest.mark.parametrize(("team_loc", "other"), [("en", "ja"), ("ja", "en")])
def test_checkins_in_the_team_channels_language_flags_in_the_coordinators_refusals_in_the_clickers(
    database_url: str,
    fake_line: FakeLineApi,
    fake_slack: FakeSlackApi,
    team_loc: str,
    other: str,
) -> None:
    """Team channels read `team_loc`; the coordinator channel stays Japanese (the walk to a
    formed team clicks its Japanese buttons); an outsider reads Slack in `other`."""
    from bot.programmes.checkins import TXT as CHECKIN_TXT
    from tests import slack_requests as sr

    settings = make_settings(
        database_url,
        fake_line.base_url,
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET=SLACK_SECRET,
        SLACK_API_BASE_URL=fake_slack.base_url,
        SLACK_COORDINATOR_CHANNEL=COORDINATOR_CHANNEL_ID,
        SLACK_COORDINATOR_IDS=",".join([*COORDINATORS, "S0COORDGRP"]),
        SLACK_CHANNEL_LOCALES=f"teams={team_loc}, {COORDINATOR_CHANNEL_ID}=ja",
        TSUNAGU_OUTBOX_BASE_DELAY="0.05",
        TSUNAGU_SCHEDULER="false",
    )
    fake_slack.add_user(ISHIDA, "ishida", locale="en-US" if team_loc == "en" else "ja-JP")
    fake_slack.add_user(COORDINATORS[1], "ken", locale="en-US" if other == "en" else "ja-JP")
    with AppServer(settings) as app:
        form_team(app, fake_line, fake_slack, database_url, linked={"石田 真理": ISHIDA})
        channel = team_channel(fake_slack, database_url)

        async def go(maker: Any) -> int:
            coordination = Coordination(
                maker,
                locale=settings.channel_locale(CHANNEL_ID),
                timezone="Asia/Tokyo",
                coordinator_channel=CHANNEL_ID,
            )
            at = KICKOFF + timedelta(days=7, hours=1)
            checkins = CheckIns(
                maker, coordination, clock=lambda: at, team_locale=settings.team_locale
            )
            return await checkins.run_checkins(at)

        assert run(database_url, go) == 1
        title = CHECKIN_TXT.title(team_loc, week=1)
        asked = fake_slack.wait_for(
            lambda: [m for m in fake_slack.messages(channel) if title in m["text"]], timeout=10
        )
        labels = {
            CHECKIN_TXT.green(team_loc),
            CHECKIN_TXT.yellow(team_loc),
            CHECKIN_TXT.red(team_loc),
        }
        assert labels <= set(shown(asked[0]).split("\n"))
        # 🔴 from the team channel: the card updates in the team's language ...
        in_channel(app, fake_slack, ISHIDA, channel).click(CHECKIN_TXT.red(team_loc))
        fake_slack.wait_for(
            lambda: f"<@{ISHIDA}>" in shown(fake_slack.messages(channel)[-1]), timeout=10
        )
        updated = shown(fake_slack.messages(channel)[-1])
        assert ("answered by" in updated) == (team_loc == "en")
        # ... and the flag reads in the coordinator channel's (Japanese).
        flag = fake_slack.wait_for(lambda: flags(fake_slack, "行き詰まり"), timeout=10)
        assert f"<#{channel}>" in flag[0]
        # A click from another channel is refused in the clicker's own language.
        button = fake_slack.find_button(channel, CHECKIN_TXT.green(team_loc))
        in_channel(app, fake_slack, COORDINATORS[1], CHANNEL).post(
            sr.block_actions(
                COORDINATORS[1], button.action_id, button.value, CHANNEL_ID, button.message_ts
            )
        )
        told = fake_slack.wait_for(lambda: fake_slack.ephemerals(COORDINATORS[1]), timeout=10)
        assert told[-1]["text"] == CHECKIN_TXT.wrong_channel(other)
        assert fake_slack.errors == [] or {e.error for e in fake_slack.errors} == {"name_taken"}
