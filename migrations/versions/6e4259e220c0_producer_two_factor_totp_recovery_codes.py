"""producer two-factor: TOTP secret and recovery codes

producers gains the TOTP secret (set once enrolment is confirmed), when it was turned on and
the last time step accepted (no code works twice); recovery_codes holds SHA-256 digests of
the single-use recovery codes. A second file on this branch: the first was merged earlier.

Revision ID: 6e4259e220c0
Revises: c4f1a2b7d9e0
Create Date: 2026-12-01 21:47:20.336699

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '6e4259e220c0'
down_revision = 'c4f1a2b7d9e0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['producer_id'], ['producers.id'], name=op.f('fk_recovery_codes_producer_id_producers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_recovery_codes_code_hash'))
    )
    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_codes_producer_id'), ['producer_id'], unique=False)

    with op.batch_alter_table('producers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('totp_enabled_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))



def downgrade():
    with op.batch_alter_table('producers', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_enabled_at')
        batch_op.drop_column('totp_secret')

    with op.batch_alter_table('recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_codes_producer_id'))

    op.drop_table('recovery_codes')
