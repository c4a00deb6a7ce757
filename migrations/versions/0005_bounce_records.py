"""bounce records, and deliveries found by Message-ID

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Bounces and complaints as received: one row per (report, recipient), so processing a
    # mailbox twice changes nothing, and soft bounces can be counted per subscriber.
    op.create_table(
        "bounce_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(length=200), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "hard", "soft", "complaint", name="bouncekind", native_enum=False,
                create_constraint=True, length=16,
            ),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("diagnostic", sa.Text(), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["deliveries.id"],
            name=op.f("fk_bounce_records_delivery_id_deliveries"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscribers.id"],
            name=op.f("fk_bounce_records_subscriber_id_subscribers"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bounce_records")),
        sa.UniqueConstraint(
            "report_id", "recipient", name=op.f("uq_bounce_records_report_id_recipient")
        ),
    )
    op.create_index(
        op.f("ix_bounce_records_delivery_id"), "bounce_records", ["delivery_id"], unique=False
    )
    op.create_index(
        op.f("ix_bounce_records_subscriber_id"), "bounce_records", ["subscriber_id"], unique=False
    )
    # A complaint (ARF) finds its delivery by the Message-ID of the returned message.
    op.create_index(
        op.f("ix_deliveries_message_id"), "deliveries", ["message_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_deliveries_message_id"), table_name="deliveries")
    op.drop_index(op.f("ix_bounce_records_subscriber_id"), table_name="bounce_records")
    op.drop_index(op.f("ix_bounce_records_delivery_id"), table_name="bounce_records")
    op.drop_table("bounce_records")
