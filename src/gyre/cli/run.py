"""``gyre run`` and ``gyre plan``."""

from __future__ import annotations

import click

from gyre.cli.options import (
    json_option,
    open_workspace,
    params_option,
    parse_params,
    parse_tags,
    print_json,
    tags_option,
)


@click.command()
@click.argument("reference", metavar="FILE:PIPELINE", required=False)
@params_option
@tags_option
@click.option("--experiment", "-e", help="Experiment name (default: the pipeline's name).")
@click.option("--resume", metavar="RUN_ID", help="Continue a failed or killed run.")
@click.option("--parallel", type=float, help="How many CPU slots steps may use at once.")
@click.option("--compute", help="Run every step on this compute target (gyre compute list).")
@json_option
def run(
    reference: str | None,
    params: tuple[str, ...],
    tags: tuple[str, ...],
    experiment: str | None,
    resume: str | None,
    parallel: float | None,
    compute: str | None,
    as_json: bool,
) -> None:
    """Run a pipeline now, reusing every step whose inputs, code and params did not change.

    \b
    Examples:
      gyre run examples/seer/pipeline.py:seer --param epochs=20 --tag build=1.42
      gyre run --resume 3f2a9c
    """
    from gyre.cli.progress import make_progress
    from gyre.pipelines.loader import load_pipeline
    from gyre.pipelines.run_types import RunObserver, RunRequest
    from gyre.pipelines.runner import run_pipeline

    store = open_workspace()
    if resume:
        from gyre.tracking.run_details import get_run

        record = get_run(store, resume)
        reference = reference or record.source
        resume = record.id
    if not reference:
        raise click.UsageError("Give FILE:PIPELINE to run, or --resume RUN_ID.")
    pipeline = load_pipeline(reference)
    request = RunRequest(
        pipeline=pipeline,
        params=parse_params(params),
        tags=parse_tags(tags),
        experiment=experiment,
        source=reference if ":" in reference else f"{reference}:{pipeline.name}",
        resume=resume,
        parallel=parallel,
        compute=compute,
    )
    observer = RunObserver() if as_json else make_progress()
    result = run_pipeline(request, store, observer)
    if as_json:
        print_json(
            {
                "id": result.id,
                "status": result.status,
                "error": result.error,
                "steps": {
                    name: {
                        "outcome": s.outcome,
                        "reason": s.reason,
                        "reused_from": s.reused_from,
                        "error": s.error,
                        "run_id": s.run_id,
                    }
                    for name, s in result.steps.items()
                },
            }
        )
    if result.status != "finished":
        raise SystemExit(1)


@click.command()
@click.argument("reference", metavar="FILE:PIPELINE")
@params_option
@json_option
def plan(reference: str, params: tuple[str, ...], as_json: bool) -> None:
    """Show, per step, whether a run would reuse stored outputs or run, and why."""

    from gyre.pipelines.loader import load_pipeline
    from gyre.pipelines.plan import plan as make_plan

    store = open_workspace()
    pipeline = load_pipeline(reference)
    steps = make_plan(pipeline, store, parse_params(params))
    if as_json:
        print_json([s.__dict__ for s in steps])
        return
    from gyre.cli.tables import add_column, new_table, print_table  # rich: only for tables

    table = new_table()
    add_column(table, "step")
    add_column(table, "action")
    add_column(table, "why")
    for s in steps:
        style = "cyan" if s.action == "reuse" else "yellow"
        table.add_row(s.name, f"[{style}]{s.action}[/]", s.reason)
    print_table(table)
