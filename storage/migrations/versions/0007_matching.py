"""matching: the languages a translation project needs; updated_at indexes; skill
holders read from an index alone

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-22 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        # Requests made before the question existed need no particular language.
        batch_op.add_column(
            sa.Column("languages", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    # Matching's in-memory index reads what changed since its last look.
    for table in ("volunteers", "matches", "projects"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f(f"ix_{table}_updated_at"), ["updated_at"], unique=False
            )

    with op.batch_alter_table("volunteer_skills", schema=None) as batch_op:
        batch_op.drop_index("ix_volunteer_skills_skill")
        batch_op.create_index(
            "ix_volunteer_skills_skill_volunteer_id", ["skill", "volunteer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("volunteer_skills", schema=None) as batch_op:
        batch_op.drop_index("ix_volunteer_skills_skill_volunteer_id")
        batch_op.create_index("ix_volunteer_skills_skill", ["skill"], unique=False)
    for table in ("projects", "matches", "volunteers"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_updated_at"))
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("languages")
