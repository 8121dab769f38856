"""stats_dossier.open_until and covering indexes for the reports

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 23:50:00

`open_until` is the earlier of resolved_date and closed_date, 9999-01-01 while neither (see stats.projections);
existing rows are filled from those two columns, and the `max_open_days` bound from them (see stats.models).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORT_COLUMNS = ["channel", "field_code", "received_date", "appointment_date", "resolved_date", "closed_date",
                  "open_until"]  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("stats_dossier", schema=None) as batch_op:
        batch_op.add_column(sa.Column("open_until", sa.Date(), server_default="9999-01-01", nullable=False))
    op.execute(
        "UPDATE stats_dossier SET open_until = CASE "
        "WHEN resolved_date IS NOT NULL AND (closed_date IS NULL OR resolved_date <= closed_date) THEN resolved_date "
        "WHEN closed_date IS NOT NULL THEN closed_date ELSE open_until END"
    )
    with op.batch_alter_table("stats_dossier", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_dossier_received")
        batch_op.drop_index("ix_stats_dossier_unit_received")
        batch_op.drop_index("ix_stats_dossier_resolved")
        batch_op.create_index(
            "ix_stats_dossier_received", ["received_date", "receiving_unit"], postgresql_include=REPORT_COLUMNS
        )
        batch_op.create_index(
            "ix_stats_dossier_unit_received", ["receiving_unit", "received_date"], postgresql_include=REPORT_COLUMNS
        )
        batch_op.create_index(
            "ix_stats_dossier_open",
            ["open_until", "received_date"],
            postgresql_include=[*REPORT_COLUMNS, "receiving_unit"],
        )
        batch_op.create_index(
            "ix_stats_dossier_unit_open",
            ["receiving_unit", "open_until", "received_date"],
            postgresql_include=REPORT_COLUMNS,
        )
    op.create_table(
        "stats_query_bound",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_stats_query_bound")),
    )
    op.execute(
        "INSERT INTO stats_query_bound (name, value) SELECT 'max_open_days', "
        + ("max(open_until - received_date)" if op.get_bind().dialect.name == "postgresql"
           else "CAST(max(julianday(open_until) - julianday(received_date)) AS INTEGER)")
        + " FROM stats_dossier WHERE open_until <> '9999-01-01' AND received_date IS NOT NULL HAVING count(*) > 0"
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("stats_query_bound")
    with op.batch_alter_table("stats_dossier", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_dossier_unit_open")
        batch_op.drop_index("ix_stats_dossier_open")
        batch_op.drop_index("ix_stats_dossier_unit_received")
        batch_op.drop_index("ix_stats_dossier_received")
        batch_op.create_index("ix_stats_dossier_received", ["received_date", "receiving_unit"])
        batch_op.create_index("ix_stats_dossier_resolved", ["resolved_date"])
        batch_op.create_index("ix_stats_dossier_unit_received", ["receiving_unit", "received_date"])
        batch_op.drop_column("open_until")
