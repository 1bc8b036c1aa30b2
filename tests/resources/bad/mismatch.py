import gyre
from gyre import Dir, step


@step
def make() -> int:
    return 1


@step
def use(folder: Dir) -> int:
    return 1


@gyre.pipeline
def mismatched():
    use(make())
