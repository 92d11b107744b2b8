"""index screenings (status, cancel_cause)

The producer dashboard counts cancellations by cause on every cold render; with this index the
count reads index entries only (22 ms for 100,000 screenings without it, on SQLite).

Revision ID: b7d41e9c2a05
Revises: f4b8d62e1a37
Create Date: 2026-12-02 01:55:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "b7d41e9c2a05"
down_revision = "f4b8d62e1a37"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_screenings_status_cancel_cause", ["status", "cancel_cause"], unique=False
        )


def downgrade():
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.drop_index("ix_screenings_status_cancel_cause")
