"""deliveries wait for the reader's local send hour

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 03:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A daily brief reaches each reader at their local send hour: the instant (UTC) before
    # which a delivery is not sent. Existing deliveries have none: they go at once.
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("not_before")
