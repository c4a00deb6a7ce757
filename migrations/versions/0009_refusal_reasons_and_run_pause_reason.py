"""deliveries keep the reason of their last refusal; runs say why they paused themselves

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Whose fault a refusal was (mailer.replies.Reason: gone, policy, sender, ...): reports
    # count refusals by it, and only "gone" ever suppressed anybody.
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("last_reason", sa.String(length=16), nullable=True))
    # A run that paused itself (a relay refusing our sender, a blocklist) says why, in one line
    # for the operator; an operator's pause leaves it empty.
    with op.batch_alter_table("runs") as batch_op:
        batch_op.add_column(sa.Column("pause_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch_op:
        batch_op.drop_column("pause_reason")
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("last_reason")
