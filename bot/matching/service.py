"""Matching as the programme runs it: suggestions with reasons, the team card, consent
from the volunteer and then the group, expiry, raised hands and announcements.

Every change is one transaction: the match's state (one winner when two coordinators
act at once), its history, and the messages it causes (LINE pushes, the Slack card)
written to the outbox. Fit and team formation are in fit.py, index.py and teams.py.
Volunteers are read from memory (`Matching.live`, live.py), which every call first
refreshes from what changed in the database, including changes by other processes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox, postback
from bot.cards import Button, Card, CardRow, plain, summary_of
from bot.conversation.model import Choice, Panel, Reply
from bot.coordination import EDIT_NEEDS, ActionResult, Coordination
from bot.dialogue import OpenProject
from bot.i18n import T, Texts, join_list, when_text
from bot.matching import teams
from bot.matching.fit import (
    DEFAULT_WEIGHTS,
    RAISED_HAND,
    FitWeights,
    ProjectNeeds,
    VolunteerFeatures,
    component_label,
    eligible,
    reasons,
    score,
)
from bot.matching.index import Suggestion
from bot.matching.live import LiveIndex, load_features
from bot.rules.states import Role, transition
from bot.taxonomy import MENUS, MODES, SKILLS, label, skill_label, with_languages
from storage import matching_repo, repo
from storage.base import utcnow
from storage.models import Match, Organization, Project, Volunteer

APPROVE, REJECT, SWAP = "match_approve", "match_reject", "match_swap"
APPROVE_ALL, SUGGEST = "team_approve_all", "project_suggest"
OPEN_STATES = ("suggested", "approved", "invited", "accepted")
# Not (or no longer) on the card: a raised hand waiting, or a suggestion withdrawn
# because the project's needs changed. Both may be suggested again.
RESTING = ("interested", "withdrawn")

# Words in a coordinator's reject reason, and the fit component the project should
# weigh more from then on ("teaches the ranking").
TUNING_WORDS = {
    "location": ("地域", "場所", "遠", "area", "location", "far"),
    "availability": ("時間", "曜日", "平日", "週末", "time", "availability", "schedule"),
    "required": ("スキル", "技術", "専門", "skill"),
    "experience": ("経験", "実績", "experience", "junior"),
}


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    card_title = T("チーム案: {org}（#{id}）", "Team proposal: {org} (#{id})")
    needs = T(
        "*必要スキル* {req}　*あれば* {opt}　*人数* {lo}〜{hi}人",
        "*Required* {req}   *Nice to have* {opt}   *Team* {lo}-{hi}",
    )
    coverage_ok = T(
        "✅ このチームで必要スキルをすべてカバー", "✅ This team covers every required skill"
    )
    coverage_missing = T("⚠️ 不足しているスキル: {skills}", "⚠️ Missing skills: {skills}")
    skill_on_offer = T(
        "⚠️ {skill} はまだチーム案にありません。保有する候補: {names}（「候補を提案」で追加）",
        "⚠️ {skill} is not on the proposal yet. Eligible holders: {names} "
        "(add them with Suggest candidates)",
    )
    skill_taken = T(
        "⚠️ {skill} を持つ方は全員ほかのチームに参加中です。"
        "解決策: 「条件を編集」で必要スキルを見直すか、{skill} を持つ方を募ってください。",
        "⚠️ Everyone holding {skill} is already in another team. To fix: Edit needs "
        "(review the required skills) or recruit someone with {skill}.",
    )
    skill_none = T(
        "⚠️ {skill} を持つ候補がいません（参加条件に合う登録者なし）。"
        "解決策: 「条件を編集」で必要スキルを見直すか、{skill} を持つ方を募ってください。",
        "⚠️ No eligible volunteer holds {skill}. To fix: Edit needs (review the "
        "required skills) or recruit someone with {skill}.",
    )
    short = T(
        "⚠️ チーム案は{n}人で、最小人数{lo}人に届きません。",
        "⚠️ The proposal has {n}, below the minimum team size of {lo}.",
    )
    short_more = T(
        "ほかに条件に合う候補が{m}人います（「候補を提案」で追加）。",
        "{m} more eligible candidates (add them with Suggest candidates).",
    )
    short_fix = T(
        "条件に合う候補がほかにいません。解決策: 「条件を編集」で「あれば」のスキルを増やすか"
        "最小人数を下げる、または募集中の案内への立候補を待ってください。",
        "No other eligible candidate. To fix: Edit needs (add nice-to-have skills or lower "
        "the minimum), or wait for volunteers to raise their hand.",
    )
    below_min_added = T(
        "👥 承諾 {n}人で最小人数 {lo}人に届かないため、候補を{k}人提案しました。承認してください。",
        "👥 {n} accepted, below the minimum of {lo}: {k} more proposed. Please approve them.",
    )
    below_min_waiting = T(
        "👥 承諾 {n}人で最小人数 {lo}人に届きません。提案中の候補を承認してください。",
        "👥 {n} accepted, below the minimum of {lo}. Please approve the proposed candidates.",
    )
    below_min_stuck = T(
        "⚠️ チームを編成できません: 承諾 {n}人で最小人数 {lo}人に届かず、"
        "条件に合う候補がいません。{why}",
        "⚠️ This team cannot be formed: {n} accepted, below the minimum of {lo}, and no other "
        "eligible candidate. {why}",
    )
    row = T(
        "*{name}*　適合度 {score:.0%}{hand}\n{reasons}",
        "*{name}*  fit {score:.0%}{hand}\n{reasons}",
    )
    # The bonus of a raised hand lifts the ranking, not the fit: shown beside it.
    hand = T("　🙋 立候補（順位に +{bonus:.2f}）", "  🙋 raised hand (+{bonus:.2f} in the ranking)")
    state_suggested = T("提案中", "proposed")
    state_invited = T("招待中（{until}まで）", "invited (until {until})")
    state_accepted = T("✅ 承諾", "✅ accepted")
    state_declined = T("辞退（{reason}）", "declined ({reason})")
    state_expired = T("期限切れ", "expired")
    state_rejected = T("見送り（{reason}）", "rejected ({reason})")
    approve = T("承認", "Approve")
    reject = T("見送る", "Reject")
    swap = T("入れ替え", "Swap")
    approve_all = T("全員を承認", "Approve all")
    suggest = T("候補を提案", "Suggest candidates")
    edit_needs = T("条件を編集", "Edit needs")
    none_found = T(
        "条件に合う候補が見つかりませんでした（不足: {skills}）。",
        "No suitable candidates were found (missing: {skills}).",
    )
    not_recruiting = T("相談 #{id} は募集中ではありません。", "Request #{id} is not recruiting.")
    already = T(
        "この候補はすでに他の方が対応しました（いま: {state}）。",
        "Someone already acted on this candidate (now: {state}).",
    )
    no_next = T("次の候補が見つかりませんでした。", "No further candidate was found.")
    # To volunteers, in LINE (their locale).
    invite = T(
        "【プロボノ参加のご招待】\n団体: {org}\n課題: {challenge}\n支援メニュー: {menus}\n"
        "想定する活動: 週{hours}時間ほど・{mode}\n"
        "日程: チームがそろったらキックオフの日程をご案内します。\n"
        "回答期限: {until}\n参加しますか？（団体の連絡先は双方の合意後にお伝えします）",
        "[Invitation to a pro bono project]\nGroup: {org}\nChallenge: {challenge}\n"
        "Support: {menus}\nExpected: about {hours} hours a week, {mode}\n"
        "Schedule: we'll share the kickoff date once the team is complete.\n"
        "Please answer by {until}. Will you join? (Contact details are shared once both "
        "sides agree.)",
    )
    # The invitation's card (a LINE flex bubble); the text above is its alternative text.
    inv_title = T("プロボノ参加のご招待", "Invitation to a pro bono project")
    inv_group = T("団体", "Group")
    inv_challenge = T("課題", "Challenge")
    inv_menus = T("支援メニュー", "Support")
    inv_expected = T("想定する活動", "Expected")
    inv_expected_value = T("週{hours}時間ほど・{mode}", "about {hours} h a week, {mode}")
    inv_until = T("回答期限", "Answer by")
    inv_note = T(
        "チームがそろったらキックオフの日程をご案内します。団体の連絡先は双方の合意後にお伝えします。",
        "We'll share the kickoff date once the team is complete. Contact details are "
        "shared once both sides agree.",
    )
    team_title = T("チーム案のご確認", "Your proposed team")
    team_ask = T("このチームで進めてよろしいですか？", "Shall we go ahead with this team?")
    announce_title = T("新しい募集", "New project")
    inv_yes = T("参加する", "Join")
    inv_no = T("辞退する", "Decline")
    reminder = T(
        "【リマインド】「{org}」のプロジェクトへのご招待の回答期限は {until} です。",
        "[Reminder] Please answer the invitation to {org}'s project by {until}.",
    )
    expired_you = T(
        "「{org}」のプロジェクトへのご招待は期限切れになりました。またの機会にぜひ。",
        "The invitation to {org}'s project has expired. We hope to see you another time.",
    )
    team_for_group = T(
        "ご相談「{summary}」のチーム案がそろいました:\n{members}\n\n"
        "このチームで進めてよろしいですか？",
        "A team is ready for your request “{summary}”:\n{members}\n\n"
        "Shall we go ahead with this team?",
    )
    team_ok = T("このチームで進める", "Go ahead")
    # life-group (#13): the group may also decline, or ask for a change in words.
    team_no = T("このチームは辞退", "Decline this team")
    team_change = T("変更を依頼する", "Ask for a change")
    team_until = T("{until}までにご回答ください。", "Please answer by {until}.")
    formed_member = T(
        "「{org}」のチームが結成されました！団体の担当: {contact}（{role}）。"
        "今後の予定はこのLINEとSlackでご案内します。",
        "The team for {org} is formed! The group's contact is {contact} ({role}). "
        "We'll share the schedule here and in Slack.",
    )
    formed_thread = T(
        "🎉 チーム結成（団体が承認）: {names}", "🎉 Team formed (the group agreed): {names}"
    )
    hand_thread = T("🙋 {name} さんが興味ありと表明しました", "🙋 {name} raised their hand")
    announce = T(
        "【新しい募集】{org}: {challenge}\n{reasons}\n興味があれば下のボタンを押してください。",
        "[New project] {org}: {challenge}\n{reasons}\nTap below if you're interested.",
    )
    hand_button = T("興味あり", "Interested")


TXT = _Texts


# Why `/tsunagu teams` could not staff a project, and what would unblock it.
UNSTAFFED = {
    "no_holder": T(
        "必要スキル {m} を持つ候補がいません。"
        "→「条件を編集」で必要スキルを見直すか、保有者を募ってください。",
        "no eligible candidate holds {m}. → Edit needs (review the required skills) or "
        "recruit a holder.",
    ),
    "too_few_candidates": T(
        "条件に合う候補が最小人数 {lo}人に足りません。→「あれば」のスキルを増やすか最小人数を下げる"
        "（条件を編集）、または立候補を待ってください。",
        "fewer eligible candidates than the minimum of {lo}. → Edit needs (add nice-to-have "
        "skills or lower the minimum), or wait for raised hands.",
    ),
    "holders_taken": T(
        "{m} を持つ候補は全員ほかのチームに入りました。"
        "→ 保有者をもう一人募るか、必要スキルを見直してください。",
        "everyone eligible holding {m} went to another team. → Recruit another holder or "
        "review the required skills.",
    ),
    "not_chosen": T(
        "候補はほかのチームに割り当てられ、最小人数 {lo}人に届きません。→ 候補を増やす"
        "（「あれば」のスキルを増やす・最小人数を下げる）か、立候補を待ってください。",
        "its candidates went to other teams, leaving fewer than the minimum of {lo}. → Widen "
        "the needs (nice-to-have skills, a lower minimum) or wait for raised hands.",
    ),
}


def _skills_of(features: Mapping[int, VolunteerFeatures], volunteer_id: int) -> frozenset[str]:
    found = features.get(volunteer_id)
    return found.skills if found is not None else frozenset()


def first_name(name: str) -> str:
    """The part of a name a group sees before everyone agreed (no full names)."""
    return name.split()[0] if name.split() else name


@dataclass
class MatchingSettings:
    """Matching knobs (weights and timings)."""

    weights: FitWeights = DEFAULT_WEIGHTS
    invite_days: int = 7
    remind_before: timedelta = timedelta(days=1)
    announce_per_project: int = 10
    announce_every: timedelta = timedelta(days=7)
    candidates: int = 30


class TeamOpener(Protocol):
    """Opens a formed team's channel (bot.programmes.teams.TeamChannels)."""

    async def on_team_formed(self, session: AsyncSession, project: Project) -> None: ...


class ProposalDesk(Protocol):
    """The group's side of a team proposal (bot.lifecycle.service.Lifecycle): its
    deadline once shown, and the contact exchange once confirmed."""

    async def proposal_sent(
        self, session: AsyncSession, project_id: int, now: datetime
    ) -> None: ...

    async def team_confirmed(self, session: AsyncSession, project_id: int) -> None: ...

    # How many days the group has to answer.
    proposal_days: int

    async def ask_contact(
        self, session: AsyncSession, person: Volunteer | Organization
    ) -> None: ...


class MenuSwitcher(Protocol):
    """Switches a person's LINE rich menu to fit their state (bot.richmenu.RichMenus)."""

    async def sync(
        self, session: AsyncSession, channel: str, user_key: str, locale: str, now: datetime
    ) -> str | None: ...


class Matching:
    """The matching operations the Slack handler, the dialogue and the timer call."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        coordination: Coordination,
        *,
        settings: MatchingSettings | None = None,
        notify: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
        teams: TeamOpener | None = None,
        rich_menus: MenuSwitcher | None = None,
        lifecycle: ProposalDesk | None = None,
    ) -> None:
        self._maker = maker
        self.coordination = coordination
        self.settings = settings or MatchingSettings()
        self._notify = notify
        self._clock = clock
        self.locale = coordination.locale
        # Opens the team's channel when a team is formed; None where Slack is off.
        self.teams = teams
        # LINE rich menus, so a new team member gets the team menu; None where LINE is off.
        self.rich_menus = rich_menus
        # The project lifecycle (bot.lifecycle.service.Lifecycle), which gives a team
        # proposal its deadline; None leaves proposals open.
        self.lifecycle = lifecycle
        # Volunteers in memory, refreshed from what changed (bot/matching/live.py).
        self.live = LiveIndex(
            maker, clock=clock, window_days=self.settings.weights.recent_window_days
        )

    # ---------------------------------------------------------------- features

    async def candidates(self, project_id: int, k: int = 10) -> list[Suggestion]:
        """The k best candidates for a project as of now (read only; nothing recorded)."""
        async with self._maker() as session:
            project = await repo.get_project(session, project_id)
            if project is None:
                return []
            rows = await repo.project_matches(session, project.id)
            taken = frozenset(v.id for m, v in rows if m.state not in RESTING)
            needs = self.needs(project, project.organization, exclude=taken)
        live = await self.live.fresh()  # the session above is closed; no lock is held
        return live.index(self.weights_for(project)).top(needs, k=k)

    def needs(
        self, project: Project, org: Organization, exclude: frozenset[int] = frozenset()
    ) -> ProjectNeeds:
        """What a project needs, as the fit model reads it."""
        return ProjectNeeds.from_menus(
            project.id,
            org.id,
            project.menus,
            required=project.required_skills or None,
            optional=project.optional_skills or None,
            area=org.area,
            mode=project.mode,
            hours_per_week=project.hours_per_week,
            fields=frozenset(org.fields),
            team_min=project.team_min,
            team_max=project.team_max,
            period=project.period,
            exclude=exclude,
            languages=frozenset(project.languages),
        )

    def weights_for(self, project: Project) -> FitWeights:
        """The weights with this project's learnt multipliers applied."""
        tuning = project.tuning or {}
        if not tuning:
            return self.settings.weights
        base = self.settings.weights.as_dict()
        for name, factor in tuning.items():
            if name in base:
                base[name] = base[name] * float(factor)
        return FitWeights.from_mapping(base)

    # ---------------------------------------------------------------- proposing a team

    async def propose(self, project_id: int, actor: str) -> ActionResult:
        """Propose a team for a recruiting project and post (or refresh) its card."""
        now = self._clock()
        async with self._maker.begin() as session:
            project = await repo.get_project(session, project_id)
            if project is None or project.status != "recruiting":
                return ActionResult.told(
                    False, partial(TXT.not_recruiting, id=project_id), self.locale
                )
            chosen, kept, needs = await self._propose(session, project, actor, now)
        self._notify()
        if not chosen and not kept:
            required = needs.required

            def none_found(loc: str) -> str:
                missing = join_list([skill_label(s, loc) for s in required], loc)
                return TXT.none_found(loc, skills=missing or "-")

            return ActionResult.told(False, none_found, self.locale)
        return ActionResult(True)

    async def _propose(
        self, session: AsyncSession, project: Project, actor: str, now: datetime
    ) -> tuple[set[int], int, ProjectNeeds]:
        """Suggest the best team around those already in play; (chosen, kept, needs)."""
        org = project.organization
        existing = await repo.project_matches(session, project.id)
        taken = frozenset(v.id for m, v in existing if m.state not in RESTING)
        keep = [(m, v) for m, v in existing if m.state in OPEN_STATES]
        busy = await matching_repo.in_play_elsewhere(session, project.id, OPEN_STATES[:3])
        live = await self.live.fresh(session)
        needs = self.needs(project, org, exclude=taken)
        top = live.index(self.weights_for(project)).top(needs, k=self.settings.candidates)
        chosen = self._team(project, needs, keep, top, live.features, frozenset(busy))
        for s in top:
            if s.volunteer_id in chosen:
                await self._suggest(session, project.id, s, actor, now)
        await repo.audit(
            session,
            actor=actor,
            action="propose",
            subject_type="project",
            subject_id=project.id,
            detail={"suggested": sorted(chosen)},
            at=now,
        )
        await self._card(session, project, org)
        return chosen, len(keep), needs

    async def needs_changed(
        self, session: AsyncSession, project: Project, actor: str, now: datetime
    ) -> None:
        """After a coordinator edited a project's needs: withdraw the suggestions nobody
        acted on yet and suggest again under the new needs (people already approved,
        invited or accepted stay); refresh the team card. Caller's transaction."""
        if project.status != "recruiting":
            return
        rows = await repo.project_matches(session, project.id)
        suggested = [m for m, _ in rows if m.state == "suggested"]
        for match in suggested:
            await repo.move_match(
                session,
                match.id,
                from_states=("suggested",),
                to_state="interested" if match.raised_hand else "withdrawn",
                actor=actor,
                now=now,
                detail={"why": "needs_changed"},
            )
        # The modal promises it: the suggestions are computed again under the new needs
        # and the card (posted now if it was not yet) shows them.
        await self._propose(session, project, actor, now)

    async def propose_all(self, actor: str, *, time_limit: float = 10.0) -> ActionResult:
        """Team formation for every recruiting project at once: one solve over all of
        them (capacity across projects, coverage inside each team), then a card each."""
        now = self._clock()
        loc = self.locale
        async with self._maker.begin() as session:
            projects = await repo.projects_with_status(session, "recruiting")
            if not projects:
                return ActionResult(
                    False, T("募集中の相談はありません。", "No project is recruiting.")(loc)
                )
            live = await self.live.fresh(session)
            features = live.features
            edges: list[tuple[str, str, int]] = []
            tprojects: list[teams.Project] = []
            fits: dict[tuple[int, int], Any] = {}
            involved: set[int] = set()
            for project in projects:
                rows = await repo.project_matches(session, project.id)
                kept = [str(v.id) for m, v in rows if m.state in OPEN_STATES]
                gone = frozenset(v.id for m, v in rows if m.state not in (*OPEN_STATES, *RESTING))
                needs = self.needs(
                    project, project.organization, exclude=gone | {int(k) for k in kept}
                )
                index = live.index(self.weights_for(project))
                for s in index.top(needs, k=self.settings.candidates):
                    edges.append(
                        (str(s.volunteer_id), str(project.id), max(1, round(1000 * s.total)))
                    )
                    fits[(project.id, s.volunteer_id)] = s
                    involved.add(s.volunteer_id)
                edges += [(k, str(project.id), 1000) for k in kept]
                involved.update(int(k) for k in kept)
                tprojects.append(
                    teams.Project(
                        id=str(project.id),
                        required=frozenset(needs.required),
                        lo=max(1, min(project.team_min, project.team_max)),
                        hi=project.team_max,
                        fixed=frozenset(kept),
                    )
                )
            vols = [
                teams.Volunteer(
                    id=str(v), skills=features[v].skills if v in features else frozenset()
                )
                for v in sorted(involved)
            ]
            problem = teams.TeamProblem(
                vols, tprojects, teams.CandidateEdges.from_ids(vols, tprojects, edges)
            )
            solution = teams.solve_teams(problem, time_limit=time_limit)
            for project in projects:
                for vid in solution.assignment.get(str(project.id), ()):
                    found = fits.get((project.id, int(vid)))
                    if found is None:
                        continue  # already in play
                    s = found
                    await self._suggest(session, project.id, s, actor, now)
                await self._card(session, project, project.organization)
            await repo.audit(
                session,
                actor=actor,
                action="form_teams",
                subject_type="programme",
                subject_id=None,
                detail={
                    "staffed": len(solution.assignment),
                    "method": solution.method,
                    "gap": solution.gap,
                },
                at=now,
            )
        self._notify()
        lines = [
            T(
                "*チーム編成* {n}件中 {s}件を編成（{method}、上限との差 {gap}）",
                "*Team formation* {s} of {n} staffed ({method}, gap to bound {gap})",
            )(
                loc,
                n=len(projects),
                s=len(solution.assignment),
                method=solution.method,
                gap=f"{(solution.gap or 0) * 100:.2f}%",
            )
        ]
        by_id = {str(p.id): p for p in projects}
        for u in solution.unstaffed:
            missing = join_list([skill_label(k, loc) for k in u.missing_skills], loc) or "-"
            lo = by_id[u.project].team_min if u.project in by_id else 0
            lines.append(
                T("• #{id} 編成できず: {why}", "• #{id} not staffed: {why}")(
                    loc, id=u.project, why=UNSTAFFED[u.reason](loc, m=missing, lo=lo)
                )
            )
        return ActionResult(True, "\n".join(lines))

    def _team(
        self,
        project: Project,
        needs: ProjectNeeds,
        keep: Sequence[tuple[Match, Volunteer]],
        top: Sequence[Suggestion],
        features: Mapping[int, VolunteerFeatures],
        busy: frozenset[int] = frozenset(),
    ) -> set[int]:
        """Choose who to propose: the best team the solver finds among the candidates,
        those already in play counted in (coverage inside the team, size range). People
        proposed or invited for another team are left to it unless this team cannot be
        staffed without them. When no full team exists, the best partial one: a holder of
        each required skill that has one, then the best-fitting others up to the minimum
        (the card says what is still missing)."""
        have = len(keep)
        if project.team_max - have <= 0 or not top:
            return set()
        free = [s for s in top if s.volunteer_id not in busy]
        pools = [free, list(top)] if len(free) < len(top) else [list(top)]
        for pool in pools:
            if pool:
                chosen = self._solve_one(project, needs, keep, pool, features)
                if chosen is not None:
                    return chosen
        ranked = free + [s for s in top if s.volunteer_id in busy]
        return self._best_effort(project, needs, keep, ranked, features)

    def _solve_one(
        self,
        project: Project,
        needs: ProjectNeeds,
        keep: Sequence[tuple[Match, Volunteer]],
        top: Sequence[Suggestion],
        features: Mapping[int, VolunteerFeatures],
    ) -> set[int] | None:
        """The solver's team among `top` (None if it cannot staff the project)."""
        none: frozenset[str] = frozenset()
        kept_ids = [str(v.id) for _, v in keep]
        vols = [
            teams.Volunteer(id=str(s.volunteer_id), skills=_skills_of(features, s.volunteer_id))
            for s in top
        ]
        vols += [
            teams.Volunteer(id=i, skills=features[int(i)].skills if int(i) in features else none)
            for i in kept_ids
        ]
        proj = teams.Project(
            id=str(project.id),
            required=frozenset(needs.required),
            lo=max(1, min(project.team_min, project.team_max)),
            hi=project.team_max,
            fixed=frozenset(kept_ids),
        )
        triples = [(str(s.volunteer_id), proj.id, max(1, round(1000 * s.total))) for s in top]
        triples += [(i, proj.id, 1000) for i in kept_ids]
        problem = teams.TeamProblem(
            vols, [proj], teams.CandidateEdges.from_ids(vols, [proj], triples)
        )
        solution = teams.solve_teams(problem, time_limit=2.0)
        if proj.id not in solution.assignment:
            return None
        return {int(i) for i in solution.assignment[proj.id]} - {int(i) for i in kept_ids}

    def _best_effort(
        self,
        project: Project,
        needs: ProjectNeeds,
        keep: Sequence[tuple[Match, Volunteer]],
        ranked: Sequence[Suggestion],
        features: Mapping[int, VolunteerFeatures],
    ) -> set[int]:
        """A partial team: cover what can be covered, then fill towards the minimum."""
        covered: set[str] = set()
        for _, v in keep:
            covered |= _skills_of(features, v.id)
        chosen: list[int] = []
        for skill in sorted(needs.required - covered):
            if skill in covered:
                continue
            holder = next(
                (
                    s.volunteer_id
                    for s in ranked
                    if s.volunteer_id not in chosen
                    and skill in _skills_of(features, s.volunteer_id)
                ),
                None,
            )
            if holder is not None:
                chosen.append(holder)
                covered |= _skills_of(features, holder)
        for s in ranked:
            if len(keep) + len(chosen) >= max(1, project.team_min):
                break
            if s.volunteer_id not in chosen:
                chosen.append(s.volunteer_id)
        return set(chosen[: max(0, project.team_max - len(keep))])

    async def _suggest(
        self, session: AsyncSession, project_id: int, s: Any, actor: str, now: datetime
    ) -> None:
        """Record a suggested person with the fit breakdown and reasons as of now (the idf
        shifts as the population changes, so they are kept with the match)."""
        await repo.put_match(
            session,
            project_id=project_id,
            volunteer_id=s.volunteer_id,
            state="suggested",
            actor=actor,
            now=now,
            score=round(s.total, 4),
            breakdown={
                **s.fit.as_dict(),
                "reasons_ja": s.reasons("ja"),
                "reasons_en": s.reasons("en"),
            },
            raised_hand=s.raised_hand,
        )

    # ---------------------------------------------------------------- coordinator actions

    async def act(
        self, match_id: int, version: int | None, actor: str, action: str, reason: str = ""
    ) -> ActionResult:
        """Approve (and invite), reject or swap one proposed person."""
        now = self._clock()
        async with self._maker.begin() as session:
            match = await repo.get_match(session, match_id)
            if match is None:
                return ActionResult.told(False, partial(TXT.already, state="-"), self.locale)
            project = await repo.get_project(session, match.project_id)
            assert project is not None
            if action == APPROVE:
                ok = await self._invite(session, match, project, actor, now, version)
            else:
                ok = await repo.move_match(
                    session,
                    match.id,
                    from_states=("suggested",),
                    to_state="rejected",
                    actor=actor,
                    now=now,
                    version=version,
                    reason=(reason or ("swap" if action == SWAP else None)),
                    detail={"reason": reason} if reason else {},
                )
                if ok and reason:
                    project.tuning = self._learn(project.tuning or {}, reason)
                if ok:
                    await self._next_candidate(session, project, actor, now)
            if not ok:
                fresh = await repo.get_match(session, match_id)
                return ActionResult.told(
                    False, lambda loc: TXT.already(loc, state=self._state(fresh, loc)), self.locale
                )
            await self._card(session, project, project.organization)
        self._notify()
        return ActionResult(True)

    async def approve_all(self, project_id: int, actor: str) -> ActionResult:
        """Approve and invite everyone still proposed on the card."""
        now = self._clock()
        async with self._maker.begin() as session:
            project = await repo.get_project(session, project_id)
            if project is None:
                return ActionResult.told(
                    False, partial(TXT.not_recruiting, id=project_id), self.locale
                )
            for match, _ in await repo.project_matches(session, project.id):
                if match.state == "suggested":
                    await self._invite(session, match, project, actor, now, None)
            await self._card(session, project, project.organization)
        self._notify()
        return ActionResult(True)

    def _learn(self, tuning: dict[str, Any], reason: str) -> dict[str, Any]:
        text = reason.casefold()
        out = dict(tuning)
        for component, words in TUNING_WORDS.items():
            if any(w.casefold() in text for w in words):
                out[component] = min(3.0, float(out.get(component, 1.0)) * 1.5)
        return out

    async def _invite(
        self,
        session: AsyncSession,
        match: Match,
        project: Project,
        actor: str,
        now: datetime,
        version: int | None,
    ) -> bool:
        if not await repo.move_match(
            session,
            match.id,
            from_states=("suggested",),
            to_state="approved",
            actor=actor,
            now=now,
            version=version,
        ):
            return False
        until = now + timedelta(days=self.settings.invite_days)
        await repo.move_match(
            session,
            match.id,
            from_states=("approved",),
            to_state="invited",
            actor="system",
            now=now,
            invited_at=now,
            expires_at=until,
        )
        volunteer = await session.get(Volunteer, match.volunteer_id)
        assert volunteer is not None
        org = project.organization
        loc = volunteer.locale
        challenge = summary_of(project.challenge, 120)
        menus = join_list([label(MENUS, m, loc) for m in project.menus], loc)
        mode = label(MODES, project.mode, loc)
        answer_by = when_text(until.astimezone(self.coordination.tz), loc)
        text = TXT.invite(
            loc,
            org=org.name,
            challenge=challenge,
            menus=menus,
            hours=project.hours_per_week,
            mode=mode,
            until=answer_by,
        )
        yes, no = TXT.inv_yes(loc), TXT.inv_no(loc)
        buttons = (
            Choice(yes, postback.Invitation(match.id, "yes").pack(), yes),
            Choice(no, postback.Invitation(match.id, "no").pack(), no),
        )
        card = Panel(
            title=TXT.inv_title(loc),
            kind="invitation",
            fields=(
                (TXT.inv_group(loc), org.name),
                (TXT.inv_challenge(loc), challenge),
                (TXT.inv_menus(loc), menus),
                (
                    TXT.inv_expected(loc),
                    TXT.inv_expected_value(loc, hours=project.hours_per_week, mode=mode),
                ),
                (TXT.inv_until(loc), answer_by),
            ),
            note=TXT.inv_note(loc),
            buttons=buttons,
        )
        await self._push(session, volunteer, [Reply(text, buttons, (card,))], ("invite", match.id))
        return True

    async def _next_candidate(
        self, session: AsyncSession, project: Project, actor: str, now: datetime
    ) -> bool:
        """Propose the best person not yet considered (after a swap, decline or expiry)."""
        if project.status != "recruiting":
            return False
        existing = await repo.project_matches(session, project.id)
        taken = frozenset(v.id for m, v in existing if m.state not in RESTING)
        live = await self.live.fresh(session)
        index = live.index(self.weights_for(project))
        top = index.top(self.needs(project, project.organization, exclude=taken), k=1)
        if not top:
            return False
        s = top[0]
        await self._suggest(session, project.id, s, actor, now)
        return True

    # ---------------------------------------------------------------- volunteers and groups

    async def answer_invitation(
        self, session: AsyncSession, match_id: int, accept: bool, reason: str | None
    ) -> None:
        """A volunteer's answer (called in the transaction applying their LINE event)."""
        now = self._clock()
        match = await repo.get_match(session, match_id)
        if match is None:
            return
        project = await repo.get_project(session, match.project_id)
        assert project is not None
        if accept:
            ok = await repo.move_match(
                session,
                match_id,
                from_states=("invited",),
                to_state="accepted",
                actor="volunteer",
                now=now,
            )
            if ok:
                volunteer = await session.get(Volunteer, match.volunteer_id)
                if self.lifecycle is not None and volunteer is not None:
                    await self.lifecycle.ask_contact(session, volunteer)  # asked once
                await self._team_ready(session, project, now)
        else:
            ok = await repo.move_match(
                session,
                match_id,
                from_states=("invited",),
                to_state="declined",
                actor="volunteer",
                now=now,
                reason=reason,
                detail={"reason": reason} if reason else {},
            )
            if ok and not await self._next_candidate(session, project, "system", now):
                await self._team_ready(session, project, now)
        if ok:
            await self._card(session, project, project.organization)

    async def _team_ready(self, session: AsyncSession, project: Project, now: datetime) -> None:
        """At minimum size with everyone accepted, show the team to the group."""
        rows = await repo.project_matches(session, project.id)
        accepted = [(m, v) for m, v in rows if m.state == "accepted"]
        pending = [m for m, _ in rows if m.state in ("approved", "invited")]
        if pending:
            return
        if len(accepted) < project.team_min:
            await self._below_minimum(session, project, len(accepted), now)
            return
        moved = await transition(
            session, project.id, "propose_team", role=Role.SYSTEM, actor="system", now=now
        )
        if not moved.ok:
            return
        org = project.organization
        loc = org.locale
        deadline = ""
        if self.lifecycle is not None:  # the group answers by a deadline, reminded before
            await self.lifecycle.proposal_sent(session, project.id, now)
            until = self.coordination.local(now + timedelta(days=self.lifecycle.proposal_days))
            deadline = "\n" + TXT.team_until(loc, until=until)
        people = [
            (
                first_name(v.display_name),
                join_list([label(SKILLS, s.skill, loc) for s in v.skills], loc),
            )
            for _, v in accepted
        ]
        members = "\n".join(f"・{name}（{skills}）" for name, skills in people)
        summary = summary_of(project.challenge)
        text = TXT.team_for_group(loc, summary=summary, members=members) + deadline
        buttons = tuple(
            Choice(said(loc), postback.TeamConfirm(project.id, answer).pack(), said(loc))
            for said, answer in (
                (TXT.team_ok, "ok"),
                (TXT.team_no, "no"),
                (TXT.team_change, "change"),
            )
        )
        card = Panel(
            title=TXT.team_title(loc),
            kind="proposal",
            body=summary,
            fields=tuple((name, skills or "-") for name, skills in people),
            note=TXT.team_ask(loc) + deadline,
            buttons=buttons,
        )
        if not org.user_key.startswith("deleted:"):
            await outbox.enqueue(
                session,
                channel=org.channel,
                kind="push",
                target=org.user_key,
                payload=outbox.replies_payload([Reply(text, buttons, (card,))]),
                key=outbox.key_for("team-proposed", project.id),
            )
            if self.lifecycle is not None:  # never asked: asked once, now
                await self.lifecycle.ask_contact(session, org)

    async def _below_minimum(
        self, session: AsyncSession, project: Project, accepted: int, now: datetime
    ) -> None:
        """Everyone invited has answered and the team is still below its minimum: propose
        more people, or tell the coordinators why nobody can be proposed (never silent)."""
        rows = await repo.project_matches(session, project.id)
        loc, lo = self.locale, project.team_min
        key = ("below-min", project.id, accepted, len(rows))
        if any(m.state == "suggested" for m, _ in rows):
            text = TXT.below_min_waiting(loc, n=accepted, lo=lo)
        else:
            chosen, _, _ = await self._propose(session, project, "system", now)
            if chosen:
                text = TXT.below_min_added(loc, n=accepted, lo=lo, k=len(chosen))
            else:
                why = " ".join(await self._shortfall(session, project, []))
                text = TXT.below_min_stuck(loc, n=accepted, lo=lo, why=why)
        await self.coordination.note(session, project, text, key)

    async def confirm_team(self, session: AsyncSession, project_id: int) -> None:
        """The group agrees: the team is formed and the members hear who to work with."""
        now = self._clock()
        moved = await transition(
            session,
            project_id,
            "confirm_team",
            role=Role.GROUP,
            actor="group",
            now=now,
            audit_action="team_formed",
        )
        project = await repo.get_project(session, project_id)
        if project is None or not moved.ok:
            return
        org = project.organization
        members = [
            (m, v)
            for m, v in await repo.project_matches(session, project_id)
            if m.state == "accepted"
        ]
        for match, volunteer in members:
            text = TXT.formed_member(
                volunteer.locale, org=org.name, contact=org.contact_name, role=org.contact_role
            )
            await self._push(session, volunteer, [Reply(text)], ("formed", match.id))
            if self.rich_menus is not None:  # now a team member: the team menu
                await self.rich_menus.sync(
                    session, volunteer.channel, volunteer.user_key, volunteer.locale, now
                )
        if self.teams is not None:
            await self.teams.on_team_formed(session, project)
        if self.lifecycle is not None:  # contacts each side consented to share
            await self.lifecycle.team_confirmed(session, project_id)
        names = join_list([first_name(v.display_name) for _, v in members], self.locale)
        await self.coordination.note(
            session,
            project,
            TXT.formed_thread(self.locale, names=plain(names)),
            ("formed", project_id),
        )
        await self._card(session, project, org)

    async def raise_hand(
        self, session: AsyncSession, channel: str, user_key: str, project_id: int
    ) -> None:
        """A volunteer raises their hand for a recruiting project."""
        volunteer = await repo.get_volunteer(session, channel, user_key)
        project = await repo.get_project(session, project_id)
        if volunteer is None or project is None or project.status != "recruiting":
            return
        now = self._clock()
        existing = {v.id: m for m, v in await repo.project_matches(session, project_id)}
        if volunteer.id in existing:
            existing[volunteer.id].raised_hand = True
        else:
            await repo.put_match(
                session,
                project_id=project_id,
                volunteer_id=volunteer.id,
                state="interested",
                actor="volunteer",
                now=now,
                raised_hand=True,
            )
        await self.coordination.note(
            session,
            project,
            TXT.hand_thread(self.locale, name=plain(first_name(volunteer.display_name))),
            ("hand", project_id, volunteer.id),
        )
        if await matching_repo.has_message(session, "team_card", project_id):
            await self._card(session, project, project.organization)  # shows the 🙋

    async def open_projects_for(
        self, session: AsyncSession, channel: str, user_key: str, locale: str, limit: int
    ) -> list[OpenProject]:
        """Recruiting projects this volunteer is eligible for, best fit first."""
        volunteer = await repo.get_volunteer(session, channel, user_key)
        if volunteer is None:
            return []
        live = await self.live.fresh(session)
        mine = live.features.get(volunteer.id)
        if mine is None:
            # Not in the shared view yet (e.g. saved in this very transaction): read it here.
            own = await load_features(
                session,
                now=self._clock(),
                window_days=self.settings.weights.recent_window_days,
                ids=[volunteer.id],
            )
            mine = own.get(volunteer.id)
            if mine is None:
                return []
        index = live.index(self.settings.weights)
        idf = {skill: index.idf_of(skill) for skill in index.idf()}
        found = []
        for project in await repo.projects_with_status(session, "recruiting"):
            needs = self.needs(project, project.organization)
            ok, _ = eligible(mine, needs)
            if not ok and project.id not in mine.raised_hands:
                continue
            fit = score(mine, needs, idf, self.weights_for(project))
            found.append((-fit.points, project.id, project, needs, fit))
        found.sort(key=lambda x: (x[0], x[1]))
        return [
            OpenProject(
                project_id=p.id,
                org_name=p.organization.name,
                summary=summary_of(p.challenge, 60),
                reasons=tuple(reasons(fit, mine, needs, locale, 3)),
                raised=p.id in mine.raised_hands,
            )
            for _, _, p, needs, fit in found[:limit]
        ]

    async def announce(self, session: AsyncSession, project: Project) -> int:
        """Tell the best-fitting volunteers about a project that starts recruiting
        (a bounded number, at most one such message per person per week)."""
        now = self._clock()
        live = await self.live.fresh(session)
        needs = self.needs(project, project.organization)
        index = live.index(self.weights_for(project))
        sent = 0
        for s in index.top(needs, k=self.settings.announce_per_project * 3):
            volunteer = await session.get(Volunteer, s.volunteer_id)
            if volunteer is None:
                continue
            last = volunteer.last_announced_at
            if volunteer.status != "active" or (last and now - last < self.settings.announce_every):
                continue
            loc = volunteer.locale
            button = TXT.hand_button(loc)
            challenge = summary_of(project.challenge, 80)
            reasons = " / ".join(s.reasons(loc))
            text = TXT.announce(
                loc, org=project.organization.name, challenge=challenge, reasons=reasons
            )
            buttons = (Choice(button, postback.Hand(project.id).pack(), button),)
            card = Panel(
                title=f"{TXT.announce_title(loc)}: {project.organization.name}",
                kind="project",
                body=challenge,
                note=reasons or None,
                buttons=buttons,
            )
            await self._push(
                session,
                volunteer,
                [Reply(text, buttons, (card,))],
                ("announce", project.id, volunteer.id),
                urgent=False,
            )
            volunteer.last_announced_at = now
            sent += 1
            if sent >= self.settings.announce_per_project:
                break
        # A first team straight away, so Accept and then Approve all staff it.
        if project.status == "recruiting":
            await self._propose(session, project, "system", now)
        return sent

    # ---------------------------------------------------------------- the timer

    async def expire_and_remind(self, now: datetime | None = None) -> tuple[int, int]:
        """Remind invitations about to expire and expire the overdue ones; returns counts."""
        now = now or self._clock()
        reminded = expired = 0
        async with self._maker.begin() as session:
            for match in await repo.invitations_due(session, now + self.settings.remind_before):
                volunteer = await session.get(Volunteer, match.volunteer_id)
                project = await repo.get_project(session, match.project_id)
                if volunteer is None or project is None:
                    continue
                org = project.organization.name
                if match.expires_at is not None and match.expires_at <= now:
                    if await repo.move_match(
                        session,
                        match.id,
                        from_states=("invited",),
                        to_state="expired",
                        actor="system",
                        now=now,
                    ):
                        expired += 1
                        await self._push(
                            session,
                            volunteer,
                            [Reply(TXT.expired_you(volunteer.locale, org=org))],
                            ("expired", match.id),
                        )
                        if not await self._next_candidate(session, project, "system", now):
                            await self._team_ready(session, project, now)  # never silent
                        await self._card(session, project, project.organization)
                elif match.reminded_at is None:
                    match.reminded_at = now
                    reminded += 1
                    until = self.coordination.local(match.expires_at)
                    await self._push(
                        session,
                        volunteer,
                        [Reply(TXT.reminder(volunteer.locale, org=org, until=until))],
                        ("remind", match.id),
                    )
        if reminded or expired:
            self._notify()
        return reminded, expired

    # ---------------------------------------------------------------- rendering

    def _state(self, match: Match | None, locale: str | None = None) -> str:
        if match is None:
            return "-"
        loc = locale or self.locale
        if match.state == "invited":
            return TXT.state_invited(loc, until=self.coordination.local(match.expires_at))
        if match.state == "declined":
            return TXT.state_declined(loc, reason=plain(match.reason or "-"))
        if match.state == "rejected":
            return TXT.state_rejected(loc, reason=plain(match.reason or "-"))
        plain_states = {
            "suggested": TXT.state_suggested,
            "accepted": TXT.state_accepted,
            "expired": TXT.state_expired,
        }
        text = plain_states.get(match.state)
        return text(loc) if text is not None else match.state

    async def card_for(self, session: AsyncSession, project: Project, org: Organization) -> Card:
        """The team card: each person with fit, reasons, breakdown and buttons."""
        loc = self.locale
        rows = []
        matches = await repo.project_matches(session, project.id)
        members: list[frozenset[str]] = []
        for match, volunteer in matches:
            if match.state in RESTING:
                continue
            if match.state in OPEN_STATES:
                held = frozenset(s.skill for s in volunteer.skills)
                members.append(with_languages(held, frozenset(volunteer.languages)))
            why = match.breakdown.get(f"reasons_{loc}") or []
            numbers = {
                k: float(v)
                for k, v in match.breakdown.items()
                if isinstance(v, float | int) and not isinstance(v, bool)
            }
            bonus = numbers.get(RAISED_HAND, 0.0)
            text = TXT.row(
                loc,
                name=plain(first_name(volunteer.display_name)),
                # The fit proper is at most 1 (weights sum to 1); the bonus is apart.
                score=min(1.0, max(0.0, float(match.score or 0.0) - bonus)),
                hand=TXT.hand(loc, bonus=bonus) if match.raised_hand else "",
                reasons=plain(" / ".join(why)),
            )
            parts = [
                f"{component_label(k, loc)} {v:.2f}"
                for k, v in numbers.items()
                if k not in ("total", RAISED_HAND)
            ]
            context = f"{self._state(match)}　|　{' / '.join(parts)}"
            buttons: tuple[Button, ...] = ()
            if match.state == "suggested" and project.status == "recruiting":
                value = f"{match.id}:{match.version}"
                buttons = (
                    Button(TXT.approve(loc), APPROVE, value, "primary"),
                    Button(TXT.reject(loc), REJECT, value, "danger"),
                    Button(TXT.swap(loc), SWAP, value),
                )
            rows.append(CardRow(text=text, buttons=buttons, context=context))
        needs = self.needs(project, org)
        covered = frozenset().union(*members) if members else frozenset()
        missing = [s for s in sorted(needs.required) if s not in covered]
        shortfall: list[str] = []
        if project.status == "recruiting":
            shortfall = await self._shortfall(session, project, members)
        coverage = (
            TXT.coverage_ok(loc)
            if not missing
            else TXT.coverage_missing(
                loc, skills=join_list([skill_label(s, loc) for s in missing], loc)
            )
        )
        if missing and shortfall:
            coverage = "\n".join(shortfall)
        elif shortfall:
            coverage = "\n".join([coverage, *shortfall])
        head = TXT.needs(
            loc,
            req=join_list([skill_label(s, loc) for s in sorted(needs.required)], loc) or "-",
            opt=join_list([skill_label(s, loc) for s in sorted(needs.optional)], loc) or "-",
            lo=project.team_min,
            hi=project.team_max,
        )
        actions: tuple[Button, ...] = ()
        if project.status == "recruiting":
            edit = Button(TXT.edit_needs(loc), EDIT_NEEDS, f"{project.id}:{project.version}")
            actions = (Button(TXT.suggest(loc), SUGGEST, str(project.id)), edit)
            if any(m.state == "suggested" for m, _ in matches):
                actions = (
                    Button(TXT.approve_all(loc), APPROVE_ALL, str(project.id), "primary"),
                    *actions,
                )
        title = TXT.card_title(loc, org=org.name, id=project.id)
        return Card(
            title=title,
            fallback=title,
            sections=(head, coverage),
            rows=tuple(rows),
            buttons=actions,
        )

    async def _shortfall(
        self, session: AsyncSession, project: Project, members: Sequence[frozenset[str]]
    ) -> list[str]:
        """Why the proposal (members' skill sets) is not yet a team, and what would fix it:
        a required skill not on it (with who could bring it, or that its holders are all
        taken, or that nobody eligible holds it), and a size below the minimum."""
        loc = self.locale
        org = project.organization
        rows = await repo.project_matches(session, project.id)
        on_card = frozenset(v.id for m, v in rows if m.state in OPEN_STATES)
        # Raised hands as this transaction sees them (one may be raised in it right now).
        hands = frozenset(v.id for m, v in rows if m.raised_hand)
        live = await self.live.fresh(session)
        needs = self.needs(project, org, exclude=on_card)
        pool = live.index(self.weights_for(project)).top(needs, k=50)
        covered = frozenset().union(*members) if members else frozenset()
        lines = []
        for skill in sorted(needs.required - covered):
            holders = [s for s in pool if skill in _skills_of(live.features, s.volunteer_id)]
            name = skill_label(skill, loc)
            if holders:
                names = []
                for s in holders[:3]:
                    vol = await session.get(Volunteer, s.volunteer_id)
                    who = first_name(vol.display_name) if vol is not None else "-"
                    hand = s.raised_hand or s.volunteer_id in hands
                    names.append(f"{who}{'🙋' if hand else ''}")
                text = TXT.skill_on_offer(loc, skill=name, names=plain(join_list(names, loc)))
            elif any(
                skill in f.skills and f.active_projects >= f.capacity
                for f in live.features.values()
            ):
                text = TXT.skill_taken(loc, skill=name)
            else:
                text = TXT.skill_none(loc, skill=name)
            lines.append(text)
        size = len(members)
        if size < project.team_min:
            more = len(pool)
            hint = TXT.short_more(loc, m=more) if more else TXT.short_fix(loc)
            lines.append(TXT.short(loc, n=size, lo=project.team_min) + hint)
        return lines

    async def refresh_card(self, session: AsyncSession, project_id: int) -> None:
        """Update a project's team card after a change made elsewhere (life-group, #13)."""
        project = await repo.get_project(session, project_id)
        if project is not None:
            await self._card(session, project, project.organization)

    async def _card(self, session: AsyncSession, project: Project, org: Organization) -> None:
        """Post the team card the first time, update it in place afterwards."""
        if not self.coordination.channel:
            return
        card = {"card": (await self.card_for(session, project, org)).to_dict()}
        # The post is written once (its key repeats); every change after it is an update,
        # which the dispatcher holds until the post has its Slack ts.
        for kind, key in (
            ("post", outbox.key_for("team-card", project.id)),
            (
                "update",
                outbox.key_for("team-card", project.id, self._clock().isoformat(), str(card)),
            ),
        ):
            await outbox.enqueue(
                session,
                channel="slack",
                kind=kind,
                target=self.coordination.channel,
                payload=card,
                key=key,
                ref_type="team_card",
                ref_id=project.id,
            )

    async def _push(
        self,
        session: AsyncSession,
        volunteer: Volunteer,
        replies: list[Reply],
        why: tuple[object, ...],
        *,
        urgent: bool = True,
    ) -> None:
        # Invitations, reminders and team news are time-bound: never held back by the
        # LINE budget. Only "a new project that fits you" may wait (urgent=False).
        await outbox.enqueue(
            session,
            channel=volunteer.channel,
            kind="push",
            target=volunteer.user_key,
            payload=outbox.replies_payload(replies, urgent=urgent),
            key=outbox.key_for("match-push", *why),
        )
