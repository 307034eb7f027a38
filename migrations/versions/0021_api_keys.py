"""API keys, and what an API call's Idempotency-Key answered

`api_keys`: a user's named keys for the REST API. Only the SHA-256 of a key is kept (`key_hash`);
`prefix` is its first characters, shown so that the user can tell their keys apart. A revoked or
expired key authenticates nothing.

`compose_submissions` gains `request_hash`, the SHA-256 of the API call's body sent with an
Idempotency-Key (a different body under the same key is refused), and `answer`, what the first
call answered beyond its messages (the recipients left out, with their stored reasons).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 17:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'api_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_used_at', sa.DateTime(), nullable=True),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key_hash', name='uq_api_keys_key_hash'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_api_keys_user_id', 'api_keys', ['user_id'])
    # plain ADD COLUMN: nullable, no copy of the table
    op.add_column('compose_submissions', sa.Column('request_hash', sa.String(length=64), nullable=True))
    op.add_column('compose_submissions', sa.Column('answer', sa.JSON(), nullable=True))


def downgrade():
    op.drop_column('compose_submissions', 'answer')
    op.drop_column('compose_submissions', 'request_hash')
    op.drop_index('ix_api_keys_user_id', table_name='api_keys')
    op.drop_table('api_keys')
