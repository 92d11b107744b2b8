"""Guest approval, address holds and the host question

screenings.approves_guests: replies wait for the organizer's approval (no seat until then).
screenings.address_check: who confirms their e-mail address before their seats are theirs
("off", "large_parties", "everyone"; existing screenings keep "off", as they worked before).
screenings.host_question: the optional question on the RSVP form ("" none).
rsvps.answer (personal data, erased with the reply), rsvps.hold_expires_at (an unconfirmed
reply's seats are released then), rsvps.confirm_token_hash (the confirm link's digest),
rsvps.declined_at.

Revision ID: eb63e6b7f53f
Revises: e8a3c5d1f720
Create Date: 2026-12-02 00:59:02.486513

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "eb63e6b7f53f"
down_revision = "e8a3c5d1f720"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("rsvps", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("answer", sa.String(length=300), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("hold_expires_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("confirm_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("declined_at", sa.DateTime(), nullable=True))
        batch_op.create_index(
            "ix_rsvps_status_hold_expires_at", ["status", "hold_expires_at"], unique=False
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_rsvps_confirm_token_hash"), ["confirm_token_hash"]
        )

    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approves_guests", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("address_check", sa.String(length=16), server_default="off", nullable=False)
        )
        batch_op.add_column(
            sa.Column("host_question", sa.String(length=16), server_default="", nullable=False)
        )
        batch_op.create_check_constraint(
            "address_check_known", "address_check IN ('off', 'large_parties', 'everyone')"
        )


def downgrade():
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.drop_constraint("address_check_known", type_="check")
        batch_op.drop_column("host_question")
        batch_op.drop_column("address_check")
        batch_op.drop_column("approves_guests")

    with op.batch_alter_table("rsvps", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_rsvps_confirm_token_hash"), type_="unique")
        batch_op.drop_index("ix_rsvps_status_hold_expires_at")
        batch_op.drop_column("declined_at")
        batch_op.drop_column("confirm_token_hash")
        batch_op.drop_column("hold_expires_at")
        batch_op.drop_column("answer")
