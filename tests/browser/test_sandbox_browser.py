"""The sandbox page in a real browser: Debian's Chromium, headless, driven by Playwright.

A volunteer signs up and a group submits a request by tapping and typing in the LINE
pane; a coordinator asks a question in a modal, accepts the request and approves the
suggested volunteer in the Slack pane; the volunteer accepts in the LINE pane. Every
action travels through the app's real webhooks with real signatures. A screenshot of each
step is saved under $TSUNAGU_TEST_ARTIFACTS (default var/artifacts/browser/).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.server import SandboxServer
from tests.support import scalar

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOW_TO = (
    "no Chromium for the browser tests: install Debian's with "
    "`sudo apt-get install -y chromium` (or set TSUNAGU_CHROMIUM to a Chromium binary); "
    "never `playwright install`"
)
WAIT_MS = 20_000

pytestmark = pytest.mark.slow


def _chromium() -> str:
    """The Chromium binary, or skip (fail in CI) saying how to install it."""
    path = os.environ.get("TSUNAGU_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing = "the playwright package is missing (pip install -e '.[dev]')"
    else:
        missing = "" if Path(path).is_file() and os.access(path, os.X_OK) else HOW_TO
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the browser tests: {missing}")
        pytest.skip(missing)
    return path


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """Where this test's screenshots go (kept out of git: var/ is ignored)."""
    root = Path(os.environ.get("TSUNAGU_TEST_ARTIFACTS", "var/artifacts/browser"))
    folder = root / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def page(database_url: str) -> Iterator[Any]:
    """A Chromium page on the sandbox (the server runs for this test only)."""
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with SandboxServer(database_url) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
            tab = context.new_page()
            tab.set_default_timeout(WAIT_MS)
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.goto(server.url + "/")
            yield tab
            assert errors == [], errors
        finally:
            browser.close()


class Phone:
    """The LINE pane, used as a person would: pick a persona, tap, type."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def _bot_entries(self) -> int:
        return int(self.page.locator("#line-chat > li.from-bot").count())

    def _after(self, action: Any) -> None:
        # Wait on what the person sees: one more message from the bot than before.
        before = self._bot_entries()
        action()
        self.page.wait_for_function(
            "n => document.querySelectorAll('#line-chat > li.from-bot').length > n",
            arg=before,
            timeout=WAIT_MS,
        )

    def new_persona(self, name: str, kind: str, language: str) -> None:
        page = self.page
        page.get_by_text("New persona", exact=True).click()
        form = page.locator("#persona-form")
        form.get_by_label("Name").fill(name)
        form.get_by_label(kind.capitalize()).check()
        form.get_by_label("日本語" if language == "ja" else "English").check()
        form.get_by_role("button", name="Create").click()
        expect(page.get_by_label("LINE persona")).to_contain_text(name)

    def choose(self, name: str) -> None:
        select = self.page.get_by_label("LINE persona")
        value = select.locator("option", has_text=name).first.get_attribute("value")
        select.select_option(value)

    def follow(self) -> None:
        self._after(lambda: self.page.get_by_role("button", name="Add friend").click())

    def quick(self, label: str) -> Any:
        return self.page.locator("#quick-replies").get_by_role(
            "button", name=re.compile(rf"^(✓ )?{re.escape(label)}$")
        )

    def tap(self, label: str) -> None:
        button = self.quick(label)
        expect(button).to_be_visible()
        self._after(button.click)

    def say(self, text: str) -> None:
        def send() -> None:
            self.page.get_by_label("Message", exact=True).fill(text)
            self.page.get_by_label("Message", exact=True).press("Enter")

        self._after(send)

    def pick_all(self, *labels: str) -> None:
        for label in labels:
            for _ in range(5):
                if self.quick(label).count():
                    break
                self.tap_matching(r"▶$")
            self.tap(label)
        self.tap_matching(r"^(完了|Done)")

    def tap_matching(self, pattern: str) -> None:
        button = self.page.locator("#quick-replies").get_by_role("button", name=re.compile(pattern))
        self._after(button.first.click)

    def last_text(self) -> str:
        return str(self.page.locator("#line-chat > li.from-bot").last.inner_text())


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def wait_value(database_url: str, sql: str, wanted: Any, timeout_s: float = 20.0) -> bool:
    """The app saves after it answered the page: wait until the row shows it."""
    import time

    deadline = time.monotonic() + timeout_s
    while scalar(database_url, sql) != wanted:
        if time.monotonic() > deadline:
            raise AssertionError(f"{sql} never became {wanted!r}")
        time.sleep(0.05)
    return True


def slack_button(page: Any, label: str) -> Any:
    return page.locator("#slack-messages").get_by_role("button", name=label, exact=True).last


def test_sign_up_request_accept_approve_and_accept_in_the_browser(
    page: Any, artifacts: Path, database_url: str
) -> None:
    phone = Phone(page)
    shot = iter(range(1, 100))

    def snap(step: str) -> None:
        page.screenshot(path=str(artifacts / f"{next(shot):02d}-{step}.png"), full_page=True)

    expect(page.get_by_role("heading", name="Tsunagu sandbox")).to_be_visible()
    snap("empty-sandbox")

    # A volunteer signs up by tapping and typing.
    phone.new_persona("佐藤 花子", "volunteer", "ja")
    phone.follow()
    assert "友だち追加ありがとうございます" in phone.last_text()
    phone.tap("ボランティアとして登録")
    phone.say("佐藤 花子")
    phone.say("川崎市中原区")
    phone.pick_all("ファシリテーション")
    phone.tap("会社員")
    phone.say("川崎電機")
    phone.tap("会社の制度で参加")
    phone.tap("40代")
    phone.say("10年")
    phone.tap("5時間")
    phone.pick_all("土日祝")
    phone.tap("どちらでも")
    phone.pick_all("福祉（子ども）")
    phone.tap("共有しない")  # contact sharing (#13)
    phone.tap("同意する")
    assert "お名前\n佐藤 花子" in phone.last_text()  # the summary card's rows
    phone.tap("この内容で保存")
    assert "登録が完了しました" in phone.last_text()
    snap("volunteer-signed-up")

    # A group submits a request.
    phone.new_persona("こども未来塾", "group", "ja")
    phone.follow()
    phone.tap("団体として相談")
    phone.say("こども未来塾")
    phone.tap("任意団体")
    phone.tap("NPO・市民活動")
    phone.pick_all("福祉（子ども）", "子育て")
    phone.say("川崎市")
    phone.say("放課後の子どもたちに学習の場を提供しています。")
    phone.say("地域の大学生ボランティアとのつながり")
    phone.say("運営を手伝う人")
    phone.tap("スキップ")
    phone.say("活動資金が足りない")
    phone.say("活動の目的や優先順位を整理して、来年度の計画を立てたい。")
    phone.pick_all("課題整理ワークショップ")
    phone.tap("3か月以内")
    phone.tap("どちらでも")
    phone.say("山本 一郎")
    phone.say("代表")
    phone.tap("共有しない")  # contact sharing (#13)
    phone.tap("同意する")
    phone.tap("この内容で相談する")
    assert "ご相談を受け付けました" in phone.last_text()
    snap("group-request-submitted")

    # The card reaches the coordinators; a non-coordinator is refused privately.
    users = page.get_by_label("Slack user")
    users.select_option(label=users.locator("option", has_text="Yuki").inner_text())
    slack_button(page, "受け付ける").click()
    expect(page.locator(".msg.ephemeral").last).to_contain_text("Only visible to you")
    assert scalar(database_url, "SELECT status FROM projects") == "submitted"
    users.select_option(label=users.locator("option", has_text="Aoi").inner_text())

    # The coordinator asks a question in a modal (an empty one is refused in the modal).
    slack_button(page, "質問する").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    snap("modal-open")
    dialog.get_by_role("button", name="送信").click()
    expect(dialog.get_by_role("alert").first).not_to_be_empty()
    dialog.get_by_role("textbox").fill("活動は週に何日ですか？")
    dialog.get_by_role("button", name="送信").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#line-chat")).to_contain_text("活動は週に何日ですか？")

    # The coordinator accepts, asks for candidates and approves the volunteer.
    slack_button(page, "受け付ける").click()
    expect(slack_button(page, "候補を提案")).to_be_visible()
    snap("request-accepted")
    # The coordinator edits the needs in the modal, as in Slack: the skills are chips
    # (multi-select) with the group's choices already on, the sizes are number inputs,
    # the mode a select. One volunteer is enough for this group, so the walk reaches
    # the team's own channel.
    slack_button(page, "条件を編集").click()
    expect(dialog).to_be_visible()
    required = dialog.get_by_role("group", name=re.compile("必要スキル"))
    assert required.get_by_role("checkbox", checked=True).count() >= 1
    size = dialog.get_by_label("最小人数（1〜10）")
    expect(size).to_have_attribute("type", "number")
    assert size.input_value() != ""
    mode = dialog.get_by_label("実施の形")
    assert mode.evaluate("node => node.tagName") == "SELECT"
    # Out of range: refused in the modal, as Slack's client refuses it.
    size.fill("0")
    dialog.get_by_role("button", name="保存").click()
    expect(dialog.get_by_role("alert").filter(has_text="1–10")).to_be_visible()
    size.fill("1")
    dialog.get_by_role("group", name=re.compile("あれば良いスキル")).get_by_label("Web制作").check()
    mode.select_option(label="オンライン")
    snap("edit-needs-modal")
    dialog.get_by_role("button", name="保存").click()
    expect(dialog).to_be_hidden()
    assert wait_value(database_url, "SELECT team_min FROM projects", 1)
    assert scalar(database_url, "SELECT mode FROM projects") == "online"
    slack_button(page, "候補を提案").click()
    expect(page.locator("#slack-messages")).to_contain_text("チーム案")
    expect(page.locator("#slack-messages")).to_contain_text("佐藤")
    snap("team-proposed")
    slack_button(page, "承認").click()
    expect(page.locator("#slack-messages")).to_contain_text("招待中")

    # The slash command answers privately.
    page.get_by_label("Slash command").fill("/tsunagu projects")
    page.get_by_label("Slash command").press("Enter")
    expect(page.locator(".msg.ephemeral").last).to_contain_text("こども未来塾")
    snap("volunteer-approved")

    # The volunteer accepts the invitation in LINE.
    phone.choose("佐藤 花子")
    expect(phone.quick("参加する")).to_be_visible()
    assert "ご招待" in phone.last_text()
    phone.tap("参加する")
    assert "参加を承諾しました" in phone.last_text()
    # The coordinators' team card shows the acceptance.
    expect(page.locator("#slack-messages")).to_contain_text("✅ 承諾")
    snap("volunteer-accepted")
    assert scalar(database_url, "SELECT state FROM matches") == "accepted"

    # The group sees the team in LINE and confirms it; the team channel appears in
    # Slack with its welcome.
    phone.choose("こども未来塾")
    expect(phone.quick("このチームで進める")).to_be_visible()
    # The last bubble (the proposal) stays above the quick-reply bar (scrolled after the
    # bar is drawn).
    last = page.locator("#line-chat > li").last.bounding_box()
    bar = page.locator("#quick-replies").bounding_box()
    assert last is not None and bar is not None and last["y"] + last["height"] <= bar["y"] + 1
    phone.tap("このチームで進める")
    channel = page.locator("#channels").get_by_role("button", name=re.compile("kodomo"))
    expect(channel).to_be_visible()
    channel.click()
    expect(page.locator("#slack-messages")).to_contain_text("こども未来塾")
    expect(page.locator("#slack-messages")).to_contain_text("佐藤")
    snap("team-channel-welcome")
    assert scalar(database_url, "SELECT status FROM projects") == "team_formed"
    shots = sorted(p.name for p in artifacts.glob("*.png"))
    assert len(shots) == 10, shots


def test_programme_editor_from_private_messages_in_the_browser(
    page: Any, artifacts: Path, database_url: str
) -> None:
    shot = iter(range(1, 100))

    def snap(step: str) -> None:
        page.screenshot(path=str(artifacts / f"{next(shot):02d}-{step}.png"), full_page=True)

    def command(text: str) -> None:
        before = page.locator(".msg.ephemeral").count()
        page.get_by_label("Slash command").fill(text)
        page.get_by_label("Slash command").press("Enter")
        expect(page.locator(".msg.ephemeral")).to_have_count(before + 1)

    # The first screen says where to start.
    expect(page.locator("#line-chat .hint")).to_contain_text("Load demo data")
    expect(page.locator("#slack-messages .hint")).to_contain_text("/tsunagu help")
    page.set_viewport_size({"width": 390, "height": 844})
    snap("first-screen-390px")
    box = page.locator("#ff-week").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
    page.set_viewport_size({"width": 1280, "height": 900})

    users = page.get_by_label("Slack user")
    users.select_option(label=users.locator("option", has_text="Aoi").inner_text())
    dialog = page.get_by_role("dialog")

    # A programme is created from the button of the private answer.
    command("/tsunagu programme")
    slack_button(page, "新しいプログラム").click()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("タイムゾーン")).to_have_value("Asia/Tokyo")
    dialog.get_by_label("プログラム名").fill("川崎 2027")
    dialog.get_by_label(re.compile("短い英字名")).fill("kawasaki2027")
    dialog.get_by_role("button", name="保存").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".msg.ephemeral").last).to_contain_text("川崎 2027")

    # A phase: kind from a select, date and time pickers, checkboxes.
    command("/tsunagu programme")
    slack_button(page, "フェーズを追加").click()
    expect(dialog).to_be_visible()
    dialog.get_by_label("種類", exact=True).select_option(label="事前説明会")
    dialog.get_by_label("名前（日本語・任意）").fill("事前説明会")
    expect(dialog.get_by_label("開始日")).to_have_attribute("type", "date")
    dialog.get_by_label("開始日").fill("2027-01-20")
    dialog.get_by_label("開始時刻").fill("18:30")
    dialog.get_by_label("出欠を受け付ける（説明会・キックオフ・発表会など）").check()
    snap("phase-modal")
    dialog.get_by_role("button", name="保存").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".msg.ephemeral").last).to_contain_text("事前説明会")
    assert wait_value(database_url, "SELECT count(*) FROM phases", 1)

    # Edit it from a fresh list: the modal opens with what was saved.
    command("/tsunagu programme")
    expect(page.locator(".msg.ephemeral").last).to_contain_text("2027-01-20 18:30")
    slack_button(page, "編集").click()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("開始日")).to_have_value("2027-01-20")
    expect(dialog.get_by_label("開始時刻")).to_have_value("18:30")
    expect(dialog.get_by_label("種類", exact=True)).to_have_value("briefing")
    expect(
        dialog.get_by_label("出欠を受け付ける（説明会・キックオフ・発表会など）")
    ).to_be_checked()
    dialog.get_by_label("開始時刻").fill("19:00")
    snap("phase-edit-modal")
    dialog.get_by_role("button", name="保存").click()
    expect(dialog).to_be_hidden()
    command("/tsunagu programme")
    expect(page.locator(".msg.ephemeral").last).to_contain_text("2027-01-20 19:00")
    snap("phase-edited")

    # Delete asks first (Slack's confirm); the private list is then drawn again.
    slack_button(page, "削除").click()
    confirm = page.get_by_role("dialog", name="削除")
    expect(confirm).to_be_visible()
    snap("delete-confirm")
    confirm.get_by_role("button", name="削除する").click()
    expect(page.locator(".msg.ephemeral").last).to_contain_text("削除し")
    expect(page.locator(".msg.ephemeral").last).to_contain_text("フェーズはまだありません")
    snap("phase-deleted")

    # Ken reads Slack in English: his private answers are English.
    users.select_option(label=users.locator("option", has_text="Ken").inner_text())
    command("/tsunagu programme")
    expect(slack_button(page, "New programme")).to_be_visible()
    snap("english-coordinator")
    assert len(list(artifacts.glob("*.png"))) == 7


def test_app_home_dashboard_and_a_downloaded_export_in_the_browser(
    page: Any, artifacts: Path, database_url: str
) -> None:
    """A coordinator opens the Home tab of the Slack pane (the office's dashboard), exports
    everything from it and downloads the file the app sent to their DM."""
    from openpyxl import load_workbook

    page.get_by_role("button", name="Load demo data").click()
    expect(page.locator("#status")).to_contain_text("Demo data loaded", timeout=60_000)
    users = page.get_by_label("Slack user")
    users.select_option(label=users.locator("option", has_text="Aoi").inner_text())

    page.locator("#slack-home-tab").click()
    home = page.locator("#slack-messages .home")
    expect(home).to_contain_text("プログラム事務局")
    expect(home).to_contain_text("ファネル（累計）")
    volunteers = scalar(database_url, "SELECT count(*) FROM volunteers")
    expect(home).to_contain_text(f"ボランティア登録 {volunteers}")
    page.set_viewport_size({"width": 1280, "height": 2000})  # the whole dashboard
    page.locator(".slack-pane").screenshot(path=str(artifacts / "app-home.png"))
    if os.environ.get("TSUNAGU_DOCS_IMAGES"):  # refresh the README's picture
        folder = Path(os.environ["TSUNAGU_DOCS_IMAGES"])
        home.screenshot(path=str(folder / "app-home.png"))
    page.set_viewport_size({"width": 1280, "height": 900})

    home.get_by_role("button", name="全データを書き出す（XLSX）").click()
    page.locator("#channels").get_by_role("button", name=re.compile("@")).click()
    link = page.locator("#slack-messages a[download]").first
    expect(link).to_contain_text(".xlsx")
    with page.expect_download() as download:
        link.click()
    saved = artifacts / download.value.suggested_filename
    download.value.save_as(saved)
    wb = load_workbook(saved, read_only=True)
    assert len(wb.sheetnames) == 6
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    assert len(rows) - 1 == volunteers
    wb.close()
    page.locator(".slack-pane").screenshot(path=str(artifacts / "dm-with-file.png"))

    # Someone who is not a coordinator sees their own page.
    users.select_option(label=users.locator("option", has_text="Yuki").inner_text())
    page.locator("#slack-home-tab").click()
    expect(page.locator("#slack-messages .home")).to_contain_text("あなたのページ")


def test_without_chromium_the_browser_tests_skip_with_a_hint_but_fail_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TSUNAGU_CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        _chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        _chromium()
