"""The programme calendar against a real database, with a fixed clock: import, date
changes, deletion, firing exactly once, the grace window, catch-up, and the lease that
decides which process runs the scheduler. Job functions are called directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.coordination import Coordination
from bot.programmes.schedule import parse_programme
from bot.programmes.scheduler import Scheduler
from bot.programmes.service import Programmes, phase_spec
from storage.db import make_engine, make_sessionmaker
from storage.models import (
    Announcement,
    AuditEntry,
    Conversation,
    Organization,
    OutboxMessage,
    Phase,
    Project,
    Rsvp,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "kawasaki-2017.yaml"
COORD = "C0COORD001"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Rig:
    maker: async_sessionmaker[AsyncSession]
    programmes: Programmes
    clock: Clock

    async def announcement(self, phase_key: str, key: str) -> Announcement:
        async with self.maker() as session:
            row = (
                await session.execute(
                    select(Announcement)
                    .join(Phase)
                    .where(Phase.key == phase_key, Announcement.key == key)
                )
            ).scalar_one()
            return row

    async def outbox(self) -> list[OutboxMessage]:
        async with self.maker() as session:
            return list(
                (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars()
            )

    async def follower(self, user_key: str, locale: str = "ja") -> None:
        async with self.maker.begin() as session:
            session.add(Conversation(channel="line", user_key=user_key, locale=locale, state={}))


@pytest.fixture
async def rig(database_url: str) -> AsyncIterator[Rig]:
    engine = make_engine(database_url)
    maker = make_sessionmaker(engine)
    clock = Clock(datetime(2026, 11, 1, 0, 0, tzinfo=UTC))
    coordination = Coordination(
        maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel=COORD, clock=clock
    )
    programmes = Programmes(maker, coordination, locale="ja", clock=clock)
    try:
        yield Rig(maker, programmes, clock)
    finally:
        await engine.dispose()


def kawasaki(shift_to: str = "2026-12-01") -> Any:
    from datetime import date

    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return parse_programme(data, shift_to=date.fromisoformat(shift_to))


def tokyo(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo("Asia/Tokyo"))


async def test_import_schedules_every_announcement_at_its_local_time(rig: Rig) -> None:
    result = await rig.programmes.import_spec(kawasaki(), actor="test")
    assert (result.added, result.updated, result.cancelled) == (9, 0, 0)
    # 17, and the groups' notices a week before the kickoff and the presentation (#13).
    assert result.scheduled == 19
    # Briefing 1 starts 2026-12-01 14:00 Tokyo; its invitation is 10 days before at 10:00.
    invite = await rig.announcement("briefing-1", "invite")
    assert invite.send_at == tokyo(2026, 11, 21, 10, 0)
    reminder = await rig.announcement("briefing-1", "reminder")
    assert reminder.send_at == tokyo(2026, 11, 30, 18, 0)
    # Kickoff is 98 days after the first briefing (30 Sept vs 24 June 2017).
    kickoff = await rig.announcement("kickoff", "start")
    assert kickoff.send_at == tokyo(2027, 3, 9, 13, 0)
    # Importing the same file again changes nothing and duplicates nothing.
    again = await rig.programmes.import_spec(kawasaki(), actor="test")
    assert (again.added, again.updated, again.rescheduled) == (0, 9, [])
    async with rig.maker() as session:
        assert await session.scalar(select(func.count()).select_from(Announcement)) == 19
        audit = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "programme_import")
        )
        assert audit == 2


async def test_changing_a_phase_date_reschedules_its_announcements(rig: Rig) -> None:
    await rig.programmes.import_spec(kawasaki(), actor="test")
    before = await rig.announcement("kickoff", "day-before")
    moved = kawasaki()
    moved = moved.__class__(
        **{
            **moved.__dict__,
            "phases": tuple(
                p.__class__(**{**p.__dict__, "starts": p.starts + timedelta(days=7)})
                if p.key == "kickoff"
                else p
                for p in moved.phases
            ),
        }
    )
    result = await rig.programmes.import_spec(moved, actor="test")
    after = await rig.announcement("kickoff", "day-before")
    assert after.id == before.id
    assert after.send_at == before.send_at + timedelta(days=7)
    assert after.state == "scheduled"
    assert set(result.rescheduled) >= {after.id}


async def test_an_announcement_already_sent_goes_again_when_its_date_moves_later(
    rig: Rig,
) -> None:
    await rig.programmes.import_spec(kawasaki(), actor="test")
    await rig.follower("U" + "a" * 32)
    invite = await rig.announcement("briefing-1", "invite")
    rig.clock.now = invite.send_at
    assert await rig.programmes.fire(invite.id) == "sent"
    # The first briefing moves two weeks later: its invitation (with the old date) is
    # scheduled again for the new date.
    moved = kawasaki("2026-12-15")
    await rig.programmes.import_spec(moved, actor="test")
    again = await rig.announcement("briefing-1", "invite")
    assert again.state == "scheduled" and again.send_at == tokyo(2026, 12, 5, 10, 0)
    assert again.detail.get("previous") == "sent"


async def test_deleting_a_phase_cancels_its_announcements_and_keeps_the_record(
    rig: Rig,
) -> None:
    await rig.programmes.import_spec(kawasaki(), actor="test")
    kickoff = await rig.announcement("kickoff", "start")
    outcome = await rig.programmes.delete_phase(kickoff.phase_id, actor="U0COORD")
    assert outcome.ok and "4" in outcome.message  # with the group's notice (#13)
    async with rig.maker() as session:
        states = (
            await session.execute(
                select(Announcement.state).where(Announcement.phase_id == kickoff.phase_id)
            )
        ).scalars()
        assert set(states) == {"cancelled"}
        phase = await session.get(Phase, kickoff.phase_id)
        assert phase is not None and phase.cancelled_at is not None
    # Firing a cancelled announcement sends nothing.
    rig.clock.now = kickoff.send_at
    assert await rig.programmes.fire(kickoff.id) == "noop"
    assert await rig.outbox() == []
    # A phase left out of a later import is cancelled the same way.
    spec = kawasaki()
    spec = spec.__class__(
        **{**spec.__dict__, "phases": tuple(p for p in spec.phases if p.key != "presentation")}
    )
    result = await rig.programmes.import_spec(spec, actor="test")
    assert result.cancelled == 1


async def test_firing_twice_sends_once(rig: Rig) -> None:
    await rig.programmes.import_spec(kawasaki(), actor="test")
    for n in range(3):
        await rig.follower(f"U{n:032d}", "en" if n == 2 else "ja")
    invite = await rig.announcement("briefing-1", "invite")
    rig.clock.now = invite.send_at + timedelta(seconds=5)
    assert await rig.programmes.fire(invite.id) == "sent"
    assert await rig.programmes.fire(invite.id) == "noop"
    rows = await rig.outbox()
    targets = sorted(
        t for r in rows for t in (r.payload.get("to") or [r.target]) if r.channel == "line"
    )
    assert targets == sorted(f"U{n:032d}" for n in range(3))
    texts = {(r.payload.get("to") or [r.target])[0]: r.payload["replies"][0]["text"] for r in rows}
    assert "事前説明会（第1回・会場1）" in texts[f"U{0:032d}"]
    assert "12月1日(火) 14:00〜16:00" in texts[f"U{0:032d}"]
    assert "Briefing session 1 (venue 1)" in texts[f"U{2:032d}"]
    # The invitation carries the RSVP buttons.
    choices = rows[0].payload["replies"][0]["choices"]
    assert [c["data"] for c in choices] == [
        f"rsvp|{invite.phase_id}|yes",
        f"rsvp|{invite.phase_id}|no",
    ]
    sent = await rig.announcement("briefing-1", "invite")
    assert sent.state == "sent" and sent.fired_at == rig.clock.now
    assert sent.detail["line"] == 3


async def test_an_early_firing_waits_for_the_new_time(rig: Rig) -> None:
    await rig.programmes.import_spec(kawasaki(), actor="test")
    invite = await rig.announcement("briefing-1", "invite")
    rig.clock.now = invite.send_at - timedelta(minutes=5)
    assert await rig.programmes.fire(invite.id) == "early"
    assert (await rig.announcement("briefing-1", "invite")).state == "scheduled"


async def test_missed_beyond_grace_is_skipped_and_coordinators_are_told(rig: Rig) -> None:
    await rig.programmes.import_spec(kawasaki(), actor="test")
    await rig.follower("U" + "b" * 32)
    reminder = await rig.announcement("briefing-1", "reminder")  # grace 12 h
    invite = await rig.announcement("briefing-1", "invite")  # grace 3 days, 10 days late
    next_invite = await rig.announcement("briefing-2", "invite")  # 2 days 21 h late
    # The service was down from 21 Nov until 1 Dec 07:00 (13 h after the reminder).
    rig.clock.now = reminder.send_at + timedelta(hours=13)
    counts = await rig.programmes.catch_up()
    assert counts == {"sent": 1, "skipped": 2}
    assert (await rig.announcement("briefing-1", "reminder")).state == "skipped"
    assert (await rig.announcement("briefing-1", "invite")).state == "skipped"
    assert (await rig.announcement("briefing-2", "invite")).state == "sent"
    rows = await rig.outbox()
    notes = " ".join(r.payload["text"] for r in rows if r.channel == "slack" and r.target == COORD)
    assert f"#{reminder.id}" in notes and f"#{invite.id}" in notes
    assert f"#{next_invite.id} " not in notes
    line = [r for r in rows if r.channel == "line"]
    assert len(line) == 1 and "第2回" in line[0].payload["replies"][0]["text"]
    # Coordinators see it in the schedule too.
    listing = await rig.programmes.schedule_text("en")
    assert "missed while the service was down" in listing and f"#{reminder.id}" in listing


async def test_rsvp_reminder_goes_to_people_who_said_yes(rig: Rig) -> None:
    await rig.programmes.import_spec(kawasaki(), actor="test")
    yes, no = "U" + "c" * 32, "U" + "d" * 32
    await rig.follower(yes)
    await rig.follower(no, "en")
    reminder = await rig.announcement("briefing-1", "reminder")
    async with rig.maker.begin() as session:
        await rig.programmes.rsvp(session, "line", yes, reminder.phase_id, "yes")
        await rig.programmes.rsvp(session, "line", no, reminder.phase_id, "no")
        # Changing one's mind replaces the answer.
        await rig.programmes.rsvp(session, "line", no, reminder.phase_id, "yes")
        await rig.programmes.rsvp(session, "line", no, reminder.phase_id, "no")
    async with rig.maker() as session:
        assert await session.scalar(select(func.count()).select_from(Rsvp)) == 2
    rig.clock.now = reminder.send_at
    assert await rig.programmes.fire(reminder.id) == "sent"
    rows = [r for r in await rig.outbox() if r.channel == "line"]
    assert [t for r in rows for t in (r.payload.get("to") or [r.target])] == [yes]
    listing = await rig.programmes.attendance_text(reminder.phase_id, "en")
    assert "✅ 1" in listing and "❌ 1" in listing


async def test_phase_edits_from_slack_keep_or_drop_announcements(rig: Rig) -> None:
    from bot.programmes.service import phase_spec

    result = await rig.programmes.import_spec(kawasaki(), actor="test")
    kickoff = await rig.announcement("kickoff", "start")
    spec = phase_spec(
        kind="kickoff",
        title_ja="キックオフ",
        title_en="Kickoff",
        starts=tokyo(2027, 3, 10, 14, 0),
        reminders=None,
    )
    outcome = await rig.programmes.save_phase(
        result.programme_id, spec, "U0COORD", phase_id=kickoff.phase_id
    )
    assert outcome.ok
    moved = await rig.announcement("kickoff", "start")
    assert moved.send_at == tokyo(2027, 3, 10, 14, 0)
    # Unticking the usual announcements cancels them.
    quiet = phase_spec(
        kind="kickoff", title_ja="", title_en="", starts=tokyo(2027, 3, 10, 14), reminders=()
    )
    await rig.programmes.save_phase(
        result.programme_id, quiet, "U0COORD", phase_id=kickoff.phase_id
    )
    assert (await rig.announcement("kickoff", "start")).state == "cancelled"


# ---------------------------------------------------------------- the scheduler lease


async def test_one_process_holds_the_lease_and_another_takes_over_when_it_expires(
    rig: Rig, database_url: str
) -> None:
    clock = Clock(datetime(2026, 11, 1, tzinfo=UTC))
    a = Scheduler(
        rig.maker,
        rig.programmes,
        database_url=database_url,
        lease_seconds=30,
        clock=clock,
        holder="a",
    )
    b = Scheduler(
        rig.maker,
        Programmes(rig.maker, rig.programmes.coordination, locale="ja", clock=clock),
        database_url=database_url,
        lease_seconds=30,
        clock=clock,
        holder="b",
    )
    try:
        assert await a.tick() is True
        assert await b.tick() is False
        clock.now += timedelta(seconds=20)
        assert await a.tick() is True  # renewed until +50 s
        clock.now += timedelta(seconds=25)
        assert await b.tick() is False  # at +45 s a's renewal still holds
        # a dies (stops renewing); once the lease has expired (+50 s) b takes over.
        clock.now += timedelta(seconds=6)
        assert await b.tick() is True
        assert await a.tick() is False and a.leading is False
    finally:
        await a.stop()
        await b.stop()


async def test_the_leader_mirrors_announcements_into_apschedulers_job_store(
    rig: Rig, database_url: str
) -> None:
    # Far enough ahead that APScheduler (which runs on the real clock) has nothing due.
    await rig.programmes.import_spec(kawasaki("2030-06-01"), actor="test")
    sched = Scheduler(rig.maker, rig.programmes, database_url=database_url, holder="solo")
    try:
        assert await sched.tick(rig.clock.now) is True
        jobs = dict(sched.jobs())
        ids = [a for a, _ in await rig.programmes.scheduled()]
        assert {f"announcement:{i}" for i in ids} <= set(jobs)
        async with rig.maker() as session:
            stored = await session.scalar(text("SELECT count(*) FROM apscheduler_jobs"))
        assert stored == len(ids)
        # Deleting a phase removes its jobs at the next reconcile.
        kickoff = await rig.announcement("kickoff", "start")
        await rig.programmes.delete_phase(kickoff.phase_id, "U0COORD")
        await sched.tick(rig.clock.now)
        assert f"announcement:{kickoff.id}" not in dict(sched.jobs())
    finally:
        await sched.stop()


async def test_jobs_run_earlier_in_wall_time_when_the_calendar_clock_is_moved_forward(
    rig: Rig, database_url: str
) -> None:
    """A calendar clock moved ahead (the sandbox's fast-forward, the tests): the leader
    rewrites each job at its calendar time minus the offset, at its next round."""
    from bot.clock import ShiftableClock

    await rig.programmes.import_spec(kawasaki("2030-06-01"), actor="test")
    calendar = ShiftableClock()
    sched = Scheduler(
        rig.maker,
        rig.programmes,
        database_url=database_url,
        holder="solo",
        calendar_clock=calendar,
    )
    try:
        assert await sched.tick(rig.clock.now) is True
        due = dict(await rig.programmes.scheduled())
        before = dict(sched.jobs())
        assert all(before[f"announcement:{i}"] == at for i, at in due.items())
        calendar.advance(timedelta(days=100))
        await sched.tick(rig.clock.now + timedelta(seconds=1))
        after = dict(sched.jobs())
        assert all(after[f"announcement:{i}"] == at - timedelta(days=100) for i, at in due.items())
    finally:
        await sched.stop()


async def test_a_programme_imported_mid_way_does_not_send_long_past_announcements(
    rig: Rig,
) -> None:
    await rig.follower("U" + "e" * 32)
    rig.clock.now = tokyo(2026, 12, 5, 9, 0)
    result = await rig.programmes.import_spec(kawasaki(), actor="test")
    invite = await rig.announcement("briefing-1", "invite")
    assert invite.state == "skipped" and invite.detail == {"past_when_written": True}
    # Past and beyond grace: briefing 1's invitation and reminder, briefing 2's
    # invitation (28 Nov, 3 days' grace). Later ones stay scheduled.
    third = await rig.announcement("briefing-3", "invite")  # 8 Dec 10:00
    assert third.state == "scheduled"
    assert result.scheduled == 19 - 3
    assert await rig.programmes.catch_up() == {}
    # Nothing was missed while running, so coordinators get no "missed" notice.
    assert await rig.outbox() == []


async def _listing_and_cli(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str
) -> str:
    """The schedule as `/tsunagu schedule` renders it, and `tsunagu programme list` on the
    same database, run as the console command runs it (`main(argv)`, with its own engine
    and event loop, in a thread here): it must return 0 and print the same list."""
    import asyncio

    from handlers.cli import main

    listing = await rig.programmes.schedule_text("ja")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TSUNAGU_SANDBOX", "off")
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["programme", "list"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "DetachedInstanceError" not in err
    assert out.strip().splitlines()[0] == listing.splitlines()[0]
    return listing


async def test_schedule_lists_a_programme_in_every_state(
    rig: Rig, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No programme, just imported, briefing notices all sent (the state every real
    programme reaches, which used to crash with DetachedInstanceError), then all sent."""
    cli = (monkeypatch, capsys, database_url)
    assert "まだプログラムがありません" in await _listing_and_cli(rig, *cli)
    await rig.programmes.import_spec(kawasaki(), actor="test")
    await rig.follower("U" + "f" * 32)
    assert "事前説明会" in await _listing_and_cli(rig, *cli)
    # Every briefing notice (invitations and reminders) goes out on time.
    async with rig.maker() as session:
        briefing = (
            (
                await session.execute(
                    select(Announcement)
                    .join(Phase)
                    .where(Phase.rsvp.is_(True))
                    .order_by(Announcement.send_at)
                )
            )
            .scalars()
            .all()
        )
    assert briefing
    for ann in briefing:
        rig.clock.now = ann.send_at
        assert await rig.programmes.fire(ann.id) == "sent"
    listing = await _listing_and_cli(rig, *cli)
    # The RSVP counts of the briefings are still listed, with their dates.
    assert "参加" in listing and "2026-12-01 14:00" in listing
    assert "停止中" not in listing
    # Everything sent: nothing scheduled, still no crash.
    async with rig.maker() as session:
        rest = (
            await session.execute(
                select(Announcement.id, Announcement.send_at).where(
                    Announcement.state == "scheduled"
                )
            )
        ).all()
    for ann_id, at in sorted(rest, key=lambda r: r[1]):
        rig.clock.now = at
        assert await rig.programmes.fire(ann_id) == "sent"
    assert "2026-12-01 14:00" in await _listing_and_cli(rig, *cli)


async def test_notices_past_at_import_are_not_listed_as_missed(rig: Rig) -> None:
    rig.clock.now = tokyo(2026, 12, 5, 9, 0)
    await rig.programmes.import_spec(kawasaki(), actor="test")
    invite = await rig.announcement("briefing-1", "invite")
    assert invite.state == "skipped"
    listing = await rig.programmes.schedule_text("ja")
    assert "停止中" not in listing, listing
    assert f"• #{invite.id} 2026" not in listing


async def test_an_import_by_another_process_is_mirrored_at_the_next_watch(
    rig: Rig, database_url: str
) -> None:
    """The CLI imports in a process of its own, which cannot wake the server's scheduler
    directly: the leader's watch (every couple of seconds) sees the rows change and writes
    the jobs, so a notice due seconds after the import goes on time."""
    sched = Scheduler(rig.maker, rig.programmes, database_url=database_url, holder="solo")
    cli = Programmes(rig.maker, rig.programmes.coordination, locale="ja", clock=rig.clock)
    try:
        assert await sched.tick(rig.clock.now) is True
        assert await sched.watch() is False  # nothing changed since the reconcile
        await cli.import_spec(kawasaki("2030-06-01"), actor="cli")  # not our instance
        assert sched._dirty is False  # nobody told this process
        assert await sched.watch() is True
        ids = [a for a, _ in await rig.programmes.scheduled()]
        assert ids and {f"announcement:{i}" for i in ids} <= set(dict(sched.jobs()))
        assert await sched.watch() is False
    finally:
        await sched.stop()


async def test_the_phase_modal_offers_each_team_and_saves_the_scope(rig: Rig) -> None:
    """The Slack phase modal's 'For' select lists the programme's teams; the form's value
    becomes the phase's project, whose usual announcements keep team audiences only."""
    from bot.programmes.views import programme_view
    from handlers.slack.programmes import parse_phase_form, phase_modal

    await rig.programmes.import_spec(kawasaki(), actor="test")
    async with rig.maker.begin() as session:
        org = Organization(
            channel="line",
            user_key="U" + "9" * 32,
            name="みなと子ども食堂",
            locale="ja",
            kind="voluntary",
            fields=["children"],
            area="川崎市",
            activity="子ども食堂",
            contact_name="田中",
            contact_role="代表",
            consent_version="2026-11",
            consented_at=rig.clock.now,
        )
        session.add(org)
        await session.flush()
        project = Project(
            organization_id=org.id,
            challenge="SNSを始めたい",
            status="recruiting",
            menus=["social_media"],
            period="within_3m",
            mode="either",
        )
        session.add(project)
        await session.flush()
        project.programme_id = 1
        project_id = project.id
    [programme] = [programme_view(p) for p in await rig.programmes.programmes()]
    teams = await rig.programmes.teams_of(programme.id)
    assert teams == [(project_id, "みなと子ども食堂")]
    view = phase_modal("ja", programme, "C1", teams=teams)
    scope = next(b for b in view["blocks"] if b["block_id"] == "scope")
    labels = [o["text"]["text"] for o in scope["element"]["options"]]
    assert labels == [
        "すべてのチーム（プログラム全体）",
        f"#{project_id} みなと子ども食堂 のチームだけ",
    ]
    values = {
        "kind": {"v": {"type": "static_select", "selected_option": {"value": "report"}}},
        "scope": {"v": {"type": "static_select", "selected_option": {"value": str(project_id)}}},
        "start_date": {"v": {"type": "datepicker", "selected_date": "2027-02-01"}},
        "start_time": {"v": {"type": "timepicker", "selected_time": "10:00"}},
        "options": {"v": {"type": "checkboxes", "selected_options": [{"value": "defaults"}]}},
    }
    fields, errors = parse_phase_form(values, programme, "ja")
    assert errors == {} and fields is not None and fields["project"] == project_id
    outcome = await rig.programmes.save_phase(programme.id, phase_spec(**fields), "U0COORD")
    assert outcome.ok
    async with rig.maker() as session:
        phase = (
            await session.execute(select(Phase).where(Phase.project_id == project_id))
        ).scalar_one()
        anns = (
            (await session.execute(select(Announcement).where(Announcement.phase_id == phase.id)))
            .scalars()
            .all()
        )
    # A report's usual notices go to volunteers and coordinators: for one team, only the
    # coordinators remain.
    assert anns and all(a.audience == ["coordinators"] for a in anns)
    # Listed with its scope, and the edit modal opens on it.
    [programme] = [programme_view(p) for p in await rig.programmes.programmes()]
    saved = programme.phase(phase.id)
    again = phase_modal("en", programme, "C1", saved, teams)
    scope = next(b for b in again["blocks"] if b["block_id"] == "scope")
    assert scope["element"]["initial_option"]["value"] == str(project_id)
    # A project of no programme, or one that does not exist, is refused politely.
    bad = await rig.programmes.save_phase(
        programme.id, phase_spec(**{**fields, "project": 999}), "U0COORD"
    )
    assert not bad.ok and "#999" in bad.message


async def test_reimporting_without_targets_keeps_them_and_changes_are_audited(
    rig: Rig,
) -> None:
    """Targets set in the YAML (or the modal) stay when the YAML is imported again without
    a `targets:` section; an explicit empty section clears them; each change is audited
    with what the targets were."""
    from bot.programmes.views import programme_view

    await rig.programmes.import_spec(kawasaki(), actor="U0COORD")
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    wanted = dict(data["targets"])

    async def targets() -> dict[str, int]:
        [programme] = [programme_view(p) for p in await rig.programmes.programmes()]
        return dict(programme.targets)

    assert await targets() == wanted
    # Changed in the modal (save_settings), then the YAML without targets imported again.
    [programme] = await rig.programmes.programmes()
    assert await rig.programmes.save_settings(
        programme.id, programme.name, {**wanted, "hours": 600}, "U0COORD"
    )
    del data["targets"]
    from datetime import date

    spec = parse_programme(data, shift_to=date(2026, 12, 1))
    assert spec.targets is None
    await rig.programmes.import_spec(spec, actor="U0COORD")
    assert await targets() == {**wanted, "hours": 600}
    # `targets: {}` says "none": cleared.
    await rig.programmes.import_spec(
        parse_programme({**data, "targets": {}}, shift_to=date(2026, 12, 1)), actor="U0COORD"
    )
    assert await targets() == {}
    async with rig.maker() as session:
        rows = (
            await session.execute(
                text("SELECT detail FROM audit_log WHERE action = 'programme_targets' ORDER BY id")
            )
        ).all()
    import json

    details = [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in rows]
    assert [d["after"] for d in details] == [wanted, {**wanted, "hours": 600}, {}]
    assert details[1]["before"] == wanted
