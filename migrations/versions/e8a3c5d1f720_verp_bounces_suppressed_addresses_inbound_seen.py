"""VERP bounce tokens on outbox messages; suppressed_addresses; inbound_messages

Each outbox message gets the digest of the token in its envelope sender
(bounce+<token>@…) and the time a bounce came back for it. Addresses that hard-bounced are
kept in suppressed_addresses (the outbox refuses them until a producer lifts them). Inbound
messages already acted on are remembered by digest in inbound_messages, so a message
delivered or polled twice changes nothing the second time. Existing messages have no bounce
token (they were sent with the plain sender address).

Revision ID: e8a3c5d1f720
Revises: 59ad2abf59c8
Create Date: 2026-12-02 00:58:03

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e8a3c5d1f720"
down_revision = "59ad2abf59c8"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint("digest", name=op.f("uq_inbound_messages_digest")),
    )
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbound_messages_received_at"), ["received_at"], unique=False
        )
    op.create_table(
        "suppressed_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_normalized", sa.String(length=254), nullable=False),
        sa.Column("diagnostic", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outbox_message_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressed_addresses")),
        sa.UniqueConstraint(
            "email_normalized", name=op.f("uq_suppressed_addresses_email_normalized")
        ),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bounce_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("bounced_at", sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_outbox_messages_bounce_token_hash"), ["bounce_token_hash"]
        )


def downgrade():
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_outbox_messages_bounce_token_hash"), type_="unique")
        batch_op.drop_column("bounced_at")
        batch_op.drop_column("bounce_token_hash")
    op.drop_table("suppressed_addresses")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_messages_received_at"))
    op.drop_table("inbound_messages")
