"""rich menus: the menu linked to each LINE user whose menu is not the default

Revision ID: 0013
Revises: 0015
Create Date: 2026-12-04 16:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rich_menu_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_key", sa.String(length=64), nullable=False),
        sa.Column("menu", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rich_menu_links")),
        sa.UniqueConstraint(
            "channel", "user_key", name=op.f("uq_rich_menu_links_channel_user_key")
        ),
    )


def downgrade() -> None:
    op.drop_table("rich_menu_links")
