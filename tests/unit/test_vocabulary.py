"""docs/vocabulary.md names every CLI command, and only commands that exist."""

from __future__ import annotations

import re
from pathlib import Path

import click

from gyre.cli.main import cli

ROOT = Path(__file__).parents[2]


def _commands() -> set[str]:
    ctx = click.Context(cli)
    found: set[str] = set()

    def walk(group: click.Group, prefix: str) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            full = f"{prefix} {name}".strip()
            if isinstance(command, click.Group):
                walk(command, full)
            else:
                found.add(full)

    walk(cli, "")
    return found


def _table() -> list[list[str]]:
    lines = (ROOT / "docs" / "vocabulary.md").read_text().splitlines()
    rows = [line.strip("|").split(" | ") for line in lines if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:]]  # without the header


def test_every_command_is_in_the_vocabulary_and_every_listed_command_exists() -> None:
    listed = {mention for row in _table() for mention in re.findall(r"`gyre ([a-z -]+?)`", row[2])}
    commands = _commands()
    assert sorted(commands - listed) == [], "commands missing from docs/vocabulary.md"
    assert sorted(listed - commands) == [], "docs/vocabulary.md names commands that do not exist"


def test_each_concept_has_one_line() -> None:
    concepts = [row[0] for row in _table()]
    assert len(concepts) == len(set(concepts)) and len(concepts) > 15
