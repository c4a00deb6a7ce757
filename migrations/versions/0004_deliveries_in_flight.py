"""deliveries in flight, and cancelled deliveries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 01:21:51.659290
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OLD = ("pending", "deferred", "delivered", "failed")
NEW = ("pending", "deferred", "sending", "delivered", "failed", "cancelled")


def _status(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name="deliverystatus", native_enum=False, create_constraint=True, length=16
    )


def _change_status(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot alter a CHECK constraint: the table is copied with the new one.
        with op.batch_alter_table("deliveries", recreate="always") as batch_op:
            batch_op.alter_column("status", type_=_status(new), existing_type=_status(old))
        return
    op.drop_constraint(op.f("ck_deliveries_deliverystatus"), "deliveries", type_="check")
    allowed = ", ".join(f"'{value}'" for value in new)
    op.create_check_constraint(op.f("ck_deliveries_deliverystatus"), "deliveries", f"status IN ({allowed})")


def upgrade() -> None:
    # A delivery is marked `sending` (and committed) before it goes on the wire, so a sender
    # that dies leaves a visible trace of what may have been delivered twice.
    _change_status(OLD, NEW)


def downgrade() -> None:
    op.execute("UPDATE deliveries SET status = 'pending' WHERE status = 'sending'")
    op.execute("UPDATE deliveries SET status = 'failed' WHERE status = 'cancelled'")
    _change_status(NEW, OLD)
