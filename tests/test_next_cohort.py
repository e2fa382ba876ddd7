"""The next cohort (issue #13), through LINE and Slack: past volunteers and groups are
invited to a new programme's briefing session once, in their language; anyone opts out
in a word or a button and back in from their profile; coordinators see RSVPs for a
phase of any kind and record who attended in a Slack modal."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from bot.programmes.schedule import parse_programme
from bot.programmes.service import Programmes
from handlers.slack.views import ATTENDANCE_ACTION, ATTENDANCE_BLOCK, ATTENDANCE_PICK
from storage.base import utcnow
from tests import slack_requests as sr
from tests.fakes.line_api import FakeLineApi
from tests.fakes.slack_api import FakeSlackApi
from tests.support import COORDINATORS, AppServer, LineUser, SlackUser, query, said, scalar
from tests.test_cohort_e2e import ask_for_help, sign_up
from tests.test_cohort_lifecycle_e2e import SNS, TOKYO, WRITER, coordination, form_team
from tests.test_matching_flow import pushes_to
from tests.test_slack_coordination import CHANNEL
from tests.test_team_channels import run


@pytest.fixture
def app(slack_app: AppServer) -> AppServer:
    return slack_app


def import_programme(database_url: str, slug: str, name: str) -> dict[str, int]:
    """A programme with a briefing session and a kickoff (imported as the CLI does);
    returns the phase ids by key."""
    at = (utcnow() + timedelta(days=3)).astimezone(TOKYO).replace(tzinfo=None, microsecond=0)
    data = {
        "programme": {"name": name, "slug": slug},
        "phases": [
            {"key": "briefing", "kind": "briefing", "starts": at.isoformat(),
             "place": "川崎市役所", "announcements": []},
            {"key": "kickoff", "kind": "kickoff", "rsvp": True,
             "starts": (at + timedelta(days=20)).isoformat(), "announcements": []},
        ],
    }  # fmt: skip

    async def job(maker: Any) -> None:
        await Programmes(maker, coordination(maker), locale="ja").import_spec(
            parse_programme(data), actor="cli"
        )

    run(database_url, job)
    rows = query(
        database_url,
        "SELECT ph.key, ph.id FROM phases ph JOIN programmes p ON p.id = ph.programme_id "
        "WHERE p.slug = :s",
        s=slug,
    )
    return {key: int(pid) for key, pid in rows}


def invitations(fake_line: FakeLineApi, user: LineUser, name: str) -> list[dict[str, Any]]:
    return [m for m in pushes_to(fake_line, user.user_id) if name in said(m)]


def opted_out(database_url: str, name: str) -> bool:
    value = scalar(
        database_url, "SELECT next_cohort_opt_out FROM volunteers WHERE display_name = :n", n=name
    )
    return bool(value)


def attendance_of(database_url: str, phase_id: int) -> dict[str, str]:
    rows = query(
        database_url,
        "SELECT v.display_name, a.state FROM attendance a JOIN volunteers v "
        "ON a.person_type = 'volunteer' AND v.id = a.person_id WHERE a.phase_id = :p",
        p=phase_id,
    )
    return {name: state for name, state in rows}


def command_blocks(coord: SlackUser, text: str) -> tuple[str, list[dict[str, Any]]]:
    """The ephemeral answer to `/tsunagu TEXT` (Slack shows it from the HTTP response)."""
    response = coord.command(text)
    assert response.status_code == 200, response.text
    body = json.loads(response.text)
    return str(body.get("text", "")), list(body.get("blocks") or [])


def test_past_volunteers_are_invited_once_opt_out_and_back_in_and_attendance_is_recorded(
    app: AppServer, fake_line: FakeLineApi, fake_slack: FakeSlackApi, database_url: str
) -> None:
    people = {v[0]: sign_up(app, fake_line, *v) for v in (SNS, WRITER)}
    group = ask_for_help(app, fake_line, "みなと子ども食堂", "SNS活用")
    project = form_team(app, fake_line, fake_slack, database_url, group, "みなと子ども食堂", people)
    sns, writer = people[SNS[0]], people[WRITER[0]]
    newcomer = sign_up(app, fake_line, "山田 花", "川崎市", ["SNS運用"], "どちらでも")

    phases = import_programme(database_url, "next2027", "さくら共助 2027")
    for person in (sns, writer, group):
        fake_line.wait_for(
            lambda p=person: invitations(fake_line, p, "さくら共助 2027"), timeout=15
        )
    # Only people of an earlier cohort: a volunteer who never served is not invited.
    assert not invitations(fake_line, newcomer, "さくら共助 2027")
    card = invitations(fake_line, sns, "さくら共助 2027")[0]
    assert card["type"] == "flex" and "説明会" in json.dumps(card, ensure_ascii=False)

    # The volunteer says yes; the writer opts out with the button, then again in words.
    sns.last = [card]
    sns.tap("参加する")
    assert "参加を受け付けました" in sns.text()
    writer.last = invitations(fake_line, writer, "さくら共助 2027")[-1:]
    writer.tap("次回の案内を停止")
    assert "お送りしません" in writer.text()
    assert opted_out(database_url, WRITER[0])
    writer.say("次回不要")
    assert "すでに" in writer.text()
    writer.sticker()  # anything else: the conversation is where it was
    assert opted_out(database_url, WRITER[0])
    assert attendance_of(database_url, phases["briefing"]) == {
        SNS[0]: "rsvp_yes",
        WRITER[0]: "invited",
    }

    # Coordinators read the RSVPs and record who attended in a modal.
    coord = SlackUser(app, fake_slack, COORDINATORS[0], CHANNEL)
    text, blocks = command_blocks(coord, f"attendance {phases['briefing']}")
    assert "✅ 1 参加予定: 佐々木 蓮" in text and "案内済み・未回答" in text
    button = next(e for b in blocks if b["type"] == "actions" for e in b["elements"])
    assert button["action_id"] == ATTENDANCE_ACTION
    click = sr.block_actions(
        COORDINATORS[0], ATTENDANCE_ACTION, button["value"], fake_slack.channel_id(CHANNEL),
        sr.new_ts(),
    )  # fmt: skip
    assert coord.post(click).status_code == 200
    modal = fake_slack.wait_for(lambda: fake_slack.views_opened(), timeout=10)[-1]
    options = modal["blocks"][1]["element"]["options"]
    by_name = {o["text"]["text"]: o for o in options}
    assert SNS[0] in by_name and WRITER[0] in by_name
    submitted = sr.view_submission(
        COORDINATORS[0],
        modal["callback_id"],
        modal["private_metadata"],
        {ATTENDANCE_BLOCK: {ATTENDANCE_PICK: {
            "type": "multi_static_select", "selected_options": [by_name[SNS[0]]]}}},
        view=modal,
    )  # fmt: skip
    assert coord.post(submitted).status_code == 200
    fake_slack.wait_for(
        lambda: [e for e in fake_slack.ephemerals(COORDINATORS[0]) if "出席 1 名" in e["text"]],
        timeout=10,
    )
    assert attendance_of(database_url, phases["briefing"]) == {
        SNS[0]: "attended",
        WRITER[0]: "absent",
    }
    assert (
        scalar(database_url, "SELECT count(*) FROM audit_log WHERE action = 'attendance_recorded'")
        == 1
    )
    # A kickoff too: once the team is in the programme, its members are on the sheet
    # before anyone answered.
    text, _ = command_blocks(coord, f"assign {project} next2027")
    assert "next2027" in text or "さくら共助 2027" in text, text
    text, _ = command_blocks(coord, f"attendance {phases['kickoff']}")
    assert "チーム（未回答）" in text and SNS[0] in text

    # The next programme: the writer (opted out) is not invited, the others are, once.
    import_programme(database_url, "next2028", "さくら共助 2028")
    fake_line.wait_for(lambda: invitations(fake_line, sns, "さくら共助 2028"), timeout=15)
    fake_line.wait_for(lambda: invitations(fake_line, group, "さくら共助 2028"), timeout=15)
    import_programme(database_url, "next2028", "さくら共助 2028")  # re-imported: no repeat
    app.settle()
    assert len(invitations(fake_line, sns, "さくら共助 2028")) == 1
    assert not invitations(fake_line, writer, "さくら共助 2028")

    # Back in from the profile.
    writer.say("プロフィール")
    assert "次の期のご案内: 停止中" in writer.text()
    writer.tap("案内を再開")
    assert "お送りします" in writer.text()
    assert not opted_out(database_url, WRITER[0])
    assert fake_line.errors == [] and fake_slack.errors == []


def test_an_english_speaker_opts_out_in_words_and_a_stranger_is_told_politely(
    app: AppServer, fake_line: FakeLineApi
) -> None:
    volunteer = sign_up(app, fake_line, *SNS)
    volunteer.say("English")
    volunteer.say("no more invitations")
    assert "won't invite you to future programme cohorts" in volunteer.text()
    volunteer.say("opt out")
    assert "already opted out" in volunteer.text()
    volunteer.say("profile")
    assert "Next cohort's invitations: off" in volunteer.text()
    volunteer.say("invite me again")
    assert "invite you to the next cohort" in volunteer.text()
    stranger = LineUser(app, fake_line)
    stranger.follow()
    stranger.say("次回不要")
    assert "ボランティアや団体として参加された方" in stranger.text()


def test_rsvps_given_before_attendance_existed_are_kept_on_upgrade(database_url: str) -> None:
    """Migration 0021: a volunteer's briefing RSVP becomes their attendance row; a
    follower's (nobody signed up) stays an RSVP; outbox rows have no expiry."""
    from sqlalchemy import create_engine, text

    from storage.db import sync_url
    from storage.migrate import downgrade, upgrade

    at = "'2026-01-01 00:00:00+00:00'"
    downgrade(database_url, "0017")
    engine = create_engine(sync_url(database_url))
    try:
        with engine.begin() as conn:
            for sql in (
                "INSERT INTO volunteers (id, channel, user_key, locale, display_name, area,"
                " occupation, experience_years, hours_per_week, availability, mode, interests,"
                " languages, status, consent_version, consented_at, created_at, updated_at)"
                " VALUES (901, 'line', 'U-old', 'ja', 'Old Timer', '川崎市', 'employee', 3, 2,"
                f" '[]', 'either', '[]', '[]', 'active', '1', {at}, {at}, {at})",
                "INSERT INTO programmes (id, name, slug, timezone, menus, targets, version,"
                f" created_at, updated_at) VALUES (901, 'Old', 'old', 'Asia/Tokyo', '[]', '{{}}',"
                f" 1, {at}, {at})",
                "INSERT INTO phases (id, programme_id, key, kind, title_ja, title_en, starts_at,"
                " rsvp, created_at, updated_at) VALUES (901, 901, 'briefing', 'briefing', '説明会',"
                f" 'Briefing', {at}, true, {at}, {at})",
                "INSERT INTO rsvps (phase_id, channel, user_key, answer, answered_at)"
                f" VALUES (901, 'line', 'U-old', 'yes', {at})",
                "INSERT INTO rsvps (phase_id, channel, user_key, answer, answered_at)"
                f" VALUES (901, 'line', 'U-follower', 'no', {at})",
                "INSERT INTO outbox (channel, kind, target, payload, key, status, attempts,"
                f" due_at, created_at) VALUES ('line', 'push', 'U-old', '{{}}', 'old-row',"
                f" 'pending', 0, {at}, {at})",
            ):
                conn.execute(text(sql))
    finally:
        engine.dispose()
    upgrade(database_url)
    rows = query(database_url, "SELECT person_type, person_id, state FROM attendance")
    assert [tuple(r) for r in rows] == [("volunteer", 901, "rsvp_yes")]
    assert scalar(database_url, "SELECT count(*) FROM rsvps") == 2
    assert scalar(database_url, "SELECT expires_at FROM outbox WHERE key = 'old-row'") is None
