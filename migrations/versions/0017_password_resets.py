"""password resets: a forced change at next sign-in, and the e-mailed link's token

`must_change_password` is set by the administrator's reset (a temporary password shown once);
the user chooses their own before any other page. `password_reset_hash` is the SHA-256 of the
one link the user last asked for by e-mail (the token itself is never stored), valid until
`password_reset_expires_at`; using it, or asking for a new one, ends it.

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-02 15:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    # plain ADD COLUMN, not a batch: on SQLite a batch copies the table, and the copy would lose
    # AUTOINCREMENT (user ids must never be handed out again)
    op.add_column('users', sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                     server_default=sa.false()))
    op.add_column('users', sa.Column('password_reset_hash', sa.String(64)))
    op.add_column('users', sa.Column('password_reset_expires_at', sa.DateTime()))


def downgrade():
    op.drop_column('users', 'password_reset_expires_at')
    op.drop_column('users', 'password_reset_hash')
    op.drop_column('users', 'must_change_password')
