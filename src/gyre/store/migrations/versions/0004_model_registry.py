"""Model registry: models, versions, tags, aliases with history, and which runs registered what.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("name", sa.String(200), sa.ForeignKey("models.name"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("flavor", sa.String(32), nullable=False),
        sa.Column("signature", sa.Text, nullable=True),
        sa.Column("metrics", sa.Text, nullable=True),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("pipeline_run_id", sa.String(32), nullable=True),
        sa.Column("pipeline", sa.String(200), nullable=True),
        sa.Column("git_commit", sa.String(64), nullable=True),
        sa.Column("datasets", sa.Text, nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.UniqueConstraint("name", "digest", name="uq_model_versions_digest"),
    )
    op.create_table(
        "model_tags",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "model_aliases",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("alias", sa.String(100), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=True),
    )
    op.create_table(
        "model_alias_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("previous", sa.Integer, nullable=True),
        sa.Column("changed_by", sa.String(200), nullable=True),
        sa.Column("changed_at", sa.Float, nullable=False),
    )
    op.create_index("ix_model_alias_history_name", "model_alias_history", ["name", "changed_at"])
    op.create_table(
        "run_models",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
    )


def downgrade() -> None:
    for name in (
        "run_models",
        "model_alias_history",
        "model_aliases",
        "model_tags",
        "model_versions",
        "models",
    ):
        op.drop_table(name)
