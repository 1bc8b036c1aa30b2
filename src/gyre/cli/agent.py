"""``gyre agent``."""

from __future__ import annotations

from pathlib import Path

import click

from gyre.cli.options import open_workspace, params_option, parse_params


@click.command()
@click.option("--once", is_flag=True, help="Exit when the queue is empty.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between queue polls.")
@click.option(
    "--watch-repo",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also submit the pipeline for each new commit of --branch in this git repository.",
)
@click.option(
    "--branch", default="main", show_default=True, help="The branch --watch-repo follows."
)
@click.option(
    "--pipeline",
    "reference",
    metavar="FILE:PIPELINE",
    help="With --watch-repo: the pipeline to submit, relative to the repository's root.",
)
@click.option(
    "--no-endpoints",
    is_flag=True,
    help="Do not start or restart local endpoints' serving processes (another agent does).",
)
@params_option
def agent(
    once: bool,
    poll: float,
    watch_repo: Path | None,
    branch: str,
    reference: str | None,
    no_endpoints: bool,
    params: tuple[str, ...],
) -> None:
    """Claim queued runs from the workspace and run them (run several for more throughput),
    and keep local endpoints' serving processes running.

    With --watch-repo, also poll a repository gyre cannot put hooks in and submit each new
    commit of the branch once, even across restarts. Endpoint processes outlive the agent:
    the next agent adopts them.
    """
    from gyre.agent import serve

    store = open_workspace()
    before_claim = None
    if watch_repo is not None:
        if not reference:
            raise click.BadParameter(
                "give the pipeline to submit: --pipeline FILE:PIPELINE", param_hint="--pipeline"
            )
        from gyre.ci.watch import BranchWatcher

        watcher = BranchWatcher(store, watch_repo, branch, reference, parse_params(params))

        def before_claim() -> object:
            return watcher.poll(say=click.echo)

    serve(
        store,
        once=once,
        poll_s=poll,
        say=click.echo,
        before_claim=before_claim,
        endpoints=not no_endpoints,
    )
