"""films.updated_at; index rsvps.updated_at

Both feed the public pages' version stamp (services/feeds.py): a film's edit and the latest
RSVP change what the cached pages show. Existing films take their creation time.

Revision ID: 45ead9a05092
Revises: 41624db63559
Create Date: 2026-11-24 21:30:00.485704

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "45ead9a05092"
down_revision = "41624db63559"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("films", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE films SET updated_at = created_at")
    with op.batch_alter_table("films", schema=None) as batch_op:
        batch_op.alter_column("updated_at", existing_type=sa.DateTime(), nullable=False)

    with op.batch_alter_table("rsvps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rsvps_updated_at"), ["updated_at"], unique=False)


def downgrade():
    with op.batch_alter_table("rsvps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rsvps_updated_at"))

    with op.batch_alter_table("films", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
