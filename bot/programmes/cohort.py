"""The next cohort (issue #13): when a programme is imported or created, past volunteers
and groups on the Lifecycle's next-cohort list are invited in LINE to its briefing
sessions, once per person and session, in their language; RSVPs of signed-up people are
kept as attendance rows for every phase kind.

The invitation is one LINE message: a card per briefing session with the RSVP buttons
(`postback.Rsvp`, answered like any announcement) and a button to opt out of future
cohorts (`postback.Cohort`). It expires when the first of its sessions begins (a message
about an event that the LINE budget held back is never sent after it: bot/expiry.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox, postback
from bot.attendance import AttendanceBook, AttendanceState, Invitee, PersonType
from bot.conversation.model import Choice, Panel, Reply
from bot.i18n import T, Texts
from bot.programmes.schedule import phase_fields, zone
from storage import programmes as store
from storage.models import Attendance, Organization, Phase, Programme, Rsvp, Volunteer


class _Texts(Texts):
    """This module's texts in Japanese and English."""

    invite = T(
        "{name}さん、以前のプログラムではありがとうございました。\n"
        "新しいプログラム「{programme}」が始まります。説明会にぜひご参加ください。"
        "下のボタンで出欠をお知らせください。",
        "{name}, thank you for taking part in an earlier programme.\n"
        "A new programme, “{programme}”, is starting: you are warmly invited to its "
        "briefing session. Please tell us below whether you can come.",
    )
    when = T("日時", "When")
    where = T("場所", "Where")
    yes = T("参加する", "I'll come")
    no = T("参加しない", "Can't come")
    opt_out = T("次回の案内を停止", "No more invitations")
    opt_out_note = T(
        "今後の期のご案内が不要なら「次回の案内を停止」をどうぞ（プロフィールから再開できます）。",
        "Rather not hear about future cohorts? Tap “No more invitations” "
        "(you can turn them back on under your profile).",
    )


TXT = _Texts

# A briefing session is the phase kind the next cohort is invited to.
BRIEFING = "briefing"


def open_briefings(programme: Programme, now: datetime) -> list[Phase]:
    """The programme's briefing sessions still ahead, for everyone (not one team's)."""
    return [
        p
        for p in programme.phases
        if p.kind == BRIEFING
        and p.cancelled_at is None
        and p.project_id is None
        and p.starts_at > now
    ]


async def _already_invited(
    session: AsyncSession, phase_ids: Sequence[int]
) -> set[tuple[int, str, int]]:
    rows = await session.execute(
        select(Attendance.phase_id, Attendance.person_type, Attendance.person_id).where(
            Attendance.phase_id.in_(list(phase_ids))
        )
    )
    return {(r[0], r[1], r[2]) for r in rows}


async def _names(session: AsyncSession, people: Sequence[Invitee]) -> dict[tuple[str, int], str]:
    vids = [p.person_id for p in people if p.person_type == "volunteer"]
    gids = [p.person_id for p in people if p.person_type == "organization"]
    out: dict[tuple[str, int], str] = {}
    if vids:
        for vid, name in await session.execute(
            select(Volunteer.id, Volunteer.display_name).where(Volunteer.id.in_(vids))
        ):
            out[("volunteer", vid)] = name
    if gids:
        for gid, name in await session.execute(
            select(Organization.id, Organization.contact_name).where(Organization.id.in_(gids))
        ):
            out[("organization", gid)] = name
    return out


def invitation(programme: Programme, phases: Sequence[Phase], name: str, locale: str) -> Reply:
    """The invitation as a LINE message: a card per session with its RSVP buttons."""
    tz = zone(programme.timezone)
    yes, no, out = TXT.yes(locale), TXT.no(locale), TXT.opt_out(locale)
    panels = []
    for phase in phases:
        f = phase_fields(
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
        panels.append(
            Panel(
                title=f["phase"],
                kind="announcement",
                fields=(
                    (TXT.when(locale), f"{f['date']} {f['time']}"),
                    (TXT.where(locale), f["place"]),
                ),
                body=f["description"] or None,
                note=programme.name,
                buttons=(
                    Choice(yes, postback.Rsvp(phase.id, "yes").pack(), yes),
                    Choice(no, postback.Rsvp(phase.id, "no").pack(), no),
                ),
            )
        )
    text = TXT.invite(locale, name=name, programme=programme.name)
    text += "\n" + "\n".join(f"・{p.title}（{p.fields[0][1]}）" for p in panels)
    text += "\n\n" + TXT.opt_out_note(locale)
    choices: tuple[Choice, ...] = (Choice(out, postback.Cohort("out").pack(), out),)
    if len(panels) == 1:  # one session: its answers are quick replies as well
        choices = panels[0].buttons + choices
    return Reply(text, choices, tuple(panels))


async def invite_next_cohort(
    session: AsyncSession,
    lifecycle: AttendanceBook,
    programme: Programme,
    now: datetime,
    *,
    actor: str,
) -> int:
    """Invite everyone on the next-cohort list to the programme's briefing sessions they
    were not yet invited to (caller's transaction); return how many people were invited."""
    phases = open_briefings(programme, now)
    if not phases:
        return 0
    people = await lifecycle.next_cohort(session)
    done = await _already_invited(session, [p.id for p in phases])
    names = await _names(session, people)
    invited = 0
    for person in people:
        if person.user_key.startswith("deleted:"):
            continue
        new = [p for p in phases if (p.id, person.person_type, person.person_id) not in done]
        if not new:
            continue  # once per person and session, however often the programme changes
        for phase in new:
            await lifecycle.record_attendance(
                session, phase.id, person.person_type, person.person_id, "invited", actor=actor
            )
        name = names.get((person.person_type, person.person_id), "")
        reply = invitation(programme, new, name, person.locale)
        await outbox.enqueue(
            session,
            channel=person.channel,
            kind="push",
            target=person.user_key,
            payload=outbox.replies_payload([reply], urgent=False),
            key=outbox.key_for(
                "cohort", programme.id, person.person_type, person.person_id, *[p.id for p in new]
            ),
            now=now,
            expires_at=min(p.starts_at for p in new),
        )
        invited += 1
    return invited


async def record_rsvp(
    session: AsyncSession,
    lifecycle: AttendanceBook,
    phase_id: int,
    channel: str,
    user_key: str,
    answer: str,
) -> None:
    """An RSVP of a signed-up person (volunteer and/or group contact) as attendance."""
    state: AttendanceState = "rsvp_yes" if answer == "yes" else "rsvp_no"
    vid = await session.scalar(
        select(Volunteer.id).where(Volunteer.channel == channel, Volunteer.user_key == user_key)
    )
    gid = await session.scalar(
        select(Organization.id).where(
            Organization.channel == channel, Organization.user_key == user_key
        )
    )
    if vid is not None:
        await lifecycle.record_attendance(session, phase_id, "volunteer", vid, state, actor="self")
    if gid is not None:
        await lifecycle.record_attendance(
            session, phase_id, "organization", gid, state, actor="self"
        )


# ---------------------------------------------------------------- attendance sheets


@dataclass(frozen=True)
class Attendee:
    """One person on a phase's attendance sheet, as coordinators read it."""

    person_type: PersonType
    person_id: int
    name: str
    state: str  # invited | rsvp_yes | rsvp_no | attended | absent | "" (not yet asked)

    @property
    def key(self) -> str:
        """The value of their checkbox: `volunteer:12`."""
        return f"{self.person_type}:{self.person_id}"


@dataclass(frozen=True)
class AttendanceSheet:
    """Who was invited to a phase of any kind, answered, and attended."""

    phase_id: int
    title: str
    when: str
    people: tuple[Attendee, ...]
    # Answers of LINE users who have not signed up (followers): yes, no.
    followers_yes: int = 0
    followers_no: int = 0


async def attendees(session: AsyncSession, phase: Phase) -> list[Attendee]:
    """Everyone with an attendance row for the phase, and the members and groups of the
    teams it is for (a kickoff's, a presentation's), named as coordinators know them."""
    rows = {
        (r.person_type, r.person_id): r.state
        for r in await session.scalars(select(Attendance).where(Attendance.phase_id == phase.id))
    }
    for project in await store.team_projects(session, phase.programme_id, phase.project_id):
        rows.setdefault(("organization", project.organization_id), "")
    for member in await store.team_members(session, phase.programme_id, phase.project_id):
        rows.setdefault(("volunteer", member.id), "")
    vids = [pid for ptype, pid in rows if ptype == "volunteer"]
    gids = [pid for ptype, pid in rows if ptype == "organization"]
    names: dict[tuple[str, int], str] = {}
    for vid, name in await session.execute(
        select(Volunteer.id, Volunteer.display_name).where(Volunteer.id.in_(vids))
    ):
        names[("volunteer", vid)] = name
    for gid, name, contact in await session.execute(
        select(Organization.id, Organization.name, Organization.contact_name).where(
            Organization.id.in_(gids), Organization.user_key.not_like("deleted:%")
        )
    ):
        names[("organization", gid)] = f"{name}（{contact}）"
    people: list[Attendee] = []
    for (ptype, pid), state in sorted(rows.items()):
        if (ptype, pid) in names:  # deleted people are gone from the sheet
            kind: PersonType = "volunteer" if ptype == "volunteer" else "organization"
            people.append(Attendee(kind, pid, names[(ptype, pid)], state))
    return people


async def follower_answers(session: AsyncSession, phase_id: int) -> list[str]:
    """RSVPs (yes / no) of LINE users who are neither a volunteer nor a group contact."""
    known = [
        exists().where(model.channel == Rsvp.channel, model.user_key == Rsvp.user_key)
        for model in (Volunteer, Organization)
    ]
    stmt = select(Rsvp.answer).where(Rsvp.phase_id == phase_id, ~known[0], ~known[1])
    return list((await session.scalars(stmt)).all())


async def record_attended(
    session: AsyncSession,
    lifecycle: AttendanceBook,
    phase: Phase,
    present: set[str],
    *,
    actor: str,
) -> tuple[int, int]:
    """Coordinators mark who attended: the ticked people attended, the others on the
    sheet who were expected (invited, said yes, or on the team) were absent; those who
    said no stay as they are. Returns (attended, absent)."""
    here = away = 0
    for person in await attendees(session, phase):
        if person.key in present:
            state: AttendanceState = "attended"
            here += 1
        elif person.state in ("rsvp_no",):
            continue
        else:
            state = "absent"
            away += 1
        if person.state != state:
            await lifecycle.record_attendance(
                session, phase.id, person.person_type, person.person_id, state, actor=actor
            )
    return here, away


__all__ = [
    "AttendanceSheet",
    "Attendee",
    "attendees",
    "follower_answers",
    "invitation",
    "invite_next_cohort",
    "open_briefings",
    "record_attended",
    "record_rsvp",
]
