"""conversations: one row per user and remote number, with its last message and unread count

The conversations list reads these rows (newest activity first, by the id of the last message)
instead of grouping a million messages; the unread badge adds up the few rows with unread SMS,
which a partial index holds. The status store keeps them in step, in the transaction that writes
a message. Filled here from the messages already stored: their incoming SMS count as read.

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-02 14:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'conversations',
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('remote_number', sa.String(32), primary_key=True),
        sa.Column('last_message_id', sa.Integer(), nullable=False),
        sa.Column('unread_count', sa.Integer(), nullable=False, server_default='0'),
    )
    op.create_index('ix_conversations_user_last', 'conversations',
                    ['user_id', 'last_message_id', 'remote_number', 'unread_count'])
    op.create_index('ix_conversations_unread', 'conversations', ['user_id', 'unread_count'],
                    sqlite_where=sa.text('unread_count > 0'), postgresql_where=sa.text('unread_count > 0'))
    op.execute("INSERT INTO conversations (user_id, remote_number, last_message_id, unread_count) "
               "SELECT user_id, remote_number, max(id), 0 FROM messages GROUP BY user_id, remote_number")


def downgrade():
    op.drop_index('ix_conversations_unread', 'conversations')
    op.drop_index('ix_conversations_user_last', 'conversations')
    op.drop_table('conversations')
