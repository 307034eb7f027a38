"""phones: the first callback that came (when, what kind, from whom), for the phone's page

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 09:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('phones') as batch:
        batch.add_column(sa.Column('first_callback_at', sa.DateTime()))
        batch.add_column(sa.Column('first_callback_kind', sa.String(8)))
        batch.add_column(sa.Column('first_callback_from', sa.String(32)))


def downgrade():
    # plain DROP COLUMN: a batch rebuild drops the table, which cascades to every message
    op.drop_column('phones', 'first_callback_from')
    op.drop_column('phones', 'first_callback_kind')
    op.drop_column('phones', 'first_callback_at')
