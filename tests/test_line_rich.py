"""LINE rich menus, flex messages and the loading animation, through the real app.

`tsunagu line richmenu` runs in-process against the fake LINE API (line-bot-sdk's
MessagingApi and MessagingApiBlob over HTTP); the app links menus as people's states
change (signed webhooks in, the outbox out); every flex message the app sends is
checked by the fake against LINE's schema and documented limits.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

import bot.richmenu
from bot.dialogue import TXT
from bot.richmenu import MENUS, all_aliases
from handlers.cli import main
from tests import line_events as le
from tests.conftest import COORDINATOR_CHANNEL_ID
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import (
    COORDINATORS,
    SECRET,
    SLACK_SECRET,
    SLACK_TOKEN,
    TOKEN,
    AppServer,
    LineUser,
    make_settings,
    said,
    scalar,
)
from tests.test_line_signup import sign_up_ja
from tests.test_matching_flow import pushes_to
from tests.test_team_channels import form_team

ALIASES = {name for name, _, _ in all_aliases()}


@pytest.fixture
def team_app(
    database_url: str, fake_line: FakeLineApi, fake_slack: FakeSlackApi
) -> Iterator[AppServer]:
    """The app with LINE and Slack on their fakes (no scheduler), as for team channels."""
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


@pytest.fixture
def line_env(
    monkeypatch: pytest.MonkeyPatch, fake_line: FakeLineApi, database_url: str
) -> FakeLineApi:
    """The environment `tsunagu line richmenu` reads: real credentials, the fake's URL."""
    monkeypatch.setenv("LINE_CHANNEL_SECRET", SECRET)
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("LINE_API_BASE_URL", fake_line.base_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TSUNAGU_SANDBOX", "off")
    monkeypatch.delenv("LINE_DATA_API_BASE_URL", raising=False)
    return fake_line


def deploy(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["line", "richmenu"]) == 0
    return capsys.readouterr().out


def no_rejections(fake: FakeLineApi) -> None:
    # A GET answered 404 is a look-up that found nothing (no default menu yet), not a refusal.
    rejected = [
        f"{r.method} {r.path}: {r.reason}"
        for r in fake.requests
        if r.rejected and not (r.method == "GET" and r.status == 404)
    ]
    assert rejected == []


# ---------------------------------------------------------------- the CLI


def test_richmenu_command_creates_menus_images_aliases_and_default_once(
    line_env: FakeLineApi, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = line_env
    out = deploy(capsys)
    menus, aliases = fake.rich_menus(), fake.rich_menu_aliases()
    assert set(aliases) == ALIASES and len(menus) == len(ALIASES) == 8
    assert "labels drawn with" in out and "NotoSansCJK" in out
    for name, state, locale in all_aliases():
        menu = menus[aliases[name]]
        spec = MENUS[state]
        assert menu["size"] == {"width": 2500, "height": 843 * spec.rows}
        # Each area sends a keyword the dialogue understands, in the menu's language.
        texts = [a["action"]["text"] for a in menu["areas"]]
        assert texts == [b.text(locale) for b in spec.buttons]
        content_type, image = fake.rich_menu_image(aliases[name]) or ("", b"")
        assert content_type == "image/png" and len(image) < 1024 * 1024
        with Image.open(io.BytesIO(image)) as picture:
            assert picture.size == (2500, 843 * spec.rows)
    assert fake.default_rich_menu() == aliases["tsunagu-guest-ja"]
    assert "tsunagu-volunteer-ja" in aliases and "募集中" in str(
        menus[aliases["tsunagu-volunteer-ja"]]["areas"]
    )

    # Running it again changes nothing and duplicates nothing.
    again = deploy(capsys)
    assert again.count("unchanged") == 8
    assert fake.rich_menus().keys() == menus.keys()
    assert fake.rich_menu_counts()["created"] == 8
    no_rejections(fake)


def test_changed_menus_are_replaced_and_linked_people_moved(
    app: AppServer,
    line_env: FakeLineApi,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = line_env
    deploy(capsys)
    old = fake.rich_menu_aliases()
    user = LineUser(app, fake, language="en")
    user.follow()  # an English guest: the app links the English guest menu
    fake.wait_for(lambda: fake.rich_menu_of(user.user_id) == old["tsunagu-guest-en"], timeout=10)

    monkeypatch.setattr(bot.richmenu, "DRAWING_VERSION", bot.richmenu.DRAWING_VERSION + 1)
    out = deploy(capsys)
    new = fake.rich_menu_aliases()
    assert out.count("updated") == 8
    assert "tsunagu-guest-en: updated" in out and "1 people relinked" in out
    assert set(new) == ALIASES and not set(new.values()) & set(old.values())
    assert set(fake.rich_menus()) == set(new.values())  # the old ones are gone
    assert fake.rich_menu_of(user.user_id) == new["tsunagu-guest-en"]
    assert fake.default_rich_menu() == new["tsunagu-guest-ja"]
    no_rejections(fake)


def test_richmenu_command_needs_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "")
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", "")
    monkeypatch.setenv("TSUNAGU_SANDBOX", "off")
    assert main(["line", "richmenu"]) == 2
    assert "LINE_CHANNEL_ACCESS_TOKEN" in capsys.readouterr().err


# ---------------------------------------------------------------- linking as states change


@pytest.fixture
def deployed(line_env: FakeLineApi, capsys: pytest.CaptureFixture[str]) -> FakeLineApi:
    deploy(capsys)
    return line_env


def test_menu_follows_sign_up_language_and_deletion(app: AppServer, deployed: FakeLineApi) -> None:
    fake = deployed
    user = LineUser(app, fake)
    sign_up_ja(user)
    fake.wait_for(lambda: fake.alias_of(user.user_id) == "tsunagu-volunteer-ja", timeout=10)
    user.say("English")
    fake.wait_for(lambda: fake.alias_of(user.user_id) == "tsunagu-volunteer-en", timeout=10)
    user.say("日本語")
    fake.wait_for(lambda: fake.alias_of(user.user_id) == "tsunagu-volunteer-ja", timeout=10)
    user.say("退会")
    user.say("はい")
    # Back to the account's default (the Japanese guest menu): the link is removed, and
    # no row keeps the LINE id.
    fake.wait_for(lambda: fake.rich_menu_of(user.user_id) is None, timeout=10)
    assert fake.alias_of(user.user_id) == "tsunagu-guest-ja"
    assert scalar(app.settings.database_url, "SELECT count(*) FROM rich_menu_links") == 0
    no_rejections(fake)


def test_a_guest_in_english_gets_the_english_guest_menu(
    app: AppServer, deployed: FakeLineApi
) -> None:
    user = LineUser(app, deployed, language="en")
    user.follow()
    deployed.wait_for(lambda: deployed.alias_of(user.user_id) == "tsunagu-guest-en", timeout=10)


def test_a_failed_link_is_retried_by_the_outbox(app: AppServer, deployed: FakeLineApi) -> None:
    fake = deployed
    user = LineUser(app, fake, language="en")
    fake.fail_next(2, 500, path_prefix=f"/v2/bot/user/{user.user_id}/richmenu")
    user.follow()
    fake.wait_for(lambda: fake.alias_of(user.user_id) == "tsunagu-guest-en", timeout=15)
    assert fake.counts["injected"] == 2


def test_without_deployed_menus_linking_is_skipped_quietly(
    app: AppServer, fake_line: FakeLineApi
) -> None:
    user = LineUser(app, fake_line, language="en")
    user.follow()
    fake_line.wait_for(
        lambda: (
            scalar(app.settings.database_url, "SELECT count(*) FROM outbox WHERE status = 'sent'")
            == 1
        ),
        timeout=30,  # a wait on the condition; a loaded CI machine took over 10 s once
    )
    assert fake_line.rich_menu_of(user.user_id) is None
    assert scalar(app.settings.database_url, "SELECT count(*) FROM outbox WHERE status='dead'") == 0


@pytest.fixture
def team_env(
    monkeypatch: pytest.MonkeyPatch, fake_line: FakeLineApi, database_url: str
) -> Iterator[None]:
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "s")
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("LINE_API_BASE_URL", fake_line.base_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TSUNAGU_SANDBOX", "off")
    assert main(["line", "richmenu"]) == 0
    yield


def test_team_members_get_the_team_menu_and_groups_the_group_menu(
    team_env: None,
    team_app: AppServer,
    fake_line: FakeLineApi,
    fake_slack: FakeSlackApi,
    database_url: str,
) -> None:
    ids = form_team(team_app, fake_line, fake_slack, database_url)
    for name in ("青木 健", "石田 真理"):
        fake_line.wait_for(
            lambda n=name: fake_line.alias_of(ids[n]) == "tsunagu-member-ja", timeout=10
        )
    group = scalar(database_url, "SELECT user_key FROM organizations")
    assert fake_line.alias_of(group) == "tsunagu-group-ja"
    no_rejections(fake_line)


# ---------------------------------------------------------------- flex and loading


def flex_messages(fake: FakeLineApi) -> list[dict[str, Any]]:
    bodies = [*fake.replies, *fake.pushes, *fake.multicasts]
    return [m for b in bodies for m in b["messages"] if m["type"] == "flex"]


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, postback data) of every button in a flex message, in order."""
    out: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "button":
                out.append((node["action"]["label"], node["action"]["data"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message["contents"])
    return out


def test_summary_before_saving_is_a_flex_bubble_with_the_same_postbacks(
    app: AppServer, fake_line: FakeLineApi
) -> None:
    user = LineUser(app, fake_line)
    sign_up_ja(user)
    summary = next(m for m in flex_messages(fake_line) if "お名前" in m["altText"])
    assert summary["contents"]["type"] == "bubble"
    assert "・お名前: 山田 花子" in said(summary)  # the alternative text
    assert "山田 花子" in str(summary["contents"])  # and in the bubble's rows
    quick = [(i["action"]["label"], i["action"]["data"]) for i in summary["quickReply"]["items"]]
    assert buttons(summary) == quick  # the same choices, as buttons and as quick replies
    assert [label for label, _ in quick] == ["この内容で保存", "修正する", "やめる"]
    no_rejections(fake_line)


def test_open_projects_are_a_carousel_and_announcements_a_card(
    team_env: None,
    team_app: AppServer,
    fake_line: FakeLineApi,
    fake_slack: FakeSlackApi,
    database_url: str,
) -> None:
    from tests.test_matching_flow import accepted_request, add_volunteers, pushes_to

    ids = add_volunteers(database_url, fake_line)
    accepted_request(team_app, fake_line, fake_slack)
    fake_line.wait_for(lambda: pushes_to(fake_line, ids["青木 健"]), timeout=10)
    announced = pushes_to(fake_line, ids["青木 健"])[0]
    assert announced["type"] == "flex" and buttons(announced)[0][1].startswith("hand|")
    volunteer = LineUser(team_app, fake_line, ids["青木 健"])
    volunteer.say("募集中")
    carousel = next(m for m in volunteer.last if m["type"] == "flex")
    assert carousel["contents"]["type"] in ("carousel", "bubble")
    bubbles = carousel["contents"].get("contents", [carousel["contents"]])
    assert "こども未来塾" in str(bubbles[0]["header"])
    assert buttons(carousel)[0][1].startswith("hand|")
    volunteer.tap(buttons(carousel)[0][0])  # the same postback as a quick reply
    assert "興味あり" in volunteer.text()
    no_rejections(fake_line)


def test_team_flow_flex_messages_invitation_proposal_and_open_projects(
    team_env: None,
    team_app: AppServer,
    fake_line: FakeLineApi,
    fake_slack: FakeSlackApi,
    database_url: str,
) -> None:
    ids = form_team(team_app, fake_line, fake_slack, database_url)
    flexes = flex_messages(fake_line)
    invitation = next(m for m in flexes if "ご招待" in m["altText"])
    assert [label for label, _ in buttons(invitation)] == ["参加する", "辞退する"]
    assert all(data.startswith("inv|") for _, data in buttons(invitation))
    assert "佐藤" not in str(invitation)  # no contact details before both agree
    proposal = next(m for m in flexes if "チーム案" in m["altText"])
    assert buttons(proposal)[0][0] == "このチームで進める"
    assert "青木 健" not in str(proposal)  # first names only
    # A volunteer asking for open projects sees the loading animation, then the answer.
    # The team's news to them may still be in the outbox: then the answer is pushed
    # behind it rather than replied (each person's messages keep their order), so the
    # answer is looked for either way.
    member = ids["青木 健"]
    volunteer = LineUser(team_app, fake_line, member)
    token = volunteer.token()
    pushed_before = len(pushes_to(fake_line, member))
    since = time.time()
    volunteer.send(le.text(member, token, "募集中"), wait=False)
    expected = (TXT.open_none("ja"), TXT.open_head("ja"))

    def answer() -> list[dict[str, Any]]:
        replied = [b["messages"] for b in fake_line.replies if b.get("replyToken") == token]
        later = pushes_to(fake_line, member)[pushed_before:]
        return [
            m for m in [*(replied[0] if replied else []), *later] if said(m).startswith(expected)
        ]

    assert fake_line.wait_for(answer, timeout=10)
    assert_loading_came_first(fake_line, member, expected, since)
    no_rejections(fake_line)


def assert_loading_came_first(
    fake: FakeLineApi, user_id: str, answer: tuple[str, ...], since: float
) -> None:
    """Of the requests received from `since` (time.time()) on, LINE got the loading
    animation for this person before the message answering them (it hides the animation
    when a message arrives: one started after the answer would spin on under it)."""
    loading = "/v2/bot/chat/loading/start"
    paths = (loading, "/v2/bot/message/reply", "/v2/bot/message/push")

    def order() -> list[str]:
        seen = [
            r
            for r in fake.requests
            if r.time >= since
            and r.path in paths
            and r.status < 300
            and (
                (r.body or {}).get("chatId") == user_id
                or any(said(m).startswith(answer) for m in (r.body or {}).get("messages", ()))
            )
        ]
        return [r.path for r in sorted(seen, key=lambda r: r.time)]

    # The fake records a request once it has answered it: wait until the answer is in.
    def answered() -> list[str] | None:
        got = order()
        return got if any(p != loading for p in got) else None

    seen = fake.wait_for(answered, timeout=10)
    assert seen[0] == loading, seen


def test_loading_animation_for_open_projects_never_blocks_the_reply(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    from tests.test_matching_flow import add_volunteers

    ids = add_volunteers(database_url, fake_line)
    volunteer = LineUser(app, fake_line, ids[next(iter(ids))])
    fake_line.fail_next(1, 500, path_prefix="/v2/bot/chat/loading")
    volunteer.say("募集中")  # the reply still comes, without the animation
    assert volunteer.text()
    since = time.time()
    volunteer.say("open projects")
    answer = (TXT.open_none("ja"), TXT.open_head("ja"))
    assert_loading_came_first(fake_line, volunteer.user_id, answer, since)
    fake_line.wait_for(lambda: len(fake_line.loadings()) == 1, timeout=10)
    assert fake_line.loadings()[0] == {
        "chatId": volunteer.user_id,
        "loadingSeconds": 20,
        "at": fake_line.loadings()[0]["at"],
    }
    # Other messages do not start it.
    volunteer.say("プロフィール")
    assert len(fake_line.loadings()) == 1
    no_rejections(fake_line)


def test_line_messages_render_flex_within_limits_for_long_content() -> None:
    from bot.conversation.model import Choice, Panel, Reply
    from handlers.line import render_line_messages
    from tests.fakes.openapi import validate_request

    long = "あ" * 3000
    panels = tuple(
        Panel(
            title=f"#{i} {long}",
            kind="project",
            body=long,
            fields=(("k", long),),
            buttons=(Choice(f"Interested #{i}", f"hand|{i}"),),
        )
        for i in range(15)
    )
    messages = render_line_messages(
        [
            Reply("head"),
            Reply(long * 3, (Choice("a", "x"),), panels),
            *[Reply(str(i)) for i in range(6)],
        ]
    )
    assert len(messages) == 5
    carousel = next(m for m in messages if m["type"] == "flex")
    assert len(carousel["contents"]["contents"]) == 12 and len(carousel["altText"]) <= 400
    assert (
        validate_request("PushMessageRequest", {"to": "U" + "0" * 32, "messages": messages}) == []
    )


def test_a_chosen_language_is_kept_on_the_profile_for_pushes_flex_and_menu(
    team_env: None,
    team_app: AppServer,
    fake_line: FakeLineApi,
    fake_slack: FakeSlackApi,
    database_url: str,
) -> None:
    from tests.support import SlackUser
    from tests.test_matching_flow import accepted_request, add_volunteers, team_card

    ids = add_volunteers(database_url, fake_line)
    names = list(ids)
    # One asks which languages there are (言語): both buttons, the question in both.
    asker = LineUser(team_app, fake_line, ids[names[0]])
    asker.say("言語")
    assert "どちらの言語" in asker.text() and "Which language" in asker.text()
    assert [q["action"]["label"] for q in asker.quick_replies()] == ["日本語", "English"]
    asker.tap("English")
    assert "I'll continue in English" in asker.text()
    for name in names[1:]:
        LineUser(team_app, fake_line, ids[name]).say("English")
    for user_id in ids.values():
        fake_line.wait_for(
            lambda u=user_id: fake_line.alias_of(u) == "tsunagu-volunteer-en", timeout=10
        )
    assert scalar(database_url, "SELECT count(*) FROM volunteers WHERE locale = 'en'") == len(ids)
    # What is pushed to them later (an invitation, a flex card) is in English.
    accepted_request(team_app, fake_line, fake_slack)
    coord = SlackUser(team_app, fake_slack, COORDINATORS[0], COORDINATOR_CHANNEL_ID)
    coord.click("候補を提案")
    fake_slack.wait_for(lambda: team_card(fake_slack), timeout=10)
    coord.click("全員を承認")
    invited = fake_line.wait_for(
        lambda: [
            m
            for u in ids.values()
            for m in pushes_to(fake_line, u)
            if "Invitation to a pro bono project" in said(m)
        ],
        timeout=10,
    )
    for message in invited:
        assert message["type"] == "flex"
        assert [label for label, _ in buttons(message)] == ["Join", "Decline"]
    everything = [m for u in ids.values() for m in pushes_to(fake_line, u)]
    assert any("[New project]" in said(m) for m in everything)
    for message in everything:
        assert "ご招待" not in str(message) and "新しい" not in str(message)
    # And back: 日本語 changes the profile again.
    asker.say("日本語")
    assert "日本語でご案内します" in asker.text()
    fake_line.wait_for(
        lambda: fake_line.alias_of(asker.user_id) == "tsunagu-volunteer-ja", timeout=10
    )
    no_rejections(fake_line)
