"""the event outbox: one row per status change, incoming SMS and opt-out

Written in the same transaction as the change it tells of; outbound webhooks and the API read it.
Its ids are never reused (AUTOINCREMENT on SQLite), so an event's public id stays its own.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:45:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('data', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_events_user_id_id', 'events', ['user_id', 'id'])


def downgrade():
    op.drop_index('ix_events_user_id_id', table_name='events')
    op.drop_table('events')
