"""The sandbox's LINE pane in Chromium: the rich menu per state, and flex messages.

A new person sees the default (guest) rich menu, starts signing up from it, reads the
summary as a flex bubble, and gets the volunteer menu once saved. With the demo loaded,
募集中 from the rich menu shows a carousel, and an approved volunteer answers a flex
invitation with its button. Screenshots go to var/artifacts/browser/ (looked at by hand).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.server import SandboxServer
from tests.browser.test_sandbox_browser import (
    CHROMIUM_ARGS,
    WAIT_MS,
    Phone,
    _chromium,
    expect,
    slack_button,
)
from tests.support import query

pytestmark = pytest.mark.slow


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    """Where this test's screenshots go (var/ is not in git)."""
    import os
    import shutil

    root = Path(os.environ.get("TSUNAGU_TEST_ARTIFACTS", "var/artifacts/browser"))
    folder = root / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def tab(database_url: str) -> Iterator[Any]:
    """A Chromium page on the sandbox, phone-sized columns included."""
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with SandboxServer(database_url) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="en-US")
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server.url + "/")
            yield page
            assert errors == [], errors
        finally:
            browser.close()


def menu_alias(page: Any, alias: str) -> None:
    """Wait until the phone shows the rich menu of this alias."""
    expect(page.locator("#rich-menu-areas")).to_have_attribute("data-alias", alias)


def tap_menu(phone: Phone, label: str) -> None:
    """Tap an area of the rich menu (each area is a button named by its action label)."""
    area = phone.page.locator("#rich-menu-areas").get_by_role("button", name=label, exact=True)
    phone._after(area.click)


def test_rich_menu_switches_and_flex_messages_render_in_the_sandbox(
    tab: Any, shots: Path, database_url: str
) -> None:
    page, phone = tab, Phone(tab)
    step = iter(range(1, 100))

    def snap(name: str) -> None:
        page.screenshot(path=str(shots / f"{next(step):02d}-{name}.png"), full_page=True)

    phone.new_persona("佐藤 花子", "volunteer", "ja")
    phone.follow()
    # The account's default menu: the Japanese guest menu.
    menu_alias(page, "tsunagu-guest-ja")
    snap("guest-rich-menu")

    # Signing up starts from the rich menu; the summary is a flex bubble.
    tap_menu(phone, "ボランティア登録")
    assert "お名前" in phone.last_text()
    phone.say("佐藤 花子")
    phone.say("川崎市中原区")
    phone.pick_all("ファシリテーション")
    phone.tap("会社員")
    phone.tap("スキップ")  # employer
    phone.tap("30代")
    phone.say("10年")
    phone.tap("5時間")
    phone.pick_all("土日祝")
    phone.tap("どちらでも")
    phone.pick_all("福祉（子ども）")
    phone.tap("共有しない")  # contact sharing (#13)
    phone.tap("同意する")
    summary = page.locator("#line-chat > li.from-bot").last.locator(".flex-bubble")
    expect(summary).to_contain_text("佐藤 花子")
    expect(summary.get_by_role("button", name="この内容で保存")).to_be_visible()
    snap("summary-flex")
    phone._after(summary.get_by_role("button", name="この内容で保存").click)
    assert "登録が完了しました" in phone.last_text()
    menu_alias(page, "tsunagu-volunteer-ja")
    snap("volunteer-rich-menu")

    # With the demo's recruiting projects, 募集中 in the menu shows a carousel.
    page.get_by_role("button", name="Load demo data").click()
    expect(slack_button(page, "候補を提案")).to_be_visible()
    tap_menu(phone, "募集中")
    carousel = page.locator("#line-chat > li.from-bot").last.locator(".flex")
    expect(carousel.locator(".flex-bubble").first).to_be_visible()
    assert carousel.locator(".flex-bubble").count() >= 2
    snap("open-projects-carousel")

    # A coordinator proposes and approves a candidate: the invitation is a flex card.
    slack_button(page, "候補を提案").click()
    expect(page.locator("#slack-messages")).to_contain_text("チーム案")
    slack_button(page, "承認").click()
    expect(page.locator("#slack-messages")).to_contain_text("招待中")
    # Whoever was approved first (the demo has Japanese and English volunteers): their
    # invitation is read in their language.
    invited, locale = query(
        database_url,
        "SELECT v.display_name, v.locale FROM matches m JOIN volunteers v "
        "ON v.id = m.volunteer_id WHERE m.state = 'invited' ORDER BY m.id DESC LIMIT 1",
    )[0]
    title, join, accepted = (
        ("ご招待", "参加する", "参加を承諾しました")
        if locale == "ja"
        else ("Invitation", "Join", "You've accepted")
    )
    phone.choose(str(invited))
    invitation = page.locator("#line-chat .flex-bubble", has_text=title).last
    # The invitation is a push through the outbox: allow for a loaded machine.
    expect(invitation).to_be_visible(timeout=20_000)
    expect(invitation.get_by_role("button", name=join)).to_be_visible()
    snap("invitation-flex")
    phone._after(invitation.get_by_role("button", name=join).click)
    # The answer follows the chat's language, which for a demo volunteer who never
    # chatted is the default (Japanese), whatever their profile says.
    chat = page.locator("#line-chat")
    expect(chat).to_contain_text(re.compile(f"{re.escape(accepted)}|参加を承諾しました"))
    # A demo volunteer was never asked whether the group may have their contact
    # details: accepting asks it, once (#13).
    expect(chat).to_contain_text(re.compile("連絡先を伝えてもよいですか|contact details"))
    snap("invitation-accepted")
    assert len(list(shots.glob("*.png"))) == 6
