"""(a), gyre's side: ``N`` single ``gyre.log_metric`` calls in client mode (``GYRE_URI`` names
the server, ``GYRE_TOKEN`` holds a token), timed end to end: from ``gyre.start_run`` until the
run has ended and its ``N`` points read back through the server's API.

    python gyre_logging.py N REPS

Prints one JSON line: ``{"points": N, "seconds": [...]}``, one time per rep (a new run each).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import httpx

import gyre


def one_rep(points: int, rep: int, http: httpx.Client) -> float:
    started = time.perf_counter()
    with gyre.start_run(experiment="bench-log-metric", name=f"rep-{rep}") as run:
        for step in range(points):
            gyre.log_metric("loss", math.exp(-step / 1000), step=step)
    answer = http.get(f"/runs/{run.id}/metrics", params={"key": "loss"})
    answer.raise_for_status()
    stored = len(answer.json().get("loss", []))
    elapsed = time.perf_counter() - started
    if stored != points:
        raise SystemExit(f"run {run.id}: {stored} points stored, {points} logged")
    return elapsed


def main(points: int, reps: int) -> None:
    headers = {"Authorization": f"Bearer {os.environ['GYRE_TOKEN']}"}
    base = os.environ["GYRE_URI"].rstrip("/") + "/api/v1"
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        seconds = [one_rep(points, rep, http) for rep in range(reps)]
    print(json.dumps({"points": points, "seconds": seconds}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
