"""Screenings' public point (where the lists measure "near me" from), indexed, filled in.

Revision ID: e3a7c51d2f90
Revises: e4a7c9d2b1f3
Create Date: 2026-12-02 01:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e3a7c51d2f90"
down_revision = "e4a7c9d2b1f3"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_latitude", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("public_longitude", sa.Double(), nullable=True))
        batch_op.create_index(
            "ix_screenings_public_point",
            ["status", "is_public", "public_latitude", "public_longitude"],
            unique=False,
        )
    # Fill them in as visibility.public_point does: the venue's point where its street is
    # public, else its city's in the gazetteer.
    from screenings.places import city_point

    connection = op.get_bind()
    screenings = sa.table(
        "screenings",
        sa.column("id"),
        sa.column("city"),
        sa.column("country"),
        sa.column("visibility"),
        sa.column("latitude"),
        sa.column("longitude"),
        sa.column("public_latitude"),
        sa.column("public_longitude"),
    )
    rows = connection.execute(
        sa.select(
            screenings.c.id,
            screenings.c.city,
            screenings.c.country,
            screenings.c.visibility,
            screenings.c.latitude,
            screenings.c.longitude,
        )
    ).all()
    updates = []
    for row in rows:
        if row.visibility == "public" and row.latitude is not None and row.longitude is not None:
            point = (row.latitude, row.longitude)
        else:
            point = city_point(row.city or "", row.country or "")
        if point is not None:
            updates.append({"row_id": row.id, "lat": point[0], "lon": point[1]})
    if updates:
        connection.execute(
            screenings.update()
            .where(screenings.c.id == sa.bindparam("row_id"))
            .values(public_latitude=sa.bindparam("lat"), public_longitude=sa.bindparam("lon")),
            updates,
        )


def downgrade():
    with op.batch_alter_table("screenings", schema=None) as batch_op:
        batch_op.drop_index("ix_screenings_public_point")
        batch_op.drop_column("public_longitude")
        batch_op.drop_column("public_latitude")
