"""A whole cohort, played through LINE and Slack only (signed webhooks, the fake
platforms): six volunteers sign up in LINE, two groups ask for help, and each team is
formed with Accept and one Approve all, every required skill covered and each team at
its minimum size. A later request nobody can staff is explained on its card, with what
would unblock it. Our own data, not the Kawasaki demo."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.clock import ShiftableClock
from bot.coordination import Coordination
from bot.programmes.calendar import calendar_text
from bot.programmes.schedule import parse_programme
from bot.programmes.service import Programmes
from bot.programmes.teams import programme_of
from storage.models import Project
from tests.conftest import COORDINATOR_CHANNEL_ID, slack_settings
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import COORDINATORS, AppServer, LineUser, SlackUser, query, said, scalar
from tests.test_matching_flow import pushes_to
from tests.test_slack_coordination import CHANNEL, buttons, card_text
from tests.test_team_channels import run

TOKYO = ZoneInfo("Asia/Tokyo")

# name, area, skill labels (as tapped), mode
VOLUNTEERS = [
    ("佐々木 蓮", "川崎市", ["SNS運用"], "どちらでも"),
    ("高橋 葵", "川崎市", ["ライティング・編集"], "どちらでも"),
    ("中村 湊", "横浜市", ["マーケティング・広報"], "オンライン"),
    ("小林 結衣", "川崎市", ["会計・経理"], "どちらでも"),
    ("加藤 陽斗", "川崎市", ["税務"], "どちらでも"),
    ("吉田 凛", "川崎市", ["会計・経理", "税務"], "どちらでも"),
]
# group name, menu label, the skill the menu requires
GROUPS = [
    ("みなと子ども食堂", "SNS活用", "social_media"),
    ("さくら台自治会", "会計相談・経理効率化", "accounting"),
]


# The kickoffs are a day ahead: the teams are formed long before them, however loaded the
# machine; then the test moves the calendar's clock instead of waiting.
LEAD = timedelta(days=1)


@pytest.fixture
def clock() -> ShiftableClock:
    return ShiftableClock()


@pytest.fixture
def app(
    database_url: str, fake_line: FakeLineApi, fake_slack: FakeSlackApi, clock: ShiftableClock
) -> Iterator[AppServer]:
    """Here the app always has Slack, and a calendar clock the test moves."""
    with AppServer(slack_settings(database_url, fake_line, fake_slack), clock=clock) as server:
        yield server


def sign_up(app: AppServer, fake_line: FakeLineApi, name: str, area: str, skills: list[str],
            mode: str) -> LineUser:  # fmt: skip
    """A volunteer's Japanese sign-up in LINE, tap by tap."""
    user = LineUser(app, fake_line)
    user.follow()
    user.tap("ボランティアとして登録")
    user.say(name)
    user.say(area)
    user.pick_all(*skills)
    user.tap("会社員")
    user.tap("スキップ")  # employer
    user.tap("40代")
    user.say("5年")
    user.tap("5時間")
    user.pick_all("土日祝")
    user.tap(mode)
    user.pick_all("福祉（子ども）", "まちづくり")
    user.tap("共有しない")  # contact sharing (#13)
    user.tap("同意する")
    user.tap("この内容で保存")
    assert "登録が完了しました" in user.text()
    return user


def ask_for_help(app: AppServer, fake_line: FakeLineApi, group: str, menu: str) -> LineUser:
    """A group's request in LINE, as submit_group_request walks it, with its own menu."""
    user = LineUser(app, fake_line)
    user.follow()
    user.tap("団体として相談")
    user.say(group)
    user.tap("任意団体")
    user.tap("NPO・市民活動")
    user.pick_all("福祉（子ども）", "まちづくり")
    user.say("川崎市")
    user.say("地域の子どもと高齢者の居場所をつくっています。")
    user.say("地域のつながり")
    user.say("広報を手伝う人")
    user.tap("スキップ")
    user.say("特になし")
    user.say("活動を地域にもっと知ってもらい、運営を続けられるようにしたい。")
    user.pick_all(menu)
    user.tap("3か月以内")
    user.tap("どちらでも")
    user.say("田中 一郎")
    user.say("代表")
    user.tap("共有しない")  # contact sharing (#13)
    user.tap("同意する")
    user.tap("この内容で相談する")
    assert "ご相談を受け付けました" in user.text()
    return user


def team_card_of(fake: FakeSlackApi, group: str) -> dict[str, Any] | None:
    for message in reversed(fake.messages(CHANNEL, replies=False)):
        if f"チーム案: {group}" in message.get("text", ""):
            return message
    return None


def import_calendar(database_url: str, project: dict[str, int], kickoff: datetime) -> None:
    """The programme file, with one kickoff per team (`project:`) at `kickoff`, imported
    in a Programmes of its own (the running app only sees the rows, as after the CLI)."""
    soon = kickoff.astimezone(TOKYO).replace(tzinfo=None)
    later = soon + timedelta(days=40)
    phases: list[dict[str, Any]] = [
        {
            "key": f"kickoff-{i}",
            "kind": "kickoff",
            "project": pid,
            "title": {"ja": f"キックオフ（{g}）", "en": f"Kickoff ({g})"},
            "starts": soon.isoformat(timespec="seconds"),
            "announcements": [
                {
                    "key": "start",
                    "to": ["team_channels", "members"],
                    "text": {"ja": f"キックオフです（{g}）", "en": f"Kickoff ({g})"},
                }
            ],
        }
        for i, (g, pid) in enumerate(sorted(project.items()))
    ]
    phases.append(
        {
            "key": "presentation",
            "kind": "presentation",
            "title": {"ja": "成果発表会", "en": "Results presentation"},
            "starts": later.isoformat(timespec="seconds"),
            "announcements": [],
        }
    )
    data = {"programme": {"name": "さくら共助 2026", "slug": "sakura2026"}, "phases": phases}

    async def job(maker: Any) -> None:
        coordination = Coordination(
            maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel=COORDINATOR_CHANNEL_ID
        )
        await Programmes(maker, coordination, locale="ja").import_spec(
            parse_programme(data), actor="cli"
        )

    run(database_url, job)


def _at(value: Any) -> Any:
    """A stored time (a datetime, or SQLite's text) as an aware datetime in UTC."""
    from datetime import UTC, datetime

    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def team_channel_of(database_url: str, project_id: int) -> str:
    return str(
        scalar(database_url, "SELECT team_channel_id FROM projects WHERE id = :p", p=project_id)
    )


def team_calendar(database_url: str, project_id: int) -> str:
    """The calendar a team's welcome shows (its programme's phases as that team sees them)."""

    async def job(maker: Any) -> str:
        async with maker() as session:
            project = await session.get(Project, project_id)
            programme, phases = await programme_of(session, project)
            return calendar_text(programme, phases, "ja")

    return str(run(database_url, job))


def members(database_url: str, group: str, states: tuple[str, ...]) -> dict[str, set[str]]:
    """Volunteer name -> skills, for a group's project's matches in these states."""
    rows = query(
        database_url,
        "SELECT v.display_name, s.skill, m.state FROM matches m "
        "JOIN volunteers v ON v.id = m.volunteer_id "
        "JOIN projects p ON p.id = m.project_id "
        "JOIN organizations o ON o.id = p.organization_id "
        "LEFT JOIN volunteer_skills s ON s.volunteer_id = v.id "
        "WHERE o.name = :group",
        group=group,
    )
    out: dict[str, set[str]] = {}
    for name, skill, state in rows:
        if state in states:
            out.setdefault(name, set()).add(skill)
    return out


def test_a_two_group_cohort_forms_both_teams_with_two_clicks_each(
    app: AppServer,
    fake_line: FakeLineApi,
    fake_slack: FakeSlackApi,
    database_url: str,
    clock: ShiftableClock,
) -> None:
    people = {name: sign_up(app, fake_line, name, area, skills, mode)
              for name, area, skills, mode in VOLUNTEERS}  # fmt: skip
    coord = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    clicks = 0
    groups: dict[str, LineUser] = {}
    for group, menu, required in GROUPS:
        groups[group] = ask_for_help(app, fake_line, group, menu)
        fake_slack.wait_for(
            lambda g=group: any(g in m.get("text", "") and "受け付ける" in buttons(m)
                                for m in fake_slack.messages(CHANNEL, replies=False)),
            timeout=10,
        )  # fmt: skip
        coord.click("受け付ける")  # click 1: Accept
        clicks += 1
        # Accept proposes a first team at once: the required skill and the others to
        # the minimum, each with a reason to be there.
        card = fake_slack.wait_for(
            lambda g=group: (m := team_card_of(fake_slack, g)) and "全員を承認" in buttons(m) and m,
            timeout=10,
        )
        shown = card_text(card)
        assert "✅ このチームで必要スキルをすべてカバー" in shown, shown
        assert "最小人数" not in shown
        proposed = members(database_url, group, ("suggested",))
        assert len(proposed) >= 2
        assert any(required in skills for skills in proposed.values())
        coord.click("全員を承認")  # click 2: Approve all
        clicks += 1
        size = len(proposed)
        fake_line.wait_for(
            lambda g=group, n=size: len(members(database_url, g, ("invited",))) == n,
            timeout=10,
        )
    assert clicks == 2 * len(GROUPS)
    # Nobody was proposed to both teams.
    a, b = (set(members(database_url, g, ("invited",))) for g, _, _ in GROUPS)
    assert a and b and not a & b

    # Every invited volunteer accepts in LINE; each group then sees its team and agrees.
    invited = {**members(database_url, GROUPS[0][0], ("invited",)),
               **members(database_url, GROUPS[1][0], ("invited",))}  # fmt: skip
    for name in invited:
        person = people[name]
        person.last = fake_line.wait_for(
            lambda p=person: [m for m in pushes_to(fake_line, p.user_id) if "ご招待" in said(m)],
            timeout=10,
        )[-1:]
        person.tap("参加する")
    for group, _, required in GROUPS:
        user = groups[group]
        proposal = fake_line.wait_for(
            lambda u=user: [m for m in pushes_to(fake_line, u.user_id) if "チーム案" in said(m)],
            timeout=10,
        )
        user.last = proposal[-1:]
        user.tap("このチームで進める")
        team = members(database_url, group, ("accepted",))
        assert len(team) >= 2
        assert any(required in skills for skills in team.values())
    statuses = [row[0] for row in query(database_url, "SELECT status FROM projects")]
    assert statuses == ["team_formed", "team_formed"]
    # Each team got its channel and its welcome.
    fake_slack.wait_for(
        lambda: scalar(database_url, "SELECT count(team_channel_id) FROM projects") == 2, timeout=15
    )
    # The volunteer with no skill any project asks for was never proposed.
    assert scalar(database_url, "SELECT count(*) FROM matches") == len(a) + len(b)

    # The programme office imports its calendar, as `tsunagu programme import` does from
    # another process: each team's own kickoff, a day away, and a presentation for all.
    # The calendar's clock is first moved to three seconds before the kickoffs (no
    # waiting for the day); the running server notices the import by itself (its watch,
    # every 2 s, not its 60 s reconcile) and each team hears only its own, on time.
    project = {g: scalar(database_url, "SELECT p.id FROM projects p JOIN organizations o "
                         "ON o.id = p.organization_id WHERE o.name = :g", g=g)
               for g, _, _ in GROUPS}  # fmt: skip
    # Whole seconds: the calendar file has no smaller unit.
    kickoff = (clock() + LEAD).replace(microsecond=0)
    clock.advance(kickoff - clock() - timedelta(seconds=3))
    import_calendar(database_url, project, kickoff)
    channels = {g: team_channel_of(database_url, project[g]) for g, _, _ in GROUPS}
    for group, _, _ in GROUPS:
        fake_slack.wait_for(
            lambda g=group: [m for m in fake_slack.messages(channels[g])
                             if f"キックオフです（{g}）" in m["text"]],
            timeout=30,
        )  # fmt: skip
    # On time: the server mirrored the import within seconds (not at its 60 s reconcile).
    for fired, due in query(
        database_url, "SELECT fired_at, send_at FROM announcements WHERE state = 'sent'"
    ):
        late = _at(fired) - _at(due)
        assert late < timedelta(seconds=5), late
    for group, _, _ in GROUPS:
        heard = " ".join(m["text"] for m in fake_slack.messages(channels[group]))
        others = [g for g, _, _ in GROUPS if g != group]
        assert heard.count(f"キックオフです（{group}）") == 1
        assert not any(f"キックオフです（{o}）" in heard for o in others)
        # Its calendar (the one its welcome shows) lists its own kickoff and the shared
        # presentation, not the other team's kickoff.
        shown = team_calendar(database_url, project[group])
        assert f"キックオフ（{group}）" in shown and "成果発表会" in shown
        assert not any(f"キックオフ（{o}）" in shown for o in others)

    # A late request nobody here can staff: its card says why and what would fix it,
    # and `/tsunagu teams` names the reason too.
    ask_for_help(app, fake_line, "ひだまり相談室", "法律相談")
    fake_slack.wait_for(
        lambda: any("ひだまり相談室" in m.get("text", "") and "受け付ける" in buttons(m)
                    for m in fake_slack.messages(CHANNEL, replies=False)),
        timeout=10,
    )  # fmt: skip
    coord.click("受け付ける")
    card = fake_slack.wait_for(lambda: team_card_of(fake_slack, "ひだまり相談室"), timeout=10)
    shown = card_text(card)
    assert "法律 を持つ候補がいません" in shown and "条件を編集" in shown, shown
    assert "最小人数2人に届きません" in shown
    coord.command("teams")
    report = fake_slack.wait_for(
        lambda: [e for e in fake_slack.ephemerals(COORDINATORS[0]) if "編成できず" in e["text"]],
        timeout=15,
    )[-1]["text"]
    assert "法律" in report and "→" in report
    assert fake_slack.errors == [] and fake_line.errors == []
