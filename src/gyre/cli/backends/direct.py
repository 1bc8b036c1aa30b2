"""The operations of the CLI's commands on the workspace itself (its capability functions)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gyre.access.tokens import IssuedToken
    from gyre.endpoints import EndpointRow
    from gyre.jobs import Job
    from gyre.pipelines.submission import PublishedPipeline, PublishedVersion, Submitted
    from gyre.registry.models import ModelVersionRecord
    from gyre.releases import ReleaseRow, ReleaseSpec
    from gyre.store import Store
    from gyre.tracking.run_details import StepLog
    from gyre.tracking.run_query import RunRow


class Direct:
    remote = False

    @cached_property
    def store(self) -> Store:
        from gyre.tracking.current_store import current_store

        return current_store()

    def who(self) -> str:
        from gyre.actors import user_name

        return user_name()

    # runs
    def find_runs(self, **query: Any) -> list[RunRow]:
        from gyre.tracking.run_query import find_runs

        return find_runs(self.store, **query)

    def run_detail(self, run_id: str) -> dict[str, Any]:
        from gyre.tracking.run_details import run_detail

        return run_detail(self.store, run_id)

    def resolve_ids(self, run_ids: list[str]) -> list[str]:
        from gyre.tracking.run_details import resolve_ids

        return resolve_ids(self.store, run_ids)

    def delete_runs(self, run_ids: list[str]) -> int:
        from gyre.tracking.run_details import delete_runs

        return delete_runs(self.store, run_ids)

    def cancel_run(self, run_id: str) -> str:
        from gyre.pipelines.submission import cancel_run

        return cancel_run(self.store, run_id)

    def logs(self, run_id: str, step: str | None) -> list[StepLog]:
        from gyre.tracking.run_details import logs

        return logs(self.store, run_id, step)

    def metric_histories(
        self, run_id: str, key: str | None, step: str | None
    ) -> dict[str, list[tuple[int, float, float]]]:
        from gyre.tracking.run_details import metric_histories

        return metric_histories(self.store, run_id, key, step)

    def artifacts(self, run_id: str) -> list[dict[str, Any]]:
        from gyre.tracking.run_details import artifacts

        return artifacts(self.store, run_id)

    def fetch_artifact(self, run_id: str, name: str, dest: Path) -> str:
        from gyre.tracking.run_details import fetch_artifact

        return fetch_artifact(self.store, run_id, name, dest).name

    # jobs and the audit log
    def list_jobs(self, kind: str | None, limit: int) -> list[Job]:
        from gyre.jobs import list_jobs

        return list_jobs(self.store, kind=kind, limit=limit)

    def audit(self, **query: Any) -> list[Any]:
        from gyre.workspace.audit_log import entries

        return entries(self.store, **query)

    def damage_of(self, subjects: list[str]) -> list[str]:
        from gyre.workspace.fsck import damage_of

        return damage_of(self.store, subjects)

    # datasets
    def list_datasets(self) -> list[dict[str, Any]]:
        from gyre.data.versions import list_datasets

        return list_datasets(self.store)

    # models
    def list_models(self) -> list[dict[str, Any]]:
        from gyre.registry.catalog import list_models

        return list_models(self.store)

    def model_versions(self, reference: str) -> list[ModelVersionRecord]:
        from gyre.registry.catalog import versions

        return versions(self.store, reference)

    def alias_history(self, name: str) -> list[dict[str, Any]]:
        from gyre.registry.catalog import alias_history

        return alias_history(self.store, name)

    def set_alias(self, name: str, alias: str, version: int) -> int | None:
        from gyre.registry.models import set_alias

        return set_alias(self.store, name, alias, version)

    def set_model_tags(self, reference: str, tags: dict[str, str]) -> ModelVersionRecord:
        from gyre.registry.catalog import set_tags

        return set_tags(self.store, reference, tags)

    # pipelines
    def newest_published(self) -> list[PublishedPipeline]:
        from gyre.pipelines.submission import newest_published

        return newest_published(self.store)

    def published_versions(self, name: str) -> list[PublishedVersion]:
        from gyre.pipelines.submission import published_versions

        return published_versions(self.store, name)

    def submit(
        self, name: str, version: int | None, params: dict[str, Any], tags: dict[str, str]
    ) -> Submitted:
        from gyre.pipelines.submission import submit

        return submit(self.store, name, version, params=params, tags=tags)

    def follow(self, submitted: Submitted, say: Any) -> str:
        from gyre.agent import follow

        return follow(self.store, submitted.job_id, submitted.run_id, say=say)

    # releases
    def list_releases(self, definition: str | None, limit: int) -> list[ReleaseRow]:
        from gyre import releases

        return releases.list_releases(self.store, definition=definition, limit=limit)

    def release(self, release_id: int) -> ReleaseRow:
        from gyre import releases

        return releases.get(self.store, release_id)

    def release_spec(self, row: ReleaseRow) -> ReleaseSpec:
        from gyre import releases

        return releases.spec_of(self.store, row)

    def decide(self, release_id: int, verb: str, comment: str = "") -> ReleaseRow:
        from gyre import releases

        if verb == "approve":
            return releases.approve(self.store, release_id, comment=comment)
        if verb == "reject":
            return releases.reject(self.store, release_id, comment=comment)
        if verb == "rollback":
            return releases.rollback(self.store, release_id)
        if verb == "retry":
            return releases.retry(self.store, release_id)
        return releases.cancel(self.store, release_id)

    # endpoints
    def list_endpoints(self) -> list[EndpointRow]:
        from gyre import endpoints

        return endpoints.list_endpoints(self.store)

    def endpoint(self, name: str) -> EndpointRow:
        from gyre import endpoints

        return endpoints.get(self.store, name)

    def set_traffic(
        self, name: str, weights: dict[str, str], shadow: str | None, wait_s: float | None
    ) -> EndpointRow:
        from gyre import endpoints

        row = endpoints.set_traffic(self.store, name, weights, shadow=shadow)
        if wait_s is not None:
            row = endpoints.wait_applied(self.store, name, row.generation, wait_s)
        return row

    # users and tokens
    def users(self) -> tuple[list[Any], list[Any]]:
        from gyre.access import users

        return users.list_users(self.store), users.grants(self.store)

    def create_user(self, name: str, role: str, kind: str) -> None:
        from gyre.access import users

        users.create(self.store, name, role=role, kind=kind)

    def set_role(self, name: str, role: str) -> None:
        from gyre.access import users

        users.set_role(self.store, name, role)

    def grant(self, name: str, role: str, resource: str) -> None:
        from gyre.access import users

        users.grant(self.store, name, role, resource)

    def ungrant(self, name: str, resource: str) -> bool:
        from gyre.access import users

        return users.revoke_grant(self.store, name, resource)

    def disable_user(self, name: str) -> None:
        from gyre.access import users

        users.disable(self.store, name)

    def create_token(
        self, name: str, description: str, expires_in_s: float | None, admin: bool
    ) -> IssuedToken:
        from gyre.access import tokens

        if admin:
            return tokens.admin_token(self.store, description=description or "admin token")
        return tokens.create(self.store, name, description=description, expires_in_s=expires_in_s)

    def tokens(self, user: str | None) -> list[Any]:
        from gyre.access import tokens

        return tokens.list_tokens(self.store, user)

    def revoke_token(self, token_id: str) -> bool:
        from gyre.access import tokens

        return tokens.revoke(self.store, token_id)
