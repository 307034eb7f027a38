"""an index for searching message text

SQLite: an FTS5 table of trigrams over messages.body, kept in step by triggers. Beware: a later
migration that rebuilds the messages table (batch_alter_table on SQLite) drops these triggers, and
must create them again.
PostgreSQL: a trigram GIN index (pg_trgm), which ILIKE '%…%' uses.

Where neither is available (SQLite built without FTS5, no right to create the extension), nothing is
created and text search scans, as before.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 12:40:00

"""
import logging

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

SQLITE_UPGRADE = [
    "CREATE VIRTUAL TABLE messages_text USING fts5(body, content='messages', content_rowid='id', "
    "tokenize='trigram')",
    "CREATE TRIGGER messages_text_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_text(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER messages_text_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_text(messages_text, rowid, body) VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER messages_text_update AFTER UPDATE OF body ON messages BEGIN "
    "INSERT INTO messages_text(messages_text, rowid, body) VALUES ('delete', old.id, old.body); "
    "INSERT INTO messages_text(rowid, body) VALUES (new.id, new.body); END",
    "INSERT INTO messages_text(messages_text) VALUES ('rebuild')",
]


def sqlite_has_trigram_fts(bind) -> bool:
    try:
        bind.exec_driver_sql("CREATE VIRTUAL TABLE temp.fts_probe USING fts5(body, tokenize='trigram')")
    except sa.exc.OperationalError:
        return False
    bind.exec_driver_sql("DROP TABLE temp.fts_probe")
    return True


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        if not sqlite_has_trigram_fts(bind):
            log.warning("This SQLite has no FTS5 trigram tokenizer: text search will scan messages.")
            return
        for statement in SQLITE_UPGRADE:
            op.execute(statement)
    elif bind.dialect.name == "postgresql":
        try:
            with bind.begin_nested():
                op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except sa.exc.DBAPIError as error:
            log.warning("pg_trgm could not be installed (%s): text search will scan messages.", error.orig)
            return
        op.execute("CREATE INDEX ix_messages_body_trigrams ON messages USING gin (body gin_trgm_ops)")
        # The planner guesses how many messages hold a text from a sample of bodies. With the
        # default 100 it guessed 200 for a text found in 42,881, and chose the index over a walk
        # down the newest messages: 1 s instead of 30 ms.
        op.execute("ALTER TABLE messages ALTER COLUMN body SET STATISTICS 1000")


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS messages_text_{trigger}")
        op.execute("DROP TABLE IF EXISTS messages_text")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_messages_body_trigrams")
        op.execute("ALTER TABLE messages ALTER COLUMN body SET STATISTICS -1")
