"""bounce records keep whose fault a bounce was; suppressions keep the report that caused them

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASONS = (
    "gone",
    "full",
    "temporary",
    "expired",
    "policy",
    "sender",
    "content",
    "complaint",
    "unknown",
)


def upgrade() -> None:
    # A bounce's reason (mailer.replies.Reason) replaces hard/soft: only "gone" and complaints
    # suppress, and only full/temporary/expired count towards the soft limit.
    with op.batch_alter_table("bounce_records") as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=16), nullable=True))
    op.execute(
        "UPDATE bounce_records SET reason = CASE kind WHEN 'hard' THEN 'gone' "
        "WHEN 'complaint' THEN 'complaint' ELSE 'temporary' END"
    )
    with op.batch_alter_table("bounce_records") as batch_op:
        batch_op.drop_constraint(op.f("ck_bounce_records_bouncekind"), type_="check")
        batch_op.drop_column("kind")
        batch_op.alter_column("reason", existing_type=sa.String(length=16), nullable=False)
        batch_op.create_check_constraint(
            op.f("ck_bounce_records_reason"), sa.column("reason").in_(REASONS)
        )
    # The evidence of a suppression: which report, and what the server said.
    with op.batch_alter_table("suppressions") as batch_op:
        batch_op.add_column(sa.Column("report_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("diagnostic", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("suppressions") as batch_op:
        batch_op.drop_column("diagnostic")
        batch_op.drop_column("report_id")
    with op.batch_alter_table("bounce_records") as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=True))
    op.execute(
        "UPDATE bounce_records SET kind = CASE reason WHEN 'gone' THEN 'hard' "
        "WHEN 'complaint' THEN 'complaint' ELSE 'soft' END"
    )
    with op.batch_alter_table("bounce_records") as batch_op:
        batch_op.drop_constraint(op.f("ck_bounce_records_reason"), type_="check")
        batch_op.drop_column("reason")
        batch_op.alter_column("kind", existing_type=sa.String(length=16), nullable=False)
        batch_op.create_check_constraint(
            op.f("ck_bounce_records_bouncekind"),
            sa.column("kind").in_(("hard", "soft", "complaint")),
        )
