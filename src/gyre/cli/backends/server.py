"""The operations of the CLI's commands through a team server: the REST API with the caller's
token, its answers rebuilt into the records the commands print (the same as on a workspace)."""

from __future__ import annotations

import dataclasses
import io
import tarfile
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from gyre.errors import InvalidParameter

if TYPE_CHECKING:
    from gyre.access.tokens import IssuedToken
    from gyre.endpoints import EndpointRow
    from gyre.jobs import Job
    from gyre.pipelines.submission import PublishedPipeline, PublishedVersion, Submitted
    from gyre.registry.models import ModelVersionRecord
    from gyre.releases import ReleaseRow, ReleaseSpec
    from gyre.remote.client import ServerClient
    from gyre.tracking.run_details import StepLog
    from gyre.tracking.run_query import RunRow

T = TypeVar("T")
FOLLOW_POLL_S = 1.0


def record(cls: type[T], data: dict[str, Any]) -> T:
    """``cls`` (a dataclass) from a route's JSON, ignoring what the route adds to it."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


def _q(text: str) -> str:
    return quote(text, safe="")


class Server:
    remote = True

    def __init__(self, url: str) -> None:
        self.url = url

    @cached_property
    def client(self) -> ServerClient:
        from gyre.remote.client import ServerClient, ServerTarget
        from gyre.remote.credentials import token_for

        return ServerClient(ServerTarget(self.url, token_for(self.url)))

    def _get(self, path: str, **params: Any) -> Any:
        return self.client.request("GET", path, params=params)

    def who(self) -> str:
        return str(self._get("/whoami")["name"])

    # runs
    def find_runs(self, **query: Any) -> list[RunRow]:
        from gyre.tracking.run_query import RunRecord, RunRow

        rows = self._get(
            "/runs",
            experiment=query.get("experiment"),
            filter=query.get("filter_text"),
            order_by=query.get("order_by"),
            limit=query.get("limit", 50),
            steps=query.get("kinds") == ("step",),
        )
        return [RunRow(record(RunRecord, r), r["params"], r["tags"], r["metrics"]) for r in rows]

    def run_detail(self, run_id: str) -> dict[str, Any]:
        detail: dict[str, Any] = self._get(f"/runs/{_q(run_id)}")
        return detail

    def resolve_ids(self, run_ids: list[str]) -> list[str]:
        return [self.run_detail(run_id)["id"] for run_id in run_ids]

    def delete_runs(self, run_ids: list[str]) -> int:
        return sum(int(self.client.request("DELETE", f"/runs/{_q(r)}")["deleted"]) for r in run_ids)

    def cancel_run(self, run_id: str) -> str:
        answer = self.client.request("POST", f"/pipelines/runs/{_q(run_id)}/cancel")
        return str(answer["status"])

    def logs(self, run_id: str, step: str | None) -> list[StepLog]:
        from gyre.tracking.run_details import StepLog

        return [record(StepLog, e) for e in self._get(f"/runs/{_q(run_id)}/logs", step=step)]

    def metric_histories(
        self, run_id: str, key: str | None, step: str | None
    ) -> dict[str, list[tuple[int, float, float]]]:
        found = self._get(f"/runs/{_q(run_id)}/metrics", key=key, step=step)
        return {
            k: [
                (int(p["step"]), float("nan") if p["value"] is None else p["value"], p["timestamp"])
                for p in points
            ]
            for k, points in found.items()
        }

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._get(f"/runs/{_q(run_id)}/artifacts")
        return found

    def fetch_artifact(self, run_id: str, name: str, dest: Path) -> str:
        listed = {
            (a["step"] + "/" if a["step"] else "") + a["name"]: a for a in self.artifacts(run_id)
        }
        chosen = listed.get(name)
        if chosen is None:
            raise InvalidParameter(
                f"Run {run_id} has no artifact {name!r}; there are: "
                f"{', '.join(sorted(listed)) or 'none'}.",
                field="name",
            )
        body = self.client.download(f"/runs/{_q(run_id)}/artifacts/{quote(name)}")
        if chosen["materializer"] == "dir":
            with tarfile.open(fileobj=io.BytesIO(body)) as archive:
                archive.extractall(dest, filter="data")
        else:
            target = dest / chosen["meta"].get("name", chosen["name"]) if dest.is_dir() else dest
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            partial.write_bytes(body)
            partial.replace(target)
        return str(chosen["name"])

    # jobs and the audit log
    def list_jobs(self, kind: str | None, limit: int) -> list[Job]:
        from gyre.jobs import Job

        return [record(Job, j) for j in self._get("/jobs", kind=kind, limit=limit)]

    def audit(self, **query: Any) -> list[Any]:
        from gyre.workspace.audit_log import Entry

        return [record(Entry, e) for e in self._get("/audit", **query)]

    def damage_of(self, subjects: list[str]) -> list[str]:
        found: list[str] = self._get("/damage", subject=subjects)
        return found

    # datasets
    def list_datasets(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._get("/datasets")
        return found

    # models
    def list_models(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._get("/models")
        return found

    def model_versions(self, reference: str) -> list[ModelVersionRecord]:
        from gyre.registry.models import ModelVersionRecord

        name, _, ref = reference.partition("@")
        if ref:
            found = [self._get(f"/models/{_q(name)}/versions/{_q(ref)}")]
        else:
            found = self._get(f"/models/{_q(name)}/versions")
        return [record(ModelVersionRecord, v) for v in found]

    def alias_history(self, name: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._get(f"/models/{_q(name)}/aliases")
        return found

    def set_alias(self, name: str, alias: str, version: int) -> int | None:
        answer = self.client.request(
            "PUT", f"/models/{_q(name)}/aliases/{_q(alias)}", json={"version": version}
        )
        previous = answer["previous"]
        return int(previous) if previous is not None else None

    def set_model_tags(self, reference: str, tags: dict[str, str]) -> ModelVersionRecord:
        from gyre.registry.models import ModelVersionRecord

        name, _, ref = reference.partition("@")
        answer = self.client.request(
            "PATCH", f"/models/{_q(name)}/versions/{_q(ref or 'latest')}/tags", json={"tags": tags}
        )
        return record(ModelVersionRecord, answer)

    # pipelines
    def newest_published(self) -> list[PublishedPipeline]:
        from gyre.pipelines.submission import PublishedPipeline

        return [record(PublishedPipeline, p) for p in self._get("/pipelines")]

    def published_versions(self, name: str) -> list[PublishedVersion]:
        from gyre.pipelines.submission import PublishedPipeline, PublishedVersion

        return [
            PublishedVersion(record(PublishedPipeline, v), v["files"])
            for v in self._get(f"/pipelines/{_q(name)}/versions")
        ]

    def submit(
        self, name: str, version: int | None, params: dict[str, Any], tags: dict[str, str]
    ) -> Submitted:
        from gyre.pipelines.submission import Submitted

        answer = self.client.request(
            "POST",
            f"/pipelines/{_q(name)}/runs",
            json={"version": version, "params": params, "tags": tags},
        )
        definition = next(
            v.definition
            for v in self.published_versions(name)
            if v.definition.version == answer["version"]
        )
        return Submitted(answer["job_id"], answer["run_id"], definition, answer["queued"])

    def follow(self, submitted: Submitted, say: Any) -> str:
        """Wait for the run an agent runs (through the server, nothing runs here)."""
        say(f"Run {submitted.run_id} queued; waiting for an agent of the server's workspace.")
        while True:
            status = str(self.run_detail(submitted.run_id)["status"])
            if status not in ("queued", "running"):
                say(f"Run {submitted.run_id} {status}.")
                return status
            time.sleep(FOLLOW_POLL_S)

    # releases
    def list_releases(self, definition: str | None, limit: int) -> list[ReleaseRow]:
        from gyre.releases import ReleaseRow

        return [
            record(ReleaseRow, r)
            for r in self._get("/releases", definition=definition, limit=limit)
        ]

    def release(self, release_id: int) -> ReleaseRow:
        from gyre.releases import ReleaseRow

        return record(ReleaseRow, self._get(f"/releases/{int(release_id)}"))

    def release_spec(self, row: ReleaseRow) -> ReleaseSpec:
        from gyre.releases import ReleaseSpec

        return ReleaseSpec.from_json(self._spec_cache(row.id))

    def _spec_cache(self, release_id: int) -> dict[str, Any]:
        spec: dict[str, Any] = self._get(f"/releases/{int(release_id)}")["spec"]
        return spec

    def decide(self, release_id: int, verb: str, comment: str = "") -> ReleaseRow:
        from gyre.releases import ReleaseRow

        body = {"comment": comment} if verb in ("approve", "reject") else None
        answer = self.client.request("POST", f"/releases/{int(release_id)}/{verb}", json=body)
        return record(ReleaseRow, answer)

    # endpoints
    def list_endpoints(self) -> list[EndpointRow]:
        return [_endpoint(e) for e in self._get("/endpoints")]

    def endpoint(self, name: str) -> EndpointRow:
        return _endpoint(self._get(f"/endpoints/{_q(name)}"))

    def set_traffic(
        self, name: str, weights: dict[str, str], shadow: str | None, wait_s: float | None
    ) -> EndpointRow:
        body: dict[str, Any] = {"weights": {k: int(v) for k, v in weights.items()}}
        if shadow is not None:
            body["shadow"] = shadow
        if wait_s is not None:
            body["wait_s"] = wait_s
        return _endpoint(self.client.request("PUT", f"/endpoints/{_q(name)}/traffic", json=body))

    # users and tokens
    def users(self) -> tuple[list[Any], list[Any]]:
        from gyre.access.users import GrantRow, UserRow

        found = self._get("/users")
        return (
            [record(UserRow, u) for u in found],
            [record(GrantRow, g) for u in found for g in u["grants"]],
        )

    def create_user(self, name: str, role: str, kind: str) -> None:
        self.client.request("POST", "/users", json={"name": name, "role": role, "kind": kind})

    def set_role(self, name: str, role: str) -> None:
        self.client.request("PUT", f"/users/{_q(name)}/role", json={"role": role})

    def grant(self, name: str, role: str, resource: str) -> None:
        self.client.request(
            "POST", f"/users/{_q(name)}/grants", json={"role": role, "resource": resource}
        )

    def ungrant(self, name: str, resource: str) -> bool:
        raise InvalidParameter(
            "Removing a grant through the server is not offered yet; run 'gyre user ungrant' "
            "with the workspace itself (GYRE_URI=postgresql://...).",
            field="resource",
        )

    def disable_user(self, name: str) -> None:
        self.client.request("POST", f"/users/{_q(name)}/disable")

    def create_token(
        self, name: str, description: str, expires_in_s: float | None, admin: bool
    ) -> IssuedToken:
        from gyre.access.tokens import IssuedToken, TokenRow

        if admin:
            raise InvalidParameter(
                "--admin makes a token with the workspace's own credentials; through the "
                "server an admin makes tokens for users: gyre token create NAME.",
                field="admin",
            )
        body = {"user": name, "description": description, "expires_in_s": expires_in_s}
        answer = self.client.request("POST", "/tokens", json=body)
        return IssuedToken(record(TokenRow, {**answer, "digest": ""}), answer["token"])

    def tokens(self, user: str | None) -> list[Any]:
        from gyre.access.tokens import TokenRow

        found = [record(TokenRow, {**t, "digest": ""}) for t in self._get("/tokens")]
        return [t for t in found if user is None or t.user_name == user]

    def revoke_token(self, token_id: str) -> bool:
        return bool(self.client.request("DELETE", f"/tokens/{_q(token_id)}")["revoked"])


def _endpoint(data: dict[str, Any]) -> EndpointRow:
    from gyre.endpoints import EndpointRow

    row = record(EndpointRow, data)
    return dataclasses.replace(row, traffic={int(k): int(v) for k, v in row.traffic.items()})
