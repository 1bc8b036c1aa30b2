"""Releases benchmark: a gyre release (test stage with checks, auto-approval, canary
10 -> 50 -> 100 %) of a scikit-learn model under 32 concurrent clients, against the same version
change done by Ray Serve (the application redeployed, rolled out replica by replica) under the
same load. See README.md beside this file.

    .venv/bin/python benchmarks/releases/run.py [--reps 3] [--only gyre|ray-serve]

Prints a table, then as its last line one JSON object:
``{"benchmark": "releases", "figures": {...}, "ratios": {...}}`` (ratios > 1: gyre ahead).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import venvs  # noqa: E402
from gyre_side import GyreWorkspace  # noqa: E402
from windows import Record  # noqa: E402

COLUMNS = [f"f{i}" for i in range(20)]
MARK = "GYRE_BENCH_RELEASES_RUN"  # in the environment of every process this run starts
SWAP_BEFORE_S, SWAP_AFTER_S = 1.0, 2.0
WARM_UP_S = 2.0
TAIL_S = 2.0


class Data:
    """The synthetic data and a distinct model per version (different C: distinct content,
    since gyre returns the existing version for content it already holds)."""

    def __init__(self, folder: Path) -> None:
        features, labels = make_classification(n_samples=10_000, n_features=20, random_state=0)
        self.frame = pd.DataFrame(features, columns=COLUMNS)
        self.labels = labels
        row = {c: round(float(v), 6) for c, v in self.frame.iloc[-1].items()}
        self.body = [row]
        self.body_file = folder / "body.json"
        self.body_file.write_text(json.dumps(self.body))
        self.folder = folder

    def model(self, version: int) -> LogisticRegression:
        return LogisticRegression(C=1.0 / version, max_iter=1000).fit(self.frame, self.labels)

    def model_file(self, version: int) -> Path:
        path = self.folder / f"model-{version}.joblib"
        if not path.exists():
            joblib.dump(self.model(version), path)
        return path


class Load:
    """``load.py`` in its own process, recording every request until stopped."""

    def __init__(self, url: str, data: Data, out: Path, clients: int, header: str) -> None:
        self.out = out
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "load.py"),
                url,
                str(data.body_file),
                str(out),
                "--clients",
                str(clients),
                "--version-header",
                header,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        self.process.stdout.readline()  # "started"

    def stop(self) -> Record:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)
        return Record.read(self.out)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- gyre ------------------------------------------------------------------------------------


def gyre_reps(args: argparse.Namespace, data: Data, scratch: Path) -> list[dict[str, float]]:
    folder = scratch / "gyre"
    folder.mkdir()
    print("gyre: gyre init, release.yaml applied, gyre agent, version 1 released", flush=True)
    workspace = GyreWorkspace(folder, data.body, args.interval)
    results = []
    try:
        workspace.start_agent()
        first = workspace.release(data.model(1), data.frame.head(2), "1")
        if first.status != "succeeded":
            raise RuntimeError(f"the first release ended {first.status}: {first.timeline[-1:]}")
        workspace.wait_serving()
        url = workspace.endpoint_url()
        for rep in range(args.reps):
            version = rep + 2
            model = data.model(version)
            load = Load(
                f"{url}/score",
                data,
                scratch / f"gyre-load-{rep}.txt",
                args.clients,
                "gyre-model-version",
            )
            time.sleep(WARM_UP_S + args.steady)
            release = workspace.release(model, data.frame.head(2), str(version))
            time.sleep(TAIL_S)
            record = load.stop()
            if release.status != "succeeded":
                raise RuntimeError(f"release {release.id} ended {release.status}")
            results.append(gyre_figures(args, record, release, version))
            print(f"  rep {rep + 1}: {one_line(results[-1])}", flush=True)
            steps = ", ".join(
                f"+{e['at'] - release.registered_at:.1f} {e['action'].removeprefix('release.')}"
                for e in release.timeline
            )
            print(f"    timeline after registration (s): {steps}", flush=True)
    finally:
        problems = workspace.close()
        for problem in problems:
            print(f"  gyre clean-up: {problem}", flush=True)
    return results


def gyre_figures(
    args: argparse.Namespace, record: Record, release: Any, version: int
) -> dict[str, float]:
    registered = release.registered_at
    steady = record.p99_ms(registered - args.steady, registered)
    swaps = [record.p99_ms(at - SWAP_BEFORE_S, at + SWAP_AFTER_S) for at, _ in release.traffic]
    worst = max(swaps)
    # the same window around a transition that changes no traffic (judging the 100 % step):
    # what a transition's own work costs the clients, apart from any swap
    judged = [float(e["at"]) for e in release.timeline if e["action"] == "release.canary_healthy"]
    quiet = record.p99_ms(judged[0] - SWAP_BEFORE_S, judged[0] + SWAP_AFTER_S)
    reached_100 = next(at for at, percent in release.traffic if percent == 100)
    done = release.succeeded_at
    assert done is not None
    waited = args.interval * 3  # judged after each step's interval, the 100 % step too
    return {
        "failed_requests": record.failed(),
        "requests": len(record.start),
        "steady_rps": record.rate(registered - args.steady, registered),
        "p99_steady_ms": steady,
        **{f"p99_swap_{p}_ms": s for (_, p), s in zip(release.traffic, swaps, strict=True)},
        # each swap window in its two parts: the second before the step, the two after it
        **{
            f"p99_before_{p}_ms": record.p99_ms(at - SWAP_BEFORE_S, at) for at, p in release.traffic
        },
        **{f"p99_after_{p}_ms": record.p99_ms(at, at + SWAP_AFTER_S) for at, p in release.traffic},
        "p99_swap_ms": worst,
        "p99_swap_ratio": worst / steady,
        "p99_no_swap_transition_ms": quiet,
        "p99_release_ms": record.p99_ms(registered, done),
        "release_s": done - registered,
        "release_overhead_s": done - registered - waited,
        "to_100_percent_s": reached_100 - registered,
        "register_call_s": release.register_call_s,
        "last_old_answer_after_registration_s": (record.last_answer_of(version - 1) or 0)
        - registered,
        "load_cpu_share": record.cpu_s / record.wall_s,
    }


# -- Ray Serve -------------------------------------------------------------------------------


class RayServe:
    """``peers/ray_serve_app.py`` in the peer's environment: a local Ray, the application."""

    def __init__(self, python: Path, port: int, replicas: int, model: Path, env: dict[str, str]):
        self.log = open(model.parent / "ray-serve.log", "w")  # noqa: SIM115 - kept for the run
        self.process = subprocess.Popen(
            [
                str(python),
                str(HERE / "peers" / "ray_serve_app.py"),
                str(port),
                str(replicas),
                str(model),
                "1",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.expect("ready")

    def expect(self, word: str) -> list[str]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            words = line.split()
            if words and words[0] == word:
                return words[1:]
        raise RuntimeError(f"Ray Serve stopped before {word!r}; see {self.log.name}")

    def deploy(self, model: Path, version: int) -> tuple[float, float]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"deploy {model} {version}\n")
        self.process.stdin.flush()
        started, ended = self.expect("deployed")
        return float(started), float(ended)

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            try:
                self.expect("stopped")
                self.process.wait(timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired):
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def ray_serve_reps(
    args: argparse.Namespace, data: Data, scratch: Path, env: dict[str, str]
) -> list[dict[str, float]]:
    python = venvs.ensure("rayserve", venvs.RAY_SERVE) / "python"
    port = free_port()
    print(f"Ray Serve: a local Ray, the application with {args.replicas} replicas", flush=True)
    serve = RayServe(python, port, args.replicas, data.model_file(1), env)
    results = []
    try:
        url = f"http://127.0.0.1:{port}/score"
        for rep in range(args.reps):
            version = rep + 2
            model = data.model_file(version)
            load = Load(url, data, scratch / f"ray-load-{rep}.txt", args.clients, "x-model-version")
            time.sleep(WARM_UP_S + args.steady)
            started, returned = serve.deploy(model, version)
            time.sleep(TAIL_S)
            record = load.stop()
            results.append(ray_figures(args, record, started, returned, version))
            print(f"  rep {rep + 1}: {one_line(results[-1])}", flush=True)
    finally:
        serve.close()
    return results


def ray_figures(
    args: argparse.Namespace, record: Record, started: float, returned: float, version: int
) -> dict[str, float]:
    steady = record.p99_ms(started - args.steady, started)
    last_old = record.last_answer_of(version - 1) or started
    ended = max(returned, last_old)  # every replica serves the new version from here on
    change = record.p99_ms(started, ended)
    return {
        "failed_requests": record.failed(),
        "requests": len(record.start),
        "steady_rps": record.rate(started - args.steady, started),
        "p99_steady_ms": steady,
        "p99_change_ms": change,
        "p99_swap_ratio": change / steady,
        "release_overhead_s": ended - started,
        "serve_run_s": returned - started,
        "first_new_answer_s": (record.first_answer_of(version) or float("nan")) - started,
        "load_cpu_share": record.cpu_s / record.wall_s,
    }


# -- report ----------------------------------------------------------------------------------


def one_line(figures: dict[str, float]) -> str:
    keys = (
        "failed_requests",
        "p99_steady_ms",
        "p99_swap_ms",
        "p99_change_ms",
        "p99_swap_ratio",
        "release_overhead_s",
        "p99_before_10_ms",
        "p99_after_10_ms",
    )
    return ", ".join(f"{k} {figures[k]:.4g}" for k in keys if k in figures)


def summarise(runs: list[dict[str, float]]) -> dict[str, float]:
    """Medians over the repetitions; failed requests summed (every failure counts)."""
    keys = [k for k in runs[0] if all(k in r for r in runs)]
    out = {k: float(statistics.median(r[k] for r in runs)) for k in keys}
    out["failed_requests"] = float(sum(r["failed_requests"] for r in runs))
    out["requests"] = float(sum(r["requests"] for r in runs))
    return out


def leftovers(mark: str) -> list[str]:
    """Processes still running with this run's mark in their environment."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if f"{MARK}={mark}".encode() in (entry / "environ").read_bytes():
                found.append(f"{entry.name} {(entry / 'cmdline').read_bytes()[:120]!r}")
        except OSError:
            continue
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--steady", type=float, default=10.0, help="steady window, s")
    parser.add_argument("--interval", type=float, default=5.0, help="canary interval, s")
    parser.add_argument("--replicas", type=int, default=2, help="Ray Serve replicas")
    parser.add_argument("--only", choices=["gyre", "ray-serve"])
    args = parser.parse_args(argv)
    # Ctrl-C or SIGTERM end the run through its clean-up (agent stopped, endpoints deleted, Ray
    # shut down). Installing the handlers also undoes a SIGINT ignored by a shell that started
    # us in the background, for us and for the agent we start (it stops on SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    mark = uuid.uuid4().hex
    os.environ[MARK] = mark  # inherited by the agent, the endpoints, Ray and its workers
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    print(
        f"releases benchmark at {commit}: {args.reps} reps, {args.clients} clients, "
        f"steady {args.steady:g} s, canary interval {args.interval:g} s",
        flush=True,
    )
    gyre: dict[str, float] = {}
    ray: dict[str, float] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gyre-bench-releases-") as tmp:
        scratch = Path(tmp)
        data = Data(scratch)
        for version in range(1, args.reps + 2):
            data.model_file(version)
        if args.only != "gyre":  # installed before anything is timed
            try:
                venvs.ensure("rayserve", venvs.RAY_SERVE)
            except venvs.Unavailable as exc:
                notes.append(f"Ray Serve not measured: {exc}")
                args.only = "gyre"
        if args.only != "ray-serve":
            gyre = summarise(gyre_reps(args, data, scratch))
        if args.only != "gyre":
            # Ray starts its workers at nice 15 (RAY_worker_niceness); gyre's processes run at 0.
            # On a shared machine that would measure the scheduler, not the rollout.
            # Without a token mode said, this Ray writes ~/.ray/auth_token, which then breaks
            # connections to other local Ray clusters (gyre's tests' among them): off, as gyre's
            # side has no authentication either.
            env = {**os.environ, "RAY_worker_niceness": "0", "RAY_AUTH_MODE": "disabled"}
            ray = summarise(ray_serve_reps(args, data, scratch, env))
    time.sleep(1)
    left = leftovers(mark)
    report(args, gyre, ray, notes, left)
    return 0


def report(
    args: argparse.Namespace,
    gyre: dict[str, float],
    ray: dict[str, float],
    notes: list[str],
    left: list[str],
) -> None:
    rows = [
        ("failed requests (sum over reps)", "failed_requests", "failed_requests", "{:.0f}"),
        ("requests (sum over reps)", "requests", "requests", "{:.0f}"),
        ("steady requests/s", "steady_rps", "steady_rps", "{:.0f}"),
        ("steady p99, ms", "p99_steady_ms", "p99_steady_ms", "{:.1f}"),
        ("p99 during the change, ms (gyre: worst swap)", "p99_swap_ms", "p99_change_ms", "{:.1f}"),
        ("p99 swap / steady", "p99_swap_ratio", "p99_swap_ratio", "{:.2f}"),
        ("p99 over the whole release, ms", "p99_release_ms", "p99_change_ms", "{:.1f}"),
        ("registration -> done, s", "release_s", "release_overhead_s", "{:.2f}"),
        ("overhead beyond the intervals, s", "release_overhead_s", "release_overhead_s", "{:.2f}"),
        ("load generator CPU (cores)", "load_cpu_share", "load_cpu_share", "{:.2f}"),
    ]
    print()
    print(f"medians of {args.reps} reps (failed requests summed)")
    print(f"{'':48} {'gyre':>10} {'Ray Serve':>10}")
    for label, g, r, fmt in rows:
        gv = fmt.format(gyre[g]) if g in gyre else "-"
        rv = fmt.format(ray[r]) if r in ray else "-"
        print(f"{label:48} {gv:>10} {rv:>10}")
    if "p99_no_swap_transition_ms" in gyre:
        label = "gyre p99 around canary_healthy (no swap), ms"
        print(f"{label:48} {gyre['p99_no_swap_transition_ms']:10.1f}")
    for p in (10, 50, 100):
        key = f"p99_swap_{p}_ms"
        if key in gyre:
            print(f"{'gyre p99 around the ' + str(p) + ' % step, ms':48} {gyre[key]:10.1f}")
    if gyre:
        print(f"{'gyre: registration -> 100 % applied, s':48} {gyre['to_100_percent_s']:10.2f}")
    if ray:
        print(f"{'Ray Serve: serve.run returned after, s':48} {'':>10} {ray['serve_run_s']:10.2f}")
    figures: dict[str, float] = {}
    for key in (
        "failed_requests",
        "p99_swap_ratio",
        "release_overhead_s",
        "p99_steady_ms",
        "p99_swap_ms",
        "p99_release_ms",
        "release_s",
    ):
        if key in gyre:
            figures[key] = gyre[key]
    for key in (
        "failed_requests",
        "p99_swap_ratio",
        "release_overhead_s",
        "p99_steady_ms",
        "p99_change_ms",
    ):
        if key in ray:
            figures[f"ray_serve_{key}"] = ray[key]
    ratios = {}
    if gyre and ray:
        ratios["p99_swap_vs_ray_serve"] = ray["p99_change_ms"] / gyre["p99_swap_ms"]
        ratios["p99_release_vs_ray_serve"] = ray["p99_change_ms"] / gyre["p99_release_ms"]
        # each against its own steady state: what the change itself costs, whatever the speed
        ratios["p99_swap_ratio_vs_ray_serve"] = ray["p99_swap_ratio"] / gyre["p99_swap_ratio"]
    for name, value in ratios.items():
        print(f"{name:48} {value:10.2f}  (> 1: gyre ahead)")
    if gyre:
        targets = [
            ("zero failed requests", gyre["failed_requests"] == 0),
            ("p99 during each swap within 20 % of steady", gyre["p99_swap_ratio"] <= 1.2),
            (
                "registration -> 100 % within 10 s of the intervals",
                gyre["release_overhead_s"] <= 10,
            ),
        ]
        if ray:
            targets += [
                (
                    "failed requests <= Ray Serve's",
                    gyre["failed_requests"] <= ray["failed_requests"],
                ),
                ("p99 during the change <= Ray Serve's", ratios["p99_swap_vs_ray_serve"] >= 1),
            ]
        for label, met in targets:
            print(f"target: {label}: {'met' if met else 'NOT met'}")
    for note in notes:
        print(f"note: {note}")
    print(f"processes left running: {len(left)}")
    for line in left:
        print(f"  left: {line}")
    print(
        json.dumps(
            {
                "benchmark": "releases",
                "figures": {k: round(v, 4) for k, v in figures.items()},
                "ratios": {k: round(v, 3) for k, v in ratios.items()},
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
