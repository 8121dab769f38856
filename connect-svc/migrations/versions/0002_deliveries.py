"""The portal's view of each dossier and the deliveries to the national portal.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.db import BigId, UTCDateTime

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portal_dossiers",
        sa.Column("dossier_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("view", sa.JSON(), nullable=False),
        sa.Column("next_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dossier_id", name=op.f("pk_portal_dossiers")),
    )
    op.create_index(op.f("ix_portal_dossiers_code"), "portal_dossiers", ["code"])
    op.create_table(
        "deliveries",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("party", sa.String(length=16), nullable=False),
        sa.Column("dossier_id", sa.String(length=64), nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("service", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("is_updating", sa.Boolean(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_answer", sa.String(length=600), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("dossier_id", "seq", name="uq_deliveries_dossier_seq"),
        sa.UniqueConstraint("event_id", "position", name="uq_deliveries_event_position"),
    )
    op.create_index("ix_deliveries_state_next_attempt_at", "deliveries", ["state", "next_attempt_at"])
    op.create_index(op.f("ix_deliveries_dossier_code"), "deliveries", ["dossier_code"])


def downgrade() -> None:
    op.drop_index(op.f("ix_deliveries_dossier_code"), table_name="deliveries")
    op.drop_index("ix_deliveries_state_next_attempt_at", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index(op.f("ix_portal_dossiers_code"), table_name="portal_dossiers")
    op.drop_table("portal_dossiers")
