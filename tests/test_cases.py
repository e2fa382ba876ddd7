"""The case catalogue: a draft from a project (and from the lifecycle's inputs), checked
edits, the group's consent and publishing (one winner when two act at once), the folded
Japanese search on SQLite and PostgreSQL, and `tsunagu cases export|search` with the site
parsed and cases.json checked against the database and its schema."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bot.office.case_site import JSON_SCHEMA
from bot.office.cases import (
    Agreement,
    CaseError,
    Cases,
    Delivery,
    PublishedFeedback,
    draft_from,
    fold_search,
    load_source,
    search_words,
)
from handlers.cli import main as cli
from storage.db import make_engine, make_sessionmaker
from tests.support import query, scalar


@pytest.fixture
def demo(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TSUNAGU_SANDBOX_DATABASE_URL", database_url)
    monkeypatch.setenv("TSUNAGU_SANDBOX", "on")
    assert cli(["demo"]) == 0
    yield database_url


def _run(database_url: str, work: Any) -> Any:
    async def go() -> Any:
        eng = make_engine(database_url)
        try:
            return await work(Cases(make_sessionmaker(eng)), make_sessionmaker(eng))
        finally:
            await eng.dispose()

    return asyncio.run(go())


def test_fold_search_meets_kana_width_and_case() -> None:
    assert fold_search("チラシ・ポスター") == fold_search("ちらし・ぽすたー")
    assert fold_search("ﾁﾗｼ　Ｐｏｓｔｅｒ") == "ちらしposter"
    assert search_words("子育て　八王子 ") == ["子育て", "八王子"]


def test_the_demo_has_published_cases_and_a_draft(demo: str) -> None:
    rows = query(demo, "SELECT status, year, field, project_id FROM cases ORDER BY id")
    assert [r[0] for r in rows] == ["published", "published", "draft"]
    assert {r[1] for r in rows} == {2017}
    audit = query(
        demo, "SELECT action FROM audit_log WHERE subject_type = 'case' AND subject_id = 1"
    )
    assert [a[0] for a in audit] == [
        "case_draft",
        "case_edit",
        "case_ask_consent",
        "case_consent_given",
        "case_publish",
    ]


def test_a_draft_from_a_project_and_the_lifecycle_inputs(demo: str) -> None:
    project = int(scalar(demo, "SELECT max(id) FROM projects"))

    async def work(cases: Cases, maker: Any) -> Any:
        async with maker() as s:
            source = await load_source(s, project, "Asia/Tokyo")
        plain = draft_from(source)
        enriched = draft_from(
            source.__class__(
                **{
                    **source.__dict__,
                    "agreement": Agreement("会員名簿の整理", scope="名簿と会費", ends_on=None),
                    "delivery": Delivery("名簿テンプレートを納品"),
                    "feedback": (PublishedFeedback("とても助かりました", None, 5),),
                }
            )
        )
        case_id = await cases.draft(project, "U-coordinator")
        with pytest.raises(CaseError) as again:
            await cases.draft(project, "U-coordinator")
        return source, plain, enriched, case_id, again.value

    source, plain, enriched, case_id, again = _run(demo, work)
    group, challenge = query(
        demo,
        "SELECT o.name, p.challenge FROM projects p JOIN organizations o "
        "ON o.id = p.organization_id WHERE p.id = :p",
        p=project,
    )[0]
    assert source.group == group and plain.title.startswith(group)
    assert challenge in plain.texts["background"]
    assert plain.field == "children" and plain.partners[1]["kind"] == "probono"
    assert "成果物：会員名簿の整理" in enriched.texts["outcome"]
    assert "納品：名簿テンプレートを納品" in enriched.texts["outcome"]
    assert "「とても助かりました」（匿名）" in enriched.texts["outcome"]
    assert "取り組みの範囲：名簿と会費" in enriched.texts["activities"]
    assert f"#{project}" in again.text("ja") and f"case #{case_id}" in again.text("en")
    row = query(demo, "SELECT status, title, created_by FROM cases WHERE id = :i", i=case_id)[0]
    assert row == ("draft", plain.title, "U-coordinator")


def test_edits_are_checked_and_polite_in_both_languages(demo: str) -> None:
    async def work(cases: Cases, _maker: Any) -> Any:
        errors = []
        for changes in (
            {"title": "  "},
            {"outcome": "あ" * 2001},
            {"field": "宇宙"},
            {"year": "昔"},
            {"partners": [{"name": "川崎市", "kind": "宇宙人"}]},
            {"colour": "red"},
        ):
            with pytest.raises(CaseError) as caught:
                await cases.edit(3, changes, "U-coordinator")
            errors.append(caught.value.text)
        case = await cases.edit(
            3,
            {
                "title": "ＦＡＱ　みどりなくらし",
                "field": "環境",
                "year": "2018",
                "partners": [{"name": "川崎市", "kind": "行政"}],
                "en": {"title": "Midori na kurashi: legal check"},
                "area": "八王子市",
            },
            "U-coordinator",
            version=1,
        )
        with pytest.raises(CaseError) as stale:
            await cases.edit(3, {"tips": "x"}, "U-coordinator", version=1)
        return errors, case, stale.value.text

    errors, case, stale = _run(demo, work)
    assert "事例名を入力してください" in errors[0].ja and "Title" in errors[0].en
    assert "2000文字以内" in errors[1].ja and "(that was 2001)" in errors[1].en
    assert "活動分野は次から" in errors[2].ja and "choose the field" in errors[2].en
    assert "2000〜2100" in errors[3].ja and "2000 to 2100" in errors[3].en
    assert "協働パートナー" in errors[4].ja and "partners" in errors[4].en
    assert "colour" in errors[5].en
    assert (case.title, case.field, case.year, case.area_key) == (
        "FAQ みどりなくらし",
        "environment",
        2018,
        "八王子市",
    )
    assert case.partners == [{"name": "川崎市", "kind": "government"}]
    assert "他の人が更新しました" in stale.ja and "Someone else" in stale.en
    # Nothing changed by the refused edits.
    assert scalar(demo, "SELECT version FROM cases WHERE id = 3") == 2


def test_consent_then_publish_one_winner_and_refusals(demo: str) -> None:
    async def work(cases: Cases, _maker: Any) -> Any:
        with pytest.raises(CaseError) as early:
            await cases.publish(3, "U-coordinator")
        await cases.ask_consent(3, "U-coordinator")
        await cases.consent(3, True, "group:3")
        outcomes = await asyncio.gather(
            cases.publish(3, "U-a"), cases.publish(3, "U-b"), return_exceptions=True
        )
        hidden = await cases.search("みどりなくらし")
        await cases.withdraw(3, "U-coordinator")
        gone = await cases.search("みどりなくらし")
        return early.value.text, outcomes, hidden, gone

    early, outcomes, hidden, gone = _run(demo, work)
    assert "下書き" in early.ja and "Draft" in early.en
    assert sorted(type(o).__name__ for o in outcomes) == ["CaseError", "str"]
    assert [c.id for c in hidden] == [3]
    assert gone == []
    assert scalar(demo, "SELECT count(*) FROM audit_log WHERE action = 'case_publish'") == 3


def test_search_by_words_and_filters_published_only_unless_drafts(demo: str) -> None:
    async def work(cases: Cases, _maker: Any) -> Any:
        found = {}
        for text, filters in (
            ("", {}),
            ("", {"drafts": True}),
            ("子育て", {}),
            ("こども ワークショップ", {}),
            ("ﾁﾗｼ", {}),
            ("譲渡会", {}),
            ("Flyer", {}),
            ("法律", {}),
            ("法律", {"drafts": True}),
            ("", {"field": "animals"}),
            ("", {"field": "動物"}),
            ("", {"area": "川崎市"}),
            ("", {"area": "八王子"}),
            ("", {"year": 2017}),
            ("", {"year": 2018}),
            ("100%", {}),
            ("_", {}),
        ):
            found[(text, tuple(filters.items()))] = [
                c.id for c in await cases.search(text, **filters)
            ]
        return found

    found = _run(demo, work)
    assert found[("", ())] == [2, 1]
    assert found[("", (("drafts", True),))] == [3, 2, 1]
    assert found[("子育て", ())] == [1]  # 子育て finds children's welfare cases
    assert found[("こども ワークショップ", ())] == [1]
    assert found[("ﾁﾗｼ", ())] == [2]  # half-width katakana meets チラシ
    assert found[("譲渡会", ())] == [2]
    assert found[("Flyer", ())] == [2]  # English text is searchable too
    assert found[("法律", ())] == []
    assert found[("法律", (("drafts", True),))] == [3]
    assert found[("", (("field", "animals"),))] == found[("", (("field", "動物"),))] == [2]
    assert found[("", (("area", "川崎市"),))] == [2, 1]
    assert found[("", (("area", "八王子"),))] == []
    assert found[("", (("year", 2017),))] == [2, 1]
    assert found[("", (("year", 2018),))] == []
    assert found[("100%", ())] == found[("_", ())] == []


class _Page(HTMLParser):
    """Text, links and list items with their data attributes, from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.items: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(str(dict(attrs)["href"]))
        if tag == "li":
            self.items.append(dict(attrs))
        if tag == "script":
            self.scripts += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_cli_exports_the_site_and_json_of_published_cases(demo: str, tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    from storage.db import sync_url

    eng = create_engine(sync_url(demo))
    with eng.begin() as conn:  # a hostile title must come out escaped
        conn.execute(text("UPDATE cases SET title = '<script>alert(1)</script> & co' WHERE id = 2"))
    eng.dispose()
    out = tmp_path / "site"
    assert cli(["cases", "export", "--out", str(out)]) == 0
    index = _parse(out / "index.html")
    assert index.links == ["cases/2.html", "cases/1.html"]
    assert [(i["data-field"], i["data-year"]) for i in index.items] == [
        ("animals", "2017"),
        ("children", "2017"),
    ]
    assert index.scripts == 1  # only the page's own filter script
    assert "<script>alert(1)</script> & co" in "".join(index.text)
    assert "協働事例集 / Collaboration cases" in "".join(index.text)
    page = _parse(out / "cases" / "1.html")
    words = "".join(page.text)
    for label in ("事例名 / Title", "コラボのコツ / Points that made it work", "最終更新日"):
        assert label in words
    assert page.links == ["../index.html"]

    data = json.loads((out / "cases.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, JSON_SCHEMA)
    db = query(
        demo,
        "SELECT id, title, area, field, year, outcome, tips FROM cases "
        "WHERE status = 'published' ORDER BY id DESC",
    )
    assert [
        (c["id"], c["title"]["ja"], c["area"], c["field"]["key"], c["year"], c["outcome"]["ja"])
        for c in data["cases"]
    ] == [row[:6] for row in db]
    assert data["cases"][1]["tips"]["ja"] == db[1][6]
    assert data["cases"][0]["field"]["ja"] == "動物"
    assert not (out / "cases" / "3.html").exists()

    # Withdrawn cases leave the site on the next export.
    eng = create_engine(sync_url(demo))
    with eng.begin() as conn:
        conn.execute(text("UPDATE cases SET status = 'withdrawn' WHERE id = 2"))
    eng.dispose()
    assert cli(["cases", "export", "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "cases").iterdir()) == ["1.html"]


def test_cli_search_in_both_languages(demo: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli(["cases", "search", "子育て", "川崎"]) == 0
    assert capsys.readouterr().out.startswith("#1 こども未来塾")
    assert cli(["cases", "search", "譲渡会", "--lang", "en"]) == 0
    assert "(川崎市多摩区, Animals, 2017)" in capsys.readouterr().out
    assert cli(["cases", "search", "宇宙"]) == 0
    assert "該当する事例はありません" in capsys.readouterr().out
    assert cli(["cases", "search", "--field", "宇宙", "--lang", "en"]) == 1
    assert "choose the field" in capsys.readouterr().err
    assert cli(["cases", "search", "--drafts"]) == 0
    assert "[下書き]" in capsys.readouterr().out


def _pushes_to_group(database_url: str, case_id: int) -> list[str]:
    """The texts queued in LINE for the group behind a case (the consent cards)."""
    rows = query(
        database_url,
        "SELECT b.payload FROM outbox b JOIN organizations o ON o.user_key = b.target "
        "JOIN projects p ON p.organization_id = o.id JOIN cases c ON c.project_id = p.id "
        f"WHERE c.id = {case_id} AND b.kind = 'push'",
    )
    payloads = [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]
    return [m["text"] for p in payloads for m in p["replies"]]


def test_an_edit_after_the_groups_yes_asks_it_again_and_hides_the_case(demo: str) -> None:
    async def work(cases: Cases, _maker: Any) -> Any:
        await cases.ask_consent(3, "U-coordinator")
        await cases.consent(3, True, "group:3")
        await cases.publish(3, "U-coordinator")
        before = [c.id for c in await cases.search("みどりなくらし")]
        typo = await cases.edit(3, {"tips": "こまめに相談したこと"}, "U-coordinator")
        after = [c.id for c in await cases.search("みどりなくらし")]
        return before, typo.status, after

    before, state, after = _run(demo, work)
    assert before == [3] and state == "consent_asked" and after == []
    texts = [t for t in _pushes_to_group(demo, 3) if "事例集で紹介" in t]
    assert len(texts) == 2  # the first card, and the card again after the edit
    assert "事例集で紹介させていただけませんか" in texts[0] and "更新しました" in texts[1]
    actions = query(
        demo,
        "SELECT action FROM audit_log WHERE subject_type = 'case' AND subject_id = 3 "
        "AND action IN ('case_edit', 'case_reask') ORDER BY id",
    )
    assert [a for (a,) in actions][-2:] == ["case_edit", "case_reask"]


def test_a_group_that_cannot_be_asked_in_line_is_said_so_and_consent_is_recorded(
    demo: str,
) -> None:
    async def work(cases: Cases, _maker: Any) -> Any:
        from sqlalchemy import text

        async with _maker.begin() as s:
            await s.execute(
                text(
                    "UPDATE organizations SET user_key = 'deleted:x' WHERE id = "
                    "(SELECT p.organization_id FROM projects p JOIN cases c "
                    "ON c.project_id = p.id WHERE c.id = 3)"
                )
            )
        with pytest.raises(CaseError) as refused:
            await cases.ask_consent(3, "U-coordinator")
        state = await cases.record_consent(3, "U-coordinator")
        return refused.value.text, state

    refused, state = _run(demo, work)
    assert "LINE でお聞きできません" in refused.ja and "consented" in refused.en
    assert state == "consented"
    assert not [t for t in _pushes_to_group(demo, 3) if "事例集で紹介" in t]
    assert scalar(demo, "SELECT status FROM cases WHERE id = 3") == "consented"
