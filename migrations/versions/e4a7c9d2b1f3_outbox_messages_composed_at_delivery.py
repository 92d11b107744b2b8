"""Outbox messages composed at delivery: a reference to what the worker renders.

Revision ID: e4a7c9d2b1f3
Revises: eb63e6b7f53f
Create Date: 2026-12-02 01:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e4a7c9d2b1f3"
down_revision = "eb63e6b7f53f"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("compose_ref", sa.String(length=80), nullable=True))


def downgrade():
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_column("compose_ref")
