"""The ``gyre`` command. Subcommands load on first use so that ``gyre --help`` stays instant."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

_COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:attribute, one-line help shown by --help without importing the module)
    "init": ("gyre.cli.workspace:init", "Create a workspace (.gyre/) in the current folder."),
    "migrate": ("gyre.cli.workspace:migrate", "Upgrade the workspace schema to this gyre."),
    "gc": ("gyre.cli.workspace:gc", "Remove blobs that nothing references any more."),
    "fsck": ("gyre.cli.workspace:fsck", "Check every recorded blob and copy; --repair fixes."),
    "run": ("gyre.cli.run:run", "Run a pipeline: gyre run FILE:PIPELINE [--param k=v]."),
    "plan": ("gyre.cli.run:plan", "Show which steps a run would reuse or run, and why."),
    "runs": ("gyre.cli.runs:runs", "List, show, compare, cancel and delete runs."),
    "logs": ("gyre.cli.runs:logs", "Print the logs of a run's steps."),
    "metrics": ("gyre.cli.runs:metrics", "Print a run's metric history (table or sparkline)."),
    "artifacts": ("gyre.cli.runs:artifacts", "List and fetch a run's artifacts."),
    "pipeline": ("gyre.cli.pipeline:pipeline", "Publish, submit, list and show pipelines."),
    "agent": ("gyre.cli.agent:agent", "Claim queued runs from the workspace and run them."),
    "events": ("gyre.cli.events:events", "List the workspace's jobs and events."),
    "data": ("gyre.cli.data:data", "Register, inspect, compare and fetch versioned datasets."),
    "datastore": ("gyre.cli.datastore:datastore", "Named storage locations for datasets."),
    "secret": ("gyre.cli.secret:secret", "Credentials kept outside the metadata database."),
    "lineage": ("gyre.cli.lineage:lineage", "What produced or used a dataset version or run."),
    "model": ("gyre.cli.model:model", "Register, alias, compare and delete model versions."),
    "audit": ("gyre.cli.audit:audit", "Who did what to which object: the append-only log."),
    "ci": ("gyre.cli.ci:ci", "CI: quality gates, the plan of a change, training per commit."),
    "endpoint": (
        "gyre.cli.endpoint:endpoint",
        "Stable scoring URLs: traffic splits, shadows, kept running by the agent.",
    ),
    "release": (
        "gyre.cli.release:release",
        "Releases: test, checks, approval and canary rollout of new model versions.",
    ),
    "monitor": (
        "gyre.cli.monitor:monitor",
        "Drift monitors: windows of inference data against a baseline; alert, retrain.",
    ),
    "drift": (
        "gyre.cli.monitor:drift",
        "Compare two datasets (versions, files, image folders) for drift.",
    ),
    "compute": ("gyre.cli.compute:compute", "Compute targets: local processes or a Ray cluster."),
    "server": (
        "gyre.cli.server:server",
        "Serve the workspace to a team: REST API, MLflow endpoint, tokens, roles.",
    ),
    "user": ("gyre.cli.access:user", "Users of the team server, their roles and grants."),
    "token": ("gyre.cli.access:token", "Tokens for the team server: create, list, revoke."),
    "login": ("gyre.cli.access:login", "Save a token for a team server (GYRE_URI=URL then)."),
    "logout": ("gyre.cli.access:logout", "Forget the token saved for a team server."),
    "serve": (
        "gyre.cli.serve:serve",
        "Serve a model version over HTTP: gyre serve seer@production.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attr = entry[0].split(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="gyre", message="gyre %(version)s")
def cli(debug: bool) -> None:
    """gyre: pipelines with step reuse, experiment tracking and the MLOps loop around them."""
    if debug:
        os.environ["GYRE_DEBUG"] = "1"


def main(argv: list[str] | None = None) -> Any:
    """The console script. Given ``argv`` (called from Python), it always returns or raises."""
    from gyre.cli.process_end import end_after_ray, exit_code

    try:
        result = _main(argv)
    except SystemExit as exc:
        if argv is None:
            end_after_ray(exit_code(exc.code))
        raise
    if argv is None:
        end_after_ray(exit_code(result))
    return result


def _main(argv: list[str] | None) -> Any:
    from gyre.errors import GyreError

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        return cli.main(args=argv, prog_name="gyre", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except GyreError as exc:
        if debug:
            raise
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
