"""phases: an optional project (team) scope

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 16:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("phases", schema=None) as batch_op:
        # Existing phases stay programme-wide (NULL).
        batch_op.add_column(sa.Column("project_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_phases_project_id"), ["project_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_phases_project_id_projects"), "projects", ["project_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("phases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_phases_project_id_projects"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_phases_project_id"))
        batch_op.drop_column("project_id")
