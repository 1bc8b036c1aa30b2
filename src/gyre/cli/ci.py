"""``gyre ci ...``: quality gates, the plan of a change, and training submitted per commit."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gyre.cli.options import json_option, open_workspace, params_option, parse_params, print_json

MARKS = {"passed": "ok", "failed": "FAILED", "skipped": "skipped"}


@click.group()
def ci() -> None:
    """CI for ML code: gates (check), what a change re-runs (plan), training per commit (submit)."""


@ci.command("check")
@click.option("--fix", is_flag=True, help="Strip notebook outputs before checking them.")
@click.option("--junit", type=click.Path(path_type=Path), help="Also write JUnit XML here.")
@json_option
def check(fix: bool, junit: Path | None, as_json: bool) -> None:
    """Run the project's quality gates: lint (ruff), tests (pytest), notebooks without
    outputs, pipelines that import and validate, pinned dependencies, release definitions
    that parse (gyre.yaml 'ci:').

    Exits 1 when a gate fails.
    """
    from gyre.ci.check import check as run_check
    from gyre.ci.junit import write

    report = run_check(Path.cwd(), fix=fix)
    if junit is not None:
        write(report.results, junit)
    if as_json:
        print_json({"passed": report.passed, "gates": [r.__dict__ for r in report.results]})
    else:
        from gyre.cli.tables import add_column, new_table, print_table

        table = new_table()
        for column in ("gate", "result", "seconds", "summary"):
            add_column(table, column)
        for r in report.results:
            table.add_row(r.name, MARKS[r.status], f"{r.seconds:.2f}", r.summary)
        print_table(table)
        for r in report.results:
            if r.status == "failed" and r.details:
                click.echo(f"\n--- {r.name} ---\n{r.details}")
    if not report.passed:
        raise SystemExit(1)


@ci.command("plan")
@click.argument("reference", metavar="FILE:PIPELINE")
@params_option
@click.option("--base", metavar="REF", help="Also list the files changed since REF (origin/main).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="markdown: ready for a pull-request comment.",
)
@click.option(
    "--post",
    type=click.Choice(["github", "gitlab", "azure"]),
    help="Also post (or update) the plan as a comment on the pull request.",
)
def plan(
    reference: str, params: tuple[str, ...], base: str | None, fmt: str, post: str | None
) -> None:
    """Which steps merging this change would re-run, why, and about how long (runs nothing)."""
    from gyre.ci.plan import as_markdown, as_text
    from gyre.ci.plan import plan as make_plan

    result = make_plan(open_workspace(), reference, parse_params(params), base=base)
    if post is not None:
        from gyre.ci.comments import post as post_comment

        posted = post_comment(post, as_markdown(result))
        verb = "Updated" if posted.updated else "Posted"
        click.echo(f"{verb} the plan on the pull request ({posted.url})", err=True)
    if fmt == "json":
        print_json(result.as_dict())
    elif fmt == "markdown":
        click.echo(as_markdown(result), nl=False)
    else:
        click.echo(as_text(result))


@ci.command("submit")
@click.argument("reference", metavar="FILE:PIPELINE")
@click.option("--build-id", required=True, help="The CI build's id; tags the run and its models.")
@params_option
@click.option("--name", help="Published name (default: the pipeline's name).")
@click.option("--allow-dirty", is_flag=True, help="Submit uncommitted changes (tagged dirty).")
@click.option("--wait", is_flag=True, help="Follow the run; exit 1 if it does not finish.")
@json_option
def submit(
    reference: str,
    build_id: str,
    params: tuple[str, ...],
    name: str | None,
    allow_dirty: bool,
    wait: bool,
    as_json: bool,
) -> None:
    """Publish the pipeline of this commit and queue its run (once per commit and params)."""
    from gyre.ci.submit import submit as ci_submit

    store = open_workspace()
    done = ci_submit(
        store,
        reference,
        build_id,
        params=parse_params(params),
        allow_dirty=allow_dirty,
        name=name,
    )
    run_id, definition = done.submitted.run_id, done.submitted.pipeline
    status = None
    if not as_json:
        verb = "Queued" if done.submitted.queued else "Already queued"
        click.echo(
            f"{verb} run {run_id} of {definition.name} version {definition.version} "
            f"(commit {done.commit[:12]}, build {build_id})"
        )
    if wait:
        from gyre.agent import follow

        say = (lambda _text: None) if as_json else click.echo
        output = sys.stderr if as_json else None  # stdout holds only the JSON
        status = follow(store, done.submitted.job_id, run_id, say=say, output=output)
    if as_json:
        print_json(
            {
                "run_id": run_id,
                "job": done.submitted.job_id,
                "queued": done.submitted.queued,
                "pipeline": definition.name,
                "version": definition.version,
                "commit": done.commit,
                "dirty": done.dirty,
                "build_id": build_id,
                "status": status,
            }
        )
    if wait and status != "finished":
        raise SystemExit(1)


@ci.group("hook")
def hook() -> None:
    """gyre in git hooks: no CI server needed."""


@hook.command("install")
@click.argument("repo", type=click.Path(path_type=Path, file_okay=False), default=".")
@click.option(
    "--hook",
    "hook_name",
    type=click.Choice(["pre-push", "pre-commit", "post-receive"]),
    default="pre-push",
    show_default=True,
    help="pre-push/pre-commit: run gyre ci check; post-receive (a bare repository): submit.",
)
@click.option("--pipeline", "reference", metavar="FILE:PIPELINE", help="post-receive: submit this.")
@click.option("--branch", default="main", show_default=True, help="post-receive: on this branch.")
@params_option
def install(
    repo: Path, hook_name: str, reference: str | None, branch: str, params: tuple[str, ...]
) -> None:
    """Install a hook into REPO (default: here); installing again rewrites it."""
    from gyre.ci import hooks

    if hook_name == "post-receive":
        if not reference:
            raise click.BadParameter(
                "give the pipeline to submit: --pipeline FILE:PIPELINE", param_hint="--pipeline"
            )
        from gyre.config import resolve

        settings = resolve()
        workspace = str(settings.local_dir) if settings.embedded else settings.db_url
        done = hooks.install_submit(repo, reference, branch, workspace, parse_params(params))
    else:
        done = hooks.install_check(repo, hook_name)
    verb = "Rewrote" if done.replaced else "Installed"
    click.echo(f"{verb} {done.path}")


@ci.command("init")
@click.argument("system", type=click.Choice(["github", "azure", "gitlab"]))
@click.option("--pipeline", "reference", required=True, metavar="FILE:PIPELINE")
@click.option("--branch", default="main", show_default=True, help="The branch that trains.")
@click.option("--force", is_flag=True, help="Replace an existing workflow file.")
def init(system: str, reference: str, branch: str, force: bool) -> None:
    """Write a workflow for GitHub Actions, Azure Pipelines or GitLab CI: gates on every
    change, the plan on pull requests, training when BRANCH moves."""
    from gyre.ci import repository, templates

    root = repository.root(Path.cwd())
    written = templates.write(root, templates.render(system, reference, branch), force=force)
    click.echo(f"Wrote {written.relative_to(root)}; commit it to turn it on.")
