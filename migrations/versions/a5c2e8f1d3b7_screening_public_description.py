"""The organizer's public description of a screening (speakers, Q&A, doors).

Revision ID: a5c2e8f1d3b7
Revises: b3d6f8a0c2e5
Create Date: 2026-12-02 13:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "a5c2e8f1d3b7"
down_revision = "b3d6f8a0c2e5"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("description", sa.Text(), server_default="", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.drop_column("description")
