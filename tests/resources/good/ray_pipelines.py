"""Pipelines for the Ray executor tests."""

import os
import socket
import time
from pathlib import Path

import helper

import gyre
from gyre import Dir, step


@step(resources={"cpus": 1})
def produce(n: int = 3) -> list:
    print(f"produce on {socket.gethostname()} pid {os.getpid()}")
    return [helper.transform(i) for i in range(n)]


@step
def total(values: list) -> int:
    for i, v in enumerate(values):
        gyre.log_metric("value", v, step=i)
    return sum(values)


@step
def report(t: int) -> Dir:
    out = gyre.output_dir("report")
    (out / "total.txt").write_text(str(t))
    return out


@gyre.pipeline
def chain(n: int = 3):
    report(total(produce(n=n)))


@step(retries=1)
def crash_once(marker: str = "") -> int:
    if not Path(marker).exists():
        Path(marker).write_text("crashed")
        os.kill(os.getpid(), 9)  # the Ray worker process dies mid-step
    return 1


@gyre.pipeline
def crashing(marker: str = ""):
    crash_once(marker=marker)


@step
def always_crash() -> int:
    print("about to die")
    os.kill(os.getpid(), 9)
    return 0


@gyre.pipeline
def doomed():
    always_crash()


@step
def chatty(gate: str = "", limit: float = 60) -> str:
    print(f"first line from the worker pid {os.getpid()}", flush=True)
    deadline = time.monotonic() + limit
    while not Path(gate).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("gate never opened")
        time.sleep(0.05)
    return "done"


@gyre.pipeline
def gated(gate: str = "", limit: float = 60):
    chatty(gate=gate, limit=limit)


@step(resources={"cpus": 64})
def huge() -> int:
    return 1


@gyre.pipeline
def too_big():
    huge()


@step(isolate=True)
def whoami(i: int = 0) -> int:
    return os.getpid()


@gyre.pipeline
def isolated():
    whoami.named("a")(i=1)
    whoami.named("b")(i=2)


@step(requirements="step-requirements.txt")
def with_requirements(salt: int = 0) -> dict:
    import sys

    import gyre_probe_pkg  # installed only in the step's Ray runtime environment

    return {"value": gyre_probe_pkg.VALUE, "prefix": sys.prefix}


@gyre.pipeline
def needs_a_package(salt: int = 0):
    with_requirements(salt=salt)
