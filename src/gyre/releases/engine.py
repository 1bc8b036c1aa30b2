"""The release state machine: each transition is a job, retried and idempotent.

A release moves through its definition's stages; in each stage through the phases

    deploy -> checks -> [approval] -> [rollout, one transition per canary step] -> promote

A transition is the job ``release.step`` keyed ``release:ID:SEQ``. Running it does the phase's
work (which is idempotent: an endpoint is only changed when it differs from what the phase
wants), then, in one transaction, moves the release to ``SEQ + 1``, writes the audit entry and
queues the next transition. An agent killed in the middle leaves the job's lease to run out;
the next agent runs the same transition again and finds the work done or redoes it, and the
``seq`` guard makes a second commit impossible, so nothing is deployed twice or skipped.

Production is touched only in a stage with a rollout, and only from the rollout phase on: the
deploy phase there loads the candidate as the endpoint's shadow, so the checks can reach it
(with the ``gyre-model-version`` header) while every client is still answered by the stable
version. A stage that fails removes its shadow again; a canary that breaches its thresholds
puts all traffic back on the stable version (rolled back).
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gyre import endpoints
from gyre.errors import Conflict, GyreError
from gyre.registry import models as registry
from gyre.releases import health
from gyre.releases.checks import Candidate, run_check
from gyre.releases.spec import ReleaseSpec, Stage
from gyre.store import audit, jobs
from gyre.store import releases as rows
from gyre.store.releases import ReleaseRow

if TYPE_CHECKING:
    from gyre.store import Store
    from gyre.store.models import ModelVersionRecord

STEP_JOB = "release.step"
DEPLOY_TIMEOUT_S = 180.0
STAGE_BUSY_RETRY_S = 2.0
MAX_QUIET_WAITS = 5  # canary intervals waited for min_requests before rolling back
STEP_ATTEMPTS = 5


@dataclass
class Next:
    """Where a transition leaves the release."""

    phase: str
    stage: int
    step: int = 0
    status: str = "running"
    delay_s: float = 0.0
    error: str | None = None
    action: str | None = None  # the audit entry's action (None: no entry, e.g. a busy wait)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def schedules(self) -> bool:
        return self.status in rows.ACTIVE


def phase_after_approval(stage: Stage, stage_state: dict[str, Any]) -> str:
    """A canary rollout when the stage has one and the endpoint served another version before
    (its ``stable``); else straight to promotion."""
    return (
        "rollout"
        if stage.rollout is not None and stage_state.get("stable") is not None
        else "promote"
    )


def production_endpoint(spec: ReleaseSpec) -> str:
    """The endpoint clients use: the last stage's with a rollout, else the last stage's."""
    rolled = [s for s in spec.stages if s.rollout is not None]
    return (rolled or spec.stages)[-1].deploy.endpoint


def step_key(release_id: int, seq: int) -> str:
    return f"release:{release_id}:{seq}"


def enqueue_step(tx: Any, release_id: int, seq: int, delay_s: float = 0.0) -> int:
    return jobs.enqueue(
        tx,
        STEP_JOB,
        {"release": release_id, "seq": seq},
        idempotency_key=step_key(release_id, seq),
        max_attempts=STEP_ATTEMPTS,
        delay=delay_s,
    )


def matches(spec: ReleaseSpec, record: ModelVersionRecord) -> bool:
    """Whether a registered version starts a release of ``spec``."""
    if spec.trigger.model != record.name:
        return False
    return all(
        key in record.tags and fnmatch.fnmatchcase(record.tags[key], pattern)
        for key, pattern in spec.trigger.tags.items()
    )


def start(
    store: Store, definition: str, reference: str, *, actor: str | None = None
) -> tuple[ReleaseRow, bool]:
    """A release of ``reference`` (``NAME@VERSION``) by ``definition``'s latest version, and
    whether it is new (a model version is released once per definition)."""
    record = registry.get(store, reference)
    with store.write() as tx:
        found = rows.get_definition(tx, definition)
        spec = ReleaseSpec.from_json(found.spec)
        if spec.trigger.model != record.name:
            raise Conflict(
                f"Release definition {definition!r} releases {spec.trigger.model!r}, not "
                f"{record.name!r}."
            )
        release, new = rows.insert_release(tx, found, record.name, record.version, record.digest)
        if new:
            enqueue_step(tx, release.id, release.seq)
            audit.append(
                tx,
                actor or audit.default_actor(),
                "release.start",
                f"release {release.id}",
                {
                    "definition": f"{found.name}@{found.version}",
                    "model": record.ref,
                    "digest": record.digest,
                },
            )
    return release, new


def on_registered(store: Store, payload: dict[str, Any]) -> list[int]:
    """The ``model.registered`` event: a release for each definition whose trigger matches
    and that was applied before the version was registered (a definition applied later does
    not release the versions registered before it: ``gyre release start`` does, on purpose).
    """
    record = registry.get(store, f"{payload['model']}@{payload['version']}")
    with store.read() as tx:
        definitions = rows.latest_definitions(tx)
        since = {d.name: rows.first_applied_at(tx, d.name) for d in definitions}
    started = []
    for definition in definitions:
        if since[definition.name] > record.created_at:
            continue
        if matches(ReleaseSpec.from_json(definition.spec), record):
            release, _new = start(
                store, definition.name, record.ref, actor=f"trigger {definition.name}"
            )
            started.append(release.id)
    return started


def run_transition(store: Store, release_id: int, seq: int, actor: str) -> str:
    """Run transition ``seq`` of the release; what happened, in words."""
    with store.read() as tx:
        release = rows.get_release(tx, release_id)
        definition = rows.get_definition(tx, release.definition, release.definition_version)
    if release.seq != seq or release.status not in rows.ACTIVE:
        return (
            f"release {release_id}: transition {seq} is stale (now at {release.seq}, "
            f"{release.status})"
        )
    spec = ReleaseSpec.from_json(definition.spec)
    work = _Transition(store, release, spec, Path(definition.folder))
    try:
        outcome = work.run()
    except GyreError as exc:  # definitive: the release stops here, with the reason
        outcome = work.fail(f"{release.phase}: {exc}")
    with store.write() as tx:
        moved = rows.advance(
            tx,
            release_id,
            seq,
            status=outcome.status,
            stage=outcome.stage,
            phase=outcome.phase,
            step=outcome.step,
            state=work.state,
            error=outcome.error,
        )
        if outcome.action:
            audit.append(
                tx,
                actor,
                outcome.action,
                f"release {release_id}",
                {"stage": spec.stages[release.stage].name, **outcome.detail},
            )
        if outcome.schedules:
            enqueue_step(tx, release_id, moved.seq, outcome.delay_s)
    return f"release {release_id}: {outcome.action or 'waiting'} -> {moved.phase} ({moved.status})"


class _Transition:
    """One transition's work on one release."""

    def __init__(self, store: Store, release: ReleaseRow, spec: ReleaseSpec, folder: Path) -> None:
        self.store = store
        self.release = release
        self.spec = spec
        self.folder = folder
        self.stage: Stage = spec.stages[release.stage]
        self.state: dict[str, Any] = dict(release.state)
        stages = self.state.setdefault("stages", {})
        self.mine: dict[str, Any] = stages.setdefault(self.stage.name, {})

    def run(self) -> Next:
        phase = self.release.phase
        handler = {
            "deploy": self.deploy,
            "checks": self.checks,
            "approval": self.approval_timed_out,
            "rollout": self.rollout,
            "promote": self.promote,
        }[phase]
        return handler()

    # -- helpers ---------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self.release.version

    @property
    def endpoint(self) -> str:
        return self.stage.deploy.endpoint

    def _next(self, phase: str, **kw: Any) -> Next:
        return Next(phase=phase, stage=self.release.stage, **kw)

    def fail(self, reason: str, *, status: str = "failed") -> Next:
        self._clean_up()
        return Next(
            phase=self.release.phase,
            stage=self.release.stage,
            step=self.release.step,
            status=status,
            error=reason,
            action=f"release.{status}",
            detail={"reason": reason},
        )

    def _route(self, traffic: dict[int, int], shadow: int | None) -> endpoints.EndpointRow:
        """Make the endpoint serve ``traffic`` and ``shadow`` (no change when it does) and
        wait until its process does."""
        row = endpoints.get(self.store, self.endpoint)
        if row.traffic != traffic or row.shadow != shadow:
            row = endpoints.set_traffic(
                self.store,
                self.endpoint,
                {str(v): str(p) for v, p in traffic.items()},
                shadow=str(shadow) if shadow is not None else "none",
                keep_shadow=False,
                actor=f"release {self.release.id}",
            )
        return endpoints.wait_applied(self.store, self.endpoint, row.generation, DEPLOY_TIMEOUT_S)

    def _clean_up(self) -> None:
        """Leave production as it was: the stable version with all traffic, no shadow."""
        if self.stage.rollout is None:
            return
        stable = self.mine.get("stable")
        row = endpoints.find(self.store, self.endpoint)
        if row is None or stable is None:
            return
        try:
            self._route({stable: 100}, None)
        except GyreError as exc:  # reported with the failure; the stable version still serves
            self.mine["clean_up_error"] = str(exc)

    # -- phases ----------------------------------------------------------------------------

    def deploy(self) -> Next:
        with self.store.read() as tx:
            earlier = [
                r
                for r in rows.active_on_endpoint_stage(
                    tx, self.release.definition, self.release.stage
                )
                if r.id < self.release.id and r.phase != "deploy"
            ]
        if earlier:  # one release at a time per stage: wait for the earlier one
            return self._next("deploy", delay_s=STAGE_BUSY_RETRY_S)
        deploy = self.stage.deploy
        existing = endpoints.find(self.store, self.endpoint)
        if existing is None:
            created = endpoints.create(
                self.store,
                self.endpoint,
                f"{self.release.model}@{self.version}",
                target=deploy.target,
                port=deploy.port,
                options=deploy.options,
                actor=f"release {self.release.id}",
            )
            self.mine["stable"] = None
            endpoints.wait_applied(self.store, self.endpoint, created.generation, DEPLOY_TIMEOUT_S)
        else:
            if existing.model != self.release.model:
                raise Conflict(
                    f"endpoint {self.endpoint!r} serves model {existing.model!r}, not "
                    f"{self.release.model!r}; name another endpoint in the stage's deploy"
                )
            if self.stage.rollout is not None:
                stable = self.mine.setdefault(
                    "stable", max(existing.traffic, key=lambda v: existing.traffic[v])
                )
                if stable == self.version:
                    self.mine["stable"] = None  # already serving it: nothing to roll out
                    self._route({self.version: 100}, None)
                else:
                    self._route({stable: 100}, self.version)
            else:
                self._route({self.version: 100}, None)
        row = endpoints.get(self.store, self.endpoint)
        self.mine["url"] = row.url
        shadow = " as the shadow" if self.mine.get("stable") is not None else ""
        return self._next(
            "checks",
            action="release.deployed",
            detail={
                "endpoint": self.endpoint,
                "url": row.url,
                "version": self.version,
                "how": f"version {self.version}{shadow}",
                "generation": row.generation,
            },
        )

    def checks(self) -> Next:
        candidate = Candidate(
            self.store,
            self.release.model,
            self.version,
            self.mine["url"],
            self.folder,
            production_endpoint(self.spec),
        )
        results = [run_check(check, candidate) for check in self.stage.checks]
        self.mine["checks"] = [r.to_json() for r in results]
        failed = [r for r in results if not r.passed]
        summary = {r.label: ("passed" if r.passed else "failed") for r in results}
        if failed:
            reasons = "; ".join(f"{r.label}: {r.detail.splitlines()[0]}" for r in failed)
            outcome = self.fail(f"check failed: {reasons}")
            outcome.detail["checks"] = summary
            return outcome
        if self.stage.approval is not None:
            self.mine["approval_requested_at"] = time.time()
            return self._next(
                "approval",
                status="waiting",
                delay_s=self.stage.approval.timeout_s,  # the timeout's transition
                action="release.checks_passed",
                detail={"checks": summary, "waiting_for": self.stage.approval.approvers},
            )
        return self._after_approval("release.checks_passed", {"checks": summary})

    def _after_approval(self, action: str, detail: dict[str, Any]) -> Next:
        return self._next(phase_after_approval(self.stage, self.mine), action=action, detail=detail)

    def approval_timed_out(self) -> Next:
        assert self.stage.approval is not None
        waited = self.stage.approval.timeout_s
        return self.fail(
            f"nobody approved within {waited:g} s (approvers: "
            f"{', '.join(self.stage.approval.approvers)})"
        )

    def rollout(self) -> Next:
        rollout = self.stage.rollout
        assert rollout is not None
        stable = self.mine["stable"]
        url = self.mine["url"]
        step = self.release.step
        history = self.mine.setdefault("rollout", [])
        if step > 0:
            before = health.Snapshot.from_json(self.mine["snapshot"])
            seen = health.window(before, health.snapshot(url, self.release.model, self.version))
            percent = rollout.steps[step - 1]
            figures = {
                "percent": percent,
                "requests": seen.requests,
                "server_errors": seen.server_errors,
                "error_rate": round(seen.error_rate, 4),
                "p99_ms": seen.p99_ms,
            }
            breach = self._breach(seen)
            if breach is None and seen.requests < rollout.min_requests:
                waits = self.mine.get("quiet_waits", 0)
                if waits < MAX_QUIET_WAITS:
                    self.mine["quiet_waits"] = waits + 1
                    return self._next("rollout", step=step, delay_s=rollout.interval_s)
                breach = (
                    f"only {seen.requests} requests reached version {self.version} at "
                    f"{percent}% (min_requests {rollout.min_requests})"
                )
            history.append({**figures, "verdict": breach or "healthy"})
            if breach is not None:
                self.mine["rolled_back_from"] = percent
                return self.fail(
                    f"canary at {percent}%: {breach}; rolled back to version {stable}",
                    status="rolled_back",
                )
            self.mine["quiet_waits"] = 0
        if step == len(rollout.steps):
            return self._next("promote", action="release.canary_healthy", detail={"steps": history})
        percent = rollout.steps[step]
        traffic = (
            {self.version: 100}
            if percent == 100
            else {stable: 100 - percent, self.version: percent}
        )
        row = self._route(traffic, None)
        self.mine["snapshot"] = health.snapshot(url, self.release.model, self.version).to_json()
        return self._next(
            "rollout",
            step=step + 1,
            delay_s=rollout.interval_s,
            action="release.traffic",
            detail={
                "percent": percent,
                "traffic": {str(k): v for k, v in traffic.items()},
                "generation": row.generation,
                **({"judged": history[-1]} if history else {}),
            },
        )

    def _breach(self, seen: health.Window) -> str | None:
        rollout = self.stage.rollout
        assert rollout is not None
        if seen.requests and seen.error_rate > rollout.max_error_rate:
            return (
                f"error rate {seen.error_rate:.1%} ({seen.server_errors} of {seen.requests}) "
                f"over {rollout.max_error_rate:.1%}"
            )
        if (
            rollout.max_p99_ms is not None
            and seen.p99_ms is not None
            and seen.p99_ms > rollout.max_p99_ms
        ):
            return f"p99 {seen.p99_ms:g} ms over {rollout.max_p99_ms:g} ms"
        return None

    def promote(self) -> Next:
        detail: dict[str, Any] = {"version": self.version}
        if self.stage.alias:
            previous = registry.alias_target(self.store, self.release.model, self.stage.alias)
            if previous != self.version:
                registry.set_alias(
                    self.store,
                    self.release.model,
                    self.stage.alias,
                    self.version,
                    actor=f"release {self.release.id}",
                )
            detail["alias"] = self.stage.alias
            detail["previous"] = previous
            if previous != self.version:  # a retried promotion keeps the first answer
                self.mine["alias_before"] = previous
        self.mine["promoted_at"] = time.time()
        following = self.release.stage + 1
        if following < len(self.spec.stages):
            return Next(phase="deploy", stage=following, action="release.promoted", detail=detail)
        return Next(
            phase="done",
            stage=self.release.stage,
            status="succeeded",
            action="release.succeeded",
            detail=detail,
        )
