"""The kickoff agreement from a team's Slack channel (issue #13, the group's side).

`/tsunagu agree` in a team channel opens a form (deliverable, scope, success measures,
meeting rhythm, end date) prefilled from the newest version; submitting it proposes a new
version through `Lifecycle.propose_agreement`, which sends the group its card in LINE.
Only the team's members (linked Slack accounts of accepted volunteers) and coordinators
may propose; anyone else is answered politely and the refusal is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import T, Texts
from bot.lifecycle.service import Lifecycle
from bot.rules.records import Invalid
from bot.rules.states import coordinator_label
from storage import repo
from storage.models import Agreement, Project

# A team may write (or re-scope) its agreement from these states.
AGREEABLE = ("team_formed", "agreed")


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    not_team_channel = T(
        "`/tsunagu agree` はチームのチャンネルで使ってください。",
        "Please use `/tsunagu agree` in the team's channel.",
    )
    not_member = T(
        "合意案を提案できるのは、このチームのメンバーと事務局だけです。",
        "Only this team's members and the programme office can propose the agreement.",
    )
    not_now = T(
        "いまは合意案を提案できません（プロジェクトの状況: {state}）。",
        "The agreement cannot be proposed right now (the project is {state}).",
    )
    opening = T("合意案のフォームを開きます。", "Opening the agreement form.")
    proposed = T(
        "合意案 第{v}版を団体に送りました。団体の回答はこのチャンネルでお知らせします。",
        "Agreement version {v} was sent to the group. Its answer will appear in this channel.",
    )
    agreement_empty = T("入力してください。", "Please fill this in.")
    bad_date = T("日付を選んでください。", "Please pick a date.")


TXT = _Texts


@dataclass(frozen=True)
class AgreementForm:
    """The agreement form as a channel draws it: neutral data, prefilled for re-scoping."""

    project_id: int
    channel: str
    version: int = 0  # the newest version so far (0: none yet)
    deliverable: str = ""
    scope: str = ""
    success_measures: str = ""
    meeting_rhythm: str = ""
    end_date: str = ""  # ISO date, "" when none


@dataclass(frozen=True)
class AgreementInput:
    """What someone submitted in the agreement form."""

    project_id: int
    channel: str
    deliverable: str
    scope: str
    success_measures: str
    meeting_rhythm: str
    end_date: str


FIELDS = ("deliverable", "scope", "success_measures", "meeting_rhythm", "end_date")


class Kickoff:
    """Opening and submitting the agreement form for a team channel."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        lifecycle: Lifecycle,
        *,
        notify: Callable[[], None] = lambda: None,
    ) -> None:
        self._maker = maker
        self.lifecycle = lifecycle
        self._notify = notify

    async def form(
        self, channel: str, actor: str, *, coordinator: bool, locale: str
    ) -> AgreementForm | str:
        """The form to open for this person in this channel, or why not (politely)."""
        async with self._maker.begin() as session:
            project = await self._project(session, channel)
            refusal = await self._refusal(session, project, actor, coordinator, locale)
            if refusal is not None:
                return refusal
            assert project is not None
            last = await session.scalar(
                select(Agreement)
                .where(Agreement.project_id == project.id)
                .order_by(Agreement.version.desc())
                .limit(1)
            )
            if last is None:
                return AgreementForm(project.id, channel)
            return AgreementForm(
                project.id,
                channel,
                last.version,
                last.deliverable,
                last.scope,
                last.success_measures,
                last.meeting_rhythm,
                last.end_date.isoformat(),
            )

    async def propose(
        self, form: AgreementInput, actor: str, *, coordinator: bool, locale: str
    ) -> dict[str, str] | str:
        """Propose a version: field errors (the form stays open), or the answer to show."""
        errors = {
            name: TXT.agreement_empty(locale)
            for name in FIELDS[:4]
            if not getattr(form, name).strip()
        }
        try:
            end = date.fromisoformat(form.end_date)
        except ValueError:
            errors["end_date"] = TXT.bad_date(locale)
        if errors:
            return errors
        async with self._maker.begin() as session:
            project = await self._project(session, form.channel)
            if project is None or project.id != form.project_id:
                return TXT.not_team_channel(locale)
            refusal = await self._refusal(session, project, actor, coordinator, locale)
            if refusal is not None:
                return refusal
            row = await self.lifecycle.propose_agreement(
                session,
                project.id,
                actor=actor,
                deliverable=form.deliverable,
                scope=form.scope,
                success_measures=form.success_measures,
                meeting_rhythm=form.meeting_rhythm,
                end_date=end,
            )
            if isinstance(row, Invalid):
                field = "end_date" if row.reason == "agreement_past" else "deliverable"
                return {field: row.text(locale)}
            version = row.version
        self._notify()
        return TXT.proposed(locale, v=version)

    async def _project(self, session: AsyncSession, channel: str) -> Project | None:
        if not channel:
            return None
        found = await session.scalar(select(Project).where(Project.team_channel_id == channel))
        return found

    async def _refusal(
        self,
        session: AsyncSession,
        project: Project | None,
        actor: str,
        coordinator: bool,
        locale: str,
    ) -> str | None:
        """Why this person may not propose here (audited), or None."""
        if project is None:
            return TXT.not_team_channel(locale)
        members = {
            v.slack_user_id
            for m, v in await repo.project_matches(session, project.id)
            if m.state == "accepted" and v.slack_user_id
        }
        if not coordinator and actor not in members:
            await repo.audit(
                session,
                actor=actor,
                action="agreement_refused",
                subject_type="project",
                subject_id=project.id,
                detail={"why": "not_member"},
            )
            return TXT.not_member(locale)
        if project.status not in AGREEABLE:
            return TXT.not_now(locale, state=coordinator_label(project.status, locale))
        return None


__all__ = ["AgreementForm", "AgreementInput", "Kickoff"]
