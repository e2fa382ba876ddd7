"""cases: the catalogue of collaboration cases (Chiba's コラボナビ fields)

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-04 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("area", sa.String(length=100), nullable=False),
        sa.Column("area_key", sa.String(length=100), nullable=False),
        sa.Column("field", sa.String(length=24), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("partners", sa.JSON(), nullable=False),
        sa.Column("background", sa.String(length=2000), nullable=False),
        sa.Column("activities", sa.String(length=2000), nullable=False),
        sa.Column("outcome", sa.String(length=2000), nullable=False),
        sa.Column("period", sa.String(length=200), nullable=False),
        sa.Column("cost", sa.String(length=500), nullable=False),
        sa.Column("contact", sa.String(length=300), nullable=False),
        sa.Column("tips", sa.String(length=2000), nullable=False),
        sa.Column("en", sa.JSON(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("consent_asked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consent_answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_cases_project_id_projects"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("project_id", name=op.f("uq_cases_project_id")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_area_key"), ["area_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_field"), ["field"], unique=False)
        batch_op.create_index("ix_cases_status_year", ["status", "year"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_status_year")
        batch_op.drop_index(batch_op.f("ix_cases_field"))
        batch_op.drop_index(batch_op.f("ix_cases_area_key"))
    op.drop_table("cases")
