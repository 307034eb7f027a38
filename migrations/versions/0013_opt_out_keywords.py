"""opt-outs say how they came, and users keep their opt-out keywords

opt_outs.source (keyword, provider, manual, import), opt_outs.original_text (the SMS or the
provider's notice that made it) and opt_outs.recorded_at (when SMS Desk learnt of it: messages composed
before then are canceled at send time, whatever date the provider or an import gives); users.opt_out_settings (JSON: the STOP and START keywords, the
confirmation replies), None for the defaults.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-02 14:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('opt_outs') as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=16), nullable=False, server_default='provider'))
        batch_op.add_column(sa.Column('original_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('recorded_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_opt_outs_user_opted_out', ['user_id', 'opted_out_at', 'id'])
    op.execute("UPDATE opt_outs SET recorded_at = opted_out_at")
    with op.batch_alter_table('opt_outs') as batch_op:
        batch_op.alter_column('recorded_at', existing_type=sa.DateTime(), nullable=False)
    with op.batch_alter_table('users', table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column('opt_out_settings', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('users', table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column('opt_out_settings')
    with op.batch_alter_table('opt_outs') as batch_op:
        batch_op.drop_index('ix_opt_outs_user_opted_out')
        batch_op.drop_column('recorded_at')
        batch_op.drop_column('original_text')
        batch_op.drop_column('source')
