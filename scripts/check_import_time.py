"""Fail when `import gyre` or the CLI's start-up pulls in heavy modules.

Counting modules is stable on a busy 2-core machine; wall-clock budgets are not.
"""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("sqlalchemy", "numpy", "pandas", "pyarrow", "torch", "ray", "fastapi", "rich")
CHECKS = {
    "import gyre": "import gyre",
    "gyre --help": (
        "import sys; sys.argv=['gyre','--help']\n"
        "from gyre.cli.main import main\n"
        "try:\n main()\nexcept SystemExit:\n pass"
    ),
}


def loaded(code: str) -> set[str]:
    probe = code + "\nimport sys; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return {line.split(".")[0] for line in out.stdout.splitlines()}


def main() -> int:
    failed = False
    for name, code in CHECKS.items():
        heavy = sorted(set(FORBIDDEN) & loaded(code))
        if heavy:
            print(f"{name} imports {', '.join(heavy)}: keep heavy imports inside functions")
            failed = True
        else:
            print(f"{name}: no heavy imports")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
