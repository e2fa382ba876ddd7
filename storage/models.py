"""Typed models. Every change here comes with an Alembic migration in migrations/versions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from storage.base import Base, utcnow


class Conversation(Base):
    """Where one person is in a conversation on one channel; survives restarts."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_key: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(5))
    # The engine's state as plain data (flow id and version, step, answers, history).
    state: Mapped[dict[str, Any]]
    # Platform timestamp (ms) of the newest event applied; older late arrivals are stale.
    last_event_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InboundEvent(Base):
    """A webhook event accepted once: the dedupe key, and a durable inbox until processed.

    The payload and the user key are cleared once the event has been applied, so the
    table keeps only ids, kinds and timestamps.
    """

    __tablename__ = "inbound_events"
    __table_args__ = (
        UniqueConstraint("channel", "event_id"),
        Index("ix_inbound_events_status_id", "status", "id"),
        Index("ix_inbound_events_channel_user_key", "channel", "user_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(24))
    user_key: Mapped[str | None] = mapped_column(String(64))
    occurred_ms: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any] | None]
    status: Mapped[str] = mapped_column(String(10), default="pending")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class Volunteer(Base):
    """A registered volunteer (プロボノワーカー) and their profile."""

    __tablename__ = "volunteers"
    __table_args__ = (UniqueConstraint("channel", "user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_key: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(5))
    display_name: Mapped[str] = mapped_column(String(50))
    area: Mapped[str] = mapped_column(String(100))
    occupation: Mapped[str] = mapped_column(String(24))
    experience_years: Mapped[int] = mapped_column(Integer)
    hours_per_week: Mapped[int] = mapped_column(Integer)
    availability: Mapped[list[str]]
    mode: Mapped[str] = mapped_column(String(16))
    interests: Mapped[list[str]]
    skills_other: Mapped[str | None] = mapped_column(String(200))
    languages: Mapped[list[str]]
    # Optional (programme offices report by them): AGE_BANDS key, the employer's name as
    # typed, and whether they come through their employer's programme (Sendai).
    age_band: Mapped[str | None] = mapped_column(String(8))
    employer: Mapped[str | None] = mapped_column(String(80))
    via_company: Mapped[bool | None]
    # active | paused (no invitations) | inactive (unfollowed in LINE)
    status: Mapped[str] = mapped_column(String(10), default="active", index=True)
    consent_version: Mapped[str] = mapped_column(String(20))
    consented_at: Mapped[datetime]
    # When we last told them about a new project (at most one such message a week).
    last_announced_at: Mapped[datetime | None]
    # How many projects at a time they take on (matching compares it with their load).
    capacity: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # unknown | yes | no: whether the group of their project may see how to reach them.
    share_contact: Mapped[str] = mapped_column(
        String(8), default="unknown", server_default="unknown"
    )
    # How to reach them, as they chose to give it (only with share_contact == "yes").
    contact: Mapped[str | None] = mapped_column(String(200))
    # True: not to be invited to the next cohort's briefing sessions.
    next_cohort_opt_out: Mapped[bool] = mapped_column(default=False, server_default="0")
    # The volunteer's Slack account once they linked it with a one-time code.
    slack_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Indexed: matching's in-memory index reloads the rows changed since its last look.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    skills: Mapped[list[VolunteerSkill]] = relationship(
        back_populates="volunteer",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
        order_by="VolunteerSkill.position",
    )


class VolunteerSkill(Base):
    """One skill a volunteer holds (taxonomy key); a table so matching can index it."""

    __tablename__ = "volunteer_skills"
    # (skill, volunteer_id): a skill's holders are read from the index alone (matching's
    # posting lists), without a table lookup per holder.
    __table_args__ = (Index("ix_volunteer_skills_skill_volunteer_id", "skill", "volunteer_id"),)

    volunteer_id: Mapped[int] = mapped_column(
        ForeignKey("volunteers.id", ondelete="CASCADE"), primary_key=True
    )
    skill: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    volunteer: Mapped[Volunteer] = relationship(back_populates="skills")


class Organization(Base):
    """A community group (支援先団体) and what the Wako sheet records about it."""

    __tablename__ = "organizations"
    __table_args__ = (UniqueConstraint("channel", "user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The LINE account of the group's contact person.
    channel: Mapped[str] = mapped_column(String(16))
    user_key: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(5))
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(24))
    # SECTORS key (company, government, school, ...); None for groups that did not say.
    sector: Mapped[str | None] = mapped_column(String(16))
    fields: Mapped[list[str]]
    area: Mapped[str] = mapped_column(String(100))
    activity: Mapped[str] = mapped_column(String(500))
    strengths: Mapped[str | None] = mapped_column(String(300))
    needs_people: Mapped[str | None] = mapped_column(String(300))
    needs_things: Mapped[str | None] = mapped_column(String(300))
    needs_money: Mapped[str | None] = mapped_column(String(300))
    contact_name: Mapped[str] = mapped_column(String(40))
    contact_role: Mapped[str] = mapped_column(String(40))
    # unknown | yes | no: whether the team may see the contact's details (asked once).
    share_contact: Mapped[str] = mapped_column(
        String(8), default="unknown", server_default="unknown"
    )
    contact: Mapped[str | None] = mapped_column(String(200))
    next_cohort_opt_out: Mapped[bool] = mapped_column(default=False, server_default="0")
    consent_version: Mapped[str] = mapped_column(String(20))
    consented_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    projects: Mapped[list[Project]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", passive_deletes=True
    )


class Project(Base):
    """A group's request for help; becomes a project once a coordinator accepts it.

    status: submitted -> recruiting (accepted) | declined; `version` grows with every
    decision so two coordinators acting at once cannot both win.
    """

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="submitted", index=True)
    challenge: Mapped[str] = mapped_column(String(1000))
    menus: Mapped[list[str]]
    menu_other: Mapped[str | None] = mapped_column(String(300))
    period: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))
    # What the team needs (from the menus by default; coordinators may edit).
    required_skills: Mapped[list[str]] = mapped_column(default=list)
    optional_skills: Mapped[list[str]] = mapped_column(default=list)
    team_min: Mapped[int] = mapped_column(Integer, default=2)
    team_max: Mapped[int] = mapped_column(Integer, default=5)
    hours_per_week: Mapped[int] = mapped_column(Integer, default=3)
    # For a translation menu: the languages (LANGUAGES keys) to translate to or from Japanese.
    languages: Mapped[list[str]] = mapped_column(default=list)
    # Per-project multipliers of the fit weights, learnt from coordinators' reject reasons.
    tuning: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The coordinators' team card for this project (the proposal with its buttons).
    team_card_channel: Mapped[str | None] = mapped_column(String(32))
    team_card_ts: Mapped[str | None] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(String(500))
    # Where the coordinators' card for this request lives in Slack.
    card_channel: Mapped[str | None] = mapped_column(String(32))
    card_ts: Mapped[str | None] = mapped_column(String(32))
    # The programme (cohort) it runs in, and its team's Slack channel once formed.
    programme_id: Mapped[int | None] = mapped_column(
        ForeignKey("programmes.id", ondelete="SET NULL"), index=True
    )
    team_channel_id: Mapped[str | None] = mapped_column(String(32))
    team_channel_name: Mapped[str | None] = mapped_column(String(80))
    # What the team agreed to deliver (成果物), shown in the welcome: the confirmed
    # agreement's deliverable (bot/lifecycle).
    deliverable: Mapped[str | None] = mapped_column(String(500))
    # The team proposal shown to the group: when it went out, when the group is reminded,
    # and when it lapses unanswered (like an invitation).
    proposal_sent_at: Mapped[datetime | None]
    proposal_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    proposal_reminded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    organization: Mapped[Organization] = relationship(back_populates="projects")
    questions: Mapped[list[ProjectQuestion]] = relationship(
        back_populates="project",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ProjectQuestion.id",
    )


class ProjectQuestion(Base):
    """A coordinator's question to a group about its request, and the group's answer."""

    __tablename__ = "project_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    asked_by: Mapped[str] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(String(1000))
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    answer: Mapped[str | None] = mapped_column(String(2000))
    answered_at: Mapped[datetime | None]

    project: Mapped[Project] = relationship(back_populates="questions")


class AuditEntry(Base):
    """Who did what, when: every coordinator decision and every deletion of data."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    subject_type: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[int | None]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OutboxMessage(Base):
    """A push to LINE or a post to Slack, written with the change that causes it.

    The dispatcher sends it with retries; `key` makes a retried send idempotent
    (LINE's X-Line-Retry-Key). status: pending -> sent | dead (after max attempts);
    deferred (waiting for budget); expired (a dated message not sent before its event);
    held (an inbox reply its process is sending with the
    reply token, until `due_at`: see storage.repo.HELD).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_due", "status", "due_at"),
        Index("ix_outbox_channel_target_id", "channel", "target", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # line | slack
    kind: Mapped[str] = mapped_column(String(24))  # push | post | update | thread
    target: Mapped[str] = mapped_column(String(64))  # LINE user id or Slack channel
    payload: Mapped[dict[str, Any]]
    key: Mapped[str] = mapped_column(String(36), unique=True)
    # What the sent message refers to, so its Slack ts can be recorded (e.g. a card).
    ref_type: Mapped[str | None] = mapped_column(String(24))
    ref_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # A dated message (an announcement, a reminder) is worthless after its event: not
    # sent by then, it becomes "expired" and the coordinators are told (life-cohort, #13).
    expires_at: Mapped[datetime | None]


class Match(Base):
    """A volunteer considered for a project, and where that stands.

    state: suggested -> approved -> invited -> accepted | declined | expired;
    suggested -> rejected (by a coordinator). `version` grows with every change so
    two coordinators acting on one candidate at once cannot both win.
    """

    __tablename__ = "matches"
    __table_args__ = (UniqueConstraint("project_id", "volunteer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    volunteer_id: Mapped[int] = mapped_column(
        ForeignKey("volunteers.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(12), index=True)
    score: Mapped[float] = mapped_column(default=0.0)
    # Each fit component's contribution, for the coordinators' breakdown.
    breakdown: Mapped[dict[str, Any]] = mapped_column(default=dict)
    raised_hand: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(String(500))
    invited_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)


class MatchEvent(Base):
    """Every state change of a match: who, when, and why."""

    __tablename__ = "match_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Programme(Base):
    """A cohort run as dated phases (説明会, チーム編成, オリエンテーション, キックオフ, …)."""

    __tablename__ = "programmes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # Readable ASCII for Slack channel names (e.g. "kawasaki2017").
    slug: Mapped[str] = mapped_column(String(24), unique=True)
    timezone: Mapped[str] = mapped_column(String(40), default="Asia/Tokyo")
    description: Mapped[str | None] = mapped_column(String(1000))
    # The support menus (チャレンジメニュー) this cohort offers, taxonomy keys.
    menus: Mapped[list[str]] = mapped_column(default=list)
    # What the office aims for: {"participants": 30, "companies": 20, ...} (TARGET_KINDS).
    targets: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    phases: Mapped[list[Phase]] = relationship(
        back_populates="programme",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Phase.starts_at",
    )


class Phase(Base):
    """One dated step of a programme; `rsvp` phases (briefing sessions) take sign-ups."""

    __tablename__ = "phases"
    __table_args__ = (UniqueConstraint("programme_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("programmes.id", ondelete="CASCADE"), index=True
    )
    # Stable within the programme, so a re-import updates rather than duplicates.
    key: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(24))
    title_ja: Mapped[str] = mapped_column(String(120))
    title_en: Mapped[str] = mapped_column(String(120))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    place: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(300))
    description_ja: Mapped[str | None] = mapped_column(String(1000))
    description_en: Mapped[str | None] = mapped_column(String(1000))
    rsvp: Mapped[bool] = mapped_column(default=False)
    # Set for a phase meant for one team (e.g. its own kickoff): its announcements reach
    # only that project's channel and members, and only its welcome lists it.
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), index=True)
    # A deleted phase is kept (with its announcements cancelled) so the record stays.
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    programme: Mapped[Programme] = relationship(back_populates="phases")
    announcements: Mapped[list[Announcement]] = relationship(
        back_populates="phase",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Announcement.send_at",
    )


class Announcement(Base):
    """A message sent relative to a phase, and whether it went out.

    The rule (offset, local time, audience, texts) and its occurrence are one row.
    state: scheduled -> sent | skipped (missed beyond its grace window) | cancelled.
    Firing moves scheduled -> sent with a conditional UPDATE in the transaction that
    writes the outbox rows, so a job that fires twice sends once.
    """

    __tablename__ = "announcements"
    __table_args__ = (
        UniqueConstraint("phase_id", "key"),
        Index("ix_announcements_state_send_at", "state", "send_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    # When: whole days relative to the phase's start (negative is before), then either
    # a local wall-clock time on that day or the start time itself plus minutes.
    offset_days: Mapped[int] = mapped_column(Integer, default=0)
    at_local: Mapped[str | None] = mapped_column(String(5))
    offset_minutes: Mapped[int] = mapped_column(Integer, default=0)
    # team_channels | coordinators | members | volunteers | followers | rsvp_yes
    audience: Mapped[list[str]]
    # For "volunteers": e.g. {"areas": [...], "skills": [...], "interests": [...]}.
    audience_filter: Mapped[dict[str, Any]] = mapped_column(default=dict)
    text_ja: Mapped[str] = mapped_column(String(2000))
    text_en: Mapped[str] = mapped_column(String(2000))
    grace_minutes: Mapped[int] = mapped_column(Integer, default=360)
    send_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(10), default="scheduled")
    fired_at: Mapped[datetime | None]
    # How many messages it caused, or why it was skipped.
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    phase: Mapped[Phase] = relationship(back_populates="announcements")


class Rsvp(Base):
    """A volunteer's answer to a briefing session (説明会) invitation."""

    __tablename__ = "rsvps"

    phase_id: Mapped[int] = mapped_column(
        ForeignKey("phases.id", ondelete="CASCADE"), primary_key=True
    )
    # The LINE user (volunteers and followers who have not signed up yet alike).
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    answer: Mapped[str] = mapped_column(String(8))  # yes | no
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkCode(Base):
    """A one-time code a volunteer types in Slack (`/tsunagu link CODE`) to link accounts."""

    __tablename__ = "link_codes"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(
        ForeignKey("volunteers.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CheckIn(Base):
    """A weekly check-in asked in a team channel, and the team's answer.

    status: asked -> green | yellow | red, or missed when the next one is asked.
    """

    __tablename__ = "checkins"
    __table_args__ = (UniqueConstraint("project_id", "week"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    # Week number since kickoff (1, 2, ...).
    week: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8), default="asked")
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_by: Mapped[str | None] = mapped_column(String(32))
    answered_at: Mapped[datetime | None]
    flagged: Mapped[bool] = mapped_column(default=False)


class ProgressNote(Base):
    """A dated note in a team's log (`/tsunagu progress TEXT`)."""

    __tablename__ = "progress_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(String(2000))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Attendance(Base):
    """Who was invited to a phase, answered, and (as a coordinator records) attended.

    Every phase kind (briefing, orientation, kickoff, presentation, wrap-up) has one row
    per person: state invited -> rsvp_yes | rsvp_no -> attended | absent.
    """

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("phase_id", "person_type", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"), index=True)
    person_type: Mapped[str] = mapped_column(String(12))  # volunteer | organization
    person_id: Mapped[int] = mapped_column(Integer, index=True)
    state: Mapped[str] = mapped_column(String(10), default="invited")
    invited_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    recorded_by: Mapped[str | None] = mapped_column(String(32))
    recorded_at: Mapped[datetime | None]


class Agreement(Base):
    """One version of a project's kickoff agreement (and of every re-scoping after it).

    status: proposed -> confirmed | change_requested (the group's comment says what).
    The newest confirmed version is the agreement in force; its deliverable is the
    project's `deliverable`.
    """

    __tablename__ = "agreements"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    deliverable: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(String(1000))
    success_measures: Mapped[str] = mapped_column(String(1000))
    meeting_rhythm: Mapped[str] = mapped_column(String(200))
    end_date: Mapped[date]
    proposed_by: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    group_comment: Mapped[str | None] = mapped_column(String(1000))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]


class HoursEntry(Base):
    """Time a volunteer gave a project on one day, with a note (kept in minutes)."""

    __tablename__ = "hours_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    # None once the volunteer deleted their data: the hours stay in the project's totals.
    volunteer_id: Mapped[int | None] = mapped_column(
        ForeignKey("volunteers.id", ondelete="SET NULL"), index=True
    )
    day: Mapped[date]
    minutes: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """What the team handed over (納品): a link and a note, confirmed by the group."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    link: Mapped[str | None] = mapped_column(String(500))
    note: Mapped[str] = mapped_column(String(1000))
    recorded_by: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]


class Feedback(Base):
    """A volunteer's or the group's words on a finished project, and how to publish them.

    publish: named | anonymous | no. A volunteer's feedback goes with their data when
    they delete it; a group's loses nothing personal (the group is an organisation).
    """

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("project_id", "author_type", "author_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    author_type: Mapped[str] = mapped_column(String(12))  # volunteer | organization
    author_id: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    words: Mapped[str | None] = mapped_column(String(2000))
    publish: Mapped[str] = mapped_column(String(10), default="no")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lease(Base):
    """A named lease with expiry: the process holding "scheduler" runs the scheduler.

    Renewed by its holder; taken over by another process once it has expired, so a
    dead holder is replaced without any lock tied to a pooled connection.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)


class RichMenuLink(Base):
    """The rich menu last linked to a LINE user (an alias such as ``volunteer-ja``).

    Only people whose menu is not the default have a row: the default needs no link,
    so someone who deletes their data is left with none.
    """

    __tablename__ = "rich_menu_links"
    __table_args__ = (UniqueConstraint("channel", "user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_key: Mapped[str] = mapped_column(String(64))
    menu: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Case(Base):
    """A collaboration case for the catalogue (Chiba's コラボナビ fields), made from a project.

    status: draft -> consent_asked -> consented -> published, or withdrawn (the group
    said no, or the office took it down). Texts are Japanese; `en` holds the English of
    any field (optional, per field). `search_text` is every field in both languages
    folded for search (NFKC, case, katakana as hiragana, no spaces): see bot.office.cases.
    """

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_status_year", "status", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"), unique=True
    )
    status: Mapped[str] = mapped_column(String(16), default="draft")
    title: Mapped[str] = mapped_column(String(120))
    area: Mapped[str] = mapped_column(String(100))
    # The municipality the area names (bot.matching.areas.place), for the area filter.
    area_key: Mapped[str] = mapped_column(String(100), index=True)
    # INTERESTS key (まちづくり, 福祉, 環境, 教育・文化, ...).
    field: Mapped[str] = mapped_column(String(24), index=True)
    year: Mapped[int] = mapped_column(Integer)
    # [{"name": ..., "kind": SECTORS key or "probono"}]
    partners: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    background: Mapped[str] = mapped_column(String(2000), default="")
    activities: Mapped[str] = mapped_column(String(2000), default="")
    outcome: Mapped[str] = mapped_column(String(2000), default="")
    period: Mapped[str] = mapped_column(String(200), default="")
    cost: Mapped[str] = mapped_column(String(500), default="")
    contact: Mapped[str] = mapped_column(String(300), default="")
    tips: Mapped[str] = mapped_column(String(2000), default="")
    # {"title": "...", "background": "...", ...}: English where someone wrote it.
    en: Mapped[dict[str, Any]] = mapped_column(default=dict)
    search_text: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(64))
    consent_asked_at: Mapped[datetime | None]
    consent_answered_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    published_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # "Last updated" (最終更新日) as the catalogue shows it.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


@event.listens_for(Session, "before_flush")
def _touch_volunteers(session: Session, _context: Any, _instances: Any) -> None:
    """A volunteer whose skills (a child table) changed counts as updated: matching's
    index reloads volunteers by `updated_at`, which a skills-only edit would not move."""
    for obj in session.new:
        if isinstance(obj, VolunteerSkill) and obj.volunteer is not None:
            obj.volunteer.updated_at = utcnow()


class PersonLanguage(Base):
    """The language a person chose on a channel where the platform's own setting would
    otherwise decide (Slack: `/tsunagu lang en` wins over their Slack locale)."""

    __tablename__ = "person_languages"
    __table_args__ = (UniqueConstraint("channel", "user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_key: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(5))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
