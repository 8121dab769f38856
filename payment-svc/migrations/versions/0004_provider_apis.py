"""Providers' APIs: when a silent payment is next asked about and the last answer; refund requests.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 18:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("next_status_query_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("status_queries", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("status_answer", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("status_answered_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "refund_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("payment_id", sa.String(length=36), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("provider_refund_id", sa.String(length=64), nullable=True),
        sa.Column("provider_answer", sa.String(length=500), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_refund_requests_payment_id_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_requests")),
    )
    op.create_index(op.f("ix_refund_requests_payment_id"), "refund_requests", ["payment_id"])
    op.create_index("ix_refund_requests_state_next_check_at", "refund_requests", ["state", "next_check_at"])


def downgrade() -> None:
    op.drop_index("ix_refund_requests_state_next_check_at", table_name="refund_requests")
    op.drop_index(op.f("ix_refund_requests_payment_id"), table_name="refund_requests")
    op.drop_table("refund_requests")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("status_answered_at")
        batch.drop_column("status_answer")
        batch.drop_column("status_queries")
        batch.drop_column("next_status_query_at")
