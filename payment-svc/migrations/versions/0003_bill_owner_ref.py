"""Bills: the pseudonymous reference of the applicant (whose bill it is), from intake's DossierReceived.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 18:05:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("bills", sa.Column("owner_ref", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bills") as batch:
        batch.drop_column("owner_ref")
