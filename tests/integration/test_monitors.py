"""Drift monitors: windows computed once, bad input refused before anything is stored, actions
(signed webhooks against a real HTTP server, retrains with a cool-down) taken once, schedules
enqueued once by several agents, and an agent SIGKILLed mid-window."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from conftest import copy_resource, run_gyre
from gyre.agent import serve
from gyre.data import append_only, versions
from gyre.errors import InvalidParameter, NotFound
from gyre.monitoring import actions, monitors
from gyre.monitoring.webhooks import verify
from gyre.pipelines.submission import publish
from gyre.store import Store
from gyre.store import jobs as job_rows
from gyre.store import monitors as monitor_rows
from support.agents import AgentProcess
from support.waiting import wait_for
from support.webhook_receiver import WebhookReceiver

HOUR = 3600.0
T0 = 1_790_000_000.0 // HOUR * HOUR  # an hour boundary in 2026


def training_table(rows: int = 2000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "sepal length (cm)": rng.normal(5.8, 0.8, rows),
            "colour": rng.choice(["red", "green", "blue"], rows, p=[0.5, 0.3, 0.2]),
        }
    )


def add_training(workspace: Store, project: Path) -> str:
    import pyarrow.parquet as pq

    path = project / "train.parquet"
    pq.write_table(training_table(), path)
    return versions.add(workspace, "train", str(path)).version.ref


def collect(
    workspace: Store,
    start: float,
    rows: int,
    *,
    shift: float = 0.0,
    seed: int = 1,
    dataset: str = "shop-inference",
    length: float = HOUR,
) -> None:
    """Rows as the scoring server's collector writes them, spread over [start, start+length)."""
    rng = np.random.default_rng(seed)
    table = pa.table(
        {
            "request_id": [uuid.uuid4().hex for _ in range(rows)],
            "row": np.zeros(rows, dtype=np.int64),
            "model": ["clf"] * rows,
            "version": np.ones(rows, dtype=np.int64),
            "timestamp": np.sort(rng.uniform(start, start + length, rows)),
            "latency_ms": rng.uniform(1, 3, rows),
            "in_sepal length (cm)": rng.normal(5.8 + shift, 0.8, rows),
            "in_colour": rng.choice(["red", "green", "blue"], rows, p=[0.5, 0.3, 0.2]),
            "outputs": rng.choice(["a", "b"], rows),
        }
    )
    append_only.append(workspace, dataset, table, starts_at=start, ends_at=start + length)


def make_monitor(workspace: Store, baseline: str, name: str = "shop-drift", **more: Any) -> None:
    monitors.create(
        workspace, name, dataset="shop-inference", baseline=baseline, window="1h", **more
    )


def test_a_drifted_window_is_flagged_and_each_window_is_computed_once(
    workspace: Store, project: Path
) -> None:
    baseline = add_training(workspace, project)
    make_monitor(workspace, baseline, schedule="0 * * * *")
    collect(workspace, T0, 800)
    collect(workspace, T0 + HOUR, 800, shift=1.0, seed=2)
    first = monitors.backfill(workspace, "shop-drift", T0, T0 + 2 * HOUR)
    assert [(w.window.status, w.window.drifted) for w in first] == [
        ("done", False),
        ("done", True),
    ]
    drifted = first[1].window
    assert drifted.rows == 800 and drifted.baseline == "train@1"
    assert drifted.report is not None
    assert drifted.report["drifted_features"] == ["sepal length (cm)"]
    assert drifted.report["correction"]["method"] == "bonferroni"
    assert "1 of 2 features drifted" in (drifted.message or "")
    again = monitors.backfill(workspace, "shop-drift", T0, T0 + 2 * HOUR)
    assert [w.computed_now for w in again] == [False, False]
    history = monitors.feature_history(workspace, "shop-drift", 0)
    assert len(history) == 4  # two windows x two features, stored once
    with workspace.read() as tx:  # a backfill reports the past: it queued no action
        assert job_rows.list_jobs(tx, kind="drift.detected") == []

    shown = run_gyre("monitor", "show", "shop-drift")
    assert "DRIFT" in shown.stdout and "sepal length (cm)" in shown.stdout
    assert "Drift over time" in shown.stdout
    listed = json.loads(run_gyre("monitor", "list", "--json").stdout)
    assert listed[0]["latest"]["drifted"] is True


def test_bad_input_is_refused_before_anything_is_stored(workspace: Store, project: Path) -> None:
    baseline = add_training(workspace, project)
    with pytest.raises(InvalidParameter, match="not a cron expression.*'0 \\* \\* \\* \\*'"):
        make_monitor(workspace, baseline, schedule="every hour")
    with pytest.raises(InvalidParameter, match="baseline has no feature 'petal'.*sepal length"):
        make_monitor(workspace, baseline, features=["petal"])
    with pytest.raises(InvalidParameter, match="window 'soon' is not a duration.*1h"):
        monitors.create(workspace, "m", dataset="shop-inference", baseline=baseline, window="soon")
    with pytest.raises(InvalidParameter, match="--endpoint NAME .* or --dataset NAME"):
        monitors.create(workspace, "m", baseline=baseline)
    with pytest.raises(NotFound, match="endpoint"):
        monitors.create(workspace, "m", endpoint="nope")
    with pytest.raises(InvalidParameter, match="not an http\\(s\\) URL"):
        make_monitor(workspace, baseline, actions=[{"kind": "webhook", "url": "ftp://x"}])
    with pytest.raises(NotFound, match="pipeline"):
        make_monitor(workspace, baseline, actions=[{"kind": "retrain", "pipeline": "nothing"}])
    with pytest.raises(InvalidParameter, match="Unknown drift statistic 'pvalue'"):
        make_monitor(workspace, baseline, thresholds={"pvalue": 0.1})
    assert monitors.list_monitors(workspace) == []
    cli = run_gyre("monitor", "create", "m", "--dataset", "x", "--schedule", "61 * * * *", ok=False)
    assert cli.returncode != 0 and "not a cron expression" in cli.stderr
    assert "Traceback" not in cli.stderr


def test_waiting_empty_and_one_row_windows_say_what_they_are(
    workspace: Store, project: Path
) -> None:
    baseline = add_training(workspace, project)
    make_monitor(workspace, baseline)
    waiting = monitors.run_window(workspace, "shop-drift", T0, T0 + HOUR).window
    assert waiting.status == "waiting" and "has collected nothing yet" in (waiting.message or "")
    collect(workspace, T0 + HOUR, 1)
    one = monitors.run_window(workspace, "shop-drift", T0 + HOUR, T0 + 2 * HOUR).window
    assert one.status == "done" and one.rows == 1 and one.drifted is False
    empty = monitors.run_window(workspace, "shop-drift", T0 + 5 * HOUR, T0 + 6 * HOUR).window
    assert empty.status == "empty" and "no rows" in (empty.message or "")


def test_a_feature_whose_type_changed_is_reported_as_drifted(
    workspace: Store, project: Path
) -> None:
    baseline = add_training(workspace, project)
    make_monitor(workspace, baseline)
    table = pa.table(
        {
            "request_id": ["r1", "r2", "r3"],
            "timestamp": [T0 + 1, T0 + 2, T0 + 3],
            "in_sepal length (cm)": ["5.1", "about six", "7"],
            "in_colour": ["red", "red", "blue"],
            "outputs": ["a", "a", "b"],
        }
    )
    append_only.append(workspace, "shop-inference", table, starts_at=T0, ends_at=T0 + HOUR)
    window = monitors.run_window(workspace, "shop-drift", T0, T0 + HOUR).window
    assert window.report is not None
    feature = next(f for f in window.report["features"] if f["name"] == "sepal length (cm)")
    assert feature["drifted"]
    assert (
        "type changed: double (numeric) in the baseline, string (categorical) now"
        in (feature["problem"])
    )


def drifted_window(workspace: Store, start: float) -> monitor_rows.WindowRow:
    collect(workspace, start, 300, shift=2.0, seed=int(start) % 1000)
    window = monitors.run_window(workspace, "shop-drift", start, start + HOUR).window
    assert window.drifted
    return window


def test_a_webhook_is_signed_retried_and_a_failing_one_is_recorded_without_blocking(
    workspace: Store, project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"hook-key": "s3cret"}))
    secrets.chmod(0o600)
    monkeypatch.setenv("GYRE_SECRETS_FILE", str(secrets))
    monkeypatch.setattr("gyre.monitoring.webhooks.time.sleep", lambda s: None)
    baseline = add_training(workspace, project)
    with WebhookReceiver() as receiver:
        receiver.answer(500, 500, 200)
        make_monitor(
            workspace,
            baseline,
            actions=[{"kind": "webhook", "url": receiver.url, "secret": "hook-key"}],
        )
        window = drifted_window(workspace, T0)
        said = actions.take(workspace, _event(window))
        assert "webhook: taken" in said
        assert len(receiver.requests) == 3
        ids = {r.header("X-Gyre-Delivery") for r in receiver.requests}
        assert len(ids) == 1  # one delivery, retried
        last = receiver.requests[-1]
        assert verify(last.body, last.header("X-Gyre-Signature-256") or "", "s3cret")
        body = json.loads(last.body)
        assert body["event"] == "drift.detected" and body["drifted_features"]
        # replaying the event does not deliver again
        assert "taken before" in actions.take(workspace, _event(window))
        assert len(receiver.requests) == 3

        receiver.answer(500)  # from now on, always
        later = drifted_window(workspace, T0 + HOUR)
        assert "webhook: failed" in actions.take(workspace, _event(later))
        with workspace.read() as tx:
            failed = monitor_rows.find_action(
                tx, "shop-drift", later.starts_at, later.ends_at, "webhook"
            )
        assert failed is not None and failed.status == "failed"
        assert "HTTP 500" in failed.detail["error"] and failed.detail["attempts"] == 4
        # the next window is computed all the same
        assert drifted_window(workspace, T0 + 2 * HOUR).status == "done"


def _event(window: monitor_rows.WindowRow) -> dict[str, Any]:
    return {"monitor": window.monitor, "starts_at": window.starts_at, "ends_at": window.ends_at}


def test_a_drifting_stream_retrains_once_within_the_cool_down(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    publish(workspace, "chain.py:chain", name="chain")
    baseline = add_training(workspace, project)
    make_monitor(
        workspace,
        baseline,
        actions=[
            {"kind": "log"},
            {"kind": "retrain", "pipeline": "chain", "cooldown": "6h", "max_retrains": 2},
        ],
    )
    outcomes = [
        actions.take(workspace, _event(drifted_window(workspace, T0 + i * HOUR))) for i in range(3)
    ]
    assert "retrain: taken" in outcomes[0]
    assert all("retrain: skipped (cool-down" in o for o in outcomes[1:])
    assert "taken before" in actions.take(
        workspace, _event(monitors.windows(workspace, "shop-drift")[0])
    )
    with workspace.read() as tx:
        runs = job_rows.list_jobs(tx, kind="pipeline.run")
        drift_events = job_rows.list_jobs(tx, kind="drift.detected")
    assert len(runs) == 1
    assert runs[0].payload["tags"]["trigger"] == "drift"
    assert len(drift_events) == 3  # one event per drifted window, each queued once


def test_two_agents_enqueue_and_compute_each_scheduled_window_once(
    workspace: Store, project: Path
) -> None:
    baseline = add_training(workspace, project)
    now = time.time() // 60 * 60
    monitors.create(
        workspace,
        "minutely",
        dataset="shop-inference",
        baseline=baseline,
        window="1m",
        schedule="* * * * *",
        grace=0,
    )
    with workspace.write() as tx:  # as if it had been created ten minutes ago
        tx.execute(
            "UPDATE monitors SET scheduled_until = ? WHERE name = ?", [now - 600, "minutely"]
        )
    collect(workspace, now - 600, 600, length=600)
    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda: counts.append(monitors.schedule_due(workspace, now)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with workspace.read() as tx:
        queued = job_rows.list_jobs(tx, kind="monitor.window")
    assert len(queued) == 10 and sum(counts) == 10
    serve(workspace, once=True, say=lambda s: None)
    serve(workspace, once=True, say=lambda s: None)
    found = monitors.windows(workspace, "minutely")
    assert len(found) == 10 and {w.status for w in found} == {"done"}
    assert monitors.schedule_due(workspace, now) == 0  # nothing new until the next tick


def test_an_agent_killed_mid_window_leaves_it_computed_once_with_one_retrain(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    publish(workspace, "chain.py:chain", name="chain")
    baseline = add_training(workspace, project)
    make_monitor(
        workspace, baseline, actions=[{"kind": "retrain", "pipeline": "chain", "cooldown": "1h"}]
    )
    collect(workspace, T0, 200_000, shift=2.0)  # big enough that the window takes a moment
    with workspace.write() as tx:
        job_rows.enqueue(
            tx,
            "monitor.window",
            {"monitor": "shop-drift", "starts_at": T0, "ends_at": T0 + HOUR},
            idempotency_key=f"monitor:shop-drift:{T0!r}:{T0 + HOUR!r}",
        )
    first = AgentProcess(project, "--no-endpoints")
    try:
        wait_for(lambda: "monitor.window monitor shop-drift" in first.output(), 60, "the claim")
    finally:
        first.stop(signal.SIGKILL)
    with workspace.write() as tx:  # its lease would run out in a minute: make it now
        tx.execute("UPDATE jobs SET lease_expires = ? WHERE status = 'leased'", [time.time() - 1])
    second = AgentProcess(project, "--no-endpoints")
    try:
        wait_for(
            lambda: _action_status(workspace) == "taken",
            120,
            "the retrain after the restart",
        )
    finally:
        second.stop(signal.SIGINT)
    windows = monitors.windows(workspace, "shop-drift")
    assert len(windows) == 1 and windows[0].drifted
    with workspace.read() as tx:
        assert len(job_rows.list_jobs(tx, kind="drift.detected")) == 1
        assert len(job_rows.list_jobs(tx, kind="pipeline.run")) == 1


def _action_status(workspace: Store) -> str | None:
    with workspace.read() as tx:
        found = monitor_rows.find_action(tx, "shop-drift", T0, T0 + HOUR, "retrain")
    return found.status if found else None


def test_labels_that_arrive_later_give_each_window_its_quality_and_a_poor_one_acts(
    workspace: Store, project: Path
) -> None:
    import pyarrow.csv as pa_csv

    baseline = add_training(workspace, project)
    make_monitor(workspace, baseline, quality={"accuracy": 0.9})
    collect(workspace, T0, 200)
    collected = append_only.window(workspace, "shop-inference")
    answered = collected.column("outputs").to_pylist()
    truth = [a if i < 100 else ("b" if a == "a" else "a") for i, a in enumerate(answered)]
    pa_csv.write_csv(
        pa.table({"request": collected.column("request_id"), "label": truth}),
        project / "labels.csv",
    )
    refused = run_gyre("data", "label", "shop-inference", "--from", "labels.csv", ok=False)
    assert "no 'request_id' column" in refused.stderr and "--key" in refused.stderr
    added = json.loads(
        run_gyre(
            "data", "label", "shop-inference", "--from", "labels.csv", "--key", "request", "--json"
        ).stdout
    )
    assert added == {"version": "shop-inference-labels@1", "labels": 200, "matched": 200}
    window = monitors.run_window(workspace, "shop-drift", T0, T0 + HOUR).window
    assert window.quality is not None
    assert window.quality["labelled"] == 200 and window.quality["accuracy"] == 0.5
    assert 0 < window.quality["f1_macro"] <= 0.5
    assert window.drifted and "quality: accuracy 0.5 < 0.9" in (window.message or "")
    with workspace.read() as tx:
        assert len(job_rows.list_jobs(tx, kind="drift.detected")) == 1
    # corrections arrive: a new version in which the newest label of a request wins
    pa_csv.write_csv(
        pa.table({"request_id": collected.column("request_id")[100:], "label": answered[100:]}),
        project / "fixed.csv",
    )
    run_gyre("data", "label", "shop-inference", "--from", "fixed.csv")
    latest = versions.to_arrow(workspace, versions.get(workspace, "shop-inference-labels"))
    assert latest.num_rows == 200
    assert monitors.run_window(workspace, "shop-drift", T0, T0 + 2 * HOUR).window.quality == {
        "labelled": 200,
        "accuracy": 1.0,
        "f1_macro": 1.0,
    }
    with pytest.raises(InvalidParameter, match="Unknown quality metric 'precision'"):
        make_monitor(workspace, baseline, name="other", quality={"precision": 0.5})
