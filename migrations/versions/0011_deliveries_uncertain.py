"""deliveries whose outcome is unknown: the message went out, no final reply came

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OLD = ("pending", "deferred", "sending", "delivered", "failed", "cancelled")
NEW = ("pending", "deferred", "sending", "uncertain", "delivered", "failed", "cancelled")


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
    # A connection lost after the message's data, or no final reply in time: the server may
    # have taken it. Such a delivery is `uncertain` — never `deferred`, which a later send
    # would repeat silently — and only `briefmail runs resume` sends it again, saying how many.
    _change_status(OLD, NEW)


def downgrade() -> None:
    op.execute("UPDATE deliveries SET status = 'sending' WHERE status = 'uncertain'")
    _change_status(NEW, OLD)
