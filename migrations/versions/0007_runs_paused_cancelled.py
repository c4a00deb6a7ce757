"""runs can be paused and cancelled by an operator

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 03:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("planning", "sending", "done")
NEW = ("planning", "sending", "paused", "done", "cancelled")


def _status(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name="runstatus", native_enum=False, create_constraint=True, length=16
    )


def _change_status(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot alter a CHECK constraint: the table is copied with the new one.
        with op.batch_alter_table("runs", recreate="always") as batch_op:
            batch_op.alter_column("status", type_=_status(new), existing_type=_status(old))
        return
    op.drop_constraint(op.f("ck_runs_runstatus"), "runs", type_="check")
    allowed = ", ".join(f"'{value}'" for value in new)
    op.create_check_constraint(op.f("ck_runs_runstatus"), "runs", f"status IN ({allowed})")


def upgrade() -> None:
    _change_status(OLD, NEW)


def downgrade() -> None:
    op.execute("UPDATE runs SET status = 'sending' WHERE status = 'paused'")
    op.execute("UPDATE runs SET status = 'done' WHERE status = 'cancelled'")
    _change_status(NEW, OLD)
