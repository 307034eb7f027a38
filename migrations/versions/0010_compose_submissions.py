"""compose submissions: a compose form's one-time token and the messages it sent

The same form posted twice (a double click, a resubmitted page, a retried API call with the same
Idempotency-Key) sends once: the unique (user, token) decides which submission wins.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 04:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'compose_submissions',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('message_ids', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'token'),
    )


def downgrade():
    op.drop_table('compose_submissions')
