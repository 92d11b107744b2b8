"""screenings.visibility (public / guests / private), the private share link, and
outbox_messages.erase_after_sending (an erased person's last message, redacted once sent)

``is_public`` keeps its column and its place in the public list's index and now means
"listed": a CHECK holds it equal to ``visibility != 'private'``. Existing rows keep what they
were: public stays public (full address), private stays private (now reachable only through a
share link the organizer creates on the manage page).

Revision ID: b7d41c2e9a10
Revises: 06eb769c89f2
Create Date: 2026-12-01 21:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b7d41c2e9a10"
down_revision = "06eb769c89f2"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("erase_after_sending", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("visibility", sa.String(length=16), server_default="public", nullable=False)
        )
        batch_op.add_column(sa.Column("share_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("share_token_hash", sa.String(length=64), nullable=True))
    op.execute("UPDATE screenings SET visibility = 'private' WHERE NOT is_public")
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_screenings_share_token_hash"), ["share_token_hash"]
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_screenings_visibility_known"), "visibility IN ('public', 'guests', 'private')"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_screenings_listed_unless_private"), "(visibility = 'private') <> is_public"
        )


def downgrade():
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_screenings_listed_unless_private"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_screenings_visibility_known"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_screenings_share_token_hash"), type_="unique")
        batch_op.drop_column("share_token_hash")
        batch_op.drop_column("share_key")
        batch_op.drop_column("visibility")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_column("erase_after_sending")
