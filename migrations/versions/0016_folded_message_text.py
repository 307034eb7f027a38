"""messages.body_folded: the text without accents and case, which text search compares and indexes

"ASSEMBLEE" finds "assemblée": the typed text is folded the same way (webapp/folding.py) and
looked up in this column. Existing rows are filled here in batches of ids, so that a million
messages are never held at once.
SQLite: the FTS5 trigram table of 0007 is made again over body_folded (its triggers with it).
PostgreSQL: the trigram index moves from body to body_folded.

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-02 15:05:00

"""
import sqlalchemy as sa
from alembic import op

from webapp.folding import folded


revision = '0016'
down_revision = '0014'
branch_labels = None
depends_on = None

BATCH = 5000

SQLITE_TEXT_TABLE = [
    "DROP TRIGGER IF EXISTS messages_text_insert",
    "DROP TRIGGER IF EXISTS messages_text_delete",
    "DROP TRIGGER IF EXISTS messages_text_update",
    "DROP TABLE IF EXISTS messages_text",
    "CREATE VIRTUAL TABLE messages_text USING fts5(body_folded, content='messages', content_rowid='id', "
    "tokenize='trigram')",
    "CREATE TRIGGER messages_text_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_text(rowid, body_folded) VALUES (new.id, new.body_folded); END",
    "CREATE TRIGGER messages_text_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_text(messages_text, rowid, body_folded) VALUES ('delete', old.id, old.body_folded); END",
    "CREATE TRIGGER messages_text_update AFTER UPDATE OF body_folded ON messages BEGIN "
    "INSERT INTO messages_text(messages_text, rowid, body_folded) VALUES ('delete', old.id, old.body_folded); "
    "INSERT INTO messages_text(rowid, body_folded) VALUES (new.id, new.body_folded); END",
    "INSERT INTO messages_text(messages_text) VALUES ('rebuild')",
]


def fill_folded_text(bind):
    messages = sa.table("messages", sa.column("id", sa.Integer), sa.column("body", sa.Text),
                        sa.column("body_folded", sa.Text))
    last_id = 0
    while True:
        rows = bind.execute(sa.select(messages.c.id, messages.c.body).where(messages.c.id > last_id)
                            .order_by(messages.c.id).limit(BATCH)).all()
        if not rows:
            return
        bind.execute(messages.update().where(messages.c.id == sa.bindparam("row_id"))
                     .values(body_folded=sa.bindparam("folded_text")),
                     [{"row_id": row.id, "folded_text": folded(row.body)} for row in rows])
        last_id = rows[-1].id


def has_table(bind, name):
    return bind.exec_driver_sql(f"SELECT 1 FROM sqlite_master WHERE name = '{name}'").first() is not None


def has_trigram_index(bind):
    return bind.exec_driver_sql("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_messages_body_trigrams'").first()


def upgrade():
    bind = op.get_bind()
    op.add_column('messages', sa.Column('body_folded', sa.Text(), nullable=False, server_default=''))
    if bind.dialect.name == "sqlite" and has_table(bind, "messages_text"):
        # the old triggers would index every filled row a second time
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS messages_text_{trigger}")
    fill_folded_text(bind)
    if bind.dialect.name == "sqlite" and has_table(bind, "messages_text"):
        for statement in SQLITE_TEXT_TABLE:
            op.execute(statement)
    elif bind.dialect.name == "postgresql" and has_trigram_index(bind):
        op.execute("DROP INDEX ix_messages_body_trigrams")
        op.execute("ALTER TABLE messages ALTER COLUMN body SET STATISTICS -1")
        op.execute("CREATE INDEX ix_messages_body_folded_trigrams ON messages USING gin (body_folded gin_trgm_ops)")
        # see 0007: the planner's guess of how common a text is comes from this sample
        op.execute("ALTER TABLE messages ALTER COLUMN body_folded SET STATISTICS 1000")


def downgrade():
    bind = op.get_bind()
    text_table = bind.dialect.name == "sqlite" and has_table(bind, "messages_text")
    if text_table:
        for statement in SQLITE_TEXT_TABLE[:4]:
            op.execute(statement)
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_messages_body_folded_trigrams")
    op.execute("ALTER TABLE messages DROP COLUMN body_folded")  # SQLite >= 3.35: not a table rebuild
    if text_table:
        for statement in SQLITE_TEXT_TABLE[4:]:
            op.execute(statement.replace("body_folded", "body"))
    elif bind.dialect.name == "postgresql" and bind.exec_driver_sql(
            "SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").first():
        op.execute("CREATE INDEX ix_messages_body_trigrams ON messages USING gin (body gin_trgm_ops)")
        op.execute("ALTER TABLE messages ALTER COLUMN body SET STATISTICS 1000")
