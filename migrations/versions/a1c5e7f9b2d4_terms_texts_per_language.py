"""Licence terms in several languages: a terms version's French and Hebrew texts, the
language a host accepted them in, and the language a licence states them in.

Revision ID: a1c5e7f9b2d4
Revises: e3a7c9d1b2f4
Create Date: 2026-12-02 13:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "a1c5e7f9b2d4"
down_revision = "e3a7c9d1b2f4"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("licence_terms", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("translations_json", sa.Text(), server_default="{}", nullable=False)
        )
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "accepted_terms_language", sa.String(length=8), server_default="en", nullable=False
            )
        )
    with op.batch_alter_table("licences", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("terms_language", sa.String(length=8), server_default="en", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("licences", schema=None) as batch_op:
        batch_op.drop_column("terms_language")
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.drop_column("accepted_terms_language")
    with op.batch_alter_table("licence_terms", schema=None) as batch_op:
        batch_op.drop_column("translations_json")
