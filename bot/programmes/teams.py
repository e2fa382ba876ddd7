"""Team channels: a Slack channel per formed team, linking Slack accounts, and the team's
announcements and log for members who live in LINE.

Everything the Slack side needs is written to the outbox in the caller's transaction,
addressed to the logical target ``team:{project_id}``. The Slack transport resolves that
target to the project's channel id, and holds the rows (in order) until the channel
exists; the first row of every team is the one that creates the channel.
"""

from __future__ import annotations

import functools
import logging
import secrets
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox
from bot.cards import Card, plain
from bot.conversation.model import Reply
from bot.i18n import T, Texts, join_list
from bot.programmes.calendar import calendar_text, local_when, zone
from bot.rules.states import TEAM_STATES
from bot.taxonomy import SKILLS, label
from storage import repo
from storage.base import utcnow
from storage.models import LinkCode, Match, Phase, Programme, ProgressNote, Project, Volunteer

log = logging.getLogger(__name__)

TEAM_PREFIX = "team:"
# Outbox kinds the Slack transport handles besides post/update/thread.
CREATE_CHANNEL, INVITE = "channel", "invite"
# Statuses in which a project has a team (and so a channel).
TEAM_STATUSES = TEAM_STATES  # the project has a formed team (bot/lifecycle)
NAME_MAX = 80
# No 0/O, 1/I/L: a code read off a phone and typed on a laptop.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    welcome_title = T("ようこそ！{org} チーム（#{id}）", "Welcome, {org} team (#{id})")
    group = T("*団体*\n{org}", "*Group*\n{org}")
    challenge = T("*課題*\n{text}", "*Challenge*\n{text}")
    deliverable = T("*成果物*\n{text}", "*Deliverable*\n{text}")
    deliverable_tbd = T("キックオフで合意します", "to be agreed at kickoff")
    members = T("*メンバー*\n{lines}", "*Members*\n{lines}")
    in_line = T("（LINEで参加）", " (in LINE)")
    welcome_context = T(
        "Slackを連携していないメンバーには、チームへのお知らせをLINEでもお届けします。"
        "進捗は `/tsunagu progress 内容` で記録できます。",
        "Members who have not linked Slack get the team's announcements in LINE too. "
        "Record progress with `/tsunagu progress TEXT`.",
    )
    # To members, in LINE (their locale).
    code = T(
        "【Slack連携】チームのやり取りはSlackのチャンネルで行います。"
        "Slackで次のように入力すると、このLINEアカウントとつながり、"
        "チームのチャンネルに招待されます:\n\n/tsunagu link {code}\n\n"
        "（{until}まで有効・1回限り）{invite}\n"
        "Slackを使わない場合も、チームへのお知らせはこのLINEでお届けします。",
        "[Link Slack] The team works together in a Slack channel. Type this in Slack to link "
        "this LINE account and be invited to your team's channel:\n\n/tsunagu link {code}\n\n"
        "(valid until {until}, once){invite}\n"
        "If you don't use Slack, you'll still get the team's announcements here in LINE.",
    )
    code_invite = T(
        "\nSlackワークスペースへの参加はこちら: {url}", "\nJoin the Slack workspace here: {url}"
    )
    # Answers to /tsunagu link, in both languages (we do not know the person yet).
    link_usage = T(
        "`/tsunagu link コード` の形で、LINEで届いたコードを入力してください。",
        "Please type `/tsunagu link CODE` with the code you received in LINE.",
    )
    link_ok = T(
        "✅ LINEのアカウント（{name} さん）とつながりました。チームのチャンネルに招待します。",
        "✅ Linked with your LINE account ({name}). You'll be invited to your team channels.",
    )
    link_ok_no_team = T(
        "✅ LINEのアカウント（{name} さん）とつながりました。チームが結成されたら"
        "チャンネルに招待します。",
        "✅ Linked with your LINE account ({name}). Once your team is formed you'll be "
        "invited to its channel.",
    )
    link_bad = T(
        "コード「{code}」は見つかりませんでした。LINEで届いた8文字のコードをご確認ください"
        "（LINEで「Slack連携」と送ると新しいコードが届きます）。",
        "The code “{code}” was not found. Please check the 8-character code you received in "
        "LINE (send “link slack” in LINE for a new one).",
    )
    link_used = T(
        "このコードはすでに使われています。LINEで「Slack連携」と送ると新しいコードが届きます。",
        "This code has already been used. Send “link slack” in LINE for a new one.",
    )
    link_expired = T(
        "このコードは有効期限（{until}）が切れています。LINEで「Slack連携」と送ると"
        "新しいコードが届きます。",
        "This code expired on {until}. Send “link slack” in LINE for a new one.",
    )
    link_taken = T(
        "申し訳ありません。このSlackアカウントは、すでに別のボランティアのLINEアカウントと"
        "つながっているため、連携できませんでした。お手数ですが事務局にご連絡ください。",
        "Sorry, this Slack account is already linked to another volunteer's LINE account, "
        "so it was not linked. Please contact the programme office.",
    )
    # Progress notes and the log.
    not_team_channel = T(
        "このコマンドはチームのチャンネルで使ってください"
        "（コーディネーターは `/tsunagu log 相談番号` でどこからでも見られます）。",
        "Please use this command in your team's channel "
        "(coordinators can use `/tsunagu log PROJECT_ID` anywhere).",
    )
    progress_usage = T(
        "`/tsunagu progress 内容` の形で、進捗を書いてください。",
        "Please write the progress after the command: `/tsunagu progress TEXT`.",
    )
    progress_ok = T(
        "📝 進捗を記録しました（{at}）。`/tsunagu log` で記録の一覧を見られます。",
        "📝 Progress recorded ({at}). See the log with `/tsunagu log`.",
    )
    log_head = T("*{org} チームの記録*（#{id}）", "*{org} team log* (#{id})")
    log_empty = T(
        "まだ記録はありません。`/tsunagu progress 内容` で記録できます。",
        "Nothing recorded yet. Add a note with `/tsunagu progress TEXT`.",
    )
    log_not_found = T("相談 #{id} が見つかりません。", "Request #{id} was not found.")


TXT = _Texts


# ---------------------------------------------------------------- targets and names


def team_target(project_id: int) -> str:
    """The outbox target of a project's team channel (resolved when sending)."""
    return f"{TEAM_PREFIX}{project_id}"


def team_project(target: str) -> int | None:
    """The project id of a ``team:{id}`` target, or None for an ordinary channel."""
    if not target.startswith(TEAM_PREFIX):
        return None
    rest = target[len(TEAM_PREFIX) :]
    return int(rest) if rest.isdigit() else None


def _script(text: str) -> str:
    """The writing system of a piece: kanji, kana or other (Latin, digits, signs)."""
    for c in text:
        name = unicodedata.name(c, "")
        if name.startswith("CJK"):
            return "kanji"
        if name.startswith(("HIRAGANA", "KATAKANA")):
            return "kana"
    return "other"


@functools.cache
def _kakasi() -> Any:
    """pykakasi's converter (its dictionaries load once, on first use)."""
    import pykakasi

    return pykakasi.kakasi()  # type: ignore[no-untyped-call]


def romanise(text: str) -> str:
    """Japanese as Hepburn romaji (pykakasi reads kanji too); other letters as ASCII.

    Pieces in different scripts are kept apart by a space (こども未来塾 -> "kodomo miraijuku"),
    so the channel name reads as words; letters without an ASCII form become spaces.
    """
    text = unicodedata.normalize("NFKC", text)
    out: list[str] = []
    previous = ""
    for piece in _kakasi().convert(text):
        orig, roma = piece["orig"], piece["hepburn"]
        script = _script(orig)
        if out and script != previous:
            out.append(" ")
        previous = script
        for c in roma:
            ascii_ = unicodedata.normalize("NFKD", c).encode("ascii", "ignore").decode()
            out.append(ascii_ if ascii_.isalnum() else " ")
    return "".join(out)


def slugify(text: str, fallback: str = "") -> str:
    """Lower-case ASCII letters, digits and single hyphens, as Slack channel names allow."""
    words: list[str] = []
    current = []
    for c in romanise(text).lower():
        if "a" <= c <= "z" or "0" <= c <= "9":
            current.append(c)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return "-".join(words) or fallback


def channel_name(programme_slug: str | None, group_name: str, project_id: int) -> str:
    """A readable, stable channel name: ``{programme}-{group}-p{id}``, at most 80 characters."""
    prefix = slugify(programme_slug or "", "tsunagu")[:24]
    suffix = f"p{project_id}"
    room = NAME_MAX - len(prefix) - len(suffix) - 2
    body = slugify(group_name, "team")[:room].strip("-") or "team"
    return f"{prefix}-{body}-{suffix}"


# ---------------------------------------------------------------- link codes


def new_code() -> str:
    """A random one-time code from an alphabet without look-alike characters."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str:
    """What someone typed as a code: full-width, case, spaces and hyphens do not matter."""
    folded = unicodedata.normalize("NFKC", text).upper()
    return "".join(c for c in folded if c.isalnum())


# ---------------------------------------------------------------- team queries


async def team_members(session: AsyncSession, project_id: int) -> list[Volunteer]:
    """The volunteers who accepted and are on the team, in the order they were matched."""
    return [v for m, v in await repo.project_matches(session, project_id) if m.state == "accepted"]


async def unlinked_members(session: AsyncSession, project_id: int) -> list[Volunteer]:
    """Accepted members who have not linked a Slack account (they hear things in LINE)."""
    return [
        v
        for v in await team_members(session, project_id)
        if v.slack_user_id is None
        and v.status != "inactive"
        and not v.user_key.startswith("deleted:")
    ]


async def programme_of(
    session: AsyncSession, project: Project
) -> tuple[Programme | None, list[Phase]]:
    """A project's programme and its phases in date order (None and [] without one): the
    programme-wide phases and this team's own, never another team's."""
    if project.programme_id is None:
        return None, []
    programme = await session.get(Programme, project.programme_id)
    if programme is None:
        return None, []
    phases = await session.scalars(
        select(Phase)
        .where(
            Phase.programme_id == programme.id,
            or_(Phase.project_id.is_(None), Phase.project_id == project.id),
        )
        .order_by(Phase.starts_at, Phase.id)
    )
    return programme, list(phases)


async def post_to_team(
    session: AsyncSession,
    project_id: int,
    payload: dict[str, object],
    key: str,
    *,
    kind: str = "post",
) -> None:
    """Queue a message for a team's channel (held until the channel exists)."""
    await outbox.enqueue(
        session,
        channel="slack",
        kind=kind,
        target=team_target(project_id),
        payload=dict(payload),
        key=key,
    )


async def team_announce(
    session: AsyncSession,
    project: Project,
    text_by_locale: dict[str, str],
    key: str,
    *,
    urgent: bool = False,
    expires_at: datetime | None = None,
) -> int:
    """Post an announcement in the team channel and send it in LINE to every member who
    has not linked Slack (in their language); returns how many LINE messages were queued.
    `expires_at`: the LINE copies are about an event and must not go out after it."""
    if not text_by_locale:
        return 0
    default = text_by_locale.get("ja") or next(iter(text_by_locale.values()))
    # The channel is shared by everyone: both languages when both are given.
    shown = [text_by_locale[loc] for loc in ("ja", "en") if text_by_locale.get(loc)]
    await post_to_team(
        session,
        project.id,
        {"text": "\n\n".join(dict.fromkeys(shown))},
        outbox.key_for(key, "team", project.id),
    )
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for volunteer in await unlinked_members(session, project.id):
        locale = volunteer.locale if volunteer.locale in text_by_locale else ""
        groups[(volunteer.channel, locale)].append(volunteer.user_key)
    queued = 0
    for (channel, locale), targets in sorted(groups.items()):
        # One recipient's message is keyed by (key, recipient) whatever their language.
        queued += await outbox.fan_out(
            session,
            channel=channel,
            targets=targets,
            replies=[Reply(text_by_locale.get(locale) or default)],
            key=key,
            urgent=urgent,
            expires_at=expires_at,
        )
    return queued


# ---------------------------------------------------------------- the service


@dataclass(frozen=True)
class TeamSettings:
    """Knobs for team channels and linking."""

    locale: str = "ja"
    # SLACK_COORDINATOR_IDS as given: user ids and/or user-group ids (S...).
    coordinator_ids: tuple[str, ...] = ()
    invite_url: str = ""
    code_days: int = 14
    timezone: str = "Asia/Tokyo"
    private_channels: bool = True

    @classmethod
    def from_ids(cls, ids: str, **kw: object) -> TeamSettings:
        """Build from a comma list of coordinator ids."""
        parts = tuple(i.strip() for i in ids.split(",") if i.strip())
        return cls(coordinator_ids=parts, **kw)  # type: ignore[arg-type]


class TeamChannels:
    """Team channels, Slack linking and the team log; the Slack handler and matching call it."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        settings: TeamSettings | None = None,
        *,
        notify: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._maker = maker
        self.settings = settings or TeamSettings()
        self.locale = self.settings.locale
        self._notify = notify
        self._clock = clock

    # -- formation

    async def on_team_formed(self, session: AsyncSession, project: Project) -> None:
        """Queue the team's channel, its invitations, the welcome and everyone's link code
        (caller's transaction: the one that marks the team formed)."""
        programme, phases = await programme_of(session, project)
        members = await team_members(session, project.id)
        name = channel_name(
            programme.slug if programme else None, project.organization.name, project.id
        )
        await post_to_team(
            session,
            project.id,
            {"name": name, "private": self.settings.private_channels},
            outbox.key_for("team-channel", project.id),
            kind=CREATE_CHANNEL,
        )
        users = [i for i in self.settings.coordinator_ids if not i.startswith("S")]
        users += [v.slack_user_id for v in members if v.slack_user_id]
        groups = [i for i in self.settings.coordinator_ids if i.startswith("S")]
        await post_to_team(
            session,
            project.id,
            {"users": list(dict.fromkeys(users)), "usergroups": groups},
            outbox.key_for("team-invite", project.id),
            kind=INVITE,
        )
        card = self.welcome_card(project, members, programme, phases)
        await post_to_team(
            session,
            project.id,
            {"card": card.to_dict()},
            outbox.key_for("team-welcome", project.id),
        )
        now = self._clock()
        for volunteer in members:
            if volunteer.slack_user_id is None and not volunteer.user_key.startswith("deleted:"):
                await self.issue_code(session, volunteer, now)

    def welcome_card(
        self,
        project: Project,
        members: Sequence[Volunteer],
        programme: Programme | None,
        phases: Sequence[Phase],
    ) -> Card:
        """The first message in a team channel: who, what for, and when."""
        loc = self.locale
        org = project.organization
        lines = []
        for v in members:
            skills = join_list([label(SKILLS, s.skill, loc) for s in v.skills], loc) or "-"
            where = TXT.in_line(loc) if v.slack_user_id is None else f" <@{v.slack_user_id}>"
            lines.append(f"• {plain(_first_name(v.display_name))}{where} — {skills}")
        deliverable = project.deliverable or TXT.deliverable_tbd(loc)
        title = TXT.welcome_title(loc, org=org.name, id=project.id)
        return Card(
            title=title,
            fallback=title,
            sections=(
                TXT.group(loc, org=plain(org.name)),
                TXT.challenge(loc, text=plain(project.challenge)),
                TXT.deliverable(loc, text=plain(deliverable)),
                TXT.members(loc, lines="\n".join(lines) or "-"),
                plain(calendar_text(programme, phases, loc)),
            ),
            context=TXT.welcome_context(loc),
        )

    async def team_announce(
        self,
        session: AsyncSession,
        project: Project,
        text_by_locale: dict[str, str],
        key: str,
        *,
        expires_at: datetime | None = None,
    ) -> int:
        """The module's team_announce, for the programme service (its TeamAnnouncer)."""
        return await team_announce(session, project, text_by_locale, key, expires_at=expires_at)

    # -- link codes

    async def issue_code(
        self, session: AsyncSession, volunteer: Volunteer, now: datetime | None = None
    ) -> str:
        """Write a fresh one-time code for a volunteer and push it to them in LINE."""
        now = now or self._clock()
        expires = now + timedelta(days=self.settings.code_days)
        code = new_code()
        while await session.get(LinkCode, code) is not None:
            code = new_code()
        session.add(
            LinkCode(code=code, volunteer_id=volunteer.id, expires_at=expires, created_at=now)
        )
        await session.flush()
        loc = volunteer.locale
        invite = (
            TXT.code_invite(loc, url=self.settings.invite_url) if self.settings.invite_url else ""
        )
        text = TXT.code(
            loc,
            code=code,
            until=local_when(expires, zone(self.settings.timezone), loc, with_time=False),
            invite=invite,
        )
        await outbox.enqueue(
            session,
            channel=volunteer.channel,
            kind="push",
            target=volunteer.user_key,
            payload=outbox.replies_payload([Reply(text)]),
            key=outbox.key_for("link-code", code),
        )
        log.info("teams: link code issued for volunteer %d", volunteer.id)
        return code

    async def request_code(self, session: AsyncSession, channel: str, user_key: str) -> bool:
        """A volunteer asked in LINE for a code (caller's transaction); False if unknown."""
        volunteer = await repo.get_volunteer(session, channel, user_key)
        if volunteer is None:
            return False
        await self.issue_code(session, volunteer)
        return True

    async def link(self, slack_user_id: str, typed: str) -> str:
        """`/tsunagu link CODE`: link the Slack user to the code's volunteer and invite them
        to their team channels; returns the answer (both languages)."""
        try:
            return await self._link(slack_user_id, typed)
        except IntegrityError:
            # Linked to another volunteer between our check and the write: nothing changed.
            return _both(TXT.link_taken)

    async def _link(self, slack_user_id: str, typed: str) -> str:
        code = normalise_code(typed)
        if not code:
            return _both(TXT.link_usage)
        now = self._clock()
        async with self._maker.begin() as session:
            row = await session.get(LinkCode, code, with_for_update=True)
            if row is None:
                return _both(TXT.link_bad, code=plain(typed.strip()[:20]))
            if row.used_at is not None:
                return _both(TXT.link_used)
            if row.expires_at <= now:
                return _both(
                    TXT.link_expired,
                    until=self._local(row.expires_at),
                )
            volunteer = await session.get(Volunteer, row.volunteer_id)
            if volunteer is None:
                return _both(TXT.link_bad, code=plain(code))
            other = await session.scalar(
                select(Volunteer.id).where(
                    Volunteer.slack_user_id == slack_user_id, Volunteer.id != volunteer.id
                )
            )
            if other is not None:
                log.info("teams: link refused, Slack user already linked to another volunteer")
                return _both(TXT.link_taken)
            claimed = await session.execute(
                update(LinkCode)
                .where(LinkCode.code == code, LinkCode.used_at.is_(None))
                .values(used_at=now),
                execution_options={"synchronize_session": False},
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                return _both(TXT.link_used)
            volunteer.slack_user_id = slack_user_id
            await session.flush()
            projects = await self._team_projects(session, volunteer.id)
            for project_id in projects:
                await post_to_team(
                    session,
                    project_id,
                    {"users": [slack_user_id], "usergroups": []},
                    outbox.key_for("team-invite", project_id, volunteer.id, slack_user_id),
                    kind=INVITE,
                )
            await repo.audit(
                session,
                actor=slack_user_id,
                action="link_slack",
                subject_type="volunteer",
                subject_id=volunteer.id,
                at=now,
            )
            name = plain(_first_name(volunteer.display_name))
        log.info("teams: volunteer %d linked Slack; %d team channels", volunteer.id, len(projects))
        self._notify()
        return _both(TXT.link_ok if projects else TXT.link_ok_no_team, name=name)

    async def _team_projects(self, session: AsyncSession, volunteer_id: int) -> list[int]:
        rows = await session.scalars(
            select(Project.id)
            .join(Match, Match.project_id == Project.id)
            .where(
                Match.volunteer_id == volunteer_id,
                Match.state == "accepted",
                Project.status.in_(TEAM_STATUSES),
            )
            .order_by(Project.id)
        )
        return list(rows)

    # -- the Slack transport's questions

    async def channel_of(self, project_id: int) -> str | None:
        """The Slack channel id of a project's team, or None while it does not exist."""
        async with self._maker() as session:
            found = await session.scalar(
                select(Project.team_channel_id).where(Project.id == project_id)
            )
        return str(found) if found else None

    async def record_channel(self, project_id: int, channel_id: str, name: str) -> None:
        """Remember a team's channel once Slack created (or we found) it."""
        async with self._maker.begin() as session:
            await session.execute(
                update(Project)
                .where(Project.id == project_id)
                .values(team_channel_id=channel_id, team_channel_name=name[:80]),
                execution_options={"synchronize_session": False},
            )

    async def project_in(self, channel_id: str) -> int | None:
        """The project whose team channel this is, or None."""
        if not channel_id:
            return None
        async with self._maker() as session:
            found = await session.scalar(
                select(Project.id).where(Project.team_channel_id == channel_id)
            )
        return int(found) if found is not None else None

    # -- progress notes and the log

    async def add_note(
        self, channel_id: str, author: str, text: str, *, locale: str | None = None
    ) -> str:
        """`/tsunagu progress TEXT` in a team channel: a dated note; returns the answer,
        in `locale` (the writer's: only they read it), else the team channels' language."""
        loc = locale or self.locale
        text = " ".join(text.split()) if "\n" not in text else text.strip()
        project_id = await self.project_in(channel_id)
        if project_id is None:
            return TXT.not_team_channel(loc)
        if not text:
            return TXT.progress_usage(loc)
        now = self._clock()
        async with self._maker.begin() as session:
            session.add(
                ProgressNote(project_id=project_id, author=author, text=text[:2000], at=now)
            )
        log.info("teams: progress note on project %d", project_id)
        return TXT.progress_ok(loc, at=self._local(now, loc))

    async def log_text(self, project_id: int, *, locale: str | None = None) -> str:
        """A team's dated log, oldest first (the most recent 50 notes), in `locale` (the
        reader's), else the team channels' language."""
        loc = locale or self.locale
        async with self._maker() as session:
            project = await repo.get_project(session, project_id)
            if project is None:
                return TXT.log_not_found(loc, id=project_id)
            notes = list(
                await session.scalars(
                    select(ProgressNote)
                    .where(ProgressNote.project_id == project_id)
                    .order_by(ProgressNote.at.desc(), ProgressNote.id.desc())
                    .limit(50)
                )
            )
            org = project.organization.name
        lines = [TXT.log_head(loc, org=plain(org), id=project_id)]
        for note in reversed(notes):
            lines.append(f"• {self._local(note.at, loc)} <@{note.author}>: {plain(note.text)}")
        if not notes:
            lines.append(TXT.log_empty(loc))
        return "\n".join(lines)

    def _local(self, at: datetime, locale: str | None = None) -> str:
        return local_when(at, zone(self.settings.timezone), locale or self.locale)


def _both(text: T, **fields: object) -> str:
    """Japanese, then English: said to someone whose language we do not know yet."""
    return f"{text('ja', **fields)}\n{text('en', **fields)}"


def _first_name(name: str) -> str:
    return name.split()[0] if name.split() else name
