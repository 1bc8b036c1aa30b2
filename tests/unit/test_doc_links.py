"""Docs link only to files that are in the repository (a clean clone has nothing else)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
PARENT = re.compile(r"`(\.\./[^`\s]+)`")


def _docs() -> list[Path]:
    return [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "examples").rglob("README.md")),
        *sorted((ROOT / "benchmarks").rglob("README.md")),
    ]


def test_every_relative_link_in_the_docs_points_at_a_file_in_the_repository() -> None:
    broken = []
    for doc in _docs():
        text = doc.read_text()
        targets = [t for t in LINK.findall(text) if "://" not in t and not t.startswith("mailto:")]
        targets += PARENT.findall(text)
        for target in targets:
            resolved = (doc.parent / target).resolve()
            if not resolved.is_relative_to(ROOT.resolve()) or not resolved.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not broken, "links outside the repository or to missing files:\n" + "\n".join(broken)
