"""The Seer story, end to end, as `make demo` runs it.

A classifier trained on biased data makes faulty predictions; gyre's pipeline, fed balanced
data and then a better training setup, fixes it, reusing every step that did not need to run.
Every command is printed, so you can repeat the story by hand.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GYRE = [sys.executable, "-m", "gyre.cli.main"]


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def gyre(
    *args: str, show: bool = True, tail: int | None = None, env: dict[str, str] | None = None
) -> str:
    prefix = "".join(f"{k}={v} " for k, v in (env or {}).items())
    if show:
        print(f"$ {prefix}gyre {' '.join(args)}", flush=True)
    done = subprocess.run(
        [*GYRE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "110", **(env or {})},
    )
    output = done.stdout + (done.stderr if done.returncode else "")
    if show:
        lines = [
            line
            for line in output.splitlines()
            if not line.startswith("[train] ") or "epoch" in line
        ]
        print("\n".join(lines[-tail:] if tail else lines), flush=True)
    if done.returncode != 0:
        raise SystemExit(f"gyre {' '.join(args)} failed:\n{output}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def score_test_images(test: Path, endpoint_url: str | None = None) -> dict[str, tuple[int, int]]:
    """Score every held-out image over HTTP: {class: (right, total)}; on ``endpoint_url``, or
    on a ``gyre serve seer@production`` started for it."""
    import httpx

    if endpoint_url is not None:
        return _score_images(test, endpoint_url)
    port = free_port()
    print(f"$ gyre serve seer@production --port {port}    (in the background)", flush=True)
    server = subprocess.Popen(
        [*GYRE, "serve", "seer@production", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the scoring server did not start")
            time.sleep(0.2)
        return _score_images(test, url)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def _score_images(test: Path, url: str) -> dict[str, tuple[int, int]]:
    import httpx

    images = sorted(test.glob("*/*.png"))
    example = base64.b64encode(images[0].read_bytes()).decode()
    print(f'$ curl -X POST {url}/score -d \'{{"image": "{example[:24]}..."}}\'', flush=True)
    answer = httpx.post(f"{url}/score", json={"image": example}, timeout=60).json()
    top = sorted(answer["predictions"][0]["scores"].items(), key=lambda kv: -kv[1])[:3]
    print(
        f"  -> class {answer['predictions'][0]['class']} (top scores {top}, model seer@{answer['version']})"
    )
    results: dict[str, list[int]] = {}
    for start in range(0, len(images), 40):
        chunk = images[start : start + 40]
        body = [{"image": base64.b64encode(p.read_bytes()).decode()} for p in chunk]
        predictions = httpx.post(f"{url}/score", json=body, timeout=120).json()["predictions"]
        for path, prediction in zip(chunk, predictions, strict=True):
            right, total = results.setdefault(path.parent.name, [0, 0])
            results[path.parent.name] = [
                right + (prediction["class"] == path.parent.name),
                total + 1,
            ]
    print(f"  scored {len(images)} held-out images over HTTP")
    return {label: (r, t) for label, (r, t) in sorted(results.items())}


def accuracy(results: dict[str, tuple[int, int]], label: str | None = None) -> float:
    if label is not None:
        right, total = results[label]
        return right / total
    return sum(r for r, _ in results.values()) / sum(t for _, t in results.values())


def table(
    columns: dict[str, dict[str, tuple[int, int]]], train_counts: dict[str, dict[str, int]]
) -> None:
    names = list(columns)
    header = f"{'class':>6} " + "".join(f"{'train ' + n:>16}{'accuracy ' + n:>20}" for n in names)
    print(header)
    labels = sorted(next(iter(columns.values())))
    for label in labels:
        row = f"{label:>6} "
        for name in names:
            acc = accuracy(columns[name], label)
            flag = " <- faulty" if acc < 0.8 else ""
            row += f"{train_counts[name].get(label, 0):>16}{acc:>10.1%}{flag:<10}"
        print(row)
    print(f"{'all':>6} " + "".join(f"{'':>16}{accuracy(columns[n]):>10.1%}{'':<10}" for n in names))


def gyre_json(*args: str) -> Any:
    return json.loads(gyre(*args, "--json", show=False))


def wait_for_endpoint(name: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        shown = gyre_json("endpoint", "show", name)
        if shown["status"] == "serving":
            print(f"  endpoint {name} serving at {shown['url']}", flush=True)
            return dict(shown)
        time.sleep(0.5)
    raise SystemExit(f"endpoint {name} did not start: {shown.get('last_error')}")


def wait_for_release(version: int, statuses: tuple[str, ...], timeout_s: float = 600) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [r for r in gyre_json("release", "list") if r["version"] == version]
        if found and found[0]["status"] in statuses:
            return found[0]
        if found and found[0]["status"] in ("failed", "rolled_back", "cancelled"):
            gyre("release", "show", str(found[0]["id"]))
            raise SystemExit(f"the release of seer@{version} {found[0]['status']}")
        time.sleep(0.5)
    raise SystemExit(f"the release of seer@{version} did not reach {statuses}")


class Traffic:
    """Clients of the production endpoint, scoring held-out photos all along the release."""

    def __init__(self, url: str, images: list[Path]) -> None:
        import threading

        self.url, self.images = url, images
        self.answered = self.failed = 0
        self.versions: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        import httpx

        with httpx.Client(timeout=60) as client:
            index = 0
            while not self.stop.is_set():
                image = self.images[index % len(self.images)]
                index += 1
                body = {"image": base64.b64encode(image.read_bytes()).decode()}
                try:
                    answer = client.post(f"{self.url}/score", json=body)
                except httpx.HTTPError:
                    self.failed += 1
                    continue
                if answer.status_code != 200:
                    self.failed += 1
                    continue
                self.answered += 1
                version = answer.headers["gyre-model-version"]
                self.versions[version] = self.versions.get(version, 0) + 1
                self.stop.wait(0.02)  # a steady trickle of clients, not a load test


def release_the_code_change(
    work: Path, pipeline_file: Path, production_url: str
) -> tuple[dict[str, tuple[int, int]], dict[str, Any]]:
    say("7. The talk's code change: epochs 5 -> 20, batch 10. gyre plan says what re-runs, and why")
    source = pipeline_file.read_text()
    old = 'Dataset("products"), epochs: int = 5, batch: int = 32'
    new = 'Dataset("products"), epochs: int = 20, batch: int = 10'
    assert old in source, "the pipeline's defaults moved; update the demo"
    pipeline_file.write_text(source.replace(old, new))
    print(
        "$ sed -i 's/epochs: int = 5, batch: int = 32/epochs: int = 20, batch: int = 10/' seer/pipeline.py"
        "    (the pipeline's defaults)"
    )
    gyre("plan", "seer/pipeline.py:seer")
    gyre("run", "seer/pipeline.py:seer", "--tag", "build=3", tail=6)
    registered = time.monotonic()
    traffic = Traffic(production_url, sorted((work / "data" / "test").glob("*/*.png")))
    traffic.thread.start()

    say("8. seer@3 was registered: its release deploys it to seer-test, checks it, and waits")
    waiting = wait_for_release(3, ("waiting",))
    gyre("release", "show", str(waiting["id"]), tail=14)
    gyre(
        "release",
        "approve",
        str(waiting["id"]),
        "-m",
        "held-out accuracy looks right",
        env={"GYRE_USER": "seer-lead"},
    )
    wait_for_release(3, ("succeeded",))
    finished = time.monotonic()
    traffic.stop.set()
    traffic.thread.join(timeout=120)
    gyre("release", "show", str(waiting["id"]), tail=16)
    gyre("endpoint", "show", "seer")
    print(
        f"  production clients during the release: {traffic.answered} answered "
        f"(by version: {traffic.versions}), {traffic.failed} failed"
    )
    tuned = score_test_images(work / "data" / "test", production_url)
    seconds = round(finished - registered, 1)  # registered -> 100% of production
    return tuned, {"seconds": seconds, "failed_requests": traffic.failed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=Path(".demo") / "seer")
    parser.add_argument("--per-class", type=int, help="fewer images, for a quick look")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    started = time.monotonic()
    work = args.workdir.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copytree(
        HERE, work / "seer", ignore=shutil.ignore_patterns("__pycache__", "test_seer.py")
    )
    (work / "pyproject.toml").write_text("[project]\nname = 'seer-demo'\n")  # the project's root
    os.chdir(work)
    os.environ.pop("GYRE_URI", None)

    say(
        "Data: real images a package ships (scikit-learn's handwritten digits), upscaled to 28x28 PNGs"
    )
    print(
        f"$ python seer/make_data.py data{' --per-class ' + str(args.per_class) if args.per_class else ''}"
    )
    sys.path.insert(0, str(work / "seer"))
    from make_data import make

    folders = make(work / "data", per_class=args.per_class)
    counts = {
        name: {p.name: len(list(p.glob("*.png"))) for p in sorted(folder.iterdir())}
        for name, folder in folders.items()
    }
    print(
        f"  v1 (biased): {sum(counts['v1'].values())} images, v2 (balanced): {sum(counts['v2'].values())}, held-out test: {sum(counts['test'].values())}"
    )

    say("1. Register the (biased) product photos as dataset version 1")
    gyre("init")
    gyre("data", "add", "products", "data/v1", "-m", "first photos: biased")
    gyre("data", "show", "products@1", tail=13)

    say("2. Train: data preparation -> training -> registration, each step in its own process")
    gyre(
        "run",
        "seer/pipeline.py:seer",
        "--param",
        f"epochs={args.epochs}",
        "--tag",
        "build=1",
        tail=14,
    )
    gyre("model", "alias", "seer", "production", "1")

    say("3. Serve seer@production and score the held-out images: the faulty prediction")
    biased = score_test_images(work / "data" / "test")
    table({"v1": biased}, {"v1": counts["v1"]})

    say("4. Balanced data arrives as dataset version 2; gyre plan: every step re-runs")
    gyre("data", "add", "products", "data/v2", "-m", "balanced")
    gyre("data", "diff", "products@1", "products@2", tail=1)
    gyre("plan", "seer/pipeline.py:seer", "--param", f"epochs={args.epochs}")

    say("5. Run: a new model version, trained on the balanced data")
    gyre(
        "run",
        "seer/pipeline.py:seer",
        "--param",
        f"epochs={args.epochs}",
        "--tag",
        "build=2",
        tail=6,
    )
    gyre("model", "alias", "seer", "production", "2")
    balanced = score_test_images(work / "data" / "test")
    say("Per-class accuracy on the held-out images, before and after")
    table({"v1": biased, "v2": balanced}, {"v1": counts["v1"], "v2": counts["v2"]})

    say("6. The release pipeline: seer/release.yaml, a stable production endpoint, an agent")
    gyre("release", "apply", "seer/release.yaml")
    gyre("endpoint", "create", "seer", "--model", "seer@production")
    print("$ gyre agent &    (in the background: runs releases, keeps endpoints alive)")
    agent = subprocess.Popen(
        [*GYRE, "agent", "--poll", "0.2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        production = wait_for_endpoint("seer")
        tuned, release = release_the_code_change(
            work, pipeline_file=work / "seer" / "pipeline.py", production_url=production["url"]
        )
    finally:
        agent.send_signal(signal.SIGINT)
        agent.wait(timeout=60)
        for endpoint in ("seer", "seer-test"):
            gyre("endpoint", "delete", endpoint, "--yes", show=False)

    say("9. Nothing changed: every step is reused")
    t0 = time.monotonic()
    gyre("run", "seer/pipeline.py:seer", "--tag", "build=4", tail=5)
    reuse_seconds = time.monotonic() - t0
    print(f"  (whole command: {reuse_seconds:.2f} s)")

    say("The model versions and their lineage")
    gyre("model", "show", "seer")
    gyre("model", "show", "seer@3")

    say("Report")
    table(
        {"v1": biased, "v2": balanced, "v2+20ep": tuned},
        {"v1": counts["v1"], "v2": counts["v2"], "v2+20ep": counts["v2"]},
    )
    rare = "3"
    gap = accuracy(tuned, rare) - accuracy(biased, rare)
    report = {
        "biased_accuracy": round(accuracy(biased), 4),
        "balanced_accuracy": round(accuracy(balanced), 4),
        "tuned_accuracy": round(accuracy(tuned), 4),
        "rare_class_biased": round(accuracy(biased, rare), 4),
        "rare_class_tuned": round(accuracy(tuned, rare), 4),
        "rare_class_gap_points": round(100 * gap, 1),
        "reused_run_seconds": round(reuse_seconds, 2),
        "release_seconds": release["seconds"],
        "release_failed_requests": release["failed_requests"],
        "demo_seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(report))
    (work / "report.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
