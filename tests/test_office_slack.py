"""The programme office in Slack: the App Home for a coordinator and for anyone else,
`/tsunagu export` of every kind in both formats read back from what the fake Slack
received, `/tsunagu report` for the Kawasaki demo programme checked against the database,
and a case published, searched and exported, all through signed requests."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bot.office.exports import KINDS
from bot.postback import CaseMore, Menu
from handlers.cli import main as cli
from storage.db import make_engine, make_sessionmaker
from storage.models import Match
from tests import line_events as le
from tests import slack_requests as sr
from tests.conftest import COORDINATOR_CHANNEL, COORDINATOR_CHANNEL_ID
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
    submit_group_request,
)
from tests.test_matching_flow import pushes_to


async def on_team(database_url: str, project: int, volunteer: int) -> None:
    """Put a volunteer on a project's team (what the matching flow ends in)."""
    from sqlalchemy import delete

    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine).begin() as s:
            await s.execute(delete(Match).where(Match.project_id == project))
            s.add(Match(project_id=project, volunteer_id=volunteer, state="accepted"))
    finally:
        await engine.dispose()


def execute(database_url: str, sql: str) -> None:
    """One change made outside the app (what another part of the system would do)."""
    from sqlalchemy import create_engine, text

    from storage.db import sync_url

    engine = create_engine(sync_url(database_url))
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


@pytest.fixture
def office(
    database_url: str,
    fake_line: FakeLineApi,
    fake_slack: FakeSlackApi,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[AppServer]:
    """The Kawasaki demo (`tsunagu demo`), then the app with LINE and Slack on their fakes."""
    with monkeypatch.context() as m:
        m.chdir(tmp_path)
        m.setenv("DATABASE_URL", database_url)
        m.setenv("TSUNAGU_SANDBOX_DATABASE_URL", database_url)
        m.setenv("TSUNAGU_SANDBOX", "on")
        assert cli(["demo"]) == 0
    settings = make_settings(
        database_url,
        fake_line.base_url,
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET=SLACK_SECRET,
        SLACK_API_BASE_URL=fake_slack.base_url,
        SLACK_COORDINATOR_CHANNEL=COORDINATOR_CHANNEL_ID,
        SLACK_COORDINATOR_IDS=",".join(COORDINATORS),
        TSUNAGU_OUTBOX_BASE_DELAY="0.05",
    )
    server = AppServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


def person(app: AppServer, fake: FakeSlackApi, user: str) -> SlackUser:
    return SlackUser(app, fake, user, COORDINATOR_CHANNEL)


def home_text(view: dict[str, Any]) -> str:
    parts = []
    for block in view["blocks"]:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(text["text"])
        for element in block.get("elements") or []:
            label = element.get("text")
            parts.append(label["text"] if isinstance(label, dict) else str(label or ""))
    return "\n".join(parts)


def open_home(app: AppServer, fake: FakeSlackApi, user: str) -> dict[str, Any]:
    before = (fake.home_view(user) or {}).get("hash")
    response = person(app, fake, user).post(sr.event_callback(sr.app_home_opened(user)))
    assert response.status_code == 200
    return fake.wait_for(
        lambda: (v := fake.home_view(user)) and v.get("hash") != before and v, timeout=10
    )


def files_in_dm(fake: FakeSlackApi, user: str, count: int) -> list[dict[str, Any]]:
    def arrived() -> list[dict[str, Any]] | None:
        dm = fake.dm_id(user)
        found = fake.files(dm) if dm else []
        return found if len(found) >= count else None

    return fake.wait_for(arrived, timeout=30)


def read_rows(upload: dict[str, Any]) -> list[list[Any]]:
    data: bytes = upload["content"]
    if upload["name"].endswith(".csv"):
        assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs
        return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    wb = load_workbook(io.BytesIO(data), read_only=True)
    rows = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    wb.close()
    return rows


def test_app_home_for_a_coordinator_and_for_anyone_else(
    office: AppServer, fake_slack: FakeSlackApi, database_url: str
) -> None:
    view = open_home(office, fake_slack, COORDINATORS[0])
    text = home_text(view)
    projects = scalar(database_url, "SELECT count(*) FROM projects")
    volunteers = scalar(database_url, "SELECT count(*) FROM volunteers")
    assert "プログラム事務局" in text and "ファネル（累計）" in text
    assert f"ボランティア登録 *{volunteers}*" in text
    assert f"相談 *{projects}*" in text
    assert "目標と実績" in text and "次のお知らせ" in text
    actions = {e.get("action_id") for b in view["blocks"] for e in b.get("elements") or []}
    assert {"home_export", "home_report", "home_refresh"} <= actions
    # The project waiting for a decision carries the card's own buttons.
    waiting = scalar(database_url, "SELECT count(*) FROM projects WHERE status = 'submitted'")
    if waiting:
        assert "project_accept" in actions

    fake_slack.add_user("U0ENGLISH1", "english", locale="en-US")
    mine = home_text(open_home(office, fake_slack, OUTSIDER))
    assert "あなたのページ" in mine and "/tsunagu link" in mine
    assert "ファネル" not in mine

    # A volunteer on a team who linked their Slack sees their team, in English.
    project = scalar(database_url, "SELECT min(id) FROM projects")
    volunteer = scalar(database_url, "SELECT min(id) FROM volunteers")
    asyncio.run(on_team(database_url, project, volunteer))
    execute(
        database_url, f"UPDATE volunteers SET slack_user_id = 'U0ENGLISH1' WHERE id = {volunteer}"
    )
    english = home_text(open_home(office, fake_slack, "U0ENGLISH1"))
    assert "Your teams" in english and f"#{project} " in english


def test_every_export_in_both_formats_reaches_the_coordinators_dm(
    office: AppServer, fake_slack: FakeSlackApi, database_url: str
) -> None:
    coordinator = person(office, fake_slack, COORDINATORS[0])
    sent = 0
    for kind in KINDS:
        for fmt in ("csv", "xlsx"):
            response = coordinator.command(f"export {kind} {fmt}")
            assert response.status_code == 200
            assert "準備しています" in response.json()["text"]
            sent += 1
            upload = files_in_dm(fake_slack, COORDINATORS[0], sent)[-1]
            assert upload["name"].endswith(f".{fmt}") and kind in upload["name"]
            rows = read_rows(upload)
            assert rows[0][0] is not None  # the header row
            if kind == "volunteers":
                assert len(rows) - 1 == scalar(database_url, "SELECT count(*) FROM volunteers")
                assert "お名前" in rows[0]  # coordinators see personal columns
            if kind == "groups":
                groups = scalar(database_url, "SELECT count(*) FROM organizations")
                assert len(rows) - 1 == groups
    coordinator.command("export all csv")
    bundle = files_in_dm(fake_slack, COORDINATORS[0], sent + 1)[-1]
    with zipfile.ZipFile(io.BytesIO(bundle["content"])) as zf:
        assert sorted(zf.namelist()) == sorted(f"{k}.csv" for k in KINDS)
    coordinator.command("export all kawasaki2017")
    workbook = files_in_dm(fake_slack, COORDINATORS[0], sent + 2)[-1]
    wb = load_workbook(io.BytesIO(workbook["content"]), read_only=True)
    assert len(wb.sheetnames) == len(KINDS)
    wb.close()

    # Someone who is not a coordinator is refused politely, and gets no file.
    refused = person(office, fake_slack, OUTSIDER).command("export volunteers csv")
    assert "コーディネーター" in refused.json()["text"]
    # A kind that does not exist is explained, with the usage.
    wrong = coordinator.command("export everything")
    assert "volunteers" in wrong.json()["text"] and "/tsunagu export" in wrong.json()["text"]
    assert fake_slack.dm_id(OUTSIDER) is None or not fake_slack.files(fake_slack.dm_id(OUTSIDER))


def test_the_report_for_kawasaki_matches_the_database(
    office: AppServer, fake_slack: FakeSlackApi, database_url: str
) -> None:
    response = person(office, fake_slack, COORDINATORS[0]).command("report kawasaki2017")
    assert "準備しています" in response.json()["text"]
    uploads = files_in_dm(fake_slack, COORDINATORS[0], 5)
    names = [u["name"] for u in uploads]
    workbook = next(u for u in uploads if u["name"].endswith(".xlsx"))
    assert any(n.endswith("funnel.png") for n in names)
    assert all(u["content"].startswith(b"\x89PNG") for u in uploads if u["name"].endswith(".png"))
    wb = load_workbook(io.BytesIO(workbook["content"]))
    summary = {r[0]: r[1:4] for r in wb["概要"].iter_rows(min_row=4, values_only=True) if r[0]}
    consultations = scalar(
        database_url,
        "SELECT count(*) FROM projects p JOIN programmes g ON g.id = p.programme_id "
        "WHERE g.slug = 'kawasaki2017'",
    )
    assert summary["相談件数"][1] == consultations
    results = list(wb["実績"].iter_rows(values_only=True))
    assert len(results) - 1 == consultations
    # An unknown programme is told, politely.
    person(office, fake_slack, COORDINATORS[0]).command("report nowhere")
    told = fake_slack.wait_for(
        lambda: [e for e in fake_slack.ephemerals(COORDINATORS[0]) if "nowhere" in e["text"]],
        timeout=10,
    )
    assert "見つかりません" in told[0]["text"]


def _group_of_case(database_url: str, case_id: int) -> str:
    return str(
        scalar(
            database_url,
            "SELECT o.user_key FROM cases c JOIN projects p ON p.id = c.project_id "
            f"JOIN organizations o ON o.id = p.organization_id WHERE c.id = {case_id}",
        )
    )


def _consent_card(fake_line: FakeLineApi, user_id: str, text: str, n: int) -> dict[str, Any]:
    """The n-th consent card pushed to the group (its alt text holds `text`)."""
    return fake_line.wait_for(
        lambda: (
            (cards := [m for m in pushes_to(fake_line, user_id) if text in said(m)])
            and len(cards) >= n
            and cards
        ),
        timeout=20,
    )[n - 1]


def _slack_notes(database_url: str) -> list[str]:
    """The texts of every Slack message the app has written to its outbox."""
    rows = query(database_url, "SELECT payload FROM outbox WHERE channel = 'slack'")
    payloads = [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]
    return [str(p.get("text", "")) for p in payloads]


def _case_state(database_url: str) -> str:
    return str(scalar(database_url, "SELECT status FROM cases WHERE id = 3"))


def test_a_case_is_consented_in_line_published_searched_and_exported(
    office: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    coordinator = person(office, fake_slack, COORDINATORS[0])
    visitor = person(office, fake_slack, OUTSIDER)
    assert "#3" not in visitor.command("cases みどりなくらし").json()["text"]
    assert "#3" in coordinator.command("cases みどりなくらし").json()["text"]  # drafts too
    early = coordinator.command("cases publish 3").json()["text"]
    assert "下書き" in early  # not before the group consented

    # The group is asked in LINE, with the case's text on a card and three answers.
    assert "LINE でお聞きしました" in coordinator.command("cases consent 3").json()["text"]
    assert _case_state(database_url) == "consent_asked"
    group = LineUser(office, fake_line, _group_of_case(database_url, 3))
    card = _consent_card(fake_line, group.user_id, "事例集で紹介させていただけませんか", 1)
    assert card["type"] == "flex" and "みどりなくらし" in json.dumps(card, ensure_ascii=False)
    # Someone else tapping the same data (a forwarded card, a forged event) changes nothing.
    stranger = LineUser(office, fake_line)
    stranger.last = [card]
    assert "お答えいただけません" in stranger.tap("公開してよい")[0]["text"]
    # The group asks for changes, in words; the coordinators read them in the thread.
    group.last = [card]
    group.tap("修正をお願いしたい")
    assert "どこをどう直せば" in group.text()
    group.say("活動の写真の説明を、もう少し短くしてください")
    assert "事務局に伝えました" in group.text()
    assert _case_state(database_url) == "draft"
    # (The demo's request cards live in the sandbox's channel, so the note is read from
    # the outbox: written in the same transaction as the answer.)
    assert any("写真の説明を" in t and "修正を希望" in t for t in _slack_notes(database_url))
    # Asked again (a new card), the group says yes; a second tap is answered politely.
    coordinator.command("cases consent 3")
    again = _consent_card(fake_line, group.user_id, "事例集で紹介させていただけませんか", 2)
    group.last = [again]
    assert "事務局が事例集に公開します" in group.tap("公開してよい")[0]["text"]
    assert _case_state(database_url) == "consented"
    group.last = [again]
    assert "もういただいています" in group.tap("公開しないでほしい")[0]["text"]
    assert _case_state(database_url) == "consented"
    assert any("公開に同意しました" in t for t in _slack_notes(database_url))

    assert "公開" in coordinator.command("cases publish 3").json()["text"]
    found = visitor.command("cases みどりなくらし").json()["text"]
    assert "#3" in found
    assert "ありません" in visitor.command("cases 存在しないことば").json()["text"]
    # For anyone else `publish` is two search words, never a change.
    visitor.command("cases publish 3")
    assert scalar(database_url, "SELECT count(*) FROM audit_log WHERE action = 'case_publish'") == 3
    actors = query(
        database_url,
        "SELECT action, actor FROM audit_log WHERE subject_type = 'case' AND subject_id = 3 "
        "AND action IN ('case_changes_asked', 'case_consent_given') ORDER BY id",
    )
    assert [a for a, _ in actors] == ["case_changes_asked", "case_consent_given"]
    assert all(actor.startswith("group:") for _, actor in actors)

    coordinator.command("cases export")
    uploads = files_in_dm(fake_slack, COORDINATORS[0], 2)
    data = json.loads(next(u for u in uploads if u["name"] == "cases.json")["content"])
    assert 3 in [c["id"] for c in data["cases"]]
    site = next(u for u in uploads if u["name"].endswith(".zip"))
    with zipfile.ZipFile(io.BytesIO(site["content"])) as zf:
        assert "index.html" in zf.namelist() and "cases/3.html" in zf.namelist()


def test_cases_are_searched_in_line_with_pages(
    office: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    reader = LineUser(office, fake_line)
    published = int(scalar(database_url, "SELECT count(*) FROM cases WHERE status = 'published'"))
    assert published >= 1
    everything = reader.say("事例")
    assert everything[0]["type"] == "flex"
    assert "事例 1〜" in reader.text() and "事例 子育て 八王子" in reader.text()
    bubbles = everything[0]["contents"]
    shown = bubbles["contents"] if bubbles["type"] == "carousel" else [bubbles]
    assert len(shown) == min(published, 10)
    one = query(database_url, "SELECT id, title FROM cases WHERE status = 'published' LIMIT 1")
    case_id, title = one[0]
    reader.say(f"事例 {title}")
    assert f"#{case_id}" in reader.text() and title in reader.text()
    # Only published cases: a draft's title finds nothing.
    draft = scalar(database_url, "SELECT title FROM cases WHERE status = 'draft' LIMIT 1")
    reader.say(f"事例 {draft}")
    assert "に合う事例はまだありません" in reader.text()
    # English, and the menu's button.
    english = LineUser(office, fake_line, language="en")
    english.say("English")
    english.say("cases nothing-like-this")
    assert "No case matches" in english.text()
    english.send(le.postback(english.user_id, english.token(), Menu("cases").pack()))
    assert "Cases 1 to" in english.text()
    # A "more" button beyond the last case says so, politely.
    reader.send(le.postback(reader.user_id, reader.token(), CaseMore(500, "").pack()))
    assert "以上です" in reader.text()


def test_the_home_buttons_send_files_and_the_home_refreshes_on_change(
    office: AppServer, fake_slack: FakeSlackApi, database_url: str
) -> None:
    view = open_home(office, fake_slack, COORDINATORS[0])
    body = sr.home_block_actions(COORDINATORS[0], "home_export", view)
    assert person(office, fake_slack, COORDINATORS[0]).post(body).status_code == 200
    upload = files_in_dm(fake_slack, COORDINATORS[0], 1)[0]
    wb = load_workbook(io.BytesIO(upload["content"]), read_only=True)
    assert len(wb.sheetnames) == len(KINDS)
    wb.close()
    # Someone else pressing it (a forged click) is refused and gets nothing.
    other = sr.home_block_actions(OUTSIDER, "home_export", view)
    person(office, fake_slack, OUTSIDER).post(other)
    told = fake_slack.wait_for(
        lambda: (dm := fake_slack.dm_id(OUTSIDER)) and fake_slack.messages(dm), timeout=10
    )
    assert "コーディネーター" in told[-1]["text"]
    assert not fake_slack.files(fake_slack.dm_id(OUTSIDER))


def test_the_home_is_drawn_again_when_a_request_arrives(
    slack_app: AppServer, fake_slack: FakeSlackApi, fake_line: FakeLineApi
) -> None:
    """A coordinator who opened the Home sees a new request there without reopening it,
    with the card's own buttons; the click from the Home decides the request."""
    first = home_text(open_home(slack_app, fake_slack, COORDINATORS[0]))
    assert "対応待ちの相談はありません" in first
    submit_group_request(LineUser(slack_app, fake_line))
    fresh = fake_slack.wait_for(
        lambda: (
            (v := fake_slack.home_view(COORDINATORS[0]))
            and "project_accept"
            in {e.get("action_id") for b in v["blocks"] for e in b.get("elements") or []}
            and v
        ),
        timeout=20,
    )
    assert "受付の判断待ち" in home_text(fresh)
    body = sr.home_block_actions(COORDINATORS[0], "project_accept", fresh)
    assert person(slack_app, fake_slack, COORDINATORS[0]).post(body).status_code == 200
    decided = fake_slack.wait_for(
        lambda: (
            (v := fake_slack.home_view(COORDINATORS[0]))
            and "受付の判断待ち" not in home_text(v)
            and v
        ),
        timeout=20,
    )
    assert "プログラム事務局" in home_text(decided)


def form_values(view: dict[str, Any], **changed: str) -> dict[str, dict[str, Any]]:
    """What a coordinator submits: every input as the modal shows it, some changed."""
    values: dict[str, dict[str, Any]] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        key = block["block_id"].removeprefix("case_")
        element = block["element"]
        if element["type"] == "static_select":
            chosen = element.get("initial_option")
            values[block["block_id"]] = {
                "value": {"type": "static_select", "selected_option": chosen}
            }
        else:
            text = changed.get(key, element.get("initial_value", ""))
            values[block["block_id"]] = {"value": text}
    return values


def test_a_case_is_edited_in_its_form_then_published(
    office: AppServer, fake_slack: FakeSlackApi, database_url: str
) -> None:
    coordinator = person(office, fake_slack, COORDINATORS[0])
    assert "#3" in coordinator.command("cases edit 3").json()["text"]
    view = fake_slack.wait_for(lambda: fake_slack.views_opened() or None, timeout=10)[-1]
    assert view["callback_id"] == "case_edit"
    blocks = {b.get("block_id") for b in view["blocks"]}
    # Chiba's fields (最終更新日 moves by itself), and the year.
    fields = ("title", "area", "field", "partners", "background", "activities", "outcome")
    fields += ("period", "cost", "contact", "tips", "year")
    assert {f"case_{k}" for k in fields} <= blocks
    title = scalar(database_url, "SELECT title FROM cases WHERE id = 3")
    assert any(b.get("element", {}).get("initial_value") == title for b in view["blocks"])

    # Bad values: each is told under its own field, and nothing is saved.
    version = scalar(database_url, "SELECT version FROM cases WHERE id = 3")
    bad = form_values(view, year="1800", partners="名前だけ", title="")
    body = sr.view_submission(
        COORDINATORS[0], "case_edit", view["private_metadata"], bad, view=view
    )
    answer = coordinator.post(body).json()
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"case_year", "case_partners", "case_title"}
    assert "名前 / 種別" in answer["errors"]["case_partners"]
    assert scalar(database_url, "SELECT version FROM cases WHERE id = 3") == version

    good = form_values(view, outcome="チラシを2,000部配布し、譲渡会の来場者が倍になった。")
    body = sr.view_submission(
        COORDINATORS[0], "case_edit", view["private_metadata"], good, view=view
    )
    assert coordinator.post(body).status_code == 200
    assert fake_slack.wait_for(
        lambda: scalar(database_url, "SELECT version FROM cases WHERE id = 3") == version + 1,
        timeout=10,
    )
    outcome = scalar(database_url, "SELECT outcome FROM cases WHERE id = 3")
    assert outcome.startswith("チラシを2,000部配布")
    # The same form sent again is a stale copy now: refused, nothing overwritten.
    again = sr.view_submission(
        COORDINATORS[0], "case_edit", view["private_metadata"], form_values(view), view=view
    )
    stale = coordinator.post(again).json()
    assert stale["response_action"] == "errors"
    assert scalar(database_url, "SELECT outcome FROM cases WHERE id = 3") == outcome

    # Someone who is not a coordinator cannot save it (a forged submission).
    forged = sr.view_submission(OUTSIDER, "case_edit", view["private_metadata"], good, view=view)
    person(office, fake_slack, OUTSIDER).post(forged)
    assert scalar(database_url, "SELECT outcome FROM cases WHERE id = 3") == outcome
