"""Near-me alert subscriptions (double opt-in, one-click unsubscribe).

Revision ID: f4b8d62e1a37
Revises: e3a7c51d2f90
Create Date: 2026-12-02 01:25:00
"""

import sqlalchemy as sa
from alembic import op

revision = "f4b8d62e1a37"
down_revision = "e3a7c51d2f90"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "nearby_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column("radius_km", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("confirm_token_hash", sa.String(length=64), nullable=False),
        sa.Column("unsubscribe_token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("considered_until", sa.DateTime(), nullable=True),
        sa.Column("last_sent_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("radius_km > 0", name=op.f("ck_nearby_subscriptions_radius_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nearby_subscriptions")),
        sa.UniqueConstraint(
            "confirm_token_hash", name=op.f("uq_nearby_subscriptions_confirm_token_hash")
        ),
        sa.UniqueConstraint(
            "unsubscribe_token_hash", name=op.f("uq_nearby_subscriptions_unsubscribe_token_hash")
        ),
    )
    with op.batch_alter_table("nearby_subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nearby_subscriptions_email"), ["email"], unique=False)


def downgrade():
    with op.batch_alter_table("nearby_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nearby_subscriptions_email"))
    op.drop_table("nearby_subscriptions")
