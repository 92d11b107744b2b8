"""CHECK constraints holding each state stored as text to the values its enum names:
screenings.status and organization_type, rsvps.status, outbox_messages.status,
change_requests.status, shipments.status (models/core.py one_of).

Every value written so far came from those enums, so no row needs changing.

Revision ID: c4e5f6a7b8d9
Revises: a5c2e8f1d3b7
Create Date: 2026-12-02 14:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "c4e5f6a7b8d9"
down_revision = "a5c2e8f1d3b7"
branch_labels = None
depends_on = None

# Written out rather than read from the models: a migration is what the schema was then.
STATES = {
    ("screenings", "status"): ("pending", "approved", "rejected", "cancelled"),
    ("screenings", "organization_type"): (
        "school",
        "university",
        "faith_community",
        "community_group",
        "cinema",
        "other",
    ),
    ("rsvps", "status"): (
        "confirmed",
        "waitlisted",
        "cancelled",
        "requested",
        "unconfirmed",
        "declined",
    ),
    ("outbox_messages", "status"): (
        "pending",
        "sending",
        "sent",
        "failed",
        "dead",
        "bounced",
        "suppressed",
    ),
    ("change_requests", "status"): ("pending", "approved", "rejected", "withdrawn"),
    ("shipments", "status"): ("to_ship", "shipped", "returned", "cancelled"),
}


def _tables():
    return sorted({table for table, _column in STATES})


def upgrade():
    for table in _tables():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for (owner, column), values in STATES.items():
                if owner == table:
                    listed = ", ".join(f"'{value}'" for value in values)
                    batch_op.create_check_constraint(
                        batch_op.f(f"ck_{table}_{column}_known"), f"{column} IN ({listed})"
                    )


def downgrade():
    for table in _tables():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for owner, column in STATES:
                if owner == table:
                    batch_op.drop_constraint(
                        batch_op.f(f"ck_{table}_{column}_known"), type_="check"
                    )
