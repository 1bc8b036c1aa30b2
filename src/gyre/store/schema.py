"""Table definitions of the metadata database (SQLAlchemy Core).

Alembic migrations under ``migrations/versions`` create exactly these tables; a test compares
the migrated database with this metadata so that the two never drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),  # pipeline | step | run
    Column("parent_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=True),
    Column("experiment", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # queued running finished failed cancelled
    Column("outcome", String(16), nullable=True),  # steps: ran reused failed skipped
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("ended_at", Float, nullable=True),
    Column("heartbeat_at", Float, nullable=True),
    Column("host", String(200), nullable=True),
    Column("pid", Integer, nullable=True),
    Column("python", String(32), nullable=True),
    Column("git_commit", String(64), nullable=True),
    Column("git_dirty", Boolean, nullable=True),
    Column("source", Text, nullable=True),  # FILE:PIPELINE or published NAME@VERSION
    Column("environment", Text, nullable=True),  # JSON: key package versions
    Column("cache_key", String(64), nullable=True),
    Column("key_parts", Text, nullable=True),  # JSON: the parts the cache key was made of
    Column("reused_from", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("log_digest", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_runs_parent", "parent_id"),
    Index("ix_runs_cache_key", "cache_key"),
    Index("ix_runs_experiment_created", "experiment", "created_at"),
    Index("ix_runs_created", "created_at"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),  # canonical JSON
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

metrics = Table(
    "metrics",
    metadata,
    # No foreign key: checked per row, it tripled the cost of bulk metric writes on PostgreSQL.
    Column("run_id", String(32), nullable=False),
    Column("key", String(250), nullable=False),
    Column("step", Integer, nullable=False),
    Column("value", Float, nullable=True),  # NULL stands for NaN (SQLite cannot store NaN)
    Column("timestamp", Float, nullable=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    # One row per run and key: the point at the highest step, written with the points.
    Column("run_id", String(32), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("step", Integer, nullable=False),
    Column("value", Float, nullable=True),
    Column("timestamp", Float, nullable=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(250), primary_key=True),
    Column("role", String(16), nullable=False),  # output | input | logged
    Column("digest", String(64), nullable=False),
    Column("materializer", String(32), nullable=False),
    Column("size", Integer, nullable=True),
    Column("meta", Text, nullable=True),  # JSON
    Column("created_at", Float, nullable=False),
    Index("ix_artifacts_digest", "digest"),
)

pipelines = Table(
    "pipelines",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("entrypoint", String(500), nullable=False),  # relative/module.py:function
    Column("snapshot_digest", String(64), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(200), nullable=True),
    Column("git_commit", String(64), nullable=True),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(100), nullable=False),
    Column("payload", Text, nullable=False),  # JSON
    Column("status", String(16), nullable=False),  # queued leased done failed cancelled
    Column("idempotency_key", String(200), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False, default=3),
    Column("run_after", Float, nullable=False),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_expires", Float, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("result", Text, nullable=True),  # JSON
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("idempotency_key", name="uq_jobs_idempotency_key"),
    Index("ix_jobs_claim", "status", "run_after"),
)

datastores = Table(
    "datastores",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", String(200), nullable=True),  # the name of a secret, never its value
    Column("options", Text, nullable=True),  # JSON: non-secret fsspec options
    Column("reference", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("kind", String(16), nullable=False),  # files | table | append
    Column("description", Text, nullable=True),
    Column("created_at", Float, nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("dataset", String(200), ForeignKey("datasets.name"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("digest", String(64), nullable=False),  # manifest or Parquet blob
    Column("layout", String(32), nullable=False),  # files | labeled-images | table | partitions
    Column("source", Text, nullable=True),
    Column("source_digest", String(64), nullable=True),  # to spot an unchanged re-add
    Column("datastore", String(200), nullable=True),
    Column("reference", Boolean, nullable=False),
    Column("size", Integer, nullable=False),
    Column("files", Integer, nullable=False),
    Column("rows", Integer, nullable=True),
    Column("schema", Text, nullable=True),  # JSON
    Column("profile_digest", String(64), nullable=True),
    Column("description", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(200), nullable=True),
    Column("run_id", String(32), nullable=True),  # the run that wrote it, if any
    UniqueConstraint("dataset", "digest", name="uq_dataset_versions_digest"),
)

dataset_aliases = Table(
    "dataset_aliases",
    metadata,
    Column("dataset", String(200), ForeignKey("datasets.name"), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

dataset_partitions = Table(
    "dataset_partitions",
    metadata,
    Column("dataset", String(200), ForeignKey("datasets.name"), primary_key=True),
    Column("partition_key", String(64), primary_key=True),  # e.g. 2026-11-26T18
    Column("digest", String(64), nullable=False),  # Parquet blob
    Column("rows", Integer, nullable=False),
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    Column("sealed_at", Float, nullable=False),
)

run_datasets = Table(
    "run_datasets",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("dataset", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("direction", String(8), primary_key=True),  # read | write
    Column("created_at", Float, nullable=False),
    Index("ix_run_datasets_dataset", "dataset", "version"),
)

models = Table(
    "models",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("description", Text, nullable=True),
    Column("created_at", Float, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(200), ForeignKey("models.name"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("digest", String(64), nullable=False),  # manifest of the model folder
    Column("flavor", String(32), nullable=False),
    Column("signature", Text, nullable=True),  # JSON
    Column("metrics", Text, nullable=True),  # JSON
    Column("run_id", String(32), nullable=True),
    Column("pipeline_run_id", String(32), nullable=True),
    Column("pipeline", String(200), nullable=True),
    Column("git_commit", String(64), nullable=True),
    Column("datasets", Text, nullable=True),  # JSON list of NAME@N
    Column("description", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(200), nullable=True),
    UniqueConstraint("name", "digest", name="uq_model_versions_digest"),
)

model_tags = Table(
    "model_tags",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("updated_by", String(200), nullable=True),
)

model_alias_history = Table(
    "model_alias_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("alias", String(100), nullable=False),
    Column("version", Integer, nullable=True),  # NULL: the alias was removed
    Column("previous", Integer, nullable=True),
    Column("changed_by", String(200), nullable=True),
    Column("changed_at", Float, nullable=False),
    Index("ix_model_alias_history_name", "name", "changed_at"),
)

run_models = Table(
    "run_models",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
)

compute_targets = Table(
    "compute_targets",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("type", String(32), nullable=False),  # ray
    Column("address", Text, nullable=False),
    Column("options", Text, nullable=True),  # JSON
    Column("created_at", Float, nullable=False),
)

damage = Table(
    "damage",
    metadata,
    # What the last 'gyre fsck --repair' could not repair: a blob missing or corrupt, and the
    # run, dataset version, model version or pipeline that holds it.
    Column("digest", String(64), primary_key=True),
    Column("subject", String(300), primary_key=True),  # run ID, dataset NAME@N, model NAME@N
    Column("what", String(300), nullable=False),  # artifact fit/output, manifest, log, ...
    Column("problem", String(16), nullable=False),  # missing | corrupt
    Column("found_at", Float, nullable=False),
    Index("ix_damage_subject", "subject"),
)

audit = Table(
    "audit",
    metadata,
    # Append-only: the migration adds triggers that refuse UPDATE and DELETE on both backends.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(200), nullable=False),  # who: a user name, or agent HOST:PID
    Column("action", String(100), nullable=False),  # model.alias, run.delete, fsck.repair, ...
    Column("subject", String(300), nullable=False),  # model seer@3, run 3840fb5c..., ...
    Column("detail", Text, nullable=True),  # JSON
    Index("ix_audit_subject", "subject", "at"),
    Index("ix_audit_action", "action", "at"),
)

endpoints = Table(
    "endpoints",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("model", String(200), nullable=False),  # the registered model whose versions it serves
    Column("target", String(32), nullable=False),  # local (ray, kubernetes: later)
    Column("host", String(200), nullable=False),  # the address it listens on
    Column("port", Integer, nullable=False),  # stable for the endpoint's life
    Column("traffic", Text, nullable=False),  # JSON: {"7": 90, "8": 10}, weights summing to 100
    Column("shadow", Integer, nullable=True),  # a version that gets a copy of every request
    Column("options", Text, nullable=False),  # JSON: serving options (max batch, collect, ...)
    Column("state", String(16), nullable=False),  # active | deleting
    Column("generation", Integer, nullable=False),  # +1 on every change of the desired state
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # What the supervisor and the serving process report:
    Column("supervisor", String(200), nullable=True),  # the agent keeping it alive (HOST:PID)
    Column("lease_expires", Float, nullable=True),
    Column("machine", String(200), nullable=True),  # where the serving process runs
    Column("pid", Integer, nullable=True),
    Column("applied_generation", Integer, nullable=True),  # what the process serves now
    Column("ready_at", Float, nullable=True),
    Column("restarts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("host", "port", name="uq_endpoints_host_port"),
)

release_definitions = Table(
    "release_definitions",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),  # 1, 2, ... one per changed apply
    Column("spec", Text, nullable=False),  # JSON: the validated definition
    Column("source", Text, nullable=False),  # the YAML as applied
    Column("folder", Text, nullable=False),  # where it was applied from (pytest checks run there)
    Column("digest", String(64), nullable=False),  # sha256 of source and folder
    Column("created_at", Float, nullable=False),
    Column("created_by", String(200), nullable=False),
)

releases = Table(
    "releases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("definition", String(200), nullable=False),
    Column("definition_version", Integer, nullable=False),
    Column("model", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),  # the model version's: approvals bind to it
    # running | waiting | succeeded | failed | rolled_back | rejected | cancelled
    Column("status", String(24), nullable=False),
    Column("stage", Integer, nullable=False),  # index into the definition's stages
    Column("phase", String(24), nullable=False),  # deploy | checks | approval | rollout | ...
    Column("step", Integer, nullable=False),  # the canary step within the rollout
    Column("seq", Integer, nullable=False),  # the next transition's number (its job key)
    Column("state", Text, nullable=False),  # JSON: per-stage results, approvals, baselines
    Column("error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("definition", "model", "version", name="uq_releases_model_version"),
    Index("ix_releases_status", "status", "updated_at"),
)

monitors = Table(
    "monitors",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("endpoint", String(200), nullable=True),  # the endpoint watched, if any
    Column("dataset", String(200), nullable=False),  # the append-only dataset windows come from
    Column("baseline", String(300), nullable=True),  # NAME@VERSION; None: from the lineage
    Column("spec", Text, nullable=False),  # JSON: features, thresholds, correction, actions, ...
    Column("window_s", Float, nullable=False),
    Column("schedule", String(100), nullable=True),  # cron; None: run by hand only
    Column("scheduled_until", Float, nullable=False),  # windows ending by then are enqueued
    Column("created_at", Float, nullable=False),
    Column("created_by", String(200), nullable=False),
)

monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("monitor", String(200), primary_key=True),
    Column("starts_at", Float, primary_key=True),
    Column("ends_at", Float, primary_key=True),
    Column("status", String(16), nullable=False),  # done | empty | waiting | failed
    Column("drifted", Boolean, nullable=True),
    Column("share", Float, nullable=True),
    Column("rows", Integer, nullable=False),
    Column("baseline", String(300), nullable=True),  # the version compared with
    Column("message", Text, nullable=True),
    Column("report", Text, nullable=True),  # JSON: the whole drift report
    Column("quality", Text, nullable=True),  # JSON: accuracy, F1, MAE where labels arrived
    Column("computed_at", Float, nullable=False),
)

monitor_features = Table(
    "monitor_features",
    metadata,
    Column("monitor", String(200), primary_key=True),
    Column("starts_at", Float, primary_key=True),
    Column("ends_at", Float, primary_key=True),
    Column("feature", String(300), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("drifted", Boolean, nullable=False),
    Column("score", Float, nullable=True),  # the charted statistic (KS or Jensen-Shannon)
    Column("statistics", Text, nullable=False),  # JSON
)

monitor_actions = Table(
    "monitor_actions",
    metadata,
    Column("monitor", String(200), primary_key=True),
    Column("starts_at", Float, primary_key=True),
    Column("ends_at", Float, primary_key=True),
    Column("kind", String(16), primary_key=True),  # log | webhook | retrain
    Column("status", String(16), nullable=False),  # taken | skipped | failed | pending
    Column("detail", Text, nullable=False),  # JSON
    Column("at", Float, nullable=False),
    Index("ix_monitor_actions_at", "monitor", "kind", "at"),
)

users = Table(
    "users",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("kind", String(16), nullable=False),  # person | service
    Column("role", String(16), nullable=False),  # reader | contributor | approver | admin
    Column("created_at", Float, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("disabled_at", Float, nullable=True),  # a disabled user's tokens authenticate nobody
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(32), primary_key=True),  # public: t_3f2a9c1e, shown in the audit log
    Column("user_name", String(200), nullable=False),
    Column("digest", String(64), nullable=False),  # sha256 of the secret; the secret is not kept
    Column("description", String(300), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    Column("last_used_at", Float, nullable=True),
    Index("ix_tokens_user", "user_name"),
)

grants = Table(
    "grants",
    metadata,
    Column("user_name", String(200), primary_key=True),
    Column("resource", String(300), primary_key=True),  # model seer, release seer
    Column("role", String(16), nullable=False),
    Column("granted_at", Float, nullable=False),
    Column("granted_by", String(200), nullable=False),
)
