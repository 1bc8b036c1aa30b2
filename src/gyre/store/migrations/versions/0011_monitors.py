"""Drift monitors, their results per window and feature, and the actions they took.

A window's result is keyed (monitor, start, end): a window computed again (a retried job, a
second agent, a backfill over computed windows) finds it there. An action is keyed (monitor,
start, end, kind), so a retrain or a webhook is taken once per drifted window; the retrains in
a period are counted from this table for the cool-down and the limit.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitors",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("endpoint", sa.String(200), nullable=True),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("baseline", sa.String(300), nullable=True),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("window_s", sa.Float, nullable=False),
        sa.Column("schedule", sa.String(100), nullable=True),
        sa.Column("scheduled_until", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "monitor_windows",
        sa.Column("monitor", sa.String(200), primary_key=True),
        sa.Column("starts_at", sa.Float, primary_key=True),
        sa.Column("ends_at", sa.Float, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("drifted", sa.Boolean, nullable=True),
        sa.Column("share", sa.Float, nullable=True),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("baseline", sa.String(300), nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("report", sa.Text, nullable=True),
        sa.Column("quality", sa.Text, nullable=True),
        sa.Column("computed_at", sa.Float, nullable=False),
    )
    op.create_table(
        "monitor_features",
        sa.Column("monitor", sa.String(200), primary_key=True),
        sa.Column("starts_at", sa.Float, primary_key=True),
        sa.Column("ends_at", sa.Float, primary_key=True),
        sa.Column("feature", sa.String(300), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("drifted", sa.Boolean, nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("statistics", sa.Text, nullable=False),
    )
    op.create_table(
        "monitor_actions",
        sa.Column("monitor", sa.String(200), primary_key=True),
        sa.Column("starts_at", sa.Float, primary_key=True),
        sa.Column("ends_at", sa.Float, primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_monitor_actions_at", "monitor_actions", ["monitor", "kind", "at"])


def downgrade() -> None:
    op.drop_index("ix_monitor_actions_at", table_name="monitor_actions")
    op.drop_table("monitor_actions")
    op.drop_table("monitor_features")
    op.drop_table("monitor_windows")
    op.drop_table("monitors")
