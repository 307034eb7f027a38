"""phone limits: the most a phone sends per day and per month, and what it sent in each

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-03 13:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'phone_limits',
        sa.Column('phone_id', sa.Integer(), sa.ForeignKey('phones.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('per_day', sa.Integer()),
        sa.Column('per_month', sa.Integer()),
        sa.Column('counts', sa.String(8), nullable=False),
        sa.Column('day_start', sa.DateTime()),
        sa.Column('day_used', sa.Integer(), nullable=False),
        sa.Column('month_start', sa.DateTime()),
        sa.Column('month_used', sa.Integer(), nullable=False),
        sa.Column('paused_until', sa.DateTime()),
        sa.Column('paused_by', sa.String(8)),
        sa.Column('version', sa.Integer(), nullable=False),
    )
    op.create_index('ix_phone_limits_paused_until', 'phone_limits', ['paused_until'])


def downgrade():
    op.drop_index('ix_phone_limits_paused_until', 'phone_limits')
    op.drop_table('phone_limits')
