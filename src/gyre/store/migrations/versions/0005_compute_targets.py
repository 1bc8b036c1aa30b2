"""Compute targets (Ray clusters) that steps and runs can be sent to.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compute_targets",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("options", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("compute_targets")
