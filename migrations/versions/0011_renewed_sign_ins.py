"""renewed sign-ins name their successor

user_sessions.replaced_by: the sign-in that took over when a remember cookie was renewed. Requests
sent at once with the same remember cookie (tabs restored after a browser restart) find the row
renewed by the first of them, and sign in as its successor for a short while instead of signing
the browser out.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 05:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_sessions') as batch_op:
        batch_op.add_column(sa.Column('replaced_by', sa.Integer(), nullable=True))


def downgrade():
    # SQLite rebuilds the table to drop a column: it keeps ids that are never reused
    with op.batch_alter_table('user_sessions', table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column('replaced_by')
