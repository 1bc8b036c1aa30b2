"""``gyre agent``."""

from __future__ import annotations

import click

from gyre.cli.options import open_workspace


@click.command()
@click.option("--once", is_flag=True, help="Exit when the queue is empty.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between queue polls.")
def agent(once: bool, poll: float) -> None:
    """Claim queued runs from the workspace and run them (run several for more throughput)."""
    from gyre.agent import serve

    serve(open_workspace(), once=once, poll_s=poll, say=click.echo)
