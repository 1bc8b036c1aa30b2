"""``gyre server``."""

from __future__ import annotations

import os

import click


@click.command()
@click.option(
    "--workspace",
    metavar="URI",
    help="The workspace to serve: postgresql://... (with GYRE_ARTIFACTS) or a folder "
    "(default: as every command finds it: GYRE_URI, gyre.yaml, ./.gyre).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True)
@click.option("--workers", default=1, show_default=True, help="Server processes.")
@click.option(
    "--no-auth",
    is_flag=True,
    help="Serve without tokens (loopback addresses only): every caller acts as you, an admin.",
)
@click.option(
    "--oidc-issuer", metavar="URL", help="Sign people in with this OIDC issuer's ID tokens."
)
@click.option("--oidc-audience", metavar="ID", help="The client id the ID tokens are for.")
@click.option(
    "--oidc-claim", default="email", show_default=True, help="The claim that names the user."
)
@click.option(
    "--oidc-new-users",
    type=click.Choice(["reader", "contributor"]),
    help="Make a user at its first login with this role (default: only existing users).",
)
def server(
    workspace: str | None,
    host: str,
    port: int,
    workers: int,
    no_auth: bool,
    oidc_issuer: str | None,
    oidc_audience: str | None,
    oidc_claim: str,
    oidc_new_users: str | None,
) -> None:
    """Serve the workspace to a team: REST API under /api/v1, MLflow's tracking API under
    /mlflow, tokens and roles, every change in the audit log.

    \b
    Example:
      GYRE_ARTIFACTS=s3://ml/gyre gyre server --workspace postgresql://gyre@db/gyre \\
          --host 0.0.0.0 --port 8080 --workers 4
    """
    if workspace:
        os.environ["GYRE_URI"] = workspace
    from gyre.cli.options import open_workspace
    from gyre.server.oidc import OidcSettings
    from gyre.server.runner import ServerConfig, serve

    oidc = None
    if oidc_issuer or oidc_audience:
        if not (oidc_issuer and oidc_audience):
            raise click.UsageError("--oidc-issuer and --oidc-audience go together.")
        oidc = OidcSettings(oidc_issuer, oidc_audience, oidc_claim, oidc_new_users)
    serve(open_workspace(), ServerConfig(host, port, workers, auth=not no_auth, oidc=oidc))
