"""The effect applier: carries out what the dialogue decided (profiles, states, outbox rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.cards import plain, summary_of
from bot.cases_chat import AnswerCase, CaseCard
from bot.coordination import Coordination
from bot.dialogue import (
    AgreementStatus,
    AnswerAgreement,
    AnswerInvitation,
    AnswerQuestion,
    AnswerRsvp,
    ConfirmTeam,
    DeleteUserData,
    Effect,
    GroupInfo,
    Invitation,
    Known,
    OpenProject,
    PhaseStatus,
    Profile,
    RaiseHand,
    RejectTeam,
    RequestSlackCode,
    SaveVolunteer,
    SetCohortOptOut,
    SetContactSharing,
    SetLanguage,
    SetVolunteerStatus,
    SubmitRequest,
    TeamStatus,
)
from bot.flows.contact import share_fields
from bot.lifecycle.service import Lifecycle
from bot.lifecycle.work import Work
from bot.matching.service import Matching
from bot.office import cases as case_store
from bot.programmes.service import Programmes
from bot.programmes.teams import TeamChannels
from bot.richmenu import RichMenus
from bot.taxonomy import needs_for_menus
from bot.work_chat import WORK_EFFECTS, WorkStatus
from storage import programmes as programme_store
from storage import repo
from storage.base import utcnow
from storage.db import wipe_after_commit
from storage.lifecycle_repo import forget_person

ORG_FIELDS = (
    "org_name",
    "org_kind",
    "org_sector",
    "org_fields",
    "org_area",
    "activity",
    "strengths",
    "needs_people",
    "needs_things",
    "needs_money",
    "contact_name",
    "contact_role",
)


@dataclass
class EffectContext:
    """What applying effects needs beyond the session."""

    notice_version: str
    coordination: Coordination | None = None
    # The matching service; None where matching is off.
    matching: Matching | None = None
    # The programme calendar: briefing RSVPs.
    programmes: Programmes | None = None
    # Team channels and Slack linking; None without Slack.
    teams: TeamChannels | None = None
    # LINE rich menus per state; None where LINE is off.
    rich_menus: RichMenus | None = None
    # life-work (#13): hours, delivery, completion, feedback.
    work: Work | None = None
    # life-group (#13): the project lifecycle.
    lifecycle: Lifecycle | None = None


class SessionLookups:
    """The dialogue's read access, inside the transaction applying the event."""

    def __init__(
        self, session: AsyncSession, channel: str, user_key: str, ctx: EffectContext
    ) -> None:
        self._session = session
        self._channel = channel
        self._user_key = user_key
        self._ctx = ctx
        self._known: Known | None = None

    async def __call__(self) -> Known:
        if self._known is None:
            self._known = await known_about(self._session, self._channel, self._user_key)
        return self._known

    async def open_projects(self, locale: str, limit: int = 5) -> list[OpenProject]:
        """Recruiting projects that fit this volunteer, best first."""
        if self._ctx.matching is None:
            return []
        projects: list[OpenProject] = await self._ctx.matching.open_projects_for(
            self._session, self._channel, self._user_key, locale, limit
        )
        return projects

    async def invitation(self, match_id: int) -> Invitation | None:
        """An invitation addressed to this person (None if it is not theirs)."""
        found = await repo.match_for_person(self._session, match_id, self._channel, self._user_key)
        if found is None:
            return None
        match, org_name = found
        return Invitation(match.id, match.project_id, match.state, org_name)

    async def team(self, project_id: int) -> TeamStatus | None:
        """A project of this person's group (None if it is not theirs)."""
        org = await repo.get_organization(self._session, self._channel, self._user_key)
        if org is None:
            return None
        project = await repo.get_project(self._session, project_id)
        if project is None or project.organization_id != org.id:
            return None
        return TeamStatus(project.id, project.status)

    async def agreement(self, agreement_id: int) -> AgreementStatus | None:
        """A kickoff agreement version of this person's group (None if it is not theirs)."""
        if self._ctx.lifecycle is None:
            return None
        org = await repo.get_organization(self._session, self._channel, self._user_key)
        if org is None:
            return None
        found: AgreementStatus | None = await self._ctx.lifecycle.agreement_status(
            self._session, agreement_id, org.id
        )
        return found

    async def case_state(self, case_id: int) -> str | None:
        """Where a case about this person's group stands (None if it is not theirs)."""
        org = await repo.get_organization(self._session, self._channel, self._user_key)
        return await case_store.consent_state(self._session, case_id, org.id if org else None)

    async def cases(self, words: str, offset: int, limit: int, locale: str) -> list[CaseCard]:
        """Published cases for a search in the chat (#14), in the reader's language."""
        found = await case_store.search_in(self._session, words, limit=limit, offset=offset)
        return [
            CaseCard(
                case_id=c.id,
                title=case_store.localised(c.en, "title", c.title, locale),
                area=c.area,
                field=c.field,
                year=c.year,
                outcome=case_store.localised(c.en, "outcome", c.outcome, locale),
                partners=tuple(name for name, _ in c.partners),
                line=c.line(locale),
            )
            for c in found
        ]

    async def phase(self, phase_id: int) -> PhaseStatus | None:
        """A programme phase someone is answering an invitation to."""
        if self._ctx.programmes is None:
            return None
        status: PhaseStatus | None = await self._ctx.programmes.phase_info(self._session, phase_id)
        return status

    # life-work (#13)

    async def work(self, project_id: int) -> WorkStatus | None:
        """This person's relation to a project (its group, or a member), or None."""
        if self._ctx.work is None:
            return None
        found: WorkStatus | None = await self._ctx.work.status_for(
            self._session, self._channel, self._user_key, project_id
        )
        return found

    async def work_projects(self) -> list[tuple[int, str]]:
        """The projects this volunteer can log hours on now."""
        if self._ctx.work is None:
            return []
        found: list[tuple[int, str]] = await self._ctx.work.projects_for(
            self._session, self._channel, self._user_key
        )
        return found

    async def capacity(self) -> int | None:
        """How many projects at a time this volunteer takes (None: not a volunteer)."""
        volunteer = await repo.get_volunteer(self._session, self._channel, self._user_key)
        return None if volunteer is None else int(volunteer.capacity)


def answers_of(volunteer: Any, skills: list[str]) -> dict[str, Any]:
    """The sign-up answers a saved volunteer (row or entity) and their skills correspond
    to (to show or edit them)."""
    answers: dict[str, Any] = {
        "display_name": volunteer.display_name,
        "area": volunteer.area,
        "skills": skills,
        "occupation": volunteer.occupation,
        "experience_years": volunteer.experience_years,
        "hours_per_week": volunteer.hours_per_week,
        "availability": list(volunteer.availability),
        "mode": volunteer.mode,
        "interests": list(volunteer.interests),
        "consent": "agree",
    }
    if volunteer.skills_other:
        answers["skills_other"] = volunteer.skills_other
    if volunteer.languages:
        answers["languages"] = list(volunteer.languages)
    # Optional answers: None (skipped) is an answer too, so an edit does not ask again.
    answers["employer"] = volunteer.employer
    answers["via_company"] = (
        None if volunteer.via_company is None else ("yes" if volunteer.via_company else "no")
    )
    answers["age_band"] = volunteer.age_band
    # Contact sharing (life-group, #13): "unknown" has not been asked yet.
    if volunteer.share_contact in ("yes", "no"):
        answers["share_contact"] = volunteer.share_contact
        if volunteer.share_contact == "yes" and volunteer.contact:
            answers["contact"] = volunteer.contact
    return answers


async def known_about(session: AsyncSession, channel: str, user_key: str) -> Known:
    """Everything the dialogue may need to know about a person (volunteer and/or group)."""
    # Core rows rather than ORM entities, and one round trip for who the person is (see
    # repo.person): this runs on every follow, role choice and completed sign-up. Core
    # statements do not flush the session by themselves: flush what is pending first.
    if session.new or session.dirty or session.deleted:
        await session.flush()
    conn = await session.connection()
    row = await repo.person(conn, channel, user_key)
    profile = None
    if row.volunteer_id is not None:
        skills = await repo.skills_of(conn, row.volunteer_id)
        profile = Profile(answers=answers_of(row, skills), status=row.status)
    group = None
    if row.organization_id is not None:
        projects = await repo.requests_of(conn, row.organization_id, limit=10)
        question = await repo.open_question_of(conn, row.organization_id)
        group = GroupInfo(
            name=row.organization_name,
            requests=tuple((p.id, summary_of(p.challenge), p.status) for p in projects),
            open_question=(question.id, question.question) if question else None,
        )
    opted_out = bool(row.volunteer_opt_out or row.group_opt_out)
    return Known(volunteer=profile, group=group, cohort_opt_out=opted_out)


async def apply_effect(
    session: AsyncSession,
    channel: str,
    user_key: str,
    locale: str,
    effect: Effect,
    ctx: EffectContext,
) -> None:
    """Write one effect decided by the dialogue, inside the caller's transaction."""
    if isinstance(effect, SaveVolunteer):
        await _save_volunteer(session, channel, user_key, locale, effect.answers, ctx)
    elif isinstance(effect, SetVolunteerStatus):
        await repo.set_volunteer_status(session, channel, user_key, effect.status)
    elif isinstance(effect, SubmitRequest):
        await _submit_request(session, channel, user_key, locale, effect.answers, ctx)
    elif isinstance(effect, AnswerQuestion):
        org = await repo.get_organization(session, channel, user_key)
        if org is not None and ctx.coordination is not None:
            await ctx.coordination.record_answer(session, effect.question_id, effect.text)
    elif isinstance(effect, RaiseHand):
        if ctx.matching is not None:
            await ctx.matching.raise_hand(session, channel, user_key, effect.project_id)
    elif isinstance(effect, AnswerInvitation):
        if ctx.matching is not None:
            await ctx.matching.answer_invitation(
                session, effect.match_id, effect.accept, effect.reason
            )
    elif isinstance(effect, ConfirmTeam):
        if ctx.matching is not None:
            await ctx.matching.confirm_team(session, effect.project_id)
    elif isinstance(effect, RejectTeam | AnswerAgreement):
        await _answer_lifecycle(session, channel, user_key, effect, ctx)
    elif isinstance(effect, SetContactSharing):  # life-group (#13): asked once
        for row in (
            await repo.get_volunteer(session, channel, user_key),
            await repo.get_organization(session, channel, user_key),
        ):
            if row is not None:
                row.share_contact = "yes" if effect.share else "no"
                row.contact = effect.contact if effect.share else None
    elif isinstance(effect, AnswerRsvp):
        if ctx.programmes is not None:
            await ctx.programmes.rsvp(session, channel, user_key, effect.phase_id, effect.answer)
    elif isinstance(effect, SetLanguage):
        await repo.set_person_locale(session, channel, user_key, effect.locale)
    elif isinstance(effect, AnswerCase):  # the case catalogue (#14)
        await _answer_case(session, channel, user_key, effect, ctx)
    elif isinstance(effect, SetCohortOptOut):  # life-cohort (#13)
        await repo.set_cohort_opt_out(session, channel, user_key, effect.opt_out)
        await repo.audit(
            session,
            actor="self",
            action="cohort_opt_out" if effect.opt_out else "cohort_opt_in",
            subject_type="person",
            subject_id=None,
        )
    elif isinstance(effect, RequestSlackCode):
        if ctx.teams is not None:
            await ctx.teams.request_code(session, channel, user_key)
    elif isinstance(effect, WORK_EFFECTS):
        # life-work (#13): bot.lifecycle.work.Work checks who and what again, and writes.
        if ctx.work is not None:
            await ctx.work.apply(session, channel, user_key, effect)
    elif isinstance(effect, DeleteUserData):
        # What they typed is read first: it is blanked wherever a message still holds it.
        typed = await repo.personal_strings(session, channel, user_key)
        await programme_store.forget_rsvps(session, channel, user_key)
        # Hours stay in project totals without them; their feedback and attendance go.
        gone = await repo.get_volunteer(session, channel, user_key)
        group = await repo.get_organization(session, channel, user_key)
        await forget_person(session, gone.id if gone else None, group.id if group else None)
        volunteer_deleted = await repo.delete_volunteer(session, channel, user_key)
        org_id = await repo.forget_organization_contact(session, channel, user_key)
        await repo.delete_conversation(session, channel, user_key)
        await repo.forget_language(session, channel, user_key)
        await repo.scrub_outbox(session, channel, user_key, typed)
        # Deleted text must not stay in the database file's free pages or its WAL.
        wipe_after_commit(session)
        await repo.audit(
            session,
            actor="self",
            action="delete_data",
            subject_type="person",
            subject_id=None,
            detail={"volunteer": volunteer_deleted, "organization_id": org_id},
        )
    if ctx.rich_menus is not None and isinstance(
        effect, SaveVolunteer | SubmitRequest | DeleteUserData
    ):
        # Who the person is may have changed (also for data loaded without a chat, e.g. the
        # demo): their LINE rich menu follows.
        await ctx.rich_menus.sync(session, channel, user_key, locale, utcnow())


async def _answer_case(
    session: AsyncSession, channel: str, user_key: str, effect: AnswerCase, ctx: EffectContext
) -> None:
    """A group's answer about publishing its case (#14): the state moves only if the case
    is this group's and still asked; the coordinators read it in the project's thread."""
    org = await repo.get_organization(session, channel, user_key)
    if org is None:
        return
    actor = f"group:{org.id}"
    found = await case_store.answer_consent_in(
        session, effect.case_id, org.id, effect.answer, actor
    )
    if found is None or ctx.coordination is None:
        return
    case, project = found
    loc = ctx.coordination.locale
    words = plain(effect.words) or "-"
    text = case_store.ANSWERED[effect.answer](loc, id=effect.case_id, words=words)
    # One note per time the group was asked (it may be asked again after changes).
    why = ("case-answer", effect.case_id, case.version, effect.answer)
    await ctx.coordination.note(session, project, text, why)


async def _answer_lifecycle(
    session: AsyncSession,
    channel: str,
    user_key: str,
    effect: RejectTeam | AnswerAgreement,
    ctx: EffectContext,
) -> None:
    """A group's answer to its team or its kickoff agreement (life-group, #13)."""
    org = await repo.get_organization(session, channel, user_key)
    if org is None or ctx.lifecycle is None:
        return
    if isinstance(effect, RejectTeam):
        project = await repo.get_project(session, effect.project_id)
        if project is not None and project.organization_id == org.id:
            await ctx.lifecycle.reject_team(session, effect.project_id, change=effect.change)
            if ctx.matching is not None:  # the coordinators' card shows the new state
                await ctx.matching.refresh_card(session, effect.project_id)
    elif await ctx.lifecycle.agreement_status(session, effect.agreement_id, org.id) is not None:
        await ctx.lifecycle.answer_agreement(
            session, effect.agreement_id, confirm=effect.confirm, comment=effect.comment
        )


async def _save_volunteer(
    session: AsyncSession,
    channel: str,
    user_key: str,
    locale: str,
    a: dict[str, Any],
    ctx: EffectContext,
) -> None:
    existing = await repo.get_volunteer(session, channel, user_key)
    fields: dict[str, Any] = {
        "locale": locale,
        "display_name": a["display_name"],
        "area": a["area"],
        "occupation": a["occupation"],
        "experience_years": int(a["experience_years"]),
        "hours_per_week": int(a["hours_per_week"]),
        "availability": list(a["availability"]),
        "mode": a["mode"],
        "interests": list(a["interests"]),
        "skills_other": a.get("skills_other"),
        "languages": list(a.get("languages") or []),
        "age_band": a.get("age_band"),
        "employer": a.get("employer"),
        "via_company": None if a.get("via_company") is None else a.get("via_company") == "yes",
    }
    fields.update(share_fields(a))  # life-group (#13)
    if not fields["employer"]:
        # The company programme question follows the employer; without one it means nothing.
        fields["via_company"] = None
    if existing is None:
        # Consent is recorded with its time and the notice version it was given to.
        fields["consent_version"] = ctx.notice_version
        fields["consented_at"] = utcnow()
    await repo.save_volunteer(session, channel, user_key, fields, list(a["skills"]))


async def _submit_request(
    session: AsyncSession,
    channel: str,
    user_key: str,
    locale: str,
    a: dict[str, Any],
    ctx: EffectContext,
) -> None:
    org = await repo.get_organization(session, channel, user_key)
    if org is None or "org_name" in a:
        fields: dict[str, Any] = {
            "locale": locale,
            "name": a["org_name"],
            "kind": a["org_kind"],
            "sector": a.get("org_sector"),
            "fields": list(a["org_fields"]),
            "area": a["org_area"],
            "activity": a["activity"],
            "strengths": a.get("strengths"),
            "needs_people": a.get("needs_people"),
            "needs_things": a.get("needs_things"),
            "needs_money": a.get("needs_money"),
            "contact_name": a["contact_name"],
            "contact_role": a["contact_role"],
            **share_fields(a),  # life-group (#13)
        }
        if org is None:
            fields["consent_version"] = ctx.notice_version
            fields["consented_at"] = utcnow()
        org = await repo.save_organization(session, channel, user_key, fields)
    else:
        org.locale = locale
    required, optional = needs_for_menus(list(a["menus"]))
    project = await repo.add_project(
        session,
        org,
        {
            "challenge": a["challenge"],
            "menus": list(a["menus"]),
            "menu_other": a.get("menu_other"),
            "period": a["period"],
            "mode": a["mode"],
            "languages": list(a.get("languages") or []),
            "required_skills": required,
            "optional_skills": optional,
        },
    )
    await repo.audit(
        session,
        actor="group",
        action="submit",
        subject_type="project",
        subject_id=project.id,
    )
    if ctx.coordination is not None:
        await ctx.coordination.post_new_card(session, project, org)
