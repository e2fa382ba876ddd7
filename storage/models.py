"""Typed models. Every change here comes with an Alembic migration in migrations/versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    # active | paused (no invitations) | inactive (unfollowed in LINE)
    status: Mapped[str] = mapped_column(String(10), default="active", index=True)
    consent_version: Mapped[str] = mapped_column(String(20))
    consented_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

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

    volunteer_id: Mapped[int] = mapped_column(
        ForeignKey("volunteers.id", ondelete="CASCADE"), primary_key=True
    )
    skill: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    volunteer: Mapped[Volunteer] = relationship(back_populates="skills")
