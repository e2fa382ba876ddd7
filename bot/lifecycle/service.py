"""A project's second half: the group's answer to its team, the proposal's deadline,
contact exchange, the kickoff agreement and re-scoping, hours, delivery, completion,
feedback, thanks, attendance and the next cohort's invitation list.

Methods taking a session work in the caller's transaction (the inbox's, or a Slack
command's): the state change, its audit row (through `transition()`) and the messages it
causes (outbox rows) commit together. The LINE flows and Slack commands that call them
are wired in the next round (issue #13).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox
from bot import work_chat as chat
from bot.attendance import AttendanceBook, AttendanceState, Invitee, PersonType
from bot.cards import summary_of
from bot.conversation.model import Choice, Panel, Reply
from bot.dialogue import AgreementStatus
from bot.i18n import T, Texts, join_list
from bot.postback import AgreementAnswer, ShareContact
from bot.programmes.teams import post_to_team, team_announce
from bot.rules.records import PUBLISH, Invalid, hours_text, hours_to_minutes
from bot.rules.states import (
    Moved,
    Party,
    Refusal,
    Role,
    coordinator_label,
    group_label,
    transition,
)
from bot.taxonomy import SKILLS, label
from storage import repo
from storage.base import utcnow
from storage.models import (
    Agreement,
    Attendance,
    Delivery,
    Feedback,
    HoursEntry,
    Organization,
    Phase,
    Project,
    Volunteer,
)


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    p_reminder = T(
        "ご提案したチームについて、{until}までにご確認をお願いします（確定・辞退・変更の依頼）。",
        "Please answer about the proposed team by {until} (confirm, decline or ask for a change).",
    )
    p_expired_group = T(
        "チームのご提案は期限が過ぎたため取り消しました。事務局から改めてご連絡します。",
        "The team proposal lapsed without an answer. The office will be in touch again.",
    )
    p_expired_thread = T(
        "⏰ チーム案 #{id} に団体から回答がないまま期限が過ぎました。募集中に戻しました。",
        "⏰ The group did not answer team proposal #{id} in time; it is recruiting again.",
    )
    rejected_thread = T(
        "🙅 団体がチーム案 #{id} を辞退しました。{text}",
        "🙅 The group declined team proposal #{id}. {text}",
    )
    change_thread = T(
        "✏️ 団体からチーム案 #{id} への変更依頼: {text}",
        "✏️ The group asks for a change to team proposal #{id}: {text}",
    )
    rejected_member = T(
        "{org}のプロジェクトは、団体の判断でチーム編成を見直すことになりました。"
        "ご協力ありがとうございました。",
        "{org} asked to rethink the team for its project. Thank you for being ready to help.",
    )
    contact_member = T(
        "{org}のご担当: {name}（{role}）\n連絡先: {contact}",
        "{org}'s contact: {name} ({role})\nHow to reach them: {contact}",
    )
    contact_member_none = T(
        "{org}のご担当: {name}（{role}）\n"
        "連絡先は共有されていません。事務局を通じてご連絡ください。",
        "{org}'s contact: {name} ({role})\nNo contact details were shared; "
        "please go through the office.",
    )
    contact_group = T("チームのメンバー:\n{members}", "Your team:\n{members}")
    contact_line = T(
        "・{name}（{skills}）連絡先: {contact}", "・{name} ({skills}) contact: {contact}"
    )
    contact_line_none = T(
        "・{name}（{skills}）連絡先は事務局経由", "・{name} ({skills}) contact via the office"
    )
    agreement_group = T(
        "チームから活動内容の合意案（第{v}版）が届きました。\n"
        "成果物: {deliverable}\n範囲: {scope}\n"
        "成功の基準: {measures}\n打ち合わせ: {rhythm}\n終了予定: {end}\n"
        "この内容でよろしいか、ご確認ください。",
        "The team proposes an agreement (version {v}).\nDeliverable: {deliverable}\n"
        "Scope: {scope}\nSuccess measures: {measures}\nMeetings: {rhythm}\nEnd date: {end}\n"
        "Please confirm it or ask for changes.",
    )
    # life-group (#13): contact sharing, asked once of people who signed up before it.
    ask_contact_member = T(
        "チームが決まったら、団体にあなたの連絡先を伝えてもよいですか？",
        "When your team forms, may we give the group your contact details?",
    )
    ask_contact_group = T(
        "チームが決まったら、ボランティアにご担当者の連絡先を伝えてもよいですか？",
        "When the team forms, may we give the volunteers the contact person's details?",
    )
    share_yes = T("共有してよい", "Yes, share it")
    share_no = T("共有しない", "No, don't")
    # life-group (#13): the agreement's card in LINE.
    a_title = T("活動内容の合意案（第{v}版）", "Proposed agreement (version {v})")
    a_deliverable = T("成果物", "Deliverable")
    a_scope = T("範囲", "Scope")
    a_measures = T("成功の基準", "Success measures")
    a_rhythm = T("打ち合わせ", "Meetings")
    a_end = T("終了予定", "End date")
    a_note = T(
        "この内容で進めてよければ「確定する」を、変更してほしい点があれば「変更を依頼」を押してください。",
        "Tap “Confirm” to go ahead with this, "
        "or “Ask for changes” to tell the team what to change.",
    )
    agreement_ok = T("確定する", "Confirm")
    agreement_ask = T("変更を依頼", "Ask for changes")
    agreement_confirmed = T(
        "✅ 団体が合意案 第{v}版を確定しました。成果物: {deliverable}",
        "✅ The group confirmed agreement version {v}. Deliverable: {deliverable}",
    )
    agreement_change = T(
        "✏️ 団体が合意案 第{v}版への変更を依頼しました: {comment}",
        "✏️ The group asks for changes to agreement version {v}: {comment}",
    )
    delivered_group = T(
        "チームから成果物が届きました。\n{note}\n{link}\n内容をご確認のうえ、受け取りを確定してください。",
        "The team has delivered.\n{note}\n{link}\nPlease look at it and confirm you received it.",
    )
    delivery_confirmed = T(
        "📦 団体が成果物の受け取りを確認しました。", "📦 The group confirmed the delivery."
    )
    thanks_member = T(
        "{org}のプロジェクトが完了しました。{hours}時間のご協力、本当にありがとうございました。"
        "よろしければ、ふりかえりのアンケート（1〜5と一言）にお答えください。",
        "{org}'s project is complete. Thank you so much for your {hours} hours. "
        "If you can, please tell us how it went (1 to 5 and a few words).",
    )
    thanks_group = T(
        "プロジェクト「{summary}」が完了しました。チームは合計{hours}時間取り組みました。"
        "よろしければ、ふりかえりのアンケート（1〜5と一言）にお答えください。",
        "Your project “{summary}” is complete. The team gave {hours} hours in all. "
        "If you can, please tell us how it went (1 to 5 and a few words).",
    )
    state_thread = T("🔁 #{id}: {was} → {now}", "🔁 #{id}: {was} → {now}")
    state_group = T("ご相談「{summary}」の状況: {now}", "Your request “{summary}” is now: {now}")
    reason = T("理由: {text}", "Reason: {text}")
    state_member = T("{org}のプロジェクトの状況: {now}", "{org}'s project is now: {now}")
    state_team = T("📌 このプロジェクトの状況: {now}", "📌 This project is now: {now}")


TXT = _Texts


@dataclass(frozen=True, slots=True)
class Totals:
    """Hours logged on a project: in all and per volunteer (None: deleted people)."""

    minutes: int
    per_volunteer: dict[int | None, int]

    @property
    def hours(self) -> str:
        """The total as hours for reading."""
        return hours_text(self.minutes)


class CoordinatorDesk(Protocol):
    """What the lifecycle needs of coordination (bot.coordination.Coordination): the
    coordinators' language and time zone, and a line in a project card's thread."""

    locale: str
    tz: ZoneInfo

    def local(self, at: datetime | None) -> str: ...

    async def note(
        self, session: AsyncSession, project: Project, text: str, why: tuple[object, ...]
    ) -> None: ...


class Lifecycle:
    """The operations of a project's second half (see the module's docstring)."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        coordination: CoordinatorDesk,
        *,
        notify: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
        proposal_days: int = 5,
        remind_before: timedelta = timedelta(days=1),
        team_locale: Callable[[str | None], str] | None = None,
    ) -> None:
        self._maker = maker
        self.coordination = coordination
        self._notify = notify
        self._clock = clock
        self.attendance = AttendanceBook(clock)
        self.proposal_days = proposal_days
        self.remind_before = remind_before
        self.locale = coordination.locale
        # The language a team channel reads (its own, else the coordinators').
        self._team_locale = team_locale or (lambda _channel: coordination.locale)

    # ---------------------------------------------------------------- any state change

    async def change_state(
        self,
        session: AsyncSession,
        project_id: int,
        event: str,
        *,
        role: Role,
        actor: str,
        reason: str | None = None,
    ) -> Moved:
        """Apply a plain state change (withdraw, pause, resume, cancel) and tell those the
        table names, each in their language, with the state as they read it (and the
        reason, when one was given; it is in the audit row too)."""
        moved = await transition(
            session,
            project_id,
            event,
            role=role,
            actor=actor,
            now=self._clock(),
            detail={"reason": reason} if reason else None,
        )
        if moved.ok:
            await self.tell(session, moved, reason=reason)
        return moved

    async def tell(self, session: AsyncSession, moved: Moved, *, reason: str | None = None) -> None:
        """Write the messages a transition causes to the parties it names."""
        project = await repo.get_project(session, moved.project_id)
        assert project is not None
        org = project.organization
        why = ("state", moved.project_id, moved.version)
        if Party.GROUP in moved.tell:
            text = TXT.state_group(
                org.locale,
                summary=summary_of(project.challenge),
                now=group_label(moved.status, org.locale),
            )
            await self._push_org(session, org, text + _reason(reason, org.locale), why)
        if Party.MEMBERS in moved.tell:
            for match, v in await repo.project_matches(session, moved.project_id):
                if match.state == "accepted":
                    now = coordinator_label(moved.status, v.locale)
                    text = TXT.state_member(v.locale, org=org.name, now=now)
                    text += _reason(reason, v.locale)
                    await self._push(session, v.channel, v.user_key, text, (*why, match.id))
        if Party.COORDINATORS in moved.tell:
            text = TXT.state_thread(
                self.locale,
                id=moved.project_id,
                was=coordinator_label(moved.from_status or "", self.locale),
                now=coordinator_label(moved.status, self.locale),
            )
            text += _reason(reason, self.locale)
            await self.coordination.note(session, project, text, why)
        if Party.TEAM in moved.tell and project.team_channel_id:
            # Only a channel that exists: a post queued for a channel made later would
            # greet the new team with an old pause.
            loc = self._team_locale(project.team_channel_id)
            text = TXT.state_team(loc, now=coordinator_label(moved.status, loc))
            key = outbox.key_for("state-team", moved.project_id, moved.version)
            await post_to_team(
                session, moved.project_id, {"text": text + _reason(reason, loc)}, key
            )

    # ---------------------------------------------------------------- the team proposal

    async def proposal_sent(self, session: AsyncSession, project_id: int, now: datetime) -> None:
        """Start the group's deadline for a team proposal just shown to it."""
        await session.execute(
            update(Project)
            .where(Project.id == project_id)
            .values(
                proposal_sent_at=now,
                proposal_expires_at=now + timedelta(days=self.proposal_days),
                proposal_reminded_at=None,
            ),
            execution_options={"synchronize_session": False},
        )

    async def team_confirmed(self, session: AsyncSession, project_id: int) -> None:
        """After the group confirmed its team: close the deadline and exchange contacts."""
        await session.execute(
            update(Project).where(Project.id == project_id).values(proposal_expires_at=None),
            execution_options={"synchronize_session": False},
        )
        await self.exchange_contacts(session, project_id)

    async def reject_team(
        self, session: AsyncSession, project_id: int, *, change: str | None = None
    ) -> Moved:
        """The group declines the proposed team or asks for a change (free text): the
        project recruits again, members are released and the coordinators read why."""
        now = self._clock()
        text = (change or "").strip()
        moved = await transition(
            session,
            project_id,
            "reject_team",
            role=Role.GROUP,
            actor="group",
            now=now,
            values={"proposal_expires_at": None},
            detail={"change_requested": bool(text)},
        )
        if not moved.ok:
            return moved
        project = await repo.get_project(session, project_id)
        assert project is not None
        await self._release_members(session, project, now)
        said = TXT.change_thread if text else TXT.rejected_thread
        await self.coordination.note(
            session,
            project,
            said(self.locale, id=project_id, text=text),
            ("team-rejected", project_id, moved.version),
        )
        return moved

    async def _release_members(
        self, session: AsyncSession, project: Project, now: datetime
    ) -> None:
        """Accepted members of a rejected team are told and leave it (capacity freed)."""
        for match, volunteer in await repo.project_matches(session, project.id):
            if match.state != "accepted":
                continue
            await repo.move_match(
                session,
                match.id,
                from_states=("accepted",),
                to_state="withdrawn",
                actor="group",
                now=now,
            )
            text = TXT.rejected_member(volunteer.locale, org=project.organization.name)
            await self._push(
                session, volunteer.channel, volunteer.user_key, text, ("rej", match.id)
            )

    async def expire_and_remind_proposals(self, now: datetime | None = None) -> tuple[int, int]:
        """Remind groups whose proposal is about to lapse; lapse the overdue ones."""
        now = now or self._clock()
        reminded = expired = 0
        async with self._maker.begin() as session:
            rows = await session.scalars(
                select(Project.id)
                .where(
                    Project.status == "team_proposed",
                    Project.proposal_expires_at <= now + self.remind_before,
                )
                .order_by(Project.id)
            )
            for project_id in list(rows):
                project = await repo.get_project(session, project_id)
                if project is None or project.proposal_expires_at is None:
                    continue
                org = project.organization
                if project.proposal_expires_at <= now:
                    moved = await transition(
                        session,
                        project_id,
                        "expire_proposal",
                        role=Role.SYSTEM,
                        actor="system",
                        now=now,
                        values={"proposal_expires_at": None},
                    )
                    if not moved.ok:
                        continue
                    expired += 1
                    await self._release_members(session, project, now)
                    await self._push_org(
                        session, org, TXT.p_expired_group(org.locale), ("p-exp", project_id)
                    )
                    await self.coordination.note(
                        session,
                        project,
                        TXT.p_expired_thread(self.locale, id=project_id),
                        ("p-exp", project_id, moved.version),
                    )
                elif project.proposal_reminded_at is None:
                    project.proposal_reminded_at = now
                    reminded += 1
                    until = self.coordination.local(project.proposal_expires_at)
                    await self._push_org(
                        session,
                        org,
                        TXT.p_reminder(org.locale, until=until),
                        ("p-rem", project_id, project.version),
                    )
        if reminded or expired:
            self._notify()
        return reminded, expired

    # ---------------------------------------------------------------- contacts

    async def exchange_contacts(self, session: AsyncSession, project_id: int) -> None:
        """Each side gets only what the other consented to share: members the group
        contact's details, the group each member's first name, skills and contact."""
        project = await repo.get_project(session, project_id)
        assert project is not None
        org = project.organization
        members = [
            v for m, v in await repo.project_matches(session, project_id) if m.state == "accepted"
        ]
        for volunteer in members:
            loc = volunteer.locale
            if org.share_contact == "yes" and org.contact:
                text = TXT.contact_member(
                    loc,
                    org=org.name,
                    name=org.contact_name,
                    role=org.contact_role,
                    contact=org.contact,
                )
            else:
                text = TXT.contact_member_none(
                    loc, org=org.name, name=org.contact_name, role=org.contact_role
                )
            await self._push(
                session,
                volunteer.channel,
                volunteer.user_key,
                text,
                ("contact", project_id, volunteer.id),
            )
        loc = org.locale
        lines = []
        for v in members:
            name = v.display_name.split()[0] if v.display_name.split() else v.display_name
            skills = join_list([label(SKILLS, s.skill, loc) for s in v.skills], loc) or "-"
            if v.share_contact == "yes" and v.contact:
                lines.append(TXT.contact_line(loc, name=name, skills=skills, contact=v.contact))
            else:
                lines.append(TXT.contact_line_none(loc, name=name, skills=skills))
        await self._push_org(
            session,
            org,
            TXT.contact_group(loc, members="\n".join(lines)),
            ("contacts", project_id),
        )

    async def ask_contact(self, session: AsyncSession, person: Volunteer | Organization) -> None:
        """Ask someone who was never asked (signed up before it existed) whether their
        contact may be shared, once, as their team takes shape (life-group)."""
        if person.share_contact != "unknown" or person.user_key.startswith("deleted:"):
            return
        loc = person.locale
        buttons = tuple(
            Choice(said(loc), ShareContact(answer).pack(), said(loc))
            for said, answer in ((TXT.share_yes, "yes"), (TXT.share_no, "no"))
        )
        group = isinstance(person, Organization)
        asked = TXT.ask_contact_group if group else TXT.ask_contact_member
        await outbox.enqueue(
            session,
            channel=person.channel,
            kind="push",
            target=person.user_key,
            payload=outbox.replies_payload([Reply(asked(loc), buttons)], urgent=True),
            key=outbox.key_for("ask-contact", person.channel, person.user_key),
        )

    # ---------------------------------------------------------------- agreement

    async def propose_agreement(
        self,
        session: AsyncSession,
        project_id: int,
        *,
        actor: str,
        deliverable: str,
        scope: str,
        success_measures: str,
        meeting_rhythm: str,
        end_date: date,
    ) -> Agreement | Invalid:
        """The team proposes the agreement (or a re-scoping): a new version the group reads."""
        now = self._clock()
        parts = [p.strip() for p in (deliverable, scope, success_measures, meeting_rhythm)]
        if not all(parts):
            return Invalid("agreement_empty")
        if end_date < now.astimezone(self.coordination.tz).date():
            return Invalid("agreement_past")
        project = await repo.get_project(session, project_id)
        assert project is not None
        last = await session.scalar(
            select(func.max(Agreement.version)).where(Agreement.project_id == project_id)
        )
        row = Agreement(
            project_id=project_id,
            version=int(last or 0) + 1,
            deliverable=parts[0],
            scope=parts[1],
            success_measures=parts[2],
            meeting_rhythm=parts[3],
            end_date=end_date,
            proposed_by=actor,
            status="proposed",
            proposed_at=now,
        )
        session.add(row)
        await session.flush()
        await repo.audit(
            session,
            actor=actor,
            action="agreement_proposed",
            subject_type="project",
            subject_id=project_id,
            detail={"version": row.version},
            at=now,
        )
        org = project.organization
        text = TXT.agreement_group(
            org.locale,
            v=row.version,
            deliverable=row.deliverable,
            scope=row.scope,
            measures=row.success_measures,
            rhythm=row.meeting_rhythm,
            end=end_date.isoformat(),
        )
        await self._push_org(
            session, org, text, ("agreement", row.id), _agreement_panel(row, org.locale)
        )
        return row

    async def answer_agreement(
        self, session: AsyncSession, agreement_id: int, *, confirm: bool, comment: str | None = None
    ) -> Agreement | None:
        """The group confirms a proposed version (the project is agreed; its deliverable is
        set) or asks for changes with a comment. None if that version is not open."""
        now = self._clock()
        row = await session.get(Agreement, agreement_id)
        if row is None or row.status != "proposed":
            return None
        newest = await session.scalar(
            select(func.max(Agreement.version)).where(Agreement.project_id == row.project_id)
        )
        if newest != row.version:
            return None  # a newer version replaced it
        row.status = "confirmed" if confirm else "change_requested"
        row.group_comment = (comment or "").strip() or None
        row.decided_at = now
        project = await repo.get_project(session, row.project_id)
        assert project is not None
        if confirm:
            project.deliverable = row.deliverable
            if project.status == "team_formed":
                await transition(
                    session,
                    project.id,
                    "agree",
                    role=Role.GROUP,
                    actor="group",
                    now=now,
                    detail={"agreement": row.version},
                )
            text = TXT.agreement_confirmed(self.locale, v=row.version, deliverable=row.deliverable)
        else:
            text = TXT.agreement_change(
                self.locale, v=row.version, comment=row.group_comment or "-"
            )
        await repo.audit(
            session,
            actor="group",
            action="agreement_confirmed" if confirm else "agreement_change",
            subject_type="project",
            subject_id=project.id,
            detail={"version": row.version},
            at=now,
        )
        await self.coordination.note(session, project, text, ("agreement-answer", row.id))
        # life-group (#13): the team reads the group's answer in its channel (or in LINE).
        answered = TXT.agreement_confirmed if confirm else TXT.agreement_change
        by_locale = {
            loc: answered(
                loc, v=row.version, deliverable=row.deliverable, comment=row.group_comment or "-"
            )
            for loc in ("ja", "en")
        }
        await team_announce(session, project, by_locale, f"agreement-answer-{row.id}")
        return row

    async def agreement_status(
        self, session: AsyncSession, agreement_id: int, organization_id: int
    ) -> AgreementStatus | None:
        """An agreement version of this group's project as the group answering it sees it:
        open while proposed and the newest (None: not this group's)."""
        row = await session.get(Agreement, agreement_id)
        if row is None:
            return None
        project = await repo.get_project(session, row.project_id)
        if project is None or project.organization_id != organization_id:
            return None
        newest = await session.scalar(
            select(func.max(Agreement.version)).where(Agreement.project_id == row.project_id)
        )
        is_open = row.status == "proposed" and newest == row.version
        return AgreementStatus(row.id, row.version, is_open)

    async def agreements(self, session: AsyncSession, project_id: int) -> list[Agreement]:
        """Every version of a project's agreement, oldest first."""
        rows = await session.scalars(
            select(Agreement).where(Agreement.project_id == project_id).order_by(Agreement.version)
        )
        return list(rows)

    # ---------------------------------------------------------------- hours

    async def log_hours(
        self,
        session: AsyncSession,
        project_id: int,
        volunteer_id: int,
        *,
        hours: str,
        day: date | None = None,
        note: str | None = None,
    ) -> HoursEntry | Invalid:
        """A member logs time on a project (0 < hours <= 24, not a future day)."""
        now = self._clock()
        today = now.astimezone(self.coordination.tz).date()
        minutes = hours_to_minutes(hours, day or today, today)
        if isinstance(minutes, Invalid):
            return minutes
        row = HoursEntry(
            project_id=project_id,
            volunteer_id=volunteer_id,
            day=day or today,
            minutes=minutes,
            note=(note or "").strip()[:500] or None,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        return row

    async def totals(self, session: AsyncSession, project_id: int) -> Totals:
        """Hours on a project, in all and per person."""
        rows = await session.execute(
            select(HoursEntry.volunteer_id, func.sum(HoursEntry.minutes))
            .where(HoursEntry.project_id == project_id)
            .group_by(HoursEntry.volunteer_id)
        )
        per = {vid: int(total) for vid, total in rows}
        return Totals(sum(per.values()), per)

    # ---------------------------------------------------------------- delivery and completion

    async def record_delivery(
        self,
        session: AsyncSession,
        project_id: int,
        *,
        actor: str,
        role: Role,
        note: str,
        link: str | None,
    ) -> Moved:
        """The team (or a coordinator) records the delivery; the group is asked to confirm.
        A project already delivered takes a new version (after the group said what was
        missing): no state change, a new card for the group, an audit row."""
        now = self._clock()
        moved = await transition(session, project_id, "deliver", role=role, actor=actor, now=now)
        if not moved.ok and moved.refusal is Refusal.WRONG_STATE and moved.status == "delivered":
            moved = Moved(True, "redeliver", project_id, "delivered", "delivered", moved.version)
            await repo.audit(
                session,
                actor=actor,
                action="redeliver",
                subject_type="project",
                subject_id=project_id,
                detail={"by": role.value},
                at=now,
            )
        if not moved.ok:
            return moved
        row = Delivery(
            project_id=project_id,
            link=(link or "").strip() or None,
            note=note.strip(),
            recorded_by=actor,
            recorded_at=now,
        )
        session.add(row)
        await session.flush()
        project = await repo.get_project(session, project_id)
        assert project is not None
        org = project.organization
        text = TXT.delivered_group(org.locale, note=row.note, link=row.link or "")
        buttons = chat.delivery_buttons(project_id, org.locale)
        await self._push_org(session, org, text, ("delivery", row.id), choices=buttons)
        return moved

    async def confirm_delivery(self, session: AsyncSession, project_id: int) -> Delivery | None:
        """The group confirms it received the newest delivery (None: nothing to confirm)."""
        now = self._clock()
        row = await session.scalar(
            select(Delivery)
            .where(Delivery.project_id == project_id, Delivery.confirmed_at.is_(None))
            .order_by(Delivery.id.desc())
        )
        if row is None:
            return None
        row.confirmed_at = now
        await repo.audit(
            session,
            actor="group",
            action="delivery_confirmed",
            subject_type="project",
            subject_id=project_id,
            detail={"delivery": row.id},
            at=now,
        )
        project = await repo.get_project(session, project_id)
        assert project is not None
        await self.coordination.note(
            session, project, TXT.delivery_confirmed(self.locale), ("delivery-ok", row.id)
        )
        return row

    async def complete(
        self, session: AsyncSession, project_id: int, *, actor: str, role: Role
    ) -> Moved:
        """Complete a delivered project: its members' capacity is free again, and everyone
        is thanked (members with their own hours) and asked for feedback."""
        now = self._clock()
        moved = await transition(session, project_id, "complete", role=role, actor=actor, now=now)
        if not moved.ok:
            return moved
        project = await repo.get_project(session, project_id)
        assert project is not None
        org = project.organization
        totals = await self.totals(session, project_id)
        for match, volunteer in await repo.project_matches(session, project_id):
            if match.state != "accepted":
                continue
            mine = hours_text(totals.per_volunteer.get(volunteer.id, 0))
            text = TXT.thanks_member(volunteer.locale, org=org.name, hours=mine)
            await self._push(
                session,
                volunteer.channel,
                volunteer.user_key,
                text,
                ("thanks-member", match.id),
                choices=(chat.feedback_button(project_id, volunteer.locale),),
            )
        text = TXT.thanks_group(
            org.locale, summary=summary_of(project.challenge), hours=totals.hours
        )
        feedback = (chat.feedback_button(project_id, org.locale),)
        await self._push_org(session, org, text, ("thanks-group", project_id), choices=feedback)
        return moved

    async def record_feedback(
        self,
        session: AsyncSession,
        project_id: int,
        *,
        author_type: PersonType,
        author_id: int,
        score: int,
        words: str | None,
        publish: str,
    ) -> Feedback | Invalid:
        """Store one person's (or the group's) feedback; a second answer replaces the first."""
        if not 1 <= score <= 5:
            return Invalid("score")
        if publish not in PUBLISH:
            return Invalid("publish")
        row = await session.scalar(
            select(Feedback).where(
                Feedback.project_id == project_id,
                Feedback.author_type == author_type,
                Feedback.author_id == author_id,
            )
        )
        if row is None:
            row = Feedback(project_id=project_id, author_type=author_type, author_id=author_id)
            session.add(row)
        row.score = score
        row.words = (words or "").strip()[:2000] or None
        row.publish = publish
        row.created_at = self._clock()
        await session.flush()
        return row

    # ---------------------------------------------------------------- attendance, next cohort

    async def record_attendance(
        self,
        session: AsyncSession,
        phase_id: int,
        person_type: PersonType,
        person_id: int,
        state: AttendanceState,
        *,
        actor: str,
    ) -> Attendance:
        """Record invited / rsvp_yes / rsvp_no / attended / absent (bot.attendance)."""
        return await self.attendance.record_attendance(
            session, phase_id, person_type, person_id, state, actor=actor
        )

    async def next_cohort(self, session: AsyncSession) -> list[Invitee]:
        """The next cohort's invitation list (bot.attendance)."""
        return await self.attendance.next_cohort(session)

    async def invite_next_cohort(
        self, session: AsyncSession, phase_ids: Sequence[int], *, actor: str
    ) -> list[Invitee]:
        """Mark everyone on the next-cohort list as invited to these (briefing) phases."""
        people = await self.next_cohort(session)
        for phase_id in phase_ids:
            if await session.get(Phase, phase_id) is None:
                continue
            for person in people:
                await self.record_attendance(
                    session, phase_id, person.person_type, person.person_id, "invited", actor=actor
                )
        return people

    # ---------------------------------------------------------------- messages

    async def _push(
        self,
        session: AsyncSession,
        channel: str,
        user_key: str,
        text: str,
        why: tuple[object, ...],
        panel: tuple[Panel, tuple[Choice, ...]] | None = None,
        choices: tuple[Choice, ...] = (),
    ) -> None:
        reply = Reply(text, panel[1], (panel[0],)) if panel else Reply(text, choices)
        await outbox.enqueue(
            session,
            channel=channel,
            kind="push",
            target=user_key,
            payload=outbox.replies_payload([reply], urgent=True),
            key=outbox.key_for("lifecycle", *why),
        )

    async def _push_org(
        self,
        session: AsyncSession,
        org: Organization,
        text: str,
        why: tuple[object, ...],
        panel: tuple[Panel, tuple[Choice, ...]] | None = None,
        choices: tuple[Choice, ...] = (),
    ) -> None:
        if org.user_key.startswith("deleted:"):
            return  # the contact deleted their data: nobody to tell in LINE
        await self._push(session, org.channel, org.user_key, text, why, panel, choices)


def _agreement_panel(row: Agreement, loc: str) -> tuple[Panel, tuple[Choice, ...]]:
    """A kickoff agreement version as a card with the group's two buttons (life-group)."""
    buttons = tuple(
        Choice(said(loc), AgreementAnswer(row.id, answer).pack(), said(loc))
        for said, answer in ((TXT.agreement_ok, "ok"), (TXT.agreement_ask, "change"))
    )
    fields = (
        (TXT.a_deliverable(loc), row.deliverable),
        (TXT.a_scope(loc), row.scope),
        (TXT.a_measures(loc), row.success_measures),
        (TXT.a_rhythm(loc), row.meeting_rhythm),
        (TXT.a_end(loc), row.end_date.isoformat()),
    )
    panel = Panel(
        title=TXT.a_title(loc, v=row.version),
        kind="agreement",
        fields=fields,
        note=TXT.a_note(loc),
        buttons=buttons,
    )
    return panel, buttons


def _reason(reason: str | None, locale: str) -> str:
    """A state change's reason as a line of its message ("" without one)."""
    return "\n" + TXT.reason(locale, text=reason) if reason else ""


# Projects whose people have served (a team formed at some point).


__all__ = ["Invitee", "Lifecycle", "Party", "Totals"]
