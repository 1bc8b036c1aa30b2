"""A step that writes into its input folder: gyre must refuse it, and keep the recorded bytes."""

from pathlib import Path

import gyre
from gyre import Dir, pipeline, step


@step
def prepare(text: str = "original") -> Dir:
    out = gyre.output_dir("data")
    (out / "data.txt").write_text(text)
    return out


@step
def vandal(data: Dir) -> str:
    target = Path(data) / "data.txt"
    target.chmod(0o644)  # a user can undo read-only; root ignores it anyway
    target.write_text("changed")
    return "done"


@step
def reader(data: Dir) -> str:
    return (Path(data) / "data.txt").read_text()


@pipeline
def writes_input(text: str = "original"):
    data = prepare(text=text)
    vandal(data)
    return reader(data)


@pipeline
def reads_only(text: str = "original"):
    return reader(prepare(text=text))
