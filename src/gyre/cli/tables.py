"""Tables for list and show commands: ids are never cut.

An id, a digest or a version reference is meant to be copied into the next command, so its
column keeps its full width and never wraps; the other columns wrap first. When the output is
not a terminal (a pipe, a file) no line is wrapped at all.
"""

from __future__ import annotations

from rich.console import Console, JustifyMethod
from rich.table import Table

# Column headers whose values are copied into other commands.
WHOLE = frozenset(
    {"id", "run", "run_id", "job", "digest", "version", "ref", "reused from", "source", "name"}
)


def new_table(title: str | None = None) -> Table:
    """A borderless table."""
    return Table(box=None, pad_edge=False, title=title, title_justify="left")


def add_column(table: Table, column: str, justify: JustifyMethod = "left") -> None:
    """A column; an id-like one (see ``WHOLE``) keeps its values whole."""
    whole = column.lower() in WHOLE
    table.add_column(column, justify=justify, no_wrap=whole, overflow="ignore" if whole else "fold")


def print_table(table: Table, console: Console | None = None) -> None:
    """Print ``table`` with its id columns as wide as their longest value."""
    for column in table.columns:
        if column.no_wrap:
            cells = [str(cell) for cell in column.cells]
            column.min_width = max([len(str(column.header)), *map(len, cells)])
    (console or console_for_output()).print(table)


def console_for_output() -> Console:
    """A console that wraps at the terminal's width, and not at all into a pipe or file."""
    console = Console()
    return console if console.is_terminal else Console(width=100_000)
