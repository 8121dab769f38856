"""The catalogue replica (the names of procedures and fields for the portal's records).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from services.migrations import create_replica_tables_v1, drop_replica_tables_v1

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_replica_tables_v1()


def downgrade() -> None:
    drop_replica_tables_v1()
