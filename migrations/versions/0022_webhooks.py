"""outbound webhooks: endpoints, their deliveries and attempts, and the dispatch cursor

The cursor starts past every event already in the outbox: no endpoint existed to want them.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 17:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade():
    op.create_table(
        'webhook_endpoints',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(8), nullable=False),
        sa.Column('url', sa.Text()),
        sa.Column('email', sa.String(254)),
        sa.Column('forward_number', sa.String(32)),
        sa.Column('phone_id', sa.Integer(), sa.ForeignKey('phones.id', ondelete='SET NULL')),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('encrypted_secret', sa.Text()),
        sa.Column('encrypted_previous_secret', sa.Text()),
        sa.Column('previous_secret_until', sa.DateTime()),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('disabled_at', sa.DateTime()),
        sa.Column('disabled_reason', sa.Text()),
        sa.Column('failing_since', sa.DateTime()),
        sa.Column('first_event_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sqlite_autoincrement=True)
    op.create_index('ix_webhook_endpoints_user_id', 'webhook_endpoints', ['user_id'])
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('endpoint_id', sa.Integer(), sa.ForeignKey('webhook_endpoints.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('webhook_id', sa.String(40), nullable=False),
        sa.Column('event_type', sa.String(40), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('attempt_count', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
        sa.Column('first_attempt_at', sa.DateTime()),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime()),
        sqlite_autoincrement=True)
    op.create_index('ix_webhook_deliveries_pending', 'webhook_deliveries', ['endpoint_id', 'id'],
                    sqlite_where=PENDING, postgresql_where=PENDING)
    op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries', ['next_attempt_at'],
                    sqlite_where=PENDING, postgresql_where=PENDING)
    op.create_table(
        'webhook_attempts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('delivery_id', sa.Integer(), sa.ForeignKey('webhook_deliveries.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('endpoint_id', sa.Integer(), sa.ForeignKey('webhook_endpoints.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('attempted_at', sa.DateTime(), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('http_status', sa.Integer()),
        sa.Column('duration_ms', sa.Integer()),
        sa.Column('answer', sa.Text()),
        sa.Column('error', sa.Text()),
        sa.Column('delivered', sa.Boolean(), nullable=False),
        sqlite_autoincrement=True)
    op.create_index('ix_webhook_attempts_delivery_id', 'webhook_attempts', ['delivery_id'])
    op.create_index('ix_webhook_attempts_endpoint_id', 'webhook_attempts', ['endpoint_id', 'id'])
    op.create_table(
        'webhook_dispatch',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('last_event_id', sa.Integer(), nullable=False),
        sa.Column('gap_event_id', sa.Integer()),
        sa.Column('gap_seen_at', sa.DateTime()))
    op.execute("INSERT INTO webhook_dispatch (id, last_event_id) SELECT 1, COALESCE(MAX(id), 0) FROM events")


def downgrade():
    op.drop_table('webhook_dispatch')
    op.drop_table('webhook_attempts')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_endpoints')
