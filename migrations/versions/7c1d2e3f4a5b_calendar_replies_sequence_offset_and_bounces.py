"""RSVP reply tokens and answers, per-attendee SEQUENCE offset; mail_bounces

Invites name a reply address carrying a per-RSVP token (its digest in
rsvps.reply_token_hash); an attendee's calendar answer is kept in rsvps.reply_partstat; an
attendee's own cancellation raises rsvps.calendar_sequence_offset. Bounced addresses are kept
in mail_bounces. Existing RSVPs have no reply token (their invites named the sender address).

Revision ID: 7c1d2e3f4a5b
Revises: 6e4259e220c0
Create Date: 2026-12-01 22:15:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "7c1d2e3f4a5b"
down_revision = "6e4259e220c0"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mail_bounces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_normalized", sa.String(length=254), nullable=False),
        sa.Column("is_permanent", sa.Boolean(), nullable=False),
        sa.Column("diagnostic", sa.String(length=500), nullable=False),
        sa.Column("bounces", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_bounces")),
        sa.UniqueConstraint("email_normalized", name=op.f("uq_mail_bounces_email_normalized")),
    )
    with op.batch_alter_table("rsvps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reply_partstat", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column(
                "calendar_sequence_offset", sa.Integer(), server_default="0", nullable=False
            )
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_rsvps_reply_token_hash"), ["reply_token_hash"]
        )


def downgrade():
    with op.batch_alter_table("rsvps", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_rsvps_reply_token_hash"), type_="unique")
        batch_op.drop_column("calendar_sequence_offset")
        batch_op.drop_column("reply_partstat")
        batch_op.drop_column("reply_token_hash")
    op.drop_table("mail_bounces")
