"""A film's synopsis and content advisory in French and Hebrew beside the English ones.

Revision ID: b3d6f8a0c2e5
Revises: a1c5e7f9b2d4
Create Date: 2026-12-02 13:35:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b3d6f8a0c2e5"
down_revision = "a1c5e7f9b2d4"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("films", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("translations_json", sa.Text(), server_default="{}", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("films", schema=None) as batch_op:
        batch_op.drop_column("translations_json")
