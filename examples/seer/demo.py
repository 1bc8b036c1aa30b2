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

HERE = Path(__file__).resolve().parent
GYRE = [sys.executable, "-m", "gyre.cli.main"]


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def gyre(*args: str, show: bool = True, tail: int | None = None) -> str:
    print(f"$ gyre {' '.join(args)}", flush=True)
    done = subprocess.run(
        [*GYRE, *args], capture_output=True, text=True, env={**os.environ, "COLUMNS": "110"}
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


def score_test_images(test: Path) -> dict[str, tuple[int, int]]:
    """Serve seer@production, score every held-out image over HTTP: {class: (right, total)}."""
    import httpx

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
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


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
    shutil.copytree(HERE, work / "seer", ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
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

    say("6. The talk's code change: epochs 5 -> 20, batch 10. gyre plan says what re-runs, and why")
    pipeline = work / "seer" / "pipeline.py"
    source = pipeline.read_text()
    old = 'Dataset("products"), epochs: int = 5, batch: int = 32'
    new = 'Dataset("products"), epochs: int = 20, batch: int = 10'
    assert old in source, "the pipeline's defaults moved; update the demo"
    pipeline.write_text(source.replace(old, new))
    print(
        "$ sed -i 's/epochs: int = 5, batch: int = 32/epochs: int = 20, batch: int = 10/' seer/pipeline.py"
        "    (the pipeline's defaults)"
    )
    gyre("plan", "seer/pipeline.py:seer")
    gyre("run", "seer/pipeline.py:seer", "--tag", "build=3", tail=6)
    gyre("model", "alias", "seer", "production", "3")
    tuned = score_test_images(work / "data" / "test")

    say("7. Nothing changed: every step is reused")
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
        "demo_seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(report))
    (work / "report.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
