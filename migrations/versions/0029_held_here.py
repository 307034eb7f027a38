"""messages held by SMS Desk for a later date: when one was held for the user because its time had
long passed, and an index of those held, by their time, for the sweep that queues the due ones

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-03 12:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None

HELD_HERE = "status = 'scheduled' AND attempt_count = 0"


def upgrade():
    op.add_column('messages', sa.Column('held_late_at', sa.DateTime()))
    op.create_index('ix_messages_held_here', 'messages', ['scheduled_at', 'id'], unique=False,
                    sqlite_where=sa.text(HELD_HERE), postgresql_where=sa.text(HELD_HERE))


def downgrade():
    op.drop_index('ix_messages_held_here', table_name='messages')
    # plain DROP COLUMN: a batch rebuild drops the table, which cascades to every event of its messages
    op.drop_column('messages', 'held_late_at')
