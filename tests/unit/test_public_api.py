"""The SDK surface is deliberate, sorted, and cheap to import."""

from __future__ import annotations

import subprocess
import sys

import gyre


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert gyre.__all__ == sorted(gyre.__all__)
    assert set(gyre.__all__) == set(gyre._EXPORTS)
    for name in gyre.__all__:
        assert getattr(gyre, name) is not None


def test_import_gyre_loads_no_database_or_numeric_library() -> None:
    code = "import gyre, sys; print(','.join(sorted(m for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in out.stdout.strip().split(",")}
    assert not loaded & {"sqlalchemy", "numpy", "pandas", "pyarrow", "torch", "rich", "click"}


def test_defining_steps_and_pipelines_does_not_load_the_store() -> None:
    code = (
        "import gyre, sys\n"
        "@gyre.step\ndef s(x: int = 1) -> int: return x\n"
        "@gyre.pipeline\ndef p(x: int = 1):\n    s(x=x)\n"
        "print('sqlalchemy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_running_a_pipeline_does_not_import_sqlalchemy() -> None:
    code = (
        "import sys\n"
        "import gyre.store, gyre.pipelines.runner, gyre.cli.run, gyre.sdk\n"
        "print('sqlalchemy' in sys.modules, 'alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
