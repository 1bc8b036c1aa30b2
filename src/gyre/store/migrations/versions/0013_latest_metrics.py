"""Each run's latest value of each metric, kept beside the points.

Filtering runs by a metric ("metrics.acc > 0.9") read the points themselves: every point of
the key, then a latest-step lookup per matching point (4 s with 100,000 runs and 10 million
points on PostgreSQL). This table holds one row per run and key, the value at the highest
step, written in the same transaction as the points; an index on (key, value) answers a
condition directly. The rows are filled from the points already stored.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "latest_metrics",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("timestamp", sa.Float, nullable=False),
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])
    op.create_index("ix_runs_created", "runs", ["created_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "INSERT INTO latest_metrics (run_id, key, step, value, timestamp) "
            "SELECT DISTINCT ON (run_id, key) run_id, key, step, value, timestamp FROM metrics "
            "ORDER BY run_id, key, step DESC, timestamp DESC"
        )
    else:
        op.execute(
            "INSERT OR REPLACE INTO latest_metrics (run_id, key, step, value, timestamp) "
            "SELECT run_id, key, step, value, timestamp FROM metrics ORDER BY step, timestamp"
        )


def downgrade() -> None:
    op.drop_index("ix_runs_created", table_name="runs")
    op.drop_index("ix_latest_metrics_key_value", table_name="latest_metrics")
    op.drop_table("latest_metrics")
