"""One contract, two metadata backends: SQLite (embedded) and PostgreSQL (team)."""

from __future__ import annotations

import threading
import time

import pytest

from gyre.errors import Conflict, NotFound
from gyre.store import Store, jobs, published
from gyre.store import metrics as metric_rows
from gyre.store import runs as run_rows


def test_runs_params_tags_and_artifacts_round_trip(any_store: Store) -> None:
    with any_store.write() as conn:
        run_id = run_rows.create(conn, kind="run", name="train", experiment="seer")
        run_rows.set_params(conn, run_id, {"epochs": 20, "layers": [1, 2]})
        run_rows.set_tags(conn, run_id, {"build": "1.42"})
        run_rows.add_artifact(
            conn, run_id, "model", role="logged", digest="ab" * 32, materializer="file", size=3
        )
    with any_store.read() as conn:
        assert run_rows.get(conn, run_id[:6]).name == "train"
        assert run_rows.get_params(conn, run_id) == {"epochs": 20, "layers": [1, 2]}
        assert run_rows.get_tags(conn, run_id) == {"build": "1.42"}
        assert run_rows.get_artifacts(conn, run_id)[0].size == 3


def test_an_unknown_run_id_is_not_found(any_store: Store) -> None:
    with any_store.read() as conn, pytest.raises(NotFound, match="gyre runs list"):
        run_rows.get(conn, "doesnotexist")


def test_many_metric_points_are_written_and_read_back_in_order(any_store: Store) -> None:
    with any_store.write() as conn:
        run_id = run_rows.create(conn, kind="run", name="m", experiment="e")
        points = [(run_id, "loss", i, 1.0 / (i + 1), float(i)) for i in range(20_000)]
        metric_rows.insert_points(conn, points)
        metric_rows.insert_points(conn, [(run_id, "acc", 0, float("nan"), 0.0)])
    with any_store.read() as conn:
        history = metric_rows.history(conn, run_id, "loss")
        assert len(history) == 20_000 and history[0][1] == 1.0 and history[-1][0] == 19_999
        assert metric_rows.latest(conn, [run_id])[run_id]["loss"] == pytest.approx(1 / 20_000)
        assert metric_rows.keys(conn, run_id) == ["acc", "loss"]


def test_deleting_a_run_removes_its_steps_and_what_they_own(any_store: Store) -> None:
    with any_store.write() as conn:
        parent = run_rows.create(conn, kind="pipeline", name="p", experiment="e")
        child = run_rows.create(conn, kind="step", name="s", experiment="e", parent_id=parent)
        metric_rows.insert_points(conn, [(child, "x", 0, 1.0, 0.0)])
        assert run_rows.delete_runs(conn, [parent]) == 2
    with any_store.read() as conn, pytest.raises(NotFound):
        run_rows.get(conn, child)


def test_an_idempotent_enqueue_returns_the_first_job(any_store: Store) -> None:
    with any_store.write() as conn:
        first = jobs.enqueue(conn, "model.registered", {"v": 1}, idempotency_key="seer@1")
    with any_store.write() as conn:
        again = jobs.enqueue(conn, "model.registered", {"v": 1}, idempotency_key="seer@1")
        assert first == again
        assert len(jobs.list_jobs(conn)) == 1


def test_a_failed_job_is_retried_with_backoff_then_fails_for_good(any_store: Store) -> None:
    with any_store.write() as conn:
        job_id = jobs.enqueue(conn, "k", {}, max_attempts=2)
    with any_store.write() as conn:
        claimed = jobs.claim(conn, "w1")
        assert claimed is not None and claimed.attempts == 1
        after = jobs.fail(conn, job_id, "w1", "boom")
        assert after.status == "queued" and after.run_after > time.time() + 1
        assert jobs.claim(conn, "w1") is None, "a job in backoff is not claimed"
    with any_store.write() as conn:
        conn.execute("UPDATE jobs SET run_after = 0")
        assert jobs.claim(conn, "w2") is not None
        final = jobs.fail(conn, job_id, "w2", "boom again")
        assert final.status == "failed" and final.last_error == "boom again"


def test_an_expired_lease_lets_another_worker_claim_the_job(any_store: Store) -> None:
    with any_store.write() as conn:
        jobs.enqueue(conn, "k", {})
        assert jobs.claim(conn, "dead-worker", lease_s=0.01) is not None
    time.sleep(0.05)
    with any_store.write() as conn:
        job = jobs.claim(conn, "live-worker")
        assert job is not None and job.attempts == 2 and job.lease_owner == "live-worker"
        assert not jobs.heartbeat(conn, job.id, "dead-worker"), "the old owner lost its lease"


def test_concurrent_workers_never_claim_the_same_job(any_store: Store) -> None:
    with any_store.write() as conn:
        for i in range(20):
            jobs.enqueue(conn, "k", {"i": i})
    claimed: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while True:
            with any_store.write() as conn:
                job = jobs.claim(conn, name)
            if job is None:
                return
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 20


def test_publishing_the_same_snapshot_twice_keeps_one_version(any_store: Store) -> None:
    with any_store.write() as conn:
        v1 = published.publish(
            conn,
            "seer",
            entrypoint="p.py:seer",
            snapshot_digest="a" * 64,
            description=None,
            created_by="me",
        )
        same = published.publish(
            conn,
            "seer",
            entrypoint="p.py:seer",
            snapshot_digest="a" * 64,
            description=None,
            created_by="me",
        )
        v2 = published.publish(
            conn,
            "seer",
            entrypoint="p.py:seer",
            snapshot_digest="b" * 64,
            description=None,
            created_by="me",
        )
    assert (v1.version, same.version, v2.version) == (1, 1, 2)
    with any_store.read() as conn, pytest.raises(NotFound, match="Did you mean 'seer'"):
        published.get(conn, "sear")


def test_params_conflict_is_reported_on_both_backends(any_store: Store) -> None:
    with any_store.write() as conn:
        run_id = run_rows.create(conn, kind="run", name="r", experiment="e")
        run_rows.set_params(conn, run_id, {"a": 1})
        with pytest.raises(Conflict):
            run_rows.set_params(conn, run_id, {"a": 2})


def test_dataset_versions_aliases_partitions_and_lineage_on_both_backends(any_store: Store) -> None:
    from gyre.store import dataset_uses
    from gyre.store import datasets as rows
    from gyre.store import partitions as partition_rows

    with any_store.write() as tx:
        rows.ensure_dataset(tx, "products", "files")
        v1 = rows.add_version(
            tx,
            dataset="products",
            digest="a" * 64,
            layout="files",
            source="/x",
            source_digest=None,
            datastore=None,
            by_reference=False,
            size=10,
            files=2,
            rows=None,
            schema=None,
            profile_digest=None,
            description=None,
            created_by="me",
            run_id=None,
        )
        v2 = rows.add_version(
            tx,
            dataset="products",
            digest="b" * 64,
            layout="files",
            source="/x",
            source_digest=None,
            datastore=None,
            by_reference=False,
            size=12,
            files=3,
            rows=None,
            schema=None,
            profile_digest=None,
            description="balanced",
            created_by="me",
            run_id=None,
        )
        rows.set_alias(tx, "products", "balanced", 2)
        run_id = run_rows.create(tx, kind="run", name="r", experiment="e")
        dataset_uses.record_use(tx, run_id, "products", 1, "read")
        rows.ensure_dataset(tx, "inference", "append")
        partition_rows.add_partition(
            tx, "inference", "2026-11-26T18", digest="c" * 64, rows=5, starts_at=0.0, ends_at=10.0
        )
        partition_rows.add_partition(
            tx, "inference", "2026-11-26T19", digest="d" * 64, rows=7, starts_at=10.0, ends_at=20.0
        )
    assert (v1.version, v2.version) == (1, 2)
    with any_store.read() as tx:
        assert rows.get_version(tx, "products", "balanced").version == 2
        assert rows.get_version(tx, "products").description == "balanced"
        assert rows.find_by_digest(tx, "products", "a" * 64) is not None
        assert [u["run_id"] for u in dataset_uses.uses_of_version(tx, "products", 1)] == [run_id]
        assert [p.rows for p in partition_rows.partitions(tx, "inference", start=12.0)] == [7]
        assert rows.list_datasets(tx)[1]["latest"] == 2
    with any_store.write() as tx, pytest.raises(Conflict, match="used by run"):
        rows.delete_version(tx, "products", 1)
    with any_store.write() as tx, pytest.raises(Conflict, match="sealed and immutable"):
        partition_rows.add_partition(
            tx, "inference", "2026-11-26T18", digest="e" * 64, rows=1, starts_at=0.0, ends_at=1.0
        )


def test_endpoint_rows_generations_and_supervision_leases_on_both_backends(
    any_store: Store,
) -> None:
    from gyre.store import endpoints

    with any_store.write() as tx:
        row = endpoints.insert(
            tx,
            "web",
            model="m",
            target="local",
            host="127.0.0.1",
            port=40001,
            traffic={1: 100},
            options={"collect": True},
        )
        assert row.generation == 1 and row.traffic == {1: 100} and row.shadow is None
        with pytest.raises(Conflict, match="Port 40001 on 127.0.0.1 belongs to endpoint 'web'"):
            endpoints.insert(
                tx,
                "other",
                model="m",
                target="local",
                host="127.0.0.1",
                port=40001,
                traffic={1: 100},
                options={},
            )
    with any_store.write() as tx:
        changed = endpoints.set_traffic(tx, "web", {1: 90, 2: 10}, 3)
        assert changed.generation == 2 and changed.traffic == {1: 90, 2: 10}
        assert changed.versions == [1, 2, 3]
        assert endpoints.lease(tx, "web", "agent-a", 15.0)
        assert not endpoints.lease(tx, "web", "agent-b", 15.0)  # held by a
        assert endpoints.lease(tx, "web", "agent-a", 15.0)  # extended by its holder
        tx.execute("UPDATE endpoints SET lease_expires = 0 WHERE name = 'web'")
        assert endpoints.lease(tx, "web", "agent-b", 15.0)  # ran out: b takes it
        endpoints.record_start(tx, "web", "host", 4242, restart=True)
        endpoints.report_ready(tx, "web", "host", 4242, 2)
    with any_store.read() as tx:
        ready = endpoints.get(tx, "web")
        assert (ready.pid, ready.applied_generation, ready.restarts) == (4242, 2, 1)
        assert ready.supervisor == "agent-b"


def test_release_transitions_are_guarded_by_their_number_on_both_backends(
    any_store: Store,
) -> None:
    from gyre.store import releases

    with any_store.write() as tx:
        definition, new = releases.add_definition(
            tx, "r", {"name": "r"}, "name: r\n", "/p", "d" * 64, "alice"
        )
        assert new and definition.version == 1
        again, new = releases.add_definition(
            tx, "r", {"name": "r"}, "name: r\n", "/p", "d" * 64, "alice"
        )
        assert not new and again.version == 1
        first, created = releases.insert_release(tx, definition, "m", 3, "e" * 64)
        assert created and first.seq == 1 and first.status == "running"
        same, created = releases.insert_release(tx, definition, "m", 3, "e" * 64)
        assert not created and same.id == first.id  # one release per model version
        moved = releases.advance(
            tx,
            first.id,
            1,
            status="running",
            stage=0,
            phase="checks",
            step=0,
            state={"stages": {"test": {"url": "http://x"}}},
        )
        assert moved.seq == 2 and moved.state["stages"]["test"]["url"] == "http://x"
        with pytest.raises(Conflict, match="moved past transition 1"):
            releases.advance(
                tx, first.id, 1, status="failed", stage=0, phase="checks", step=0, state={}
            )
    with any_store.read() as tx:
        assert releases.get_release(tx, first.id).phase == "checks"
        assert [d.name for d in releases.latest_definitions(tx)] == ["r"]


def test_monitor_windows_and_actions_are_stored_once_on_both_backends(any_store: Store) -> None:
    from gyre.store import monitors

    with any_store.write() as tx:
        row = monitors.insert(
            tx,
            name="m",
            endpoint=None,
            dataset="d-inference",
            baseline="d@1",
            spec={"actions": []},
            window_s=3600.0,
            schedule="0 * * * *",
            created_by="alice",
        )
        seen = row.scheduled_until
        assert monitors.advance_schedule(tx, "m", seen, seen + 3600)
        assert not monitors.advance_schedule(tx, "m", seen, seen + 7200)  # moved by another
        window = monitors.WindowRow(
            "m", 0.0, 3600.0, "done", True, 0.5, 10, "d@1", "1 of 2", {"a": 1}, None, 1.0
        )
        feature = monitors.FeatureRow("m", 0.0, 3600.0, "x", "numeric", True, 0.3, {"k": 1})
        assert monitors.save_window(tx, window, [feature])
        assert not monitors.save_window(tx, window, [feature])  # computed once
        action = monitors.ActionRow("m", 0.0, 3600.0, "retrain", "pending", {}, 5.0)
        monitors.record_action(tx, action)
        monitors.record_action(
            tx, monitors.ActionRow("m", 0.0, 3600.0, "retrain", "taken", {"run_id": "r"}, 6.0)
        )
        monitors.lock(tx, "m")
    with any_store.read() as tx:
        stored = monitors.find_window(tx, "m", 0.0, 3600.0)
        assert stored is not None and stored.drifted is True and stored.report == {"a": 1}
        assert [f.feature for f in monitors.feature_history(tx, "m", 0.0)] == ["x"]
        taken = monitors.actions(tx, "m", kind="retrain")
        assert [(a.status, a.detail) for a in taken] == [("taken", {"run_id": "r"})]
    with any_store.write() as tx:
        monitors.delete(tx, "m")
        assert monitors.find(tx, "m") is None
