"""Datastores, datasets, versions, aliases, append-only partitions and dataset lineage.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datastores",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.String(200), nullable=True),
        sa.Column("options", sa.Text, nullable=True),
        sa.Column("reference", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "datasets",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("dataset", sa.String(200), sa.ForeignKey("datasets.name"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("layout", sa.String(32), nullable=False),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("source_digest", sa.String(64), nullable=True),
        sa.Column("datastore", sa.String(200), nullable=True),
        sa.Column("reference", sa.Boolean, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("rows", sa.Integer, nullable=True),
        sa.Column("schema", sa.Text, nullable=True),
        sa.Column("profile_digest", sa.String(64), nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.UniqueConstraint("dataset", "digest", name="uq_dataset_versions_digest"),
    )
    op.create_table(
        "dataset_aliases",
        sa.Column("dataset", sa.String(200), sa.ForeignKey("datasets.name"), primary_key=True),
        sa.Column("alias", sa.String(100), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "dataset_partitions",
        sa.Column("dataset", sa.String(200), sa.ForeignKey("datasets.name"), primary_key=True),
        sa.Column("partition_key", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("starts_at", sa.Float, nullable=False),
        sa.Column("ends_at", sa.Float, nullable=False),
        sa.Column("sealed_at", sa.Float, nullable=False),
    )
    op.create_table(
        "run_datasets",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("dataset", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("direction", sa.String(8), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_run_datasets_dataset", "run_datasets", ["dataset", "version"])


def downgrade() -> None:
    for name in (
        "run_datasets",
        "dataset_partitions",
        "dataset_aliases",
        "dataset_versions",
        "datasets",
        "datastores",
    ):
        op.drop_table(name)
