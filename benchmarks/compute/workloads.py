"""The benchmark's pipelines: a fan-out of CPU-bound steps and a chain of no-op steps."""

import time

import gyre
from gyre import step


@step
def burn(seconds: float = 1.0, index: int = 0) -> int:
    """Busy CPU work (not sleep): the steps compete for cores as real work does."""
    deadline = time.process_time() + seconds
    total = 0
    while time.process_time() < deadline:
        for i in range(20_000):  # user-space work between clock reads (a clock read is a syscall)
            total += i * i
    return index


@gyre.pipeline
def fanout(width: int = 32, seconds: float = 1.0, salt: int = 0):
    for i in range(width):
        burn.named(f"burn{i}")(seconds=seconds, index=i + 1000 * salt)


@step
def noop(value: int = 0) -> int:
    return value


@step
def link(value: int, index: int = 0) -> int:
    return value + index  # the index makes every step's cache key distinct


@gyre.pipeline
def chain(length: int = 10, salt: int = 0):
    value = noop(value=salt)
    for i in range(1, length):
        value = link.named(f"link{i}")(value, index=i)
