"""A three-step chain with a helper module, used by reuse and executor tests."""

import helper

import gyre
from gyre import Dir, step


@step
def produce(n: int = 3, seed: int = 0) -> list:
    print(f"produce n={n}")
    return [helper.transform(i + seed) for i in range(n)]


@step
def total(values: list, scale: int = 1) -> int:
    for i, v in enumerate(values):
        gyre.log_metric("value", v, step=i)
    return sum(values) * scale


@step
def report(t: int) -> Dir:
    out = gyre.output_dir("report")
    (out / "total.txt").write_text(str(t))
    (out / "sub").mkdir()
    (out / "sub" / "note.txt").write_text("ok")
    return out


@gyre.pipeline
def chain(n: int = 3, scale: int = 1, seed: int = 0):
    report(total(produce(n=n, seed=seed), scale=scale))
