"""Local executor vs Ray executor on this machine: fan-out efficiency and per-step overhead.

    make bench-compute            # or: .venv/bin/python benchmarks/compute/run.py [--quick]

A local Ray cluster (head node, as many CPUs as physical cores, capped object store) is started
for the run and stopped by process group at the end. Each measurement is a fresh `gyre run`
process with a never-seen parameter (nothing reused); medians of the repetitions are reported.
Ray runs are measured as they come run after run, each served by the warm driver the first
one started (gyre/pipelines/executors/ray/warm_driver.py); for the fan-out also as the first
run after a pause, which starts the warm driver anew (``fanout_ray_cold_s``), and with the
run's own process driving Ray (``GYRE_RAY_WARM_DRIVER=0``, ``fanout_ray_in_process_s``). The
peer is the same fan-out written as a plain Ray script (bare_ray_fanout.py), a fresh driver
each time; ``fanout_ray_vs_bare_ray`` is its time over gyre's.
The last line is one JSON object: {"benchmark": "compute", "figures": {...}, "ratios": {...}}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
RAY = str(Path(sys.executable).parent / "ray")


def physical_cores() -> int:
    try:
        cores = set()
        block: dict[str, str] = {}
        for line in [*Path("/proc/cpuinfo").read_text().splitlines(), ""]:
            if not line.strip():
                if block:
                    cores.add(
                        (block.get("physical id"), block.get("core id", block.get("processor")))
                    )
                block = {}
                continue
            key, _, value = line.partition(":")
            block[key.strip()] = value.strip()
        return max(1, len(cores))
    except OSError:
        return os.cpu_count() or 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_ray(cpus: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen(
        [
            RAY,
            "start",
            "--head",
            "--block",
            "--disable-usage-stats",
            f"--port={port}",
            f"--num-cpus={cpus}",
            "--include-dashboard=false",
            "--node-ip-address=127.0.0.1",
            "--object-store-memory=100000000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    address = f"127.0.0.1:{port}"
    probe = "import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR')"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if subprocess.run([PYTHON, "-c", probe, address], capture_output=True).returncode == 0:
            return head, address
        time.sleep(1)
    raise SystemExit("the Ray head did not start")


def stop_warm_drivers(address: str) -> None:
    from gyre.pipelines.executors.ray.warm_driver import stop_all

    stop_all(address)
    time.sleep(2)  # it ends its Ray job and asks for warm workers as it exits


def gyre(project: Path, *args: str, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", "gyre.cli.main", *args],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"gyre {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


STEP_PROBE = """
import statistics, sys, time
import gyre
from gyre.pipelines.loader import load_pipeline
from gyre.store import open_store
from gyre.config import resolve
store = open_store(resolve())
pipeline = load_pipeline("workloads.py:chain")
compute, salt, repeats = (None if sys.argv[1] == "local" else sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
gyre.run(pipeline, {"length": 2, "salt": salt}, workspace=store, quiet=True, compute=compute)  # warm
samples = []
for rep in range(repeats):
    walls = {}
    for length in (10, 40):
        salt += 1
        started = time.perf_counter()
        gyre.run(pipeline, {"length": length, "salt": salt}, workspace=store, quiet=True, compute=compute)
        walls[length] = time.perf_counter() - started
    samples.append((walls[40] - walls[10]) / 30)
print(statistics.median(samples))
"""


def step_overhead_ms(project: Path, executor: str, salt: int, repeats: int) -> float:
    """Per-step cost inside one warm driver: ((40-step run) - (10-step run)) / 30."""
    done = subprocess.run(
        [PYTHON, "-c", STEP_PROBE, executor, str(salt), str(repeats)],
        cwd=project,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"step overhead probe failed:\n{done.stdout}\n{done.stderr}")
    return round(1000 * float(done.stdout.strip().splitlines()[-1]), 1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1 repetition, 8-step fan-out")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    width = 8 if args.quick else 32
    cores = physical_cores()
    ideal = width * 1.0 / cores
    project = Path(tempfile.mkdtemp(prefix="gyre-bench-compute-"))
    shutil.copy(Path(__file__).with_name("workloads.py"), project / "workloads.py")
    (project / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
    gyre(project, "init")
    head, address = start_ray(cores)
    salt = int(time.time())
    figures: dict[str, float] = {}
    try:
        gyre(project, "compute", "add", "ray", "--type", "ray", "--address", address)
        gyre(
            project, "run", "workloads.py:chain", "--compute", "ray", "--param", "salt=-1"
        )  # warm workers
        samples: dict[str, list[float]] = {}

        def measure(
            name: str,
            pipeline: str,
            *params: str,
            env: dict[str, str] | None = None,
            extra: tuple[str, ...] = (),
        ) -> None:
            nonlocal salt
            salt += 1
            args = [arg for p in (*params, f"salt={salt}") for arg in ("--param", p)]
            wall = gyre(project, "run", pipeline, *args, *extra, env=env)
            if name:
                samples.setdefault(name, []).append(wall)

        local = ("--parallel", str(cores))
        ray = ("--compute", "ray")
        in_process = {"GYRE_RAY_WARM_DRIVER": "0"}
        for rep in range(repeats):
            measure("fanout_local_s", "workloads.py:fanout", f"width={width}", extra=local)
            measure("chain1_local_s", "workloads.py:chain", "length=1", extra=local)
            measure("chain10_local_s", "workloads.py:chain", "length=10", extra=local)
            # the first run after a pause of over a minute: the warm driver has ended (it left
            # idle workers, as it does), so this run starts a new one
            stop_warm_drivers(address)
            measure("fanout_ray_cold_s", "workloads.py:fanout", f"width={width}", extra=ray)
            # the run's own process drives Ray (GYRE_RAY_WARM_DRIVER=0), as a plain Ray script
            measure("", "workloads.py:chain", "length=1", env=in_process, extra=ray)
            measure(
                "fanout_ray_in_process_s",
                "workloads.py:fanout",
                f"width={width}",
                env=in_process,
                extra=ray,
            )
            # Ray run after run, as gyre leaves it: the warm driver serves each
            measure("", "workloads.py:chain", "length=1", extra=ray)
            measure("chain1_ray_s", "workloads.py:chain", "length=1", extra=ray)
            measure("chain10_ray_s", "workloads.py:chain", "length=10", extra=ray)
            measure("fanout_ray_s", "workloads.py:fanout", f"width={width}", extra=ray)
            started = time.perf_counter()  # the peer: the same fan-out as a plain Ray script
            subprocess.run(
                [PYTHON, str(Path(__file__).with_name("bare_ray_fanout.py")), address, str(width)],
                check=True,
                capture_output=True,
            )
            samples.setdefault("fanout_bare_ray_s", []).append(time.perf_counter() - started)
            print(f"repetition {rep + 1}/{repeats} done", file=sys.stderr, flush=True)
        figures = {k: round(statistics.median(v), 3) for k, v in samples.items()}
        for executor in ("local", "ray"):
            salt += 1000
            figures[f"{executor}_step_overhead_ms"] = step_overhead_ms(
                project, executor, salt, repeats
            )
    finally:
        stop_warm_drivers(address)
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=60)
        shutil.rmtree(project, ignore_errors=True)

    figures["ideal_fanout_s"] = round(ideal, 2)
    figures["physical_cores"] = cores
    ratios = {
        "fanout_efficiency_local": round(ideal / figures["fanout_local_s"], 3),
        "fanout_efficiency_ray": round(ideal / figures["fanout_ray_s"], 3),
        "fanout_efficiency_ray_cold": round(ideal / figures["fanout_ray_cold_s"], 3),
        "fanout_efficiency_ray_in_process": round(ideal / figures["fanout_ray_in_process_s"], 3),
        "fanout_efficiency_bare_ray": round(ideal / figures["fanout_bare_ray_s"], 3),
        "fanout_ray_vs_bare_ray": round(figures["fanout_bare_ray_s"] / figures["fanout_ray_s"], 3),
    }

    def row(label: str, local: str, ray: str) -> None:
        print(f"{label:<30}{local:>12}{ray:>12}")

    print()
    row("measure", "local", "ray")
    row(
        f"fan-out {width} x 1 s (ideal {ideal:.1f} s)",
        f"{figures['fanout_local_s']:.2f}s",
        f"{figures['fanout_ray_s']:.2f}s",
    )
    row("fan-out, Ray, driver starting", "", f"{figures['fanout_ray_cold_s']:.2f}s")
    row("fan-out, Ray, run drives Ray", "", f"{figures['fanout_ray_in_process_s']:.2f}s")
    row("fan-out, plain Ray script", "", f"{figures['fanout_bare_ray_s']:.2f}s")
    row(
        "chain of 10 no-op steps",
        f"{figures['chain10_local_s']:.2f}s",
        f"{figures['chain10_ray_s']:.2f}s",
    )
    row("chain of 1 step", f"{figures['chain1_local_s']:.2f}s", f"{figures['chain1_ray_s']:.2f}s")
    row(
        "per-step overhead",
        f"{figures['local_step_overhead_ms']:.1f}ms",
        f"{figures['ray_step_overhead_ms']:.1f}ms",
    )
    row(
        "fan-out efficiency",
        f"{ratios['fanout_efficiency_local']:.2f}",
        f"{ratios['fanout_efficiency_ray']:.2f}",
    )
    row("fan-out efficiency, starting", "", f"{ratios['fanout_efficiency_ray_cold']:.2f}")
    row("fan-out eff., run drives Ray", "", f"{ratios['fanout_efficiency_ray_in_process']:.2f}")
    row("fan-out efficiency, plain Ray", "", f"{ratios['fanout_efficiency_bare_ray']:.2f}")
    print(json.dumps({"benchmark": "compute", "figures": figures, "ratios": ratios}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
