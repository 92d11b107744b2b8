"""producer accounts: roles, lockout, sessions per device, e-mailed links, audit log

producers gains a role (owner/reviewer/viewer, CHECKed; existing accounts become owners), a
failed-login counter, a lock and a disabled mark, and loses session_nonce: every logged-in
device now has its own producer_sessions row (so existing sessions end once, at upgrade).
account_links holds the hashed single-use unlock, reset and invitation links; account_events
is the audit log.

Revision ID: 06eb769c89f2
Revises: 6a2025f487da
Create Date: 2026-12-01 21:27:44.277055

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '06eb769c89f2'
down_revision = '6a2025f487da'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('account_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('address', sa.String(length=45), nullable=False),
    sa.Column('detail', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['producers.id'], name=op.f('fk_account_events_actor_id_producers')),
    sa.ForeignKeyConstraint(['producer_id'], ['producers.id'], name=op.f('fk_account_events_producer_id_producers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_events'))
    )
    with op.batch_alter_table('account_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_events_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_events_producer_id'), ['producer_id'], unique=False)

    op.create_table('account_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("purpose IN ('unlock', 'reset', 'invite')", name=op.f('ck_account_links_purpose_known')),
    sa.ForeignKeyConstraint(['producer_id'], ['producers.id'], name=op.f('fk_account_links_producer_id_producers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_account_links_token_hash'))
    )
    with op.batch_alter_table('account_links', schema=None) as batch_op:
        batch_op.create_index('ix_account_links_producer_id_purpose', ['producer_id', 'purpose'], unique=False)

    op.create_table('producer_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('device', sa.String(length=120), nullable=False),
    sa.Column('address', sa.String(length=45), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['producer_id'], ['producers.id'], name=op.f('fk_producer_sessions_producer_id_producers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_producer_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_producer_sessions_token_hash'))
    )
    with op.batch_alter_table('producer_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_producer_sessions_producer_id'), ['producer_id'], unique=False)

    with op.batch_alter_table('producers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=16), server_default='owner', nullable=False))
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('disabled_at', sa.DateTime(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_producers_role_known"), "role IN ('owner', 'reviewer', 'viewer')"
        )
        batch_op.drop_constraint(batch_op.f('uq_producers_session_nonce'), type_='unique')
        batch_op.drop_column('session_nonce')



def downgrade():
    with op.batch_alter_table('producers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_nonce', sa.VARCHAR(length=64), nullable=True))
    # A fresh nonce per account (an old cookie never matches one).
    op.execute("UPDATE producers SET session_nonce = 'reset-' || id")
    with op.batch_alter_table('producers', schema=None) as batch_op:
        batch_op.alter_column('session_nonce', existing_type=sa.VARCHAR(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_producers_session_nonce'), ['session_nonce'])
        batch_op.drop_constraint(batch_op.f('ck_producers_role_known'), type_='check')
        batch_op.drop_column('disabled_at')
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')
        batch_op.drop_column('role')

    with op.batch_alter_table('producer_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_producer_sessions_producer_id'))

    op.drop_table('producer_sessions')
    with op.batch_alter_table('account_links', schema=None) as batch_op:
        batch_op.drop_index('ix_account_links_producer_id_purpose')

    op.drop_table('account_links')
    with op.batch_alter_table('account_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_events_producer_id'))
        batch_op.drop_index(batch_op.f('ix_account_events_created_at'))

    op.drop_table('account_events')
