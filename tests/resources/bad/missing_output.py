import gyre
from gyre import step


@step(outputs=("model", "report"))
def train() -> tuple[int, int]:
    return 1, 2


@step
def use(x: int) -> int:
    return x


@gyre.pipeline
def missing():
    train_outputs = train()
    from gyre.pipelines.dsl import OutputRef

    use(OutputRef("train", "modle"))
    return train_outputs
