"""phone pools: ordered lists of a user's phones with a strategy (first available, spread), the
pool a message was sent to (messages.pool_id), and each phone's health (its last sends and error)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03 12:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'phone_pools',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(24), nullable=False),
        sa.Column('name', sa.String(100), nullable=False),
        sa.Column('strategy', sa.String(16), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('public_id'),
        sa.UniqueConstraint('user_id', 'name', name='uq_phone_pools_user_name'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_phone_pools_user_id', 'phone_pools', ['user_id'])
    op.create_table(
        'phone_pool_members',
        sa.Column('pool_id', sa.Integer(), nullable=False),
        sa.Column('phone_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('weight', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['pool_id'], ['phone_pools.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['phone_id'], ['phones.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('pool_id', 'phone_id'),
    )
    op.create_index('ix_phone_pool_members_phone', 'phone_pool_members', ['phone_id'])
    # plain ADD COLUMN, not a batch: on SQLite a batch copies the table, and the copy would lose
    # AUTOINCREMENT (message ids must never be handed out again)
    if op.get_bind().dialect.name == 'sqlite':  # which adds a column with its reference, Alembic cannot say it
        op.execute('ALTER TABLE messages ADD COLUMN pool_id INTEGER REFERENCES phone_pools (id) ON DELETE SET NULL')
    else:
        op.add_column('messages', sa.Column('pool_id', sa.Integer(),
                                            sa.ForeignKey('phone_pools.id', ondelete='SET NULL')))
    op.add_column('phones', sa.Column('recent_sends', sa.JSON()))
    op.add_column('phones', sa.Column('last_error', sa.Text()))
    op.add_column('phones', sa.Column('last_error_at', sa.DateTime()))


def downgrade():
    # plain DROP COLUMN: a batch rebuild drops the table, which cascades to every message
    op.drop_column('phones', 'last_error_at')
    op.drop_column('phones', 'last_error')
    op.drop_column('phones', 'recent_sends')
    with op.batch_alter_table('messages') as batch:  # SQLite drops no column that holds a reference
        batch.drop_column('pool_id')
    op.drop_index('ix_phone_pool_members_phone', table_name='phone_pool_members')
    op.drop_table('phone_pool_members')
    op.drop_index('ix_phone_pools_user_id', table_name='phone_pools')
    op.drop_table('phone_pools')
