"""contact imports

contact_imports: a CSV of contacts being imported, the upload kept until it is imported, how its
columns are read and the worker's progress; contact_import_rejections: each row not stored, with
its line, value and reason.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 17:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'contact_imports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=True),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('encoding', sa.String(length=20), nullable=False),
        sa.Column('delimiter', sa.String(length=1), nullable=False),
        sa.Column('has_header', sa.Boolean(), nullable=False),
        sa.Column('mapping', sa.JSON(), nullable=True),
        sa.Column('on_existing', sa.String(length=8), nullable=False),
        sa.Column('group_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('job_id', sa.String(length=64), nullable=True),
        sa.Column('total_rows', sa.Integer(), nullable=True),
        sa.Column('rows_done', sa.Integer(), nullable=False),
        sa.Column('added', sa.Integer(), nullable=False),
        sa.Column('updated', sa.Integer(), nullable=False),
        sa.Column('skipped', sa.Integer(), nullable=False),
        sa.Column('rejected', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['group_id'], ['contact_groups.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_contact_imports_user_id', 'contact_imports', ['user_id', 'id'])
    op.create_table(
        'contact_import_rejections',
        sa.Column('import_id', sa.Integer(), nullable=False),
        sa.Column('line', sa.Integer(), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['import_id'], ['contact_imports.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('import_id', 'line'),
    )


def downgrade():
    op.drop_table('contact_import_rejections')
    op.drop_index('ix_contact_imports_user_id', table_name='contact_imports')
    op.drop_table('contact_imports')
