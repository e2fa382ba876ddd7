"""person languages: a language a person chose where the platform's setting would decide

Revision ID: 0022
Revises: 0017
Create Date: 2026-12-04 21:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "person_languages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_key", sa.String(length=64), nullable=False),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_languages")),
        sa.UniqueConstraint(
            "channel", "user_key", name=op.f("uq_person_languages_channel_user_key")
        ),
    )


def downgrade() -> None:
    op.drop_table("person_languages")
