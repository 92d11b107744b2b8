"""cache_version on screenings and films; the change_counters table

Exact cache invalidation (caching.py): a screening's and a film's cache_version is raised in
the transaction of every change to the row, and a change counter in the transaction of every
change to what a list or a feed shows. Existing rows start at version 1.

Revision ID: c4f1a2b7d9e0
Revises: b7d41c2e9a10
Create Date: 2026-12-01 21:45:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "c4f1a2b7d9e0"
down_revision = "b7d41c2e9a10"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "change_counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_change_counters")),
    )
    for table in ("screenings", "films"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("cache_version", sa.Integer(), server_default="1", nullable=False)
            )


def downgrade():
    for table in ("films", "screenings"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("cache_version")
    op.drop_table("change_counters")
