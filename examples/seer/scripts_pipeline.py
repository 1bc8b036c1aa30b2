"""The same pipeline as script steps around parse.py / train.py / register.py (the talk's way).

gyre run examples/seer/scripts_pipeline.py:seer_scripts --param epochs=20
"""

from __future__ import annotations

import gyre
from gyre import Dataset, Output, ScriptStep


@gyre.pipeline
def seer_scripts(
    images: Dataset = Dataset("products"),
    epochs: int = 5,
    batch: int = 32,
    model_name: str = "seer",
):
    parse = ScriptStep(
        "scripts/parse.py", args=["--source_path", images, "--target_path", Output("data")]
    )
    train = ScriptStep(
        "scripts/train.py",
        args=[
            "--source_path",
            parse["data"],
            "--target_path",
            Output("checkpoints"),
            "--epochs",
            epochs,
            "--batch",
            batch,
        ],
    )
    ScriptStep(
        "scripts/register.py",
        args=["--source_path", train["checkpoints"], "--model_name", model_name],
    )
