"""Staff sessions checked against the account: the token generation (incremented by a password change or a
deactivation), and when those last happened.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_accounts") as batch:
        batch.add_column(sa.Column("token_generation", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_accounts") as batch:
        batch.drop_column("deactivated_at")
        batch.drop_column("password_changed_at")
        batch.drop_column("token_generation")
