"""The dossiers the portal holds, and an index of the deliveries not acknowledged (the heads of the queues).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.db import UTCDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNDELIVERED = sa.text("state != 'acknowledged'")


def upgrade() -> None:
    op.create_table(
        "portal_holdings",
        sa.Column("dossier_id", sa.String(length=64), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dossier_id", name=op.f("pk_portal_holdings")),
    )
    op.execute(
        "INSERT INTO portal_holdings (dossier_id, since) SELECT dossier_id, MIN(acknowledged_at) FROM deliveries "
        "WHERE kind = 'dossier' AND state = 'acknowledged' GROUP BY dossier_id"
    )
    op.create_index(
        "ix_deliveries_undelivered",
        "deliveries",
        ["dossier_id", "seq"],
        sqlite_where=UNDELIVERED,
        postgresql_where=UNDELIVERED,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_undelivered", table_name="deliveries")
    op.drop_table("portal_holdings")
