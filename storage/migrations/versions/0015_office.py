"""office: programme targets; volunteers' age band, employer and company programme;
organisations' sector

Revision ID: 0015
Revises: 0008
Create Date: 2026-12-04 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing programmes have no targets; existing people did not answer the new
    # optional questions (NULL reads as "not given").
    with op.batch_alter_table("programmes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("targets", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("age_band", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("employer", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("via_company", sa.Boolean(), nullable=True))
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sector", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("sector")
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.drop_column("via_company")
        batch_op.drop_column("employer")
        batch_op.drop_column("age_band")
    with op.batch_alter_table("programmes", schema=None) as batch_op:
        batch_op.drop_column("targets")
