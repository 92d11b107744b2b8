"""Screening counts by status, UTC day and cancel cause, kept by triggers on screenings.

The dashboard's counts (the list's total, bookings waiting, cancellations by cause) read these
rows instead of counting screenings. Filled here from the screenings there are; from then on
the triggers (models/counts.py, create_count_triggers) keep them in the transaction of every
change.

Revision ID: d5f6a7b8c9e0
Revises: c4e5f6a7b8d9
Create Date: 2026-12-03 08:00:00
"""

import sqlalchemy as sa
from alembic import op

from screenings.models.counts import TRIGGER_NAMES, create_count_triggers

revision = "d5f6a7b8c9e0"
down_revision = "c4e5f6a7b8d9"
branch_labels = None
depends_on = None

def upgrade():
    op.create_table(
        "screening_counts",
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cancel_cause", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("status", "cancel_cause", "day", name=op.f("pk_screening_counts")),
        sqlite_with_rowid=False,
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    day = "starts_at::date" if postgresql else "date(starts_at)"
    op.execute(
        "INSERT INTO screening_counts (status, cancel_cause, day, n) "
        f"SELECT status, cancel_cause, {day}, count(*) FROM screenings "
        f"GROUP BY status, cancel_cause, {day}"
    )
    create_count_triggers(op.get_bind())


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON screenings" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS screening_counts_follow()")
    op.drop_table("screening_counts")
