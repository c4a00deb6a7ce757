"""issues have a lifecycle (draft, approved, sent, withdrawn), editorial fields and a history

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("draft", "approved", "sent", "withdrawn")


def upgrade() -> None:
    status = sa.Enum(
        *STATUSES, name="issuestatus", native_enum=False, create_constraint=True, length=16
    )
    with op.batch_alter_table("issues") as batch_op:
        # Issues stored before the lifecycle existed were sendable as they were: they start
        # approved (or sent, below), never as drafts nobody asked to review.
        batch_op.add_column(sa.Column("status", status, nullable=False, server_default="approved"))
        batch_op.add_column(sa.Column("summary", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("subject", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("preheader", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("send_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("approved_by", sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f("ix_issues_status"), ["status"], unique=False)
    op.execute(
        "UPDATE issues SET status = 'sent' WHERE EXISTS "
        "(SELECT 1 FROM runs WHERE runs.issue_id = issues.id)"
    )
    with op.batch_alter_table("stories") as batch_op:
        batch_op.add_column(
            sa.Column("topics_locked", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "issue_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("field", sa.String(length=100), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_changes_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_changes")),
    )
    op.create_index(op.f("ix_issue_changes_issue_id"), "issue_changes", ["issue_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_issue_changes_issue_id"), table_name="issue_changes")
    op.drop_table("issue_changes")
    with op.batch_alter_table("stories") as batch_op:
        batch_op.drop_column("topics_locked")
    with op.batch_alter_table("issues") as batch_op:
        batch_op.drop_index(batch_op.f("ix_issues_status"))
        # The copied table must not keep the CHECK on a column that is gone.
        batch_op.drop_constraint(batch_op.f("ck_issues_issuestatus"), type_="check")
        for column in (
            "approved_by",
            "approved_at",
            "send_at",
            "preheader",
            "subject",
            "summary",
            "status",
        ):
            batch_op.drop_column(column)
