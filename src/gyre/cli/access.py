"""``gyre user ...`` and ``gyre token ...``: who may use the workspace through the server."""

from __future__ import annotations

import datetime as dt
import sys

import click

from gyre.cli.backends import backend
from gyre.cli.options import json_option, print_json
from gyre.cli.tables import add_column, new_table, print_table

ROLE = click.Choice(["reader", "contributor", "approver", "admin"])


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else ""


@click.group()
def user() -> None:
    """People and services (CI jobs) who use the workspace through the team server."""


@user.command("create")
@click.argument("name")
@click.option("--role", type=ROLE, required=True, help="Each role includes the ones before it.")
@click.option("--service", is_flag=True, help="A service account (a CI job), not a person.")
def create_user(name: str, role: str, service: bool) -> None:
    """Add a user; then give it a token: gyre token create NAME."""
    backend().create_user(name, role, "service" if service else "person")
    click.echo(f"User {name} ({role}) created. Give it a token: gyre token create {name}")


@user.command("list")
@json_option
def list_users(as_json: bool) -> None:
    """Every user with its role and grants."""
    found, granted = backend().users()
    if as_json:
        print_json(
            [
                {**u.__dict__, "grants": [g.__dict__ for g in granted if g.user_name == u.name]}
                for u in found
            ]
        )
        return
    table = new_table()
    for column in ("name", "kind", "role", "grants", "created", "disabled"):
        add_column(table, column)
    for u in found:
        mine = ", ".join(f"{g.role} on {g.resource}" for g in granted if g.user_name == u.name)
        table.add_row(u.name, u.kind, u.role, mine, _when(u.created_at), _when(u.disabled_at))
    print_table(table)


@user.command("role")
@click.argument("name")
@click.argument("role", type=ROLE)
def set_role(name: str, role: str) -> None:
    """Change a user's role (everywhere)."""
    backend().set_role(name, role)
    click.echo(f"{name} is {role} now.")


@user.command("grant")
@click.argument("name")
@click.argument("role", type=ROLE)
@click.option("--on", "resource", required=True, help="A resource: 'model seer', 'release seer'.")
def grant(name: str, role: str, resource: str) -> None:
    """Give a user a role on one resource (e.g. approver on 'model seer')."""
    backend().grant(name, role, resource)
    click.echo(f"{name} is {role} on {resource}.")


@user.command("ungrant")
@click.argument("name")
@click.option("--on", "resource", required=True, help="The resource of the grant.")
def ungrant(name: str, resource: str) -> None:
    """Remove a user's grant on a resource."""
    removed = backend().ungrant(name, resource)
    click.echo("Grant removed." if removed else f"{name} had no grant on {resource}.")


@user.command("disable")
@click.argument("name")
def disable(name: str) -> None:
    """Disable a user: its tokens stop working at once; its history stays."""
    backend().disable_user(name)
    click.echo(f"{name} is disabled.")


@click.group()
def token() -> None:
    """Tokens for the team server: shown once, stored hashed, with expiry and revocation."""


@token.command("create")
@click.argument("name", required=False)
@click.option("--admin", is_flag=True, help="An admin's token (made on the workspace directly).")
@click.option("--expires", metavar="DURATION", help="e.g. 90d, 12h (default: never).")
@click.option("--description", default="", help="What it is for, e.g. 'CI of seer'.")
def create_token(name: str | None, admin: bool, expires: str | None, description: str) -> None:
    """Make a token for NAME (default: you); printed once, never again."""
    from gyre.durations import parse_duration

    expires_in = None
    if expires is not None:
        expires_in = parse_duration(expires)
        if not expires_in:
            raise click.BadParameter(f"{expires!r} is not a duration (e.g. 90d, 12h).")
    where = backend()
    if admin and name:
        raise click.UsageError("--admin makes the admin's token; give no NAME with it.")
    issued = where.create_token(name or where.who(), description, expires_in, admin)
    click.echo(
        f"Token {issued.row.id} for {issued.row.user_name} (shown once; keep it secret):",
        err=True,
    )
    click.echo(issued.secret)


@token.command("list")
@click.option("--user", "name", help="Only this user's tokens.")
@json_option
def list_tokens(name: str | None, as_json: bool) -> None:
    """Tokens (never their secrets): owner, expiry, last use, revocation."""
    found = backend().tokens(name)
    if as_json:
        print_json([{k: v for k, v in t.__dict__.items() if k != "digest"} for t in found])
        return
    table = new_table()
    for column in ("id", "user", "description", "created", "expires", "last used", "revoked"):
        add_column(table, column)
    for t in found:
        table.add_row(
            t.id,
            t.user_name,
            t.description,
            _when(t.created_at),
            _when(t.expires_at),
            _when(t.last_used_at),
            _when(t.revoked_at),
        )
    print_table(table)


@token.command("revoke")
@click.argument("token_id")
def revoke(token_id: str) -> None:
    """Revoke a token at once (by its id, t_...)."""
    done = backend().revoke_token(token_id)
    click.echo(f"{token_id} revoked." if done else f"{token_id} was revoked already.")


@click.command()
@click.argument("url")
@click.option(
    "--token",
    envvar="GYRE_TOKEN",
    help="The token (default: asked for, not echoed; or GYRE_TOKEN).",
)
@click.option(
    "--id-token",
    metavar="JWT|-",
    help="Sign in with an ID token of the server's OIDC issuer instead ('-': read it from stdin).",
)
def login(url: str, token: str | None, id_token: str | None) -> None:
    """Save a token for a team server: then GYRE_URI=URL is all a command or script needs.

    \b
    Example:
      gyre login https://gyre.example.com        # paste the token 'gyre token create' printed
      export GYRE_URI=https://gyre.example.com
    """
    from gyre.config import is_server_url
    from gyre.remote.client import ServerClient, ServerTarget
    from gyre.remote.credentials import save

    if not is_server_url(url):
        raise click.BadParameter(f"{url!r} is not an http(s):// URL of a gyre server.")
    if id_token is not None:
        jwt = sys.stdin.read() if id_token == "-" else id_token
        anonymous = ServerClient(ServerTarget(url.rstrip("/"), None), retry_s=5)
        try:
            exchanged = anonymous.request("POST", "/auth/oidc", json={"id_token": jwt.strip()})
        finally:
            anonymous.close()
        token = str(exchanged["token"])
    secret = token or str(click.prompt("Token", hide_input=True))
    client = ServerClient(ServerTarget(url.rstrip("/"), secret.strip()), retry_s=5)
    try:
        me = client.request("GET", "/whoami")
    finally:
        client.close()
    path = save(url, secret.strip())
    click.echo(f"Logged in to {url} as {me['name']} ({me['role']}); the token is in {path}.")


@click.command()
@click.argument("url")
def logout(url: str) -> None:
    """Forget the token saved for a team server."""
    from gyre.remote.credentials import forget

    done = forget(url)
    click.echo(f"Forgot the token for {url}." if done else f"No token was saved for {url}.")
