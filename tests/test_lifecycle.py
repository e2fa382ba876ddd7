"""The project lifecycle's core on the real database (SQLite, or PostgreSQL with
TEST_DATABASE_URL) with a real clock object: the state table, transition(), the group's
answer to its team, the proposal's deadline, contacts, agreements, hours, delivery,
completion (capacity freed), feedback, the next cohort and deletion."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ShiftableClock
from bot.coordination import Coordination
from bot.lifecycle.service import Lifecycle
from bot.matching.live import load_features
from bot.rules.records import Invalid
from bot.rules.states import (
    FINAL,
    HOLDING_CAPACITY,
    STATES,
    TEAM_STATES,
    TRANSITIONS,
    Party,
    Refusal,
    Role,
    allowed,
    coordinator_label,
    group_label,
    transition,
)
from storage import programmes as programme_store
from storage.db import make_engine, make_sessionmaker
from storage.lifecycle_repo import forget_person
from storage.models import (
    AuditEntry,
    HoursEntry,
    Match,
    Organization,
    OutboxMessage,
    Project,
    Volunteer,
    VolunteerSkill,
)

Maker = async_sessionmaker[AsyncSession]
COORDS = "C0COORDS01"


@dataclass
class Rig:
    maker: Maker
    clock: ShiftableClock
    coordination: Coordination
    life: Lifecycle


@pytest.fixture
async def rig(database_url: str) -> AsyncIterator[Rig]:
    engine = make_engine(database_url)
    maker = make_sessionmaker(engine)
    clock = ShiftableClock()
    coordination = Coordination(
        maker, locale="ja", timezone="Asia/Tokyo", coordinator_channel=COORDS, clock=clock
    )
    try:
        yield Rig(maker, clock, coordination, Lifecycle(maker, coordination, clock=clock))
    finally:
        await engine.dispose()


def _org(n: int, clock: ShiftableClock, **extra: Any) -> Organization:
    return Organization(
        channel="line",
        user_key=f"U{n:032x}",
        name=f"団体{n}",
        locale="ja",
        kind="voluntary",
        fields=["children"],
        area="川崎市",
        activity="子ども食堂",
        contact_name="田中",
        contact_role="代表",
        consent_version="2026-11",
        consented_at=clock(),
        **extra,
    )


def _volunteer(n: int, clock: ShiftableClock, **extra: Any) -> Volunteer:
    v = Volunteer(
        channel="line",
        user_key=f"U{n:032x}",
        locale=extra.pop("locale", "ja"),
        display_name=f"Vol{n} Family",
        area="川崎市",
        occupation="employee",
        experience_years=5,
        hours_per_week=3,
        availability=["weekend"],
        mode="either",
        interests=["children"],
        skills_other=None,
        languages=[],
        status=extra.pop("status", "active"),
        consent_version="2026-11",
        consented_at=clock(),
        **extra,
    )
    v.skills = [VolunteerSkill(skill="social_media", position=0)]
    return v


async def _project(rig: Rig, status: str, members: list[Volunteer], org: Organization) -> int:
    """A project in `status` with `members` accepted on it; returns its id."""
    async with rig.maker.begin() as session:
        session.add(org)
        session.add_all(members)
        await session.flush()
        project = Project(
            organization_id=org.id,
            challenge="SNSを始めたい",
            status=status,
            menus=["social_media"],
            period="within_3m",
            mode="either",
        )
        session.add(project)
        await session.flush()
        for v in members:
            session.add(Match(project_id=project.id, volunteer_id=v.id, state="accepted"))
        return project.id


async def _status(rig: Rig, project_id: int) -> str:
    async with rig.maker() as session:
        project = await session.get(Project, project_id)
        assert project is not None
        return project.status


async def _texts(rig: Rig, target: str) -> list[str]:
    async with rig.maker() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.target == target).order_by(OutboxMessage.id)
        )
        out = []
        for row in rows:
            out += [r["text"] for r in row.payload.get("replies", [])]
            if "text" in row.payload:
                out.append(row.payload["text"])
        return out


async def _actions(rig: Rig, project_id: int) -> list[str]:
    async with rig.maker() as session:
        rows = await session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.subject_type == "project", AuditEntry.subject_id == project_id)
            .order_by(AuditEntry.id)
        )
        return list(rows)


# ---------------------------------------------------------------- the table


def test_every_state_has_labels_and_every_transition_names_known_states() -> None:
    assert set(STATES) == {
        "submitted", "recruiting", "team_proposed", "team_formed", "agreed", "delivered",
        "completed", "declined", "withdrawn", "paused", "cancelled",
    }  # fmt: skip
    for state in STATES.values():
        for text in (state.short, state.coordinator, state.group):
            assert text.ja and text.en and text.ja != text.en
    for row in TRANSITIONS.values():
        assert row.target in STATES and row.by
        assert all(source in STATES for source in row.sources)
        assert not set(row.sources) & set(FINAL), f"{row.event} leaves a final state"
    # Every state can be reached from a new request.
    seen, todo = {"submitted"}, ["submitted"]
    while todo:
        here = todo.pop()
        for row in TRANSITIONS.values():
            if here in row.sources and row.target not in seen:
                seen.add(row.target)
                todo.append(row.target)
    assert seen == set(STATES)
    assert "completed" not in HOLDING_CAPACITY and "team_formed" in HOLDING_CAPACITY
    assert programme_store.TEAM_STATES == TEAM_STATES
    assert programme_store.ACCEPTED_STATES == HOLDING_CAPACITY
    assert allowed("confirm_team", "team_proposed", Role.GROUP)
    assert not allowed("confirm_team", "team_proposed", Role.COORDINATOR)
    assert coordinator_label("team_formed", "en") == "team formed, preparing the kickoff"
    assert group_label("team_proposed", "ja") == "チームのご提案中（ご確認ください）"
    assert group_label("mystery", "ja") == "mystery"


async def test_transition_checks_role_state_and_version_and_audits(rig: Rig) -> None:
    pid = await _project(rig, "submitted", [], _org(1, rig.clock))
    now = rig.clock()
    async with rig.maker.begin() as session:
        refused = await transition(session, pid, "accept", role=Role.GROUP, actor="group", now=now)
        assert (refused.ok, refused.refusal) == (False, Refusal.NOT_ALLOWED)
        stale = await transition(
            session, pid, "accept", role=Role.COORDINATOR, actor="U1", now=now, version=99
        )
        assert (stale.ok, stale.refusal) == (False, Refusal.STALE)
        moved = await transition(
            session, pid, "accept", role=Role.COORDINATOR, actor="U1", now=now, version=1
        )
        assert moved.ok and moved.status == "recruiting" and moved.version == 2
        assert moved.tell == (Party.GROUP,)
        again = await transition(session, pid, "accept", role=Role.COORDINATOR, actor="U2", now=now)
        assert (again.ok, again.refusal, again.status) == (False, Refusal.WRONG_STATE, "recruiting")
        unknown = await transition(session, pid, "fly", role=Role.SYSTEM, actor="x", now=now)
        assert unknown.refusal == Refusal.UNKNOWN_EVENT
    assert await _actions(rig, pid) == ["accept"]
    async with rig.maker() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.subject_id == pid))
        assert entry is not None
        assert entry.detail == {"from": "submitted", "to": "recruiting", "by": "coordinator"}


# ---------------------------------------------------------------- the group and its team


async def test_a_proposal_is_reminded_then_lapses_and_the_members_are_released(rig: Rig) -> None:
    members = [_volunteer(11, rig.clock), _volunteer(12, rig.clock)]
    org = _org(2, rig.clock)
    pid = await _project(rig, "recruiting", members, org)
    async with rig.maker.begin() as session:
        now = rig.clock()
        moved = await transition(
            session, pid, "propose_team", role=Role.SYSTEM, actor="system", now=now
        )
        assert moved.ok
        await rig.life.proposal_sent(session, pid, now)
    assert await rig.life.expire_and_remind_proposals() == (0, 0)
    rig.clock.advance(timedelta(days=4, hours=1))
    assert await rig.life.expire_and_remind_proposals() == (1, 0)
    assert await rig.life.expire_and_remind_proposals() == (0, 0)  # reminded once
    rig.clock.advance(timedelta(days=1))
    assert await rig.life.expire_and_remind_proposals() == (0, 1)
    assert await _status(rig, pid) == "recruiting"
    said = await _texts(rig, org.user_key)
    assert any("までにご確認" in t for t in said) and any("期限が過ぎた" in t for t in said)
    assert any("期限が過ぎました" in t for t in await _texts(rig, COORDS))
    async with rig.maker() as session:
        states = set(await session.scalars(select(Match.state).where(Match.project_id == pid)))
    assert states == {"withdrawn"}
    assert await _actions(rig, pid) == ["propose_team", "expire_proposal"]


async def test_the_group_asks_for_a_change_and_the_coordinators_read_it(rig: Rig) -> None:
    members = [_volunteer(21, rig.clock)]
    pid = await _project(rig, "team_proposed", members, _org(3, rig.clock))
    async with rig.maker.begin() as session:
        moved = await rig.life.reject_team(session, pid, change="会計に詳しい方を入れてほしい")
        assert moved.ok and moved.tell == (Party.MEMBERS, Party.COORDINATORS)
    async with rig.maker.begin() as session:
        again = await rig.life.reject_team(session, pid)
        assert again.refusal == Refusal.WRONG_STATE
    assert await _status(rig, pid) == "recruiting"
    assert any("会計に詳しい方を入れてほしい" in t for t in await _texts(rig, COORDS))
    assert any("見直す" in t for t in await _texts(rig, members[0].user_key))


async def test_contacts_are_exchanged_only_as_each_side_consented(rig: Rig) -> None:
    sharer = _volunteer(31, rig.clock, share_contact="yes", contact="sharer@example.org")
    private = _volunteer(32, rig.clock, share_contact="no", contact="private@example.org")
    org = _org(4, rig.clock, share_contact="yes", contact="03-1111-2222")
    pid = await _project(rig, "team_formed", [sharer, private], org)
    async with rig.maker.begin() as session:
        await rig.life.exchange_contacts(session, pid)
    [to_group] = await _texts(rig, org.user_key)
    assert "sharer@example.org" in to_group and "Vol31" in to_group
    assert "private@example.org" not in to_group and "Vol32" in to_group
    assert "Family" not in to_group  # first names only
    assert "03-1111-2222" in (await _texts(rig, sharer.user_key))[0]
    org2 = _org(5, rig.clock, share_contact="unknown", contact="03-9999-0000")
    member = _volunteer(33, rig.clock)
    pid2 = await _project(rig, "team_formed", [member], org2)
    async with rig.maker.begin() as session:
        await rig.life.exchange_contacts(session, pid2)
    assert "03-9999-0000" not in (await _texts(rig, member.user_key))[0]


# ---------------------------------------------------------------- the work


async def test_agreements_are_versioned_and_the_confirmed_one_sets_the_deliverable(
    rig: Rig,
) -> None:
    pid = await _project(rig, "team_formed", [_volunteer(41, rig.clock)], _org(6, rig.clock))
    end = rig.clock().date() + timedelta(days=40)
    fields = {
        "actor": "U0MEMBER",
        "scope": "Facebookページの立ち上げ",
        "success_measures": "団体が自分で投稿できる",
        "meeting_rhythm": "毎週水曜",
        "end_date": end,
    }
    async with rig.maker.begin() as session:
        empty = await rig.life.propose_agreement(session, pid, deliverable=" ", **fields)
        assert isinstance(empty, Invalid) and "成果物" in empty.text("ja")
        past = await rig.life.propose_agreement(
            session, pid, deliverable="x", **{**fields, "end_date": end - timedelta(days=80)}
        )
        assert isinstance(past, Invalid) and past.reason == "agreement_past"
        v1 = await rig.life.propose_agreement(session, pid, deliverable="運用マニュアル", **fields)
        assert not isinstance(v1, Invalid) and v1.version == 1
        first_id = v1.id
    async with rig.maker.begin() as session:
        answered = await rig.life.answer_agreement(
            session, first_id, confirm=False, comment="会計の整理が先です"
        )
        assert answered is not None and answered.status == "change_requested"
        v2 = await rig.life.propose_agreement(session, pid, deliverable="勘定科目表", **fields)
        assert not isinstance(v2, Invalid) and v2.version == 2
        second_id = v2.id
    async with rig.maker.begin() as session:
        assert await rig.life.answer_agreement(session, first_id, confirm=True) is None
        done = await rig.life.answer_agreement(session, second_id, confirm=True)
        assert done is not None and done.status == "confirmed"
    async with rig.maker() as session:
        project = await session.get(Project, pid)
        assert project is not None
        assert (project.status, project.deliverable) == ("agreed", "勘定科目表")
        assert [a.status for a in await rig.life.agreements(session, pid)] == [
            "change_requested",
            "confirmed",
        ]
    assert await _actions(rig, pid) == [
        "agreement_proposed",
        "agreement_change",
        "agreement_proposed",
        "agree",
        "agreement_confirmed",
    ]
    assert any("会計の整理が先です" in t for t in await _texts(rig, COORDS))


async def test_hours_are_validated_and_totalled(rig: Rig) -> None:
    a, b = _volunteer(51, rig.clock), _volunteer(52, rig.clock)
    pid = await _project(rig, "agreed", [a, b], _org(7, rig.clock))
    today = rig.clock().astimezone(rig.coordination.tz).date()
    async with rig.maker.begin() as session:
        for bad, reason in (("0", "hours_range"), ("24.5", "hours_range"), ("abc", "hours_format")):
            got = await rig.life.log_hours(session, pid, a.id, hours=bad)
            assert isinstance(got, Invalid) and got.reason == reason
            assert got.text("en") and got.text("ja")
        future = await rig.life.log_hours(
            session, pid, a.id, hours="1", day=today + timedelta(days=1)
        )
        assert isinstance(future, Invalid) and future.reason == "hours_future"
        ok = await rig.life.log_hours(session, pid, a.id, hours="１．５", note="ヒアリング")
        assert isinstance(ok, HoursEntry) and ok.minutes == 90 and ok.day == today
        await rig.life.log_hours(session, pid, b.id, hours="24", day=today - timedelta(days=3))
        totals = await rig.life.totals(session, pid)
    assert totals.minutes == 90 + 24 * 60 and totals.hours == "25.5"
    assert totals.per_volunteer == {a.id: 90, b.id: 1440}


async def test_delivery_and_completion_free_capacity_and_thank_with_hours(rig: Rig) -> None:
    member = _volunteer(61, rig.clock, locale="en")
    org = _org(8, rig.clock)
    pid = await _project(rig, "agreed", [member], org)
    async with rig.maker.begin() as session:
        await rig.life.log_hours(session, pid, member.id, hours="2.5")
        features = await load_features(session, now=rig.clock(), window_days=90, ids=[member.id])
        assert features[member.id].active_projects == 1 and features[member.id].capacity == 1
        early = await rig.life.complete(session, pid, actor="U0C", role=Role.COORDINATOR)
        assert early.refusal == Refusal.WRONG_STATE
        delivered = await rig.life.record_delivery(
            session,
            pid,
            actor="U0MEMBER",
            role=Role.MEMBER,
            note="100ページのマニュアル",
            link="https://example.org/manual",
        )
        assert delivered.ok
        confirmed = await rig.life.confirm_delivery(session, pid)
        assert confirmed is not None and confirmed.confirmed_at is not None
        assert await rig.life.confirm_delivery(session, pid) is None
        done = await rig.life.complete(session, pid, actor="U0C", role=Role.COORDINATOR)
        assert done.ok and done.status == "completed"
        features = await load_features(session, now=rig.clock(), window_days=90, ids=[member.id])
        assert features[member.id].active_projects == 0
    [thanks] = await _texts(rig, member.user_key)
    assert "2.5 hours" in thanks
    said = await _texts(rig, org.user_key)
    assert any("100ページのマニュアル" in t for t in said) and any("2.5時間" in t for t in said)
    assert await _actions(rig, pid) == ["deliver", "delivery_confirmed", "complete"]


async def test_feedback_is_validated_and_a_second_answer_replaces_the_first(rig: Rig) -> None:
    member = _volunteer(71, rig.clock)
    pid = await _project(rig, "completed", [member], _org(9, rig.clock))
    async with rig.maker.begin() as session:
        common = {"author_type": "volunteer", "author_id": member.id, "words": "楽しかった"}
        bad = await rig.life.record_feedback(session, pid, score=6, publish="no", **common)
        assert isinstance(bad, Invalid) and bad.reason == "score"
        bad = await rig.life.record_feedback(session, pid, score=4, publish="loud", **common)
        assert isinstance(bad, Invalid) and bad.reason == "publish"
        first = await rig.life.record_feedback(session, pid, score=4, publish="named", **common)
        second = await rig.life.record_feedback(
            session, pid, score=5, publish="anonymous", **common
        )
        assert not isinstance(first, Invalid) and not isinstance(second, Invalid)
        assert first.id == second.id and (second.score, second.publish) == (5, "anonymous")


async def test_the_next_cohort_list_and_deletion(rig: Rig) -> None:
    served = _volunteer(81, rig.clock)
    paused = _volunteer(82, rig.clock, status="paused")
    opted = _volunteer(83, rig.clock, next_cohort_opt_out=True)
    never = _volunteer(84, rig.clock)
    org = _org(10, rig.clock)
    pid = await _project(rig, "completed", [served, paused, opted], org)
    await _project(rig, "recruiting", [never], _org(11, rig.clock))
    async with rig.maker.begin() as session:
        people = await rig.life.next_cohort(session)
        assert [(p.person_type, p.person_id) for p in people] == [
            ("volunteer", served.id),
            ("organization", org.id),
        ]
        await rig.life.log_hours(session, pid, served.id, hours="3", note="個人的なメモ")
        await rig.life.record_feedback(
            session,
            pid,
            author_type="volunteer",
            author_id=served.id,
            score=5,
            words="秘密の感想",
            publish="named",
        )
        await forget_person(session, served.id, None)
        totals = await rig.life.totals(session, pid)
        assert totals.per_volunteer == {None: 180}
        notes = list(await session.scalars(select(HoursEntry.note)))
        assert notes == [None]


async def test_plain_state_changes_tell_whom_the_table_names(rig: Rig) -> None:
    member = _volunteer(91, rig.clock, locale="en")
    org = _org(12, rig.clock)
    pid = await _project(rig, "agreed", [member], org)
    async with rig.maker.begin() as session:
        refused = await rig.life.change_state(session, pid, "pause", role=Role.GROUP, actor="group")
        assert refused.refusal == Refusal.NOT_ALLOWED
        paused = await rig.life.change_state(
            session, pid, "pause", role=Role.COORDINATOR, actor="U0C"
        )
        assert paused.ok and paused.status == "paused"
        withdrawn = await rig.life.change_state(
            session, pid, "withdraw", role=Role.GROUP, actor="group"
        )
        assert withdrawn.refusal == Refusal.WRONG_STATE
        resumed = await rig.life.change_state(
            session, pid, "resume_work", role=Role.COORDINATOR, actor="U0C"
        )
        assert resumed.ok
        gone = await rig.life.change_state(session, pid, "withdraw", role=Role.GROUP, actor="group")
        assert gone.ok and gone.status == "withdrawn"
    assert await _texts(rig, org.user_key) == [
        "ご相談「SNSを始めたい」の状況: 一時停止中",
        "ご相談「SNSを始めたい」の状況: 内容に合意・チームが活動中",
    ]
    assert await _texts(rig, member.user_key) == [
        "団体12's project is now: paused",
        "団体12's project is now: agreed, work under way",
        "団体12's project is now: withdrawn by the group",
    ]
    assert any("合意済み・活動中 → 団体が取り下げ" in t for t in await _texts(rig, COORDS))
    assert await _actions(rig, pid) == ["pause", "resume_work", "withdraw"]


def test_an_existing_database_upgrades_in_place(database_url: str) -> None:
    """People stored before 0016 keep their rows: one project at a time, contact sharing
    not asked yet (asked once), not opted out; their projects have no proposal deadline."""
    from sqlalchemy import create_engine, text

    from storage.db import sync_url
    from storage.migrate import downgrade, upgrade

    downgrade(database_url, "0013")
    engine = create_engine(sync_url(database_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO volunteers (channel, user_key, locale, display_name, area,"
                    " occupation, experience_years, hours_per_week, availability, mode,"
                    " interests, languages, status, consent_version, consented_at,"
                    " created_at, updated_at) VALUES ('line', 'U-old', 'ja', 'Old Timer',"
                    " '川崎市', 'employee', 3, 2, '[]', 'either', '[]', '[]', 'active', '1',"
                    " '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00',"
                    " '2026-01-01 00:00:00+00:00')"
                )
            )
    finally:
        engine.dispose()
    upgrade(database_url)
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT capacity, share_contact, contact, next_cohort_opt_out"
                    " FROM volunteers WHERE user_key = 'U-old'"
                )
            ).one()
    finally:
        engine.dispose()
    assert (row[0], row[1], row[2], bool(row[3])) == (1, "unknown", None, False)


async def test_accept_and_decline_go_through_the_table(rig: Rig) -> None:
    """Coordinators' decisions are the table's accept/decline: one audit row each, and a
    late click on a project that moved on reads as already accepted."""
    pid = await _project(rig, "submitted", [], _org(13, rig.clock))
    assert (await rig.coordination.accept(pid, "U0COORD001")).ok
    late = await rig.coordination.decline(pid, "U0COORD002", "遅い")
    assert not late.ok and "受付" in late.message
    async with rig.maker.begin() as session:
        await transition(
            session, pid, "propose_team", role=Role.SYSTEM, actor="system", now=rig.clock()
        )
    later = await rig.coordination.accept(pid, "U0COORD002")
    assert not later.ok and "受付" in later.message and "見送り" not in later.message
    assert await _actions(rig, pid) == ["accept", "propose_team"]
    async with rig.maker() as session:
        project = await session.get(Project, pid)
        assert project is not None and project.decided_by == "U0COORD001"
