"""contacts and groups

contacts: a user's people, one per number, with free extra fields and folded columns for an
accent- and case-insensitive search and sort. contact_groups: named groups, or smart groups
defined by conditions on the fields; contact_group_members: who is in a (non-smart) group.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 14:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'contacts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('number', sa.String(length=32), nullable=False),
        sa.Column('fields', sa.JSON(), nullable=False),
        sa.Column('notes', sa.Text(), nullable=False),
        sa.Column('search_text', sa.Text(), nullable=False),
        sa.Column('sort_name', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'number', name='uq_contacts_user_number'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_contacts_user_sort_name', 'contacts', ['user_id', 'sort_name', 'id'])
    op.create_index('ix_contacts_user_id', 'contacts', ['user_id', 'id'])
    op.create_table(
        'contact_groups',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('conditions', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'name', name='uq_contact_groups_user_name'),
        sqlite_autoincrement=True,
    )
    op.create_table(
        'contact_group_members',
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['group_id'], ['contact_groups.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('group_id', 'contact_id'),
    )
    op.create_index('ix_contact_group_members_contact', 'contact_group_members', ['contact_id'])


def downgrade():
    op.drop_index('ix_contact_group_members_contact', table_name='contact_group_members')
    op.drop_table('contact_group_members')
    op.drop_table('contact_groups')
    op.drop_index('ix_contacts_user_id', table_name='contacts')
    op.drop_index('ix_contacts_user_sort_name', table_name='contacts')
    op.drop_table('contacts')
