"""退会 leaves nothing behind: no personal string in any table (SQLite and PostgreSQL) nor
in the SQLite file's bytes (main file and WAL), through the real app over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect

from storage.db import is_sqlite, sync_url
from tests import line_events as le
from tests.fakes.line_api import FakeLineApi
from tests.support import AppServer, LineUser, query

NAME, AREA = "山田 花子", "川崎市 中原区"
PHONE, EMAIL = "090-1234-5678", "hanako.yamada@example.jp"
OTHER_SKILL = f"料理教室の運営 電話 {PHONE} メール {EMAIL}"


def forms(secret: str) -> list[str]:
    """The ways a string can be stored: as it is, and escaped inside JSON text."""
    return list(dict.fromkeys([secret, json.dumps(secret)[1:-1]]))


def table_leaks(database_url: str, secrets: list[str]) -> list[tuple[str, str]]:
    """(table, secret) for every secret found in any column of any table."""
    engine = create_engine(sync_url(database_url))
    try:
        tables = inspect(engine).get_table_names()
    finally:
        engine.dispose()
    found = []
    for table in tables:
        rows = query(database_url, f"SELECT * FROM {table}")
        dump = "\n".join(repr(tuple(row)) for row in rows)
        found += [(table, s) for s in secrets if any(f in dump for f in forms(s))]
    return found


def file_leaks(database_url: str, secrets: list[str]) -> list[tuple[str, str]]:
    """(file, secret) for every secret in the SQLite file's bytes or its WAL's."""
    path = Path(sync_url(database_url).database or "")
    found = []
    for file in (path, path.with_name(path.name + "-wal")):
        data = file.read_bytes() if file.exists() else b""
        found += [
            (file.name, s) for s in secrets if any(f.encode("utf-8") in data for f in forms(s))
        ]
    return found


def app_pragma(database_url: str, name: str) -> Any:
    """A PRAGMA's value on a connection made the way the app makes them."""
    import asyncio

    from sqlalchemy import text

    from storage.db import make_engine

    async def read() -> Any:
        engine = make_engine(database_url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(f"PRAGMA {name}"))).scalar()
        finally:
            await engine.dispose()

    return asyncio.run(read())


def sign_up_with_contact_details(user: LineUser, fake: FakeLineApi) -> None:
    """A sign-up whose summary reply fails and falls back to a push through the outbox."""
    user.follow()
    user.tap("ボランティアとして登録")
    user.say(NAME)
    user.say(AREA)
    user.pick_all("会計・経理", "その他")
    assert "その他" in user.text()
    user.say(OTHER_SKILL)
    user.tap("会社員")
    user.tap("スキップ")  # employer
    user.tap("スキップ")  # age band
    user.say("10年")
    user.tap("5時間")
    user.pick_all("土日祝")
    user.tap("どちらでも")
    user.pick_all("環境")
    user.tap("共有しない")  # contact sharing (#13)
    assert "個人情報" in user.text()
    # LINE answers 500 to the reply carrying the summary: it goes out as a push.
    fake.fail_next(1, 500, path_prefix="/v2/bot/message/reply")
    consent = next(i for i in user.quick_replies() if i["action"]["label"] == "同意する")
    user.send(le.postback(user.user_id, user.token(), consent["action"]["data"]), wait=False)
    pushed = fake.wait_for(
        lambda: [m for b in fake.pushes if b["to"] == user.user_id for m in b["messages"]] or None,
        timeout=10,
    )
    user.last = pushed
    assert NAME in user.text() and PHONE in user.text()
    # Until the push is recorded as sent, the person's next answers go as pushes too (to
    # keep their order); on a loaded machine that record can come after the push itself.
    user.app.settle()
    user.tap("この内容で保存")
    assert "登録" in user.text()


def sign_up_other(user: LineUser) -> None:
    user.follow()
    user.tap("ボランティアとして登録")
    user.say("鈴木 次郎")
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
    user.tap("この内容で保存")


HOURS_NOTE = "山田さんの個人的な作業メモ"
FEEDBACK_WORDS = "山田さんの率直な感想"


def add_lifecycle_records(database_url: str, user_key: str) -> int:
    """The volunteer's hours (with a note), feedback and attendance on a project; returns
    the project's id."""
    from datetime import date

    from sqlalchemy.orm import Session

    from storage.base import utcnow
    from storage.models import (
        Attendance,
        Feedback,
        HoursEntry,
        Organization,
        Phase,
        Programme,
        Project,
        Volunteer,
    )

    engine = create_engine(sync_url(database_url))
    try:
        with Session(engine) as session, session.begin():
            volunteer = session.query(Volunteer).filter_by(user_key=user_key).one()
            org = Organization(
                channel="line",
                user_key="U" + "e" * 32,
                locale="ja",
                name="記録用の団体",
                kind="npo",
                fields=[],
                area="川崎市",
                activity="-",
                contact_name="-",
                contact_role="-",
                consent_version="1",
                consented_at=utcnow(),
            )
            programme = Programme(name="2026", slug="c2026")
            session.add_all([org, programme])
            session.flush()
            project = Project(
                organization_id=org.id,
                status="completed",
                challenge="-",
                menus=[],
                period="within_3m",
                mode="either",
            )
            phase = Phase(
                programme_id=programme.id,
                key="kickoff",
                kind="kickoff",
                title_ja="キックオフ",
                title_en="Kickoff",
                starts_at=utcnow(),
            )
            session.add_all([project, phase])
            session.flush()
            session.add_all(
                [
                    HoursEntry(
                        project_id=project.id,
                        volunteer_id=volunteer.id,
                        day=date(2026, 11, 1),
                        minutes=120,
                        note=HOURS_NOTE,
                    ),
                    Feedback(
                        project_id=project.id,
                        author_type="volunteer",
                        author_id=volunteer.id,
                        score=5,
                        words=FEEDBACK_WORDS,
                        publish="named",
                    ),
                    Attendance(
                        phase_id=phase.id,
                        person_type="volunteer",
                        person_id=volunteer.id,
                        state="attended",
                    ),
                ]
            )
            return int(project.id)
    finally:
        engine.dispose()


def test_deletion_leaves_no_personal_string_in_tables_or_file_bytes(
    app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    other = LineUser(app, fake_line)
    sign_up_other(other)
    user = LineUser(app, fake_line)
    sign_up_with_contact_details(user, fake_line)
    project_id = add_lifecycle_records(database_url, user.user_id)
    secrets = [user.user_id, NAME, AREA, PHONE, EMAIL, "料理教室の運営", HOURS_NOTE]
    secrets.append(FEEDBACK_WORDS)
    # The fallback push held the person's id, name, phone and e-mail until it was sent: a
    # sent reply keeps neither its text nor its recipient.
    outbox: list[Any] = query(database_url, "SELECT target, payload FROM outbox")
    assert not any(row[0] == user.user_id and PHONE in str(row[1]) for row in outbox)
    assert table_leaks(database_url, secrets)  # they are there before (the profile)

    user.say("退会")
    # LINE refuses the answer's reply token: it goes as a push, which keeps no LINE id (or
    # anything else of theirs) once sent.
    fake_line.fail_next(1, 500, path_prefix="/v2/bot/message/reply")
    confirm = next(i for i in user.quick_replies() if i["action"]["label"] == "削除する")
    user.send(le.postback(user.user_id, user.token(), confirm["action"]["data"]), wait=False)
    fake_line.wait_for(
        lambda: (
            [
                m
                for b in fake_line.pushes
                if b["to"] == user.user_id
                for m in b["messages"]
                if "すべて削除しました" in m.get("text", "")
            ]
            or None
        ),
        timeout=10,
    )
    assert fake_line.wait_for(lambda: not table_leaks(database_url, secrets) or None, timeout=10)
    if is_sqlite(database_url):
        fake_line.wait_for(lambda: not file_leaks(database_url, secrets) or None, timeout=10)
        assert file_leaks(database_url, secrets) == []
        # Deleted rows are zeroed whatever SQLite's compiled-in default (Debian's is on).
        assert app_pragma(database_url, "secure_delete") == 1
    # Their hours stay in the project's total without them; feedback and attendance go.
    hours = query(database_url, "SELECT project_id, volunteer_id, minutes, note FROM hours_entries")
    assert hours == [(project_id, None, 120, None)]
    assert query(database_url, "SELECT id FROM feedback") == []
    assert query(database_url, "SELECT id FROM attendance") == []
    # The other volunteer is untouched, and the app carries on (as with someone new).
    assert query(database_url, "SELECT display_name FROM volunteers") == [("鈴木 次郎",)]
    user.say("こんにちは")
    assert "友だち追加ありがとうございます" in user.text()


def test_a_group_contact_who_leaves_is_blanked_in_cards_and_messages(
    slack_app: AppServer, fake_line: FakeLineApi, database_url: str
) -> None:
    from tests.support import submit_group_request

    group = LineUser(slack_app, fake_line)
    submit_group_request(group)
    secrets = [group.user_id, "佐藤 一郎"]
    assert table_leaks(database_url, secrets)  # the card to Slack names the contact
    group.say("退会")
    group.tap("削除する")
    assert fake_line.wait_for(lambda: not table_leaks(database_url, secrets) or None, timeout=10)
    if is_sqlite(database_url):
        fake_line.wait_for(lambda: not file_leaks(database_url, secrets) or None, timeout=10)
    # The group's request stays on record for the programme office.
    assert query(database_url, "SELECT name FROM organizations") == [("こども未来塾",)]
