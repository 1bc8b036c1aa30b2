import gyre
from gyre import step


@step
def work(x: int = 1) -> int:
    return x


@gyre.pipeline
def twice():
    work(x=1)
    work(x=2)
