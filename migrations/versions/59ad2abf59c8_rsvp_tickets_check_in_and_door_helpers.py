"""RSVP tickets and check-in; door helper links

rsvps.ticket_hash is the digest of the ticket code the door reads (services/door.py); an RSVP
made before this migration gets its ticket when it is next shown or e-mailed.
rsvps.checked_in_count/at/by record the door. door_helpers holds the organizer's check-in-only
links for volunteers (token digests, revocable).

Revision ID: 59ad2abf59c8
Revises: d9e1f0a2b3c4
Create Date: 2026-12-01 22:35:18.482397

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "59ad2abf59c8"
down_revision = "d9e1f0a2b3c4"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "door_helpers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("screening_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["screening_id"],
            ["screenings.id"],
            name=op.f("fk_door_helpers_screening_id_screenings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_door_helpers")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_door_helpers_token_hash")),
    )
    with op.batch_alter_table("door_helpers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_door_helpers_screening_id"), ["screening_id"], unique=False
        )

    with op.batch_alter_table("rsvps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ticket_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("checked_in_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("checked_in_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("checked_in_by", sa.String(length=120), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_rsvps_ticket_hash"), ["ticket_hash"])


def downgrade():
    with op.batch_alter_table("rsvps", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_rsvps_ticket_hash"), type_="unique")
        batch_op.drop_column("checked_in_by")
        batch_op.drop_column("checked_in_at")
        batch_op.drop_column("checked_in_count")
        batch_op.drop_column("ticket_hash")

    with op.batch_alter_table("door_helpers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_door_helpers_screening_id"))

    op.drop_table("door_helpers")
