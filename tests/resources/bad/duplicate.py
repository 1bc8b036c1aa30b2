import gyre
from gyre import step


@step
def work(x: int = 1) -> int:
    return x


@step(name="work")
def other_work(x: int = 1) -> int:
    return x + 1


@gyre.pipeline
def twice():
    work(x=1)
    work(x=2)


@gyre.pipeline
def clash():
    work(x=1)
    other_work(x=2)
