"""Steps that fail, hang, retry, use memory or take tuple outputs."""

import os
import time
from pathlib import Path

import gyre
from gyre import step


@step
def boom(x: int = 1) -> int:
    raise RuntimeError(f"boom {x}")


@step
def after_boom(x: int) -> int:
    return x


@step
def fine(x: int = 2) -> int:
    return x


@gyre.pipeline
def failing(x: int = 1):
    after_boom(boom(x=x))
    fine()


@step(timeout=1)
def sleepy(seconds: float = 30) -> int:
    time.sleep(seconds)
    return 1


@gyre.pipeline
def hanging(seconds: float = 30):
    sleepy(seconds=seconds)


@step(retries=2)
def flaky(marker: str = "") -> int:
    path = Path(marker)
    count = int(path.read_text()) if path.exists() else 0
    path.write_text(str(count + 1))
    if count < 2:
        raise RuntimeError(f"attempt {count + 1} fails")
    return count + 1


@gyre.pipeline
def retrying(marker: str = ""):
    flaky(marker=marker)


@step(outputs=("low", "high"))
def split(n: int = 6) -> tuple[list, list]:
    xs = list(range(n))
    return xs[: n // 2], xs[n // 2 :]


@step
def count(xs: list) -> int:
    return len(xs)


@gyre.pipeline
def tuples(n: int = 6):
    low, high = split(n=n)
    count.named("count_low")(low)
    count.named("count_high")(high)


@step(resources={"memory": "300MB"})
def hog(mb: int = 600) -> int:
    block = bytearray(mb * 1024 * 1024)
    return len(block)


@gyre.pipeline
def memory(mb: int = 600):
    hog(mb=mb)


@step
def suicide(marker: str = "") -> int:
    if not Path(marker).exists():
        Path(marker).write_text("killed once")
        os.kill(os.getpid(), 9)
    return 7


@gyre.pipeline
def killed(marker: str = ""):
    fine.named("first")(x=1)
    suicide(marker=marker)


@step(reuse=False)
def always(x: int = 1) -> int:
    return x


@gyre.pipeline
def no_reuse(x: int = 1):
    always(x=x)


@step
def metrics_loop(points: int = 1000, sleep_after: float = 0.0) -> int:
    for i in range(points):
        gyre.log_metric("m", float(i), step=i)
    time.sleep(sleep_after)
    return points


@gyre.pipeline
def metrics_pipeline(points: int = 1000, sleep_after: float = 0.0):
    metrics_loop(points=points, sleep_after=sleep_after)


@step
def wait_for_file(path: str = "", limit: float = 60) -> str:
    deadline = time.monotonic() + limit
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.05)
    return Path(path).read_text()


@gyre.pipeline
def waiting(path: str = ""):
    wait_for_file(path=path)


@step(resources={"gpus": 1})
def which_gpu() -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "unset")


@step
def no_gpu() -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "unset")


@gyre.pipeline
def gpus():
    which_gpu()
    no_gpu()


@step(resources={"gpus": 3})
def greedy() -> int:
    return 1


@gyre.pipeline
def too_many_gpus():
    greedy()
