"""Releases: applied release definitions (versioned) and the releases they start.

A release is a state machine persisted here: which stage, which phase, which canary step, and
``seq``, the number of its next transition. Each transition is a job keyed
``release:ID:SEQ``, so a transition is enqueued once and a repeated or stale one is a no-op.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release_definitions",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("definition", sa.String(200), nullable=False),
        sa.Column("definition_version", sa.Integer, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("stage", sa.Integer, nullable=False),
        sa.Column("phase", sa.String(24), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("definition", "model", "version", name="uq_releases_model_version"),
    )
    op.create_index("ix_releases_status", "releases", ["status", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_releases_status", table_name="releases")
    op.drop_table("releases")
    op.drop_table("release_definitions")
