"""Licence rules per film, the venue's kind, trusted hosts.

Revision ID: d9e1f0a2b3c4
Revises: 7c1d2e3f4a5b
Create Date: 2026-12-01 22:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "d9e1f0a2b3c4"
down_revision = "7c1d2e3f4a5b"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("films", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "auto_approve_compliant", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch_op.add_column(sa.Column("rules_json", sa.Text(), server_default="{}", nullable=False))
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("venue_kind", sa.String(length=16), server_default="", nullable=False)
        )
    op.create_table(
        "trusted_hosts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=254), nullable=False),
        sa.Column("organization_name", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('email', 'domain')", name=op.f("ck_trusted_hosts_kind_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusted_hosts")),
        sa.UniqueConstraint("kind", "value", name=op.f("uq_trusted_hosts_kind")),
    )


def downgrade():
    op.drop_table("trusted_hosts")
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.drop_column("venue_kind")
    with op.batch_alter_table("films", schema=None) as batch_op:
        batch_op.drop_column("rules_json")
        batch_op.drop_column("auto_approve_compliant")
