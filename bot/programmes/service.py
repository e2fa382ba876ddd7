"""Programmes: importing and editing the calendar, firing announcements exactly once,
briefing-session RSVPs, and what coordinators see of the schedule.

Announcement rows are the truth; the scheduler (bot.programmes.scheduler) only decides
*when* to call `fire`. Firing claims the row with a conditional UPDATE (scheduled ->
sent, at the send time it read) in the same transaction that writes the outbox rows,
so a job that fires twice, or on two processes, sends once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox, postback
from bot.attendance import AttendanceBook
from bot.cards import plain
from bot.conversation.model import Choice, Panel, Reply
from bot.coordination import ActionResult, Coordination
from bot.dialogue import PhaseStatus
from bot.i18n import T, Texts
from bot.programmes.cohort import (
    AttendanceSheet,
    attendees,
    follower_answers,
    invite_next_cohort,
    record_attended,
    record_rsvp,
)
from bot.programmes.schedule import (
    AUDIENCES,
    KINDS,
    AnnouncementSpec,
    PhaseSpec,
    ProgrammeSpec,
    ScheduleError,
    default_announcements,
    describe_offset,
    for_one_team,
    in_grace,
    phase_fields,
    render,
    send_time,
    zone,
)
from storage import programmes as store
from storage import repo
from storage.base import utcnow
from storage.models import Announcement, Phase, Programme, Project

log = logging.getLogger(__name__)


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    imported = T(
        "プログラム「{name}」を取り込みました: フェーズ {phases} 件（新規 {added}、更新 {updated}、取消 {cancelled}）、お知らせ予定 {scheduled} 件。",
        "Imported programme “{name}”: {phases} phases ({added} new, {updated} changed, {cancelled} cancelled), {scheduled} announcements scheduled.",
    )
    no_programmes = T(
        "まだプログラムがありません。`/tsunagu programme` の「新しいプログラム」か `tsunagu programme import FILE` で作れます。",
        "No programmes yet. Create one with “New programme” in `/tsunagu programme` or `tsunagu programme import FILE`.",
    )
    schedule_title = T("送信予定のお知らせ", "Scheduled announcements")
    schedule_empty = T("送信予定のお知らせはありません。", "Nothing is scheduled.")
    skipped_title = T(
        "送れなかったお知らせ（停止中に時刻を過ぎたもの）",
        "Announcements missed while the service was down",
    )
    skipped_note = T(
        "⚠️ サービス停止中に送信時刻を過ぎたため、次のお知らせは送りませんでした:\n{items}",
        "⚠️ These announcements were due while the service was down and were not sent:\n{items}",
    )
    rsvp_title = T("説明会の出欠", "Briefing-session RSVPs")
    rsvp_line = T(
        "{phase}（{date}）: 参加 {yes} / 不参加 {no}", "{phase} ({date}): {yes} coming / {no} not"
    )
    card_when = T("日時", "When")
    card_where = T("場所", "Where")
    rsvp_yes = T("参加する", "I'll come")
    rsvp_no = T("参加しない", "Can't come")
    phase_saved = T(
        "フェーズ「{title}」を保存しました（{date}）。お知らせ {n} 件を予定しました。",
        "Saved phase “{title}” ({date}); {n} announcements scheduled.",
    )
    phase_deleted = T(
        "フェーズ「{title}」を削除し、未送信のお知らせ {n} 件を取り消しました。",
        "Deleted phase “{title}” and cancelled its {n} unsent announcements.",
    )
    phase_gone = T("そのフェーズは見つかりません。", "That phase no longer exists.")
    ann_cancelled = T("お知らせ #{id} を取り消しました。", "Cancelled announcement #{id}.")
    ann_not_scheduled = T(
        "お知らせ #{id} は送信予定ではありません（{state}）。",
        "Announcement #{id} is not scheduled ({state}).",
    )
    assigned = T(
        "プロジェクト #{project} を「{programme}」に入れました。",
        "Project #{project} now belongs to “{programme}”.",
    )
    unknown_project = T("プロジェクト #{id} は見つかりません。", "No project #{id}.")
    unknown_programme = T("プログラム「{slug}」は見つかりません。", "No programme “{slug}”.")
    attendance_title = T("{phase}（{date}）の出欠", "Attendance for the {phase} ({date})")
    attendance_saved = T(
        "{phase}の出席を記録しました: 出席 {here} 名、欠席 {away} 名。",
        "Recorded attendance for the {phase}: {here} attended, {away} absent.",
    )
    followers = T("登録前の方 {n}名", "{n} not signed up yet")
    attendance_empty = T("まだ回答はありません。", "No answers yet.")
    someone = T("（登録前の方）", "(not signed up yet)")


TXT = _Texts

# An attendance row's state as coordinators read it (life-cohort, #13).
ATTENDANCE_STATES = {
    "": T("チーム（未回答）", "on the team, no answer"),
    "invited": T("案内済み・未回答", "invited, no answer"),
    "rsvp_yes": T("参加予定", "coming"),
    "rsvp_no": T("不参加", "not coming"),
    "attended": T("出席", "attended"),
    "absent": T("欠席", "absent"),
}
_ATTENDANCE_MARKS = (
    ("attended", "🙋"),
    ("absent", "➖"),
    ("rsvp_yes", "✅"),
    ("rsvp_no", "❌"),
    ("invited", "✉️"),
    ("", "👥"),
)

STATES = {
    "scheduled": T("予定", "scheduled"),
    "sent": T("送信済み", "sent"),
    "skipped": T("見送り", "skipped"),
    "cancelled": T("取消", "cancelled"),
}


class TeamAnnouncer(Protocol):
    """Posts to a team's channel and copies it in LINE to members who have not linked Slack."""

    async def team_announce(
        self,
        session: AsyncSession,
        project: Project,
        text_by_locale: dict[str, str],
        key: str,
        *,
        expires_at: datetime | None = None,
    ) -> int: ...


@dataclass
class ImportResult:
    """What an import or edit changed."""

    programme_id: int
    added: int = 0
    updated: int = 0
    cancelled: int = 0
    scheduled: int = 0
    phases: int = 0
    rescheduled: list[int] = field(default_factory=list)
    # People of earlier cohorts invited to its briefing sessions (life-cohort, #13).
    invited: int = 0


class Programmes:
    """The programme calendar service; the scheduler and the Slack handler call it."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        coordination: Coordination,
        *,
        locale: str,
        clock: Callable[[], datetime] = utcnow,
        notify: Callable[[], None] = lambda: None,
        teams: TeamAnnouncer | None = None,
        attendance: AttendanceBook | None = None,
    ) -> None:
        self._maker = maker
        self.coordination = coordination
        # The project lifecycle: the next cohort's list and attendance (life-cohort, #13).
        # Attendance for every phase kind and the next cohort's list (bot.attendance).
        self.attendance = attendance or AttendanceBook(clock)
        self.locale = locale
        self._clock = clock
        self._notify = notify
        self.teams = teams
        # Called after the schedule changed (the scheduler re-reads it).
        self.on_change: Callable[[], None] = lambda: None

    # ---------------------------------------------------------------- import and edit

    async def import_spec(
        self,
        spec: ProgrammeSpec,
        actor: str,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> ImportResult:
        """Create or update a programme from a definition (phases matched by key).

        `progress(done, total, step)` is called after each phase is written."""
        async with self._maker.begin() as session:
            result = await self.apply_spec(session, spec, actor, progress)
        self.on_change()
        return result

    async def apply_spec(
        self,
        session: AsyncSession,
        spec: ProgrammeSpec,
        actor: str,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> ImportResult:
        """Apply a definition in the caller's transaction; phases missing from it are cancelled."""
        now = self._clock()
        programme = await store.programme_by_slug(session, spec.slug)
        if programme is None:
            programme = Programme(
                name=spec.name,
                slug=spec.slug,
                timezone=spec.timezone,
                description=spec.description,
                menus=list(spec.menus),
                targets={},
                created_at=now,
                updated_at=now,
            )
            programme.phases = []
            session.add(programme)
            await session.flush()
        else:
            programme.name = spec.name
            programme.timezone = spec.timezone
            programme.description = spec.description
            programme.menus = list(spec.menus)
            programme.version += 1
        if spec.targets is not None:
            await self._set_targets(session, programme, spec.targets, actor, now)
        result = ImportResult(programme.id)
        for phase_spec in spec.phases:
            await self._check_scope(session, programme, phase_spec)
        by_key = {p.key: p for p in programme.phases}
        for phase_spec in spec.phases:
            existing = by_key.pop(phase_spec.key, None)
            if existing is None:
                result.added += 1
            else:
                result.updated += 1
            await self._put_phase(session, programme, existing, phase_spec, now, result)
            if progress is not None:
                progress(result.added + result.updated, len(spec.phases), "phases")
        for leftover in by_key.values():
            if leftover.cancelled_at is None:
                result.cancelled += 1
                await self._cancel_phase(session, leftover, now)
        result.phases = len(spec.phases)
        await session.refresh(programme, ["phases"])
        result.invited = await invite_next_cohort(
            session, self.attendance, programme, now, actor=actor
        )
        await repo.audit(
            session,
            actor=actor,
            action="programme_import",
            subject_type="programme",
            subject_id=programme.id,
            detail={
                "added": result.added,
                "updated": result.updated,
                "cancelled": result.cancelled,
                "scheduled": result.scheduled,
                "invited": result.invited,
            },
            at=now,
        )
        return result

    async def _set_targets(
        self,
        session: AsyncSession,
        programme: Programme,
        targets: dict[str, int],
        actor: str,
        now: datetime,
    ) -> None:
        """Set a programme's targets; a change is audited with what they were."""
        before = {str(k): int(v) for k, v in (programme.targets or {}).items()}
        if before == targets:
            return
        programme.targets = dict(targets)
        await repo.audit(
            session,
            actor=actor,
            action="programme_targets",
            subject_type="programme",
            subject_id=programme.id,
            detail={"before": before, "after": dict(targets)},
            at=now,
        )

    async def save_settings(
        self,
        programme_id: int,
        name: str,
        targets: dict[str, int],
        actor: str,
    ) -> bool:
        """The programme modal's edit: its name and targets (False if the programme is
        gone); each change is audited (targets with what they were)."""
        async with self._maker.begin() as session:
            programme = await session.get(Programme, programme_id)
            if programme is None:
                return False
            now = self._clock()
            if programme.name != name:
                programme.name = name
                await repo.audit(
                    session,
                    actor=actor,
                    action="programme_edit",
                    subject_type="programme",
                    subject_id=programme.id,
                    detail={"name": name},
                    at=now,
                )
            await self._set_targets(session, programme, targets, actor, now)
            programme.version += 1
        self.on_change()
        return True

    async def _check_scope(
        self, session: AsyncSession, programme: Programme, spec: PhaseSpec
    ) -> None:
        """A phase for one team names a project of this programme; a project in no
        programme yet joins this one (the office meant it), one in another is refused."""
        if spec.project is None:
            return
        project = await session.get(Project, spec.project)
        if project is None:
            raise ScheduleError(
                f"{spec.key}.project: 相談 #{spec.project} はありません",
                f"{spec.key}.project: there is no project #{spec.project}",
            )
        if project.programme_id is None:
            project.programme_id = programme.id
        elif project.programme_id != programme.id:
            raise ScheduleError(
                f"{spec.key}.project: 相談 #{spec.project} は別のプログラムに入っています",
                f"{spec.key}.project: project #{spec.project} belongs to another programme",
            )

    async def _put_phase(
        self,
        session: AsyncSession,
        programme: Programme,
        phase: Phase | None,
        spec: PhaseSpec,
        now: datetime,
        result: ImportResult,
    ) -> Phase:
        tz = zone(programme.timezone)
        if phase is None:
            phase = Phase(programme_id=programme.id, key=spec.key, created_at=now)
            phase.announcements = []
            session.add(phase)
        phase.kind = spec.kind
        phase.title_ja = spec.title_ja
        phase.title_en = spec.title_en
        phase.starts_at = spec.starts
        phase.ends_at = spec.ends
        phase.place = spec.place
        phase.url = spec.url
        phase.description_ja = spec.description_ja
        phase.description_en = spec.description_en
        phase.rsvp = spec.rsvp
        phase.project_id = spec.project
        phase.cancelled_at = None
        phase.updated_at = now
        await session.flush()
        existing = {a.key: a for a in phase.announcements}
        for ann_spec in spec.announcements:
            at = send_time(
                spec.starts,
                tz,
                offset_days=ann_spec.offset_days,
                at_local=ann_spec.at_local,
                offset_minutes=ann_spec.offset_minutes,
            )
            row = existing.pop(ann_spec.key, None)
            if row is None:
                row = Announcement(
                    phase_id=phase.id, key=ann_spec.key, state="scheduled", created_at=now
                )
                session.add(row)
                phase.announcements.append(row)
            elif row.send_at != at and at > now and row.state in ("sent", "skipped", "cancelled"):
                # The date moved: what was said about the old date is no longer true, so
                # the announcement goes again at its new time.
                row.detail = {**(row.detail or {}), "previous": row.state}
                row.state = "scheduled"
                result.rescheduled.append(row.id)
            elif row.send_at != at and row.state == "scheduled":
                result.rescheduled.append(row.id)
            _fill(row, ann_spec, at, now)
            if (
                row.state == "scheduled"
                and row.id is None
                and not in_grace(at, now, ann_spec.grace_minutes)
            ):
                # Written with its time long gone (a programme imported mid-way): it was
                # never due while we ran, so it is not "missed"; it is simply not sent.
                row.state = "skipped"
                row.fired_at = now
                row.detail = {"past_when_written": True}
            if row.state == "scheduled":
                result.scheduled += 1
        for gone in existing.values():
            if gone.state == "scheduled":
                gone.state = "cancelled"
                gone.updated_at = now
        return phase

    async def _cancel_phase(self, session: AsyncSession, phase: Phase, now: datetime) -> int:
        phase.cancelled_at = now
        n = 0
        for ann in phase.announcements:
            if ann.state == "scheduled":
                ann.state = "cancelled"
                ann.updated_at = now
                n += 1
        return n

    async def save_phase(
        self, programme_id: int, spec: PhaseSpec, actor: str, *, phase_id: int | None = None
    ) -> ActionResult:
        """Create or edit one phase (the Slack modal); its announcements are rescheduled."""
        now = self._clock()
        async with self._maker.begin() as session:
            programme = await store.get_programme(session, programme_id)
            if programme is None:
                return ActionResult.told(
                    False, partial(TXT.unknown_programme, slug=programme_id), self.locale
                )
            phase = None
            if phase_id is not None:
                phase = next((p for p in programme.phases if p.id == phase_id), None)
                if phase is None:
                    return ActionResult.told(False, TXT.phase_gone, self.locale)
                # Keep the announcements this phase already has (edited in YAML or not).
                kept = tuple(_spec_of(a) for a in phase.announcements if a.state != "cancelled")
                # Announcements kept as they are (they may have been written in YAML);
                # unticking "usual announcements" in the modal cancels them.
                wanted = (kept or spec.announcements) if spec.announcements else ()
                spec = replace(spec, key=phase.key, announcements=wanted)
            elif any(p.key == spec.key for p in programme.phases):
                spec = replace(spec, key=f"{spec.key}-{len(programme.phases) + 1}")
            if spec.project is not None:
                spec = replace(spec, announcements=for_one_team(spec.announcements))
                try:
                    await self._check_scope(session, programme, spec)
                except ScheduleError as exc:
                    return ActionResult.told(False, exc.text, self.locale)
            result = ImportResult(programme.id)
            saved = await self._put_phase(session, programme, phase, spec, now, result)
            await session.refresh(programme, ["phases"])
            result.invited = await invite_next_cohort(
                session, self.attendance, programme, now, actor=actor
            )
            await repo.audit(
                session,
                actor=actor,
                action="phase_saved",
                subject_type="phase",
                subject_id=saved.id,
                detail={"starts_at": spec.starts.isoformat(), "kind": spec.kind},
                at=now,
            )
            tz = zone(programme.timezone)
            when = spec.starts.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            scheduled = result.scheduled

            def message(loc: str) -> str:
                title = spec.title_ja if loc == "ja" else spec.title_en
                return TXT.phase_saved(loc, title=title, date=when, n=scheduled)

        self.on_change()
        return ActionResult.told(True, message, self.locale)

    async def delete_phase(self, phase_id: int, actor: str) -> ActionResult:
        """Delete a phase: it is kept on record and its unsent announcements are cancelled."""
        now = self._clock()
        async with self._maker.begin() as session:
            phase = await store.get_phase(session, phase_id)
            if phase is None or phase.cancelled_at is not None:
                return ActionResult.told(False, TXT.phase_gone, self.locale)
            n = await self._cancel_phase(session, phase, now)
            await repo.audit(
                session,
                actor=actor,
                action="phase_deleted",
                subject_type="phase",
                subject_id=phase.id,
                detail={"cancelled": n},
                at=now,
            )
            titles = {"ja": phase.title_ja, "en": phase.title_en}
        self.on_change()
        return ActionResult.told(
            True,
            lambda loc: TXT.phase_deleted(loc, title=titles.get(loc) or titles["en"], n=n),
            self.locale,
        )

    async def cancel_announcement(self, announcement_id: int, actor: str) -> ActionResult:
        """Cancel one scheduled announcement."""
        now = self._clock()
        async with self._maker.begin() as session:
            ann = await store.get_announcement(session, announcement_id)
            if ann is None or ann.state != "scheduled":
                state = STATES.get(ann.state if ann else "cancelled", STATES["cancelled"])
                return ActionResult(
                    False,
                    TXT.ann_not_scheduled(
                        self.locale, id=announcement_id, state=state(self.locale)
                    ),
                )
            ok = await store.move_announcement(
                session,
                ann.id,
                from_state="scheduled",
                to_state="cancelled",
                send_at=ann.send_at,
                now=now,
            )
            if ok:
                await repo.audit(
                    session,
                    actor=actor,
                    action="announcement_cancelled",
                    subject_type="announcement",
                    subject_id=ann.id,
                    at=now,
                )
        self.on_change()
        return ActionResult(ok, TXT.ann_cancelled(self.locale, id=announcement_id))

    async def assign(self, project_id: int, slug: str, actor: str) -> ActionResult:
        """Put a project in a programme."""
        async with self._maker.begin() as session:
            project = await repo.get_project(session, project_id)
            if project is None:
                return ActionResult.told(
                    False, partial(TXT.unknown_project, id=project_id), self.locale
                )
            programme = await store.programme_by_slug(session, slug)
            if programme is None:
                return ActionResult.told(
                    False, partial(TXT.unknown_programme, slug=plain(slug)), self.locale
                )
            project.programme_id = programme.id
            await repo.audit(
                session,
                actor=actor,
                action="project_programme",
                subject_type="project",
                subject_id=project_id,
                detail={"programme": programme.id},
                at=self._clock(),
            )
            return ActionResult(
                True,
                TXT.assigned(self.locale, project=project_id, programme=plain(programme.name)),
            )

    async def join_current(self, session: AsyncSession, project: Project) -> None:
        """A project just accepted joins the programme now running, if it has none."""
        if project.programme_id is not None:
            return
        programme = await store.current_programme(session, self._clock())
        if programme is not None:
            project.programme_id = programme.id

    # ---------------------------------------------------------------- firing

    async def scheduled(self) -> list[tuple[int, datetime]]:
        """(id, send_at) of every announcement still to go: what the scheduler mirrors."""
        async with self._maker() as session:
            return await store.scheduled_announcements(session)

    async def fire(self, announcement_id: int, now: datetime | None = None) -> str:
        """Send one announcement if it is due and still scheduled; return what happened.

        "sent", "skipped" (missed beyond its grace window), "early" (not due yet: its
        date moved), or "noop" (already handled, cancelled, or gone).
        """
        now = now or self._clock()
        async with self._maker.begin() as session:
            ann = await store.get_announcement(session, announcement_id)
            if ann is None or ann.state != "scheduled":
                return "noop"
            phase = ann.phase
            if phase.cancelled_at is not None:
                await store.move_announcement(
                    session,
                    ann.id,
                    from_state="scheduled",
                    to_state="cancelled",
                    send_at=ann.send_at,
                    now=now,
                )
                return "noop"
            if ann.send_at > now + timedelta(seconds=1):
                return "early"
            if not in_grace(ann.send_at, now, ann.grace_minutes):
                late = int((now - ann.send_at).total_seconds() // 60)
                if await store.move_announcement(
                    session,
                    ann.id,
                    from_state="scheduled",
                    to_state="skipped",
                    send_at=ann.send_at,
                    now=now,
                    detail={"late_minutes": late},
                ):
                    await self._tell_skipped(session, [ann])
                    log.info(
                        "programmes: announcement #%d skipped due=%s fired=%s (%d min late)",
                        ann.id,
                        ann.send_at.isoformat(),
                        now.isoformat(),
                        late,
                    )
                    return "skipped"
                return "noop"
            # The claim: only one firing moves the row; everyone else writes nothing.
            if not await store.move_announcement(
                session,
                ann.id,
                from_state="scheduled",
                to_state="sent",
                send_at=ann.send_at,
                now=now,
            ):
                return "noop"
            counts = await self._send(session, ann, phase, phase.programme)
            ann.detail = {**(ann.detail or {}), **counts}
            await session.flush()
            due = ann.send_at
        self._notify()
        # Due and actual times on every firing: a late notice says by how much (ids only).
        log.info(
            "programmes: announcement #%d sent due=%s fired=%s late=%.1fs %s",
            announcement_id,
            due.isoformat(),
            now.isoformat(),
            (now - due).total_seconds(),
            counts,
        )
        return "sent"

    async def catch_up(self, now: datetime | None = None) -> dict[str, int]:
        """Fire everything due (at start, and as a safety net); return counts by outcome."""
        now = now or self._clock()
        async with self._maker() as session:
            due = await store.due_announcements(session, now)
        counts: dict[str, int] = defaultdict(int)
        for announcement_id in due:
            counts[await self.fire(announcement_id, now)] += 1
        return dict(counts)

    async def _send(
        self, session: AsyncSession, ann: Announcement, phase: Phase, programme: Programme
    ) -> dict[str, int]:
        tz = zone(programme.timezone)

        def fields_for(locale: str) -> dict[str, str]:
            return phase_fields(
                programme=programme.name,
                title=phase.title_en if locale == "en" else phase.title_ja,
                starts_at=phase.starts_at,
                ends_at=phase.ends_at,
                tz=tz,
                place=phase.place,
                url=phase.url,
                description=phase.description_en if locale == "en" else phase.description_ja,
                locale=locale,
            )

        def text(locale: str) -> str:
            template = ann.text_en if locale == "en" else ann.text_ja
            return render(template, fields_for(locale))

        def card(locale: str, buttons: tuple[Choice, ...]) -> Panel:
            """The announcement as a card: the phase, when and where, the message."""
            f = fields_for(locale)
            return Panel(
                title=f["phase"],
                kind="announcement",
                fields=(
                    (TXT.card_when(locale), f"{f['date']} {f['time']}"),
                    (TXT.card_where(locale), f["place"]),
                ),
                body=text(locale),
                note=f["programme"],
                buttons=buttons,
            )

        key = f"announcement:{ann.id}"
        counts: dict[str, int] = defaultdict(int)
        line_targets: dict[str, dict[str, str]] = defaultdict(dict)  # locale -> key -> channel
        audience = set(ann.audience)
        # An invitation to a session open for sign-up carries the answer buttons.
        # Any phase kind may take RSVPs (a kickoff's or a presentation's members too).
        with_rsvp = phase.rsvp and audience & {"volunteers", "followers", "members"} != set()

        if "team_channels" in audience and self.teams is not None:
            for project in await store.team_projects(session, programme.id, phase.project_id):
                counts["team_channels"] += 1
                counts["line"] += await self.teams.team_announce(
                    session,
                    project,
                    {"ja": text("ja"), "en": text("en")},
                    f"{key}:team:{project.id}",
                    # The LINE copies of a notice about the session expire with it.
                    expires_at=phase.starts_at if ann.send_at < phase.starts_at else None,
                )
        if "coordinators" in audience and self.coordination.channel:
            await outbox.enqueue(
                session,
                channel="slack",
                kind="post",
                target=self.coordination.channel,
                payload={"text": f"📅 {plain(text(self.locale))}"},
                key=outbox.key_for(key, "coordinators"),
            )
            counts["coordinators"] += 1
        if "members" in audience:
            for v in await store.team_members(session, programme.id, phase.project_id):
                line_targets[v.locale][v.user_key] = v.channel
        if "volunteers" in audience:
            for channel, user_key, locale in await store.volunteers_matching(
                session, ann.audience_filter or {}
            ):
                line_targets[locale][user_key] = channel
        if "followers" in audience:
            for user_key, locale in await store.followers(session, "line"):
                line_targets[locale][user_key] = "line"
        if "rsvp_yes" in audience:
            for channel, user_key, locale in await store.rsvp_yes(session, phase.id):
                line_targets[locale][user_key] = channel
        if "groups" in audience:  # life-group (#13): each team's group, in its language
            for project in await store.team_projects(session, programme.id, phase.project_id):
                org = project.organization
                line_targets[org.locale][org.user_key] = org.channel

        seen: set[str] = set()
        for locale, targets in sorted(line_targets.items()):
            keys = [k for k in targets if k not in seen and not k.startswith("deleted:")]
            seen.update(keys)
            by_channel: dict[str, list[str]] = defaultdict(list)
            for k in keys:
                by_channel[targets[k]].append(k)
            choices: tuple[Choice, ...] = ()
            if with_rsvp:
                yes, no = TXT.rsvp_yes(locale), TXT.rsvp_no(locale)
                choices = (
                    Choice(yes, postback.Rsvp(phase.id, "yes").pack(), yes),
                    Choice(no, postback.Rsvp(phase.id, "no").pack(), no),
                )
            for channel, recipients in by_channel.items():
                await outbox.fan_out(
                    session,
                    channel=channel,
                    targets=recipients,
                    replies=[Reply(text(locale), choices, (card(locale, choices),))],
                    key=f"{key}:{locale}:{channel}",
                    urgent=False,
                    # About the phase and not sent by the time it begins (the budget
                    # held it): never. A follow-up written for after it has no expiry.
                    expires_at=phase.starts_at if ann.send_at < phase.starts_at else None,
                )
                counts["line"] += len(recipients)
        return dict(counts)

    async def _tell_skipped(self, session: AsyncSession, anns: list[Announcement]) -> None:
        if not self.coordination.channel:
            return
        items = "\n".join(
            f"• #{a.id} {plain(_phase_title(a.phase, self.locale))}"
            f" — {describe_offset(a, self.locale)} ({self._local(a.send_at, a.phase.programme)})"
            for a in anns
        )
        await outbox.enqueue(
            session,
            channel="slack",
            kind="post",
            target=self.coordination.channel,
            payload={"text": TXT.skipped_note(self.locale, items=items)},
            key=outbox.key_for("skipped", *[a.id for a in anns]),
        )

    # ---------------------------------------------------------------- RSVPs

    async def rsvp(
        self, session: AsyncSession, channel: str, user_key: str, phase_id: int, answer: str
    ) -> None:
        """Record an answer to a phase's invitation (caller's transaction): the LINE
        user's answer, and the attendance of the volunteer or group behind it."""
        await store.put_rsvp(session, phase_id, channel, user_key, answer, self._clock())
        await record_rsvp(session, self.attendance, phase_id, channel, user_key, answer)

    async def phase_info(self, session: AsyncSession, phase_id: int) -> PhaseStatus | None:
        """What the dialogue needs to answer an RSVP."""
        phase = await store.get_phase(session, phase_id)
        if phase is None:
            return None
        tz = zone(phase.programme.timezone)
        open_ = phase.rsvp and phase.cancelled_at is None and phase.starts_at > self._clock()
        return PhaseStatus(
            phase.id,
            {"ja": phase.title_ja, "en": phase.title_en},
            {
                loc: phase_fields(
                    programme=phase.programme.name,
                    title="",
                    starts_at=phase.starts_at,
                    ends_at=None,
                    tz=tz,
                    place=None,
                    url=None,
                    description=None,
                    locale=loc,
                )["date"]
                + " "
                + phase.starts_at.astimezone(tz).strftime("%H:%M")
                for loc in ("ja", "en")
            },
            open_,
        )

    async def attendance_sheet(self, phase_id: int, locale: str) -> AttendanceSheet | None:
        """Who was invited to a phase (any kind), answered, and attended (life-cohort)."""
        async with self._maker() as session:
            phase = await store.get_phase(session, phase_id)
            if phase is None:
                return None
            people = await attendees(session, phase)
            followers = await follower_answers(session, phase_id)
            date = self._local(phase.starts_at, phase.programme)
        return AttendanceSheet(
            phase_id,
            _phase_title(phase, locale),
            date,
            tuple(people),
            followers_yes=followers.count("yes"),
            followers_no=followers.count("no"),
        )

    async def attendance_text(self, phase_id: int, locale: str) -> str:
        """The attendance list of a phase of any kind, for coordinators."""
        sheet = await self.attendance_sheet(phase_id, locale)
        if sheet is None:
            return TXT.phase_gone(locale)
        head = TXT.attendance_title(locale, phase=sheet.title, date=sheet.when)
        if not sheet.people and not (sheet.followers_yes or sheet.followers_no):
            return f"*{head}*\n{TXT.attendance_empty(locale)}"
        lines = [f"*{head}*"]
        for state, mark in _ATTENDANCE_MARKS:
            names = [plain(a.name) for a in sheet.people if a.state == state]
            if state == "rsvp_yes" and sheet.followers_yes:
                names.append(TXT.followers(locale, n=sheet.followers_yes))
            if state == "rsvp_no" and sheet.followers_no:
                names.append(TXT.followers(locale, n=sheet.followers_no))
            if names:
                label = ATTENDANCE_STATES[state](locale)
                lines.append(f"{mark} {len(names)} {label}: {', '.join(names)}")
        return "\n".join(lines)

    async def mark_attendance(
        self, phase_id: int, present: set[str], actor: str, locale: str
    ) -> ActionResult:
        """Coordinators record who attended (the Slack modal's ticks), for any phase kind."""
        async with self._maker.begin() as session:
            phase = await store.get_phase(session, phase_id)
            if phase is None:
                return ActionResult(False, TXT.phase_gone(locale))
            here, away = await record_attended(
                session, self.attendance, phase, present, actor=actor
            )
            await repo.audit(
                session,
                actor=actor,
                action="attendance_recorded",
                subject_type="phase",
                subject_id=phase.id,
                detail={"attended": here, "absent": away},
                at=self._clock(),
            )
            title = _phase_title(phase, locale)
        return ActionResult(True, TXT.attendance_saved(locale, phase=title, here=here, away=away))

    # ---------------------------------------------------------------- what coordinators see

    async def teams_of(self, programme_id: int) -> list[tuple[int, str]]:
        """(project id, group name) of the programme's accepted projects: the teams a
        phase can be meant for."""
        async with self._maker() as session:
            return await store.programme_projects(session, programme_id)

    async def programmes(self) -> list[Programme]:
        """Every programme with phases and announcements (newest first)."""
        async with self._maker() as session:
            return await store.list_programmes(session)

    async def schedule_text(self, locale: str, limit: int = 30) -> str:
        """`/tsunagu schedule`: what is due next, what was missed, and briefing RSVPs."""
        async with self._maker() as session:
            upcoming = await store.upcoming(session, states=("scheduled",), limit=limit)
            # Only what was missed while running or stopped: a notice already past when
            # its programme file was imported was never due on this service.
            skipped = [
                a
                for a in await store.upcoming(session, states=("skipped",), limit=200)
                if not (a.detail or {}).get("past_when_written")
            ][-20:]
            programmes = await store.list_programmes(session)
            # Each phase is paired with the programme it was loaded from: a phase whose
            # announcements have all gone out is not in `upcoming`, so its own
            # `phase.programme` was never loaded and would lazy-load after the session.
            rsvp_phases = [
                (p, prog)
                for prog in programmes
                for p in prog.phases
                if p.rsvp and p.cancelled_at is None
            ]
            counts = await store.rsvp_counts(session, [p.id for p, _ in rsvp_phases])
        if not programmes:
            return TXT.no_programmes(locale)
        lines = [f"*{TXT.schedule_title(locale)}*"]
        if not upcoming:
            lines.append(TXT.schedule_empty(locale))
        for a in upcoming:
            lines.append(self._ann_line(a, locale))
        if skipped:
            lines.append(f"\n*{TXT.skipped_title(locale)}*")
            lines.extend(self._ann_line(a, locale) for a in skipped)
        if rsvp_phases:
            lines.append(f"\n*{TXT.rsvp_title(locale)}*")
            for p, prog in rsvp_phases:
                c = counts.get(p.id, {})
                lines.append(
                    f"• #{p.id} "
                    + TXT.rsvp_line(
                        locale,
                        phase=plain(_phase_title(p, locale)),
                        date=self._local(p.starts_at, prog),
                        yes=c.get("yes", 0),
                        no=c.get("no", 0),
                    )
                )
        return "\n".join(lines)

    def _ann_line(self, a: Announcement, locale: str) -> str:
        audience = ", ".join(AUDIENCES[x](locale) for x in a.audience if x in AUDIENCES)
        return (
            f"• #{a.id} {self._local(a.send_at, a.phase.programme)} — "
            f"{plain(_phase_title(a.phase, locale))} ({describe_offset(a, locale)}) → {audience}"
            f" [{STATES.get(a.state, STATES['scheduled'])(locale)}]"
        )

    def _local(self, at: datetime, programme: Programme) -> str:
        return at.astimezone(ZoneInfo(programme.timezone)).strftime("%Y-%m-%d %H:%M")


def _phase_title(phase: Phase, locale: str) -> str:
    return phase.title_en if locale == "en" else phase.title_ja


def _fill(row: Announcement, spec: AnnouncementSpec, at: datetime, now: datetime) -> None:
    row.offset_days = spec.offset_days
    row.at_local = spec.at_local
    row.offset_minutes = spec.offset_minutes
    row.audience = list(spec.audience)
    row.audience_filter = dict(spec.audience_filter)
    row.text_ja = spec.text_ja
    row.text_en = spec.text_en
    row.grace_minutes = spec.grace_minutes
    row.send_at = at
    row.updated_at = now


def _spec_of(row: Announcement) -> AnnouncementSpec:
    return AnnouncementSpec(
        key=row.key,
        offset_days=row.offset_days,
        at_local=row.at_local,
        offset_minutes=row.offset_minutes,
        audience=tuple(row.audience),
        audience_filter=dict(row.audience_filter or {}),
        text_ja=row.text_ja,
        text_en=row.text_en,
        grace_minutes=row.grace_minutes,
    )


def phase_spec(
    *,
    kind: str,
    title_ja: str,
    title_en: str,
    starts: datetime,
    ends: datetime | None = None,
    place: str | None = None,
    url: str | None = None,
    description: str | None = None,
    rsvp: bool | None = None,
    key: str | None = None,
    reminders: tuple[str, ...] | None = None,
    project: int | None = None,
    groups: bool = True,
) -> PhaseSpec:
    """A phase from the Slack modal's fields, with its kind's default announcements (to
    the team's own audiences only when the phase is for one team; to the groups only
    when `groups`)."""
    defaults = default_announcements(kind)
    if reminders is not None:
        defaults = tuple(a for a in defaults if a.key in reminders)
    if not groups:
        defaults = tuple(
            replace(a, audience=tuple(x for x in a.audience if x != "groups"))
            for a in defaults
            if set(a.audience) != {"groups"}
        )
    if project is not None:
        defaults = for_one_team(defaults)
    return PhaseSpec(
        key=key or kind.replace("_", "-"),
        kind=kind if kind in KINDS else "other",
        title_ja=title_ja or KINDS.get(kind, KINDS["other"])("ja"),
        title_en=title_en or KINDS.get(kind, KINDS["other"])("en"),
        starts=starts,
        ends=ends,
        place=place,
        url=url,
        description_ja=description,
        description_en=description,
        rsvp=kind == "briefing" if rsvp is None else rsvp,
        announcements=defaults,
        project=project,
    )
