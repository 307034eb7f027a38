"""campaigns: every compose action to more than one recipient, its drafts waiting for confirmation

campaigns: the text as written (placeholders and all), the phone, the author and when, and who was
left out. messages.campaign_id names a message's campaign, with two partial indexes (a campaign's
recipients in order, its counts per status). messages.attempts_before_resend: the attempt count
when a user last sent a message again. campaign_drafts: a compose action's resolved recipients
until it is confirmed.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 17:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'campaigns',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('phone_id', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('recipient_count', sa.Integer(), nullable=False),
        sa.Column('left_out', sa.JSON(), nullable=False),
        sa.Column('fallbacks', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['phone_id'], ['phones.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_campaigns_user_id', 'campaigns', ['user_id', 'id'])
    op.create_table(
        'campaign_drafts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_campaign_drafts_user_id', 'campaign_drafts', ['user_id'])
    # plain ADD COLUMN, not a batch: on SQLite a batch copies the table, and the copy would lose
    # AUTOINCREMENT (message ids must never be handed out again)
    if op.get_bind().dialect.name == 'sqlite':  # which adds a column with its reference, Alembic cannot say it
        op.execute('ALTER TABLE messages ADD COLUMN campaign_id INTEGER REFERENCES campaigns (id) ON DELETE SET NULL')
    else:
        op.add_column('messages', sa.Column('campaign_id', sa.Integer(),
                                            sa.ForeignKey('campaigns.id', ondelete='SET NULL')))
    op.add_column('messages', sa.Column('attempts_before_resend', sa.Integer(), nullable=False,
                                        server_default='0'))
    where = sa.text('campaign_id IS NOT NULL')
    op.create_index('ix_messages_campaign_id', 'messages', ['campaign_id', 'id'],
                    sqlite_where=where, postgresql_where=where)
    op.create_index('ix_messages_campaign_status', 'messages', ['campaign_id', 'status', 'id'],
                    sqlite_where=where, postgresql_where=where)


def downgrade():
    op.drop_index('ix_messages_campaign_status', table_name='messages')
    op.drop_index('ix_messages_campaign_id', table_name='messages')
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('attempts_before_resend')
        batch.drop_column('campaign_id')
    op.drop_index('ix_campaign_drafts_user_id', table_name='campaign_drafts')
    op.drop_table('campaign_drafts')
    op.drop_index('ix_campaigns_user_id', table_name='campaigns')
    op.drop_table('campaigns')
