"""Graph shapes: diamond and fan-out, with sleeps to show parallelism."""

import time

import gyre
from gyre import step


@step
def source(n: int = 4) -> list:
    return list(range(n))


@step
def left(xs: list) -> int:
    return sum(xs)


@step
def right(xs: list) -> int:
    return max(xs)


@step
def join(a: int, b: int) -> dict:
    return {"a": a, "b": b}


@gyre.pipeline
def diamond(n: int = 4):
    xs = source(n=n)
    join(left(xs), right(xs))


@step
def nap(seconds: float = 0.5, label: str = "") -> float:
    time.sleep(seconds)
    return seconds


@gyre.pipeline
def fanout(seconds: float = 0.5, width: int = 4):
    for i in range(width):
        nap.named(f"nap{i}")(seconds=seconds, label=str(i))
