"""Script steps around parse.py / train.py, the talk's way."""

import gyre
from gyre import Output, ScriptStep


@gyre.pipeline
def scripted(epochs: int = 2):
    parse = ScriptStep("parse.py", args=["--target_path", Output("data")])
    train = ScriptStep(
        "train.py",
        args=["--source_path", parse["data"], "--epochs", epochs, "--target_path", Output("model")],
    )
    return train
