"""OIDC login: a real issuer stand-in signs ID tokens; ``gyre server --oidc-issuer`` checks
them and gives gyre tokens; anything forged, expired, for another audience or unsigned is
refused."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey

from gyre.access import users
from gyre.store import Store
from gyre.workspace.audit_log import entries
from support.oidc_issuer import OidcIssuer
from support.team_server import TeamServer, team_server

pytestmark = pytest.mark.slow


@pytest.fixture
def issuer() -> Iterator[OidcIssuer]:
    running = OidcIssuer()
    yield running
    running.close()


@pytest.fixture
def server(workspace: Store, project: Path, issuer: OidcIssuer) -> Iterator[TeamServer]:
    users.create(workspace, "alice@example.com", role="approver")
    args = ["--oidc-issuer", issuer.url, "--oidc-audience", "gyre"]
    with team_server({"GYRE_URI": str(project / ".gyre")}, project, *args) as running:
        yield running


def _unsigned(token: str) -> str:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=")
    return header.decode() + "." + token.split(".")[1] + "."


def test_an_id_token_of_the_issuer_buys_a_gyre_token_and_nothing_else_does(
    server: TeamServer, issuer: OidcIssuer, workspace: Store
) -> None:
    anonymous = server.client()
    answer = anonymous.post(
        "/auth/oidc", json={"id_token": issuer.id_token(email="alice@example.com")}
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    me = server.client(token).get("/whoami").json()
    assert (me["name"], me["role"]) == ("alice@example.com", "approver")
    assert answer.json()["expires_at"] is not None  # it ends with the session

    stranger = RSAKey.generate_key(2048, parameters={"kid": "signing-1"})
    refusals = {
        "another audience": issuer.id_token(audience="other-app", email="alice@example.com"),
        "expired": issuer.id_token(lifetime_s=-600, email="alice@example.com"),
        "forged": issuer.id_token(key=stranger, email="alice@example.com"),
        "unsigned": _unsigned(issuer.id_token(email="alice@example.com")),
        "no email": issuer.id_token(),
    }
    for why, bad in refusals.items():
        refused = anonymous.post("/auth/oidc", json={"id_token": bad})
        assert refused.status_code == 401, (why, refused.text)
    unknown = anonymous.post(
        "/auth/oidc", json={"id_token": issuer.id_token(email="bob@example.com")}
    )
    assert unknown.status_code == 403 and "gyre user create bob@example.com" in unknown.text
    assert [u.name for u in users.list_users(workspace)] == ["alice@example.com"]  # no bob
    made = entries(workspace, action="token.create", subject="user alice@example.com")
    assert len(made) == 1 and "OIDC" in made[0].detail["description"]


def test_gyre_login_with_an_id_token_saves_a_gyre_token(
    server: TeamServer, issuer: OidcIssuer, tmp_path: Path
) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "GYRE_TOKEN": ""}
    done = subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", "login", server.url, "--id-token", "-"],
        input=issuer.id_token(email="alice@example.com"),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "as alice@example.com (approver)" in done.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "gyre.cli.main", "user", "list", "--json"],
        capture_output=True,
        text=True,
        env={**env, "GYRE_URI": server.url},
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert "alice@example.com" in listed.stdout
