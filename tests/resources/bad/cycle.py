import gyre
from gyre import step


@step
def a(x: int = 1) -> int:
    return x


@step
def b(y: int) -> int:
    return y


@gyre.pipeline
def cyclic():
    out = a()
    b(out)
    gyre.after("a", "b")
