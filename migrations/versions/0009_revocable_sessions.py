"""revocable sessions, ids never reused, and the installation flag

- user_sessions: one row per sign-in; the session and remember cookies name its token.
- installation: one row written with the first user; /setup opens only while it is missing.
- users, phones, messages: AUTOINCREMENT on SQLite, whose plain integer keys hand the highest
  deleted id to the next row (a deleted user's cookie then named the next new user). PostgreSQL
  sequences never go back, so nothing changes there.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 04:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

TABLES_WITH_PUBLIC_IDS = ("users", "phones", "messages")


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with sqlite_foreign_keys_off(bind):
            for table in TABLES_WITH_PUBLIC_IDS:
                rebuild_with_autoincrement(bind, table)
    op.create_table(
        'user_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(), nullable=False),
        sa.Column('device', sa.String(length=255), nullable=False),
        sa.Column('remote_address', sa.String(length=64), nullable=True),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_user_sessions_user_id', 'user_sessions', ['user_id'])
    op.create_table(
        'installation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('first_user_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    # an installation that has users has been set up
    op.execute("INSERT INTO installation (id, first_user_at) "
               "SELECT 1, MIN(created_at) FROM users HAVING COUNT(*) > 0")


class sqlite_foreign_keys_off:
    """Rebuilding a table drops the old one, and with foreign keys on, dropping `users` deletes
    every phone and message through ON DELETE CASCADE. The pragma only takes effect outside a
    transaction, so the rebuild is a transaction of its own, committed before the rest."""

    def __init__(self, bind):
        self.dbapi_connection = bind.connection.dbapi_connection
        self.bind = bind

    def __enter__(self):
        self.dbapi_connection.commit()
        self.bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
        self.bind.exec_driver_sql("BEGIN")

    def __exit__(self, error_type, *_):
        if error_type is not None:
            self.dbapi_connection.rollback()
        else:
            broken = self.bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            assert not broken, f"the rebuild broke foreign keys: {broken}"
            self.dbapi_connection.commit()
        self.bind.exec_driver_sql("PRAGMA foreign_keys=ON")


def rebuild_with_autoincrement(bind, table):
    definition, = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).one()
    if "AUTOINCREMENT" in definition.upper():
        return  # rebuilt by an earlier run that stopped before recording its revision
    triggers = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)).scalars().all()
    with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
        pass
    for trigger in triggers:  # dropping the old table dropped them (the text index's, migration 0007)
        bind.exec_driver_sql(trigger)


def downgrade():
    op.drop_table('installation')
    op.drop_index('ix_user_sessions_user_id', table_name='user_sessions')
    op.drop_table('user_sessions')
    # AUTOINCREMENT stays: ids that are never reused harm nothing
