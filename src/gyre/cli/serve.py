"""``gyre serve``."""

from __future__ import annotations

import click

from gyre.cli.options import open_workspace


@click.command()
@click.argument("references", nargs=-1, required=True, metavar="NAME@VERSION|NAME@ALIAS ...")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option(
    "--endpoint",
    help="Endpoint name (default: the first model's name); its inference "
    "dataset is ENDPOINT-inference.",
)
@click.option("--no-collect", is_flag=True, help="Do not record scored inputs and outputs.")
@click.option(
    "--max-batch",
    default=512,
    show_default=True,
    help="Rows per model call at most (a batch takes whole requests).",
)
@click.option(
    "--max-wait-ms", default=5.0, show_default=True, help="How long a batch waits under load."
)
@click.option("--max-body-bytes", default=10 << 20, show_default=True)
@click.option(
    "--journal-limit-bytes",
    default=1 << 30,
    show_default=True,
    help="Unconverted journal size at which rows stop being recorded (and are counted).",
)
def serve(
    references: tuple[str, ...],
    host: str,
    port: int,
    endpoint: str | None,
    no_collect: bool,
    max_batch: int,
    max_wait_ms: float,
    max_body_bytes: int,
    journal_limit_bytes: int,
) -> None:
    """Serve model versions over HTTP (Open Inference Protocol v2 and POST /score).

    \b
    Example:
      gyre serve seer@production --port 8000
      curl -X POST localhost:8000/score -d '{"image": "<base64>"}'
    """
    from gyre.serving.app import ServerOptions
    from gyre.serving.server import ServeConfig
    from gyre.serving.server import serve as run_server

    run_server(
        open_workspace(),
        ServeConfig(
            references=list(references),
            host=host,
            port=port,
            endpoint=endpoint,
            journal_limit_bytes=journal_limit_bytes,
            options=ServerOptions(
                max_batch=max_batch,
                max_wait_ms=max_wait_ms,
                max_body_bytes=max_body_bytes,
                collect=not no_collect,
            ),
        ),
    )
