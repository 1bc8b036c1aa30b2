"""Endpoints: a stable name and port that serves versions of one model with a traffic split.

The row holds the desired state (traffic, shadow, ``generation`` counting each change) and
what the serving process reports back (its pid, the generation it applied, when it was
ready); a supervisor leases the row so that one agent at a time keeps the process alive.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("target", sa.String(32), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("traffic", sa.Text, nullable=False),
        sa.Column("shadow", sa.Integer, nullable=True),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("supervisor", sa.String(200), nullable=True),
        sa.Column("lease_expires", sa.Float, nullable=True),
        sa.Column("machine", sa.String(200), nullable=True),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("applied_generation", sa.Integer, nullable=True),
        sa.Column("ready_at", sa.Float, nullable=True),
        sa.Column("restarts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.UniqueConstraint("host", "port", name="uq_endpoints_host_port"),
    )


def downgrade() -> None:
    op.drop_table("endpoints")
