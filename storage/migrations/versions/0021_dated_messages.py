"""dated messages expire; briefing RSVPs of signed-up people become attendance rows

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# RSVPs given before attendance existed: those of volunteers and group contacts are
# copied (the rsvps rows stay, so followers not signed up yet keep theirs).
_COPY = """
INSERT INTO attendance (phase_id, person_type, person_id, state, answered_at)
SELECT r.phase_id, '{ptype}', p.id,
       CASE WHEN r.answer = 'yes' THEN 'rsvp_yes' ELSE 'rsvp_no' END, r.answered_at
FROM rsvps r JOIN {table} p ON p.channel = r.channel AND p.user_key = r.user_key
WHERE NOT EXISTS (
    SELECT 1 FROM attendance a
    WHERE a.phase_id = r.phase_id AND a.person_type = '{ptype}' AND a.person_id = p.id
)
"""


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(_COPY.format(ptype="volunteer", table="volunteers"))
    op.execute(_COPY.format(ptype="organization", table="organizations"))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("expires_at")
