"""deliveries carry the lease of the sender that claimed them

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 05:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # On PostgreSQL any number of senders share a run: each claims deliveries under its own
    # lease id until an instant; a claim past that instant returns to the pool, and a sender
    # records an outcome only while the delivery still carries its lease.
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("lease", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease")
