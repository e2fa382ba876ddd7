"""Programmes and phases as plain, frozen data for channels to show and edit.

Channels (the Slack listing and modals, the console) get these, never ORM rows: what they
read is fixed when the row is read, and nothing they do can touch the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.models import Phase, Programme


@dataclass(frozen=True)
class ReminderView:
    """When an announcement goes out, relative to its phase (for describe_offset)."""

    offset_days: int
    offset_minutes: int
    at_local: str | None


@dataclass(frozen=True)
class PhaseView:
    id: int
    kind: str
    title_ja: str
    title_en: str
    starts_at: datetime
    ends_at: datetime | None
    place: str | None
    url: str | None
    description_ja: str | None
    description_en: str | None
    rsvp: bool
    # The one team (project) the phase is for; None: the whole programme.
    project_id: int | None
    cancelled: bool
    # Announcements still to go out, and whether any is not cancelled (sent ones too).
    scheduled: tuple[ReminderView, ...]
    announces: bool

    def title(self, locale: str) -> str:
        return self.title_en if locale == "en" else self.title_ja

    def description(self, locale: str) -> str | None:
        return self.description_en if locale == "en" else self.description_ja


@dataclass(frozen=True)
class ProgrammeView:
    id: int
    name: str
    slug: str
    timezone: str
    phases: tuple[PhaseView, ...]
    # What the office aims for (TARGET_KINDS key -> a whole number).
    targets: tuple[tuple[str, int], ...] = ()

    @property
    def live(self) -> tuple[PhaseView, ...]:
        """The phases not deleted."""
        return tuple(p for p in self.phases if not p.cancelled)

    def phase(self, phase_id: int) -> PhaseView | None:
        """A phase of this programme that is not deleted."""
        return next((p for p in self.live if p.id == phase_id), None)


def phase_view(phase: Phase) -> PhaseView:
    return PhaseView(
        id=phase.id,
        kind=phase.kind,
        title_ja=phase.title_ja,
        title_en=phase.title_en,
        starts_at=phase.starts_at,
        ends_at=phase.ends_at,
        place=phase.place,
        url=phase.url,
        description_ja=phase.description_ja,
        description_en=phase.description_en,
        rsvp=phase.rsvp,
        project_id=phase.project_id,
        cancelled=phase.cancelled_at is not None,
        scheduled=tuple(
            ReminderView(a.offset_days, a.offset_minutes, a.at_local)
            for a in phase.announcements
            if a.state == "scheduled"
        ),
        announces=any(a.state != "cancelled" for a in phase.announcements),
    )


def programme_view(programme: Programme) -> ProgrammeView:
    """A programme read with its phases and their announcements, as plain data."""
    return ProgrammeView(
        id=programme.id,
        name=programme.name,
        slug=programme.slug,
        timezone=programme.timezone,
        phases=tuple(phase_view(p) for p in programme.phases),
        targets=tuple((str(k), int(v)) for k, v in (programme.targets or {}).items()),
    )
