"""Damage marks: what 'gyre fsck --repair' found missing or corrupt and could not repair.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "damage",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(300), primary_key=True),
        sa.Column("what", sa.String(300), nullable=False),
        sa.Column("problem", sa.String(16), nullable=False),
        sa.Column("found_at", sa.Float, nullable=False),
    )
    op.create_index("ix_damage_subject", "damage", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_damage_subject", table_name="damage")
    op.drop_table("damage")
