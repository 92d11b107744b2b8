"""The host's note for guests on a screening.

Revision ID: e3a7c9d1b2f4
Revises: b7d41e9c2a05
Create Date: 2026-12-02 01:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e3a7c9d1b2f4"
down_revision = "b7d41e9c2a05"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host_note", sa.Text(), server_default="", nullable=False))


def downgrade():
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.drop_column("host_note")
