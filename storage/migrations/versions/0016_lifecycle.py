"""lifecycle: agreements, hours, deliveries, feedback, attendance; capacity, contact
sharing and next-cohort opt-out on people; the team proposal's deadline

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-04 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Existing people: one project at a time, contact sharing not asked yet ("unknown",
    # asked once), not opted out of the next cohort.
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("capacity", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(
            sa.Column(
                "share_contact", sa.String(length=8), nullable=False, server_default="unknown"
            )
        )
        batch_op.add_column(sa.Column("contact", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("next_cohort_opt_out", sa.Boolean(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "share_contact", sa.String(length=8), nullable=False, server_default="unknown"
            )
        )
        batch_op.add_column(sa.Column("contact", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("next_cohort_opt_out", sa.Boolean(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proposal_sent_at", UTC_TIME, nullable=True))
        batch_op.add_column(sa.Column("proposal_expires_at", UTC_TIME, nullable=True))
        batch_op.add_column(sa.Column("proposal_reminded_at", UTC_TIME, nullable=True))
        batch_op.create_index(
            batch_op.f("ix_projects_proposal_expires_at"), ["proposal_expires_at"], unique=False
        )
    op.create_table(
        "attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phase_id", sa.Integer(), nullable=False),
        sa.Column("person_type", sa.String(length=12), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("invited_at", UTC_TIME, nullable=True),
        sa.Column("answered_at", UTC_TIME, nullable=True),
        sa.Column("recorded_by", sa.String(length=32), nullable=True),
        sa.Column("recorded_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["phase_id"],
            ["phases.id"],
            name=op.f("fk_attendance_phase_id_phases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance")),
        sa.UniqueConstraint(
            "phase_id",
            "person_type",
            "person_id",
            name=op.f("uq_attendance_phase_id_person_type_person_id"),
        ),
    )
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attendance_phase_id"), ["phase_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_attendance_person_id"), ["person_id"], unique=False)
    op.create_table(
        "agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deliverable", sa.String(length=500), nullable=False),
        sa.Column("scope", sa.String(length=1000), nullable=False),
        sa.Column("success_measures", sa.String(length=1000), nullable=False),
        sa.Column("meeting_rhythm", sa.String(length=200), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("proposed_by", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("group_comment", sa.String(length=1000), nullable=True),
        sa.Column("proposed_at", UTC_TIME, nullable=False),
        sa.Column("decided_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_agreements_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreements")),
        sa.UniqueConstraint("project_id", "version", name=op.f("uq_agreements_project_id_version")),
    )
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agreements_project_id"), ["project_id"], unique=False)
    op.create_table(
        "hours_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("volunteer_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_hours_entries_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteers.id"],
            name=op.f("fk_hours_entries_volunteer_id_volunteers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hours_entries")),
    )
    with op.batch_alter_table("hours_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hours_entries_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_hours_entries_volunteer_id"), ["volunteer_id"], unique=False
        )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("recorded_by", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", UTC_TIME, nullable=False),
        sa.Column("confirmed_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_deliveries_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deliveries_project_id"), ["project_id"], unique=False)
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("author_type", sa.String(length=12), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("words", sa.String(length=2000), nullable=True),
        sa.Column("publish", sa.String(length=10), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_feedback_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint(
            "project_id",
            "author_type",
            "author_id",
            name=op.f("uq_feedback_project_id_author_type_author_id"),
        ),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    for table in ("feedback", "deliveries", "hours_entries", "agreements", "attendance"):
        op.drop_table(table)
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_projects_proposal_expires_at"))
        batch_op.drop_column("proposal_reminded_at")
        batch_op.drop_column("proposal_expires_at")
        batch_op.drop_column("proposal_sent_at")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("next_cohort_opt_out")
        batch_op.drop_column("contact")
        batch_op.drop_column("share_contact")
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.drop_column("next_cohort_opt_out")
        batch_op.drop_column("contact")
        batch_op.drop_column("share_contact")
        batch_op.drop_column("capacity")
