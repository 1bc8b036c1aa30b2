"""Steps on a real local Ray cluster: a head node and a second worker node on this machine.

The cluster is the session's ``ray_cluster`` (tests/conftest.py, tests/support/ray_cluster.py).
A last test adds a node on 127.0.0.2, a second "host": embedded workspaces are then refused,
and PostgreSQL plus an S3 API server (moto, a stand-in for S3) serve instead; it removes that
node again when it ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import gyre
from conftest import S3_KEYS, copy_resource
from gyre.errors import ComputeUnavailable, InvalidPipeline, MissingExtra, WorkspaceError
from gyre.pipelines.executors.ray import connection as ray_connection
from gyre.pipelines.executors.ray import warm_driver as ray_warm_driver
from gyre.pipelines.loader import load_pipeline
from gyre.store import Store
from gyre.store import compute as targets
from gyre.store import runs as run_rows
from support.ports import free_port
from support.ray_cluster import LocalRayCluster, stop_warm_drivers, warm_drivers


@pytest.fixture
def ray_workspace(workspace: Store, project: Path, ray_cluster: LocalRayCluster) -> Iterator[Store]:
    copy_resource("good/ray_pipelines.py", project)
    copy_resource("good/helper.py", project)
    with workspace.write() as tx:
        targets.add(tx, "cluster", "ray", ray_cluster.address, {})
    yield workspace
    # Each test's project has its own warm driver: gone before the next test counts drivers.
    stop_warm_drivers(ray_cluster.address)


def _run(store: Store, name: str, params: dict | None = None, **kw) -> gyre.PipelineRun:
    return gyre.run(
        load_pipeline(f"ray_pipelines.py:{name}"), params or {}, workspace=store, quiet=True, **kw
    )


def _digests(store: Store, run: gyre.PipelineRun) -> dict[str, str]:
    return {name: step.outputs["output"].digest for name, step in run.steps.items()}


@pytest.mark.parametrize("warm_driver", ["1", "0"], ids=["warm-driver", "run-drives-ray"])
def test_a_pipeline_on_ray_gives_the_same_digests_as_locally_and_is_reused(
    ray_workspace: Store,
    ray_cluster: LocalRayCluster,
    warm_driver: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GYRE_RAY_WARM_DRIVER", warm_driver)
    ray_connection.disconnect()
    local = _run(ray_workspace, "chain", {"n": 4})
    with ray_workspace.write() as tx:  # forget the local run so the Ray run really runs
        run_rows.delete_runs(tx, [local.id])
    remote = _run(ray_workspace, "chain", {"n": 4}, compute="cluster")
    assert remote.status == "finished", remote.error
    assert [s.outcome for s in remote.steps.values()] == ["ran", "ran", "ran"]
    connection = ray_connection.current()
    if warm_driver == "1":  # this process never drove Ray: the warm driver did
        assert connection is None
        assert len(warm_drivers(ray_cluster.address)) == 1
    else:
        assert connection is not None and connection.same_host  # project, logs read in place
        assert connection.working_dir is None
    assert _digests(ray_workspace, remote) == _digests(ray_workspace, local)
    with ray_workspace.read() as tx:
        from gyre.store import metrics as metric_rows

        assert len(metric_rows.history(tx, remote.steps["total"].run_id, "value")) == 4
        log = ray_workspace.blobs.read_bytes(
            run_rows.get(tx, remote.steps["produce"].run_id).log_digest or ""
        )
    assert b"produce on" in log
    again = _run(ray_workspace, "chain", {"n": 4}, compute="cluster")
    assert {s.outcome for s in again.steps.values()} == {"reused"}


def _idle_ray_workers(cluster: LocalRayCluster) -> set[int]:
    """This cluster's worker processes not leased to any job (process title ray::IDLE)."""
    sessions = {p.pid for p in cluster.processes}
    idle = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            pid = int(cmdline.parent.name)
            if cmdline.read_bytes().startswith(b"ray::IDLE") and os.getsid(pid) in sessions:
                idle.add(pid)
        except OSError:
            continue
    return idle


def _step_pid(store: Store, run: gyre.PipelineRun, step: str) -> int:
    with store.read() as tx:
        log = store.blobs.read_bytes(run_rows.get(tx, run.steps[step].run_id).log_digest or "")
    return int(log.decode().split(" pid ")[1].split()[0])


def test_a_run_leaves_warm_workers_that_the_next_run_starts_on_at_once(
    ray_workspace: Store, ray_cluster: LocalRayCluster
) -> None:
    ray_connection.disconnect()  # no idle workers of this process's own job (other tests')
    first = _run(ray_workspace, "chain", {"n": 7}, compute="cluster")
    assert first.status == "finished", first.error
    address = ray_cluster.address
    assert ray_warm_driver.stop_all(address) == 1  # ends its Ray job, as after a minute idle
    used = _step_pid(ray_workspace, first, "produce")
    deadline = time.monotonic() + 30
    while warm_drivers(address) and time.monotonic() < deadline:
        time.sleep(0.1)  # it asks for warm workers as it exits
    while Path(f"/proc/{used}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # the job's own workers end with it
    assert not Path(f"/proc/{used}").exists()
    warm = _idle_ray_workers(ray_cluster)
    while not warm and time.monotonic() < deadline:
        time.sleep(0.1)
        warm = _idle_ray_workers(ray_cluster)
    assert warm, "no idle Ray worker was left for the next run"
    second = _run(ray_workspace, "chain", {"n": 8}, compute="cluster")
    assert second.status == "finished", second.error
    assert _step_pid(ray_workspace, second, "produce") in warm


def _wheel(folder: Path) -> Path:
    """A one-module wheel built by hand (no network, no build backend): gyre_probe_pkg 1.0."""
    import base64
    import hashlib
    import zipfile

    files = {
        "gyre_probe_pkg/__init__.py": b"VALUE = 42\n",
        "gyre_probe_pkg-1.0.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: gyre-probe-pkg\nVersion: 1.0\n"
        ),
        "gyre_probe_pkg-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: gyre-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [
        f"{name},sha256="
        f"{base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
        f"{len(data)}"
        for name, data in files.items()
    ]
    record.append("gyre_probe_pkg-1.0.dist-info/RECORD,,")
    files["gyre_probe_pkg-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / "gyre_probe_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def test_a_steps_requirements_are_installed_on_the_workers_once_per_requirements(
    ray_workspace: Store, project: Path, tmp_path: Path
) -> None:
    with pytest.raises(ImportError):
        import gyre_probe_pkg  # noqa: F401 - not in the driver's environment
    (project / "step-requirements.txt").write_text(f"{_wheel(tmp_path)}\n")
    first = _run(ray_workspace, "needs_a_package", {"salt": 1}, compute="cluster")
    assert first.status == "finished", first.error
    second = _run(ray_workspace, "needs_a_package", {"salt": 2}, compute="cluster")
    assert second.status == "finished", second.error
    one, two = first.output("with_requirements"), second.output("with_requirements")
    assert one["value"] == two["value"] == 42
    assert one["prefix"] == two["prefix"] != sys.prefix  # one environment, built once


def test_a_killed_worker_is_retried_then_the_step_succeeds(
    ray_workspace: Store, project: Path
) -> None:
    run = _run(ray_workspace, "crashing", {"marker": str(project / "crashed")}, compute="cluster")
    assert run.status == "finished", run.error
    assert run.steps["crash_once"].attempts == 2


def test_a_worker_that_always_dies_fails_the_run_with_the_workers_error(
    ray_workspace: Store,
) -> None:
    run = _run(ray_workspace, "doomed", compute="cluster")
    assert run.status == "failed"
    assert "the Ray worker failed" in (run.steps["always_crash"].error or "")
    with ray_workspace.read() as tx:
        record = run_rows.get(tx, run.steps["always_crash"].run_id)
    assert (
        record.log_digest and b"died" in ray_workspace.blobs.read_bytes(record.log_digest).lower()
    )


def test_resource_requests_no_node_can_meet_fail_clearly(ray_workspace: Store) -> None:
    with pytest.raises(
        InvalidPipeline, match="asks for 64 CPU.*no node of compute target 'cluster'"
    ):
        _run(ray_workspace, "too_big", compute="cluster")


def test_an_unreachable_cluster_fails_fast_naming_the_address(
    workspace: Store, project: Path
) -> None:
    copy_resource("good/ray_pipelines.py", project)
    copy_resource("good/helper.py", project)
    port = free_port()
    with workspace.write() as tx:
        targets.add(tx, "gone", "ray", f"ray://127.0.0.1:{port}", {})
    started = time.monotonic()
    with pytest.raises(ComputeUnavailable, match=f"ray://127.0.0.1:{port} cannot be reached"):
        _run(workspace, "chain", compute="gone")
    assert time.monotonic() - started < 30


def test_without_ray_installed_a_ray_target_says_how_to_install_it(
    workspace: Store, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_resource("good/ray_pipelines.py", project)
    copy_resource("good/helper.py", project)
    address = f"127.0.0.1:{free_port()}"
    with workspace.write() as tx:
        targets.add(tx, "cluster", "ray", address, {})
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the package were not installed
    with pytest.raises(MissingExtra, match=r"Ray compute target .* pip install 'gyre\[ray\]'"):
        _run(workspace, "chain", compute="cluster")
    assert not warm_drivers(address)  # nothing was started for it


def _gated_run(project: Path) -> subprocess.Popen[str]:
    """A foreground `gyre run` whose one Ray step waits for a gate that never opens."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gyre.cli.main",
            "run",
            "ray_pipelines.py:gated",
            "--compute",
            "cluster",
            "--param",
            f"gate={project / 'never-opened'}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _gated_worker(store: Store) -> int:
    """The pid of the worker the gated step runs in, once the step has started."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for log in (store.settings.local_dir / "logs").glob("*/chatty.log"):
            text = log.read_text()
            if "first line from the worker pid" in text:
                return int(text.split("worker pid ")[1].split()[0])
        time.sleep(0.1)
    raise AssertionError("the step did not start")


def _ends(pid: int, within_s: float = 30) -> bool:
    deadline = time.monotonic() + within_s
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not Path(f"/proc/{pid}").exists()


def test_logs_reach_the_run_while_the_step_runs_and_cancel_stops_it(
    ray_workspace: Store, project: Path
) -> None:
    runner = _gated_run(project)
    try:
        _gated_worker(ray_workspace)  # its first line is in the live log while it waits
        with ray_workspace.read() as tx:
            (run_id,) = [r.id for r in run_rows.select_runs(tx) if r.kind == "pipeline"]
        done = subprocess.run(
            [sys.executable, "-m", "gyre.cli.main", "runs", "cancel", run_id],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    with ray_workspace.read() as tx:
        statuses = {r.kind: r.status for r in run_rows.select_runs(tx)}
    assert statuses == {"pipeline": "cancelled", "step": "cancelled"}


def _cli_run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", "run", *args, "--compute", "cluster", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return str(json.loads(done.stdout)["id"])


def test_runs_from_fresh_processes_share_a_warm_driver_until_a_source_changes(
    ray_workspace: Store, project: Path, ray_cluster: LocalRayCluster
) -> None:
    address = ray_cluster.address
    first = _cli_run("ray_pipelines.py:chain", "--param", "n=2")
    drivers = warm_drivers(address)
    assert len(drivers) == 1
    second = _cli_run("ray_pipelines.py:chain", "--param", "n=3")
    assert warm_drivers(address) == drivers  # the second run's process used the same one
    (project / "helper.py").write_text("def transform(x):\n    return x * 100\n")
    third = _cli_run("ray_pipelines.py:chain", "--param", "n=3")
    assert len(warm_drivers(address) - drivers) == 1  # new sources, a new driver and workers
    totals = {}
    for run_id in (first, second, third):
        with ray_workspace.read() as tx:
            report = run_rows.get(tx, run_id)
        totals[run_id] = report.status
    assert set(totals.values()) == {"finished"}
    third_run = gyre.run(  # reused: the third run's outputs, computed with the edited helper
        load_pipeline("ray_pipelines.py:chain"), {"n": 3}, workspace=ray_workspace, quiet=True
    )
    assert {s.outcome for s in third_run.steps.values()} == {"reused"}
    assert (third_run.output("report") / "total.txt").read_text() == "300"
    done = subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", "compute", "stop", "cluster"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "stopped 2 warm drivers of cluster" in done.stdout  # the old one had not ended yet
    deadline = time.monotonic() + 30
    while warm_drivers(address) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not warm_drivers(address)


def test_a_warm_driver_that_dies_fails_the_run_cleanly_and_the_next_starts_a_new_one(
    ray_workspace: Store, project: Path, ray_cluster: LocalRayCluster
) -> None:
    runner = _gated_run(project)
    try:
        _gated_worker(ray_workspace)
        (driver,) = warm_drivers(ray_cluster.address)
        os.kill(driver, signal.SIGKILL)
        output, _ = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 1, output
    with ray_workspace.read() as tx:
        steps = [r for r in run_rows.select_runs(tx) if r.kind == "step"]
    assert [r.status for r in steps] == ["failed"]
    log = ray_workspace.blobs.read_bytes(steps[0].log_digest or "").decode()
    assert "warm Ray driver" in log
    again = _cli_run("ray_pipelines.py:chain", "--param", "n=2")
    with ray_workspace.read() as tx:
        assert run_rows.get(tx, again).status == "finished"


def test_a_run_process_that_dies_has_its_steps_cancelled_by_the_warm_driver(
    ray_workspace: Store, project: Path
) -> None:
    runner = _gated_run(project)
    try:
        worker = _gated_worker(ray_workspace)
    finally:
        runner.kill()
        runner.communicate()
    assert _ends(worker), "the orphaned step still runs"


def test_ctrl_c_on_a_foreground_run_cancels_its_ray_tasks(
    ray_workspace: Store, project: Path
) -> None:
    runner = _gated_run(project)
    try:
        worker = _gated_worker(ray_workspace)
        runner.send_signal(signal.SIGINT)
        output, _ = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 1, output
    assert "cancelled" in output
    with ray_workspace.read() as tx:
        statuses = {r.kind: r.status for r in run_rows.select_runs(tx)}
    assert statuses == {"pipeline": "cancelled", "step": "cancelled"}
    assert _ends(worker), "the step still runs"


def test_isolated_steps_get_fresh_worker_processes(ray_workspace: Store) -> None:
    run = _run(ray_workspace, "isolated", compute="cluster")
    assert run.status == "finished", run.error
    assert run.output("a") != run.output("b")


@pytest.fixture
def second_host(ray_cluster: LocalRayCluster) -> Iterator[str]:
    """The session's cluster with a node on 127.0.0.2, a second "host"; removed afterwards."""
    node = ray_cluster.add_node("127.0.0.2", 3)
    yield ray_cluster.address
    ray_connection.disconnect()
    ray_cluster.remove_node(node, 2)  # the session's cluster as it was, for the tests after


def test_a_second_host_refuses_the_embedded_workspace_and_postgres_with_s3_serve_instead(
    second_host: str,
    workspace: Store,
    project: Path,
    pg_database: str,
    s3_server: str,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    address = second_host
    import ray

    ray.shutdown()
    copy_resource("good/ray_pipelines.py", project)
    copy_resource("good/helper.py", project)
    with workspace.write() as tx:
        targets.add(tx, "cluster", "ray", address, {})
    with pytest.raises(WorkspaceError, match="spans 2 hosts, but this workspace is embedded"):
        _run(workspace, "chain", compute="cluster")
    ray.shutdown()
    from conftest import _truncate
    from gyre import config
    from gyre.store import open_store

    monkeypatch.setenv("GYRE_URI", pg_database)
    monkeypatch.setenv("GYRE_ARTIFACTS", f"s3://{s3_bucket}/artifacts")
    monkeypatch.setenv(
        "GYRE_ARTIFACTS_OPTIONS",
        json.dumps({"client_kwargs": {"endpoint_url": s3_server}, **S3_KEYS}),
    )
    monkeypatch.setenv("GYRE_CACHE_DIR", str(project / "cache"))
    shared = open_store(config.resolve(), create=True)
    _truncate(shared)
    with shared.write() as tx:
        targets.add(tx, "cluster", "ray", address, {})
    run = gyre.run(
        load_pipeline("ray_pipelines.py:chain"),
        {"n": 5},
        workspace=shared,
        quiet=True,
        compute="cluster",
    )
    assert run.status == "finished", run.error
    assert (run.output("report") / "total.txt").read_text() == "100"
    connection = ray_connection.current()
    assert connection is not None and not connection.same_host  # the project was shipped
    assert connection.working_dir == str(project.resolve())
    with shared.read() as tx:  # the log came back through the Ray queue
        log = shared.blobs.read_bytes(
            run_rows.get(tx, run.steps["produce"].run_id).log_digest or ""
        )
    assert b"produce on" in log
    shared.close()
