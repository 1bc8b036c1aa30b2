"""The four graph shapes of the pipeline matrix (tests/integration/test_pipeline_matrix.py).

Each step's output holds its own name, so no two steps share a blob, and each pipeline
parameter feeds exactly one source step.
"""

import gyre
from gyre import step


@step
def source(name: str, start: int = 1) -> dict:
    return {"step": name, "values": [start, start + 1, start + 2]}


@step
def grow(name: str, item: dict) -> dict:
    return {"step": name, "values": [v * 2 for v in item["values"]]}


@step
def merge(name: str, left: dict, right: dict) -> dict:
    return {"step": name, "values": left["values"] + right["values"]}


@gyre.pipeline
def chain(start: int = 1):
    first = source.named("first")(name="first", start=start)
    second = grow.named("second")(name="second", item=first)
    grow.named("third")(name="third", item=second)


@gyre.pipeline
def fan_out(start: int = 1):
    root = source.named("root")(name="root", start=start)
    for branch in ("left", "middle", "right"):
        grow.named(branch)(name=branch, item=root)


@gyre.pipeline
def fan_in(a: int = 1, b: int = 10):
    left = source.named("a")(name="a", start=a)
    right = source.named("b")(name="b", start=b)
    merge.named("join")(name="join", left=left, right=right)


@gyre.pipeline
def diamond(start: int = 1):
    root = source.named("root")(name="root", start=start)
    left = grow.named("left")(name="left", item=root)
    right = grow.named("right")(name="right", item=root)
    merge.named("join")(name="join", left=left, right=right)
