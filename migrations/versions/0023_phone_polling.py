"""phones: whether SMS Desk asks the provider (polling mode), when it last asked and what it found

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('phones') as batch:
        batch.add_column(sa.Column('polling_mode', sa.String(10), nullable=False, server_default='automatic'))
        batch.add_column(sa.Column('next_inbound_poll_at', sa.DateTime()))
        batch.add_column(sa.Column('polled_at', sa.DateTime()))
        batch.add_column(sa.Column('poll_found', sa.JSON()))
    op.create_index('ix_phones_next_inbound_poll_at', 'phones', ['next_inbound_poll_at'])


def downgrade():
    op.drop_index('ix_phones_next_inbound_poll_at', 'phones')
    # plain DROP COLUMN: a batch rebuild drops the table, which cascades to every message
    op.drop_column('phones', 'poll_found')
    op.drop_column('phones', 'polled_at')
    op.drop_column('phones', 'next_inbound_poll_at')
    op.drop_column('phones', 'polling_mode')
