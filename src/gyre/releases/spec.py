"""The release definition: ``release.yaml`` beside the pipeline, parsed and checked.

Every error names the file, the line and the field, and says what would be right::

    release.yaml line 14: stages[1].rollout.steps: percents must rise and end at 100
    (e.g. [10, 50, 100]); got [50, 10]

The YAML is composed into nodes first (PyYAML keeps each node's line), so that a value found
wrong later, in Python, can still be traced to its line.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from gyre import actors
from gyre.durations import parse_duration
from gyre.errors import InvalidRelease

CHECK_KINDS = ("metric", "probe", "pytest", "latency", "champion_challenger", "replay")
TARGETS = ("local",)


@dataclass(frozen=True)
class Deploy:
    endpoint: str
    target: str = "local"
    port: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    kind: str  # one of CHECK_KINDS
    settings: dict[str, Any]

    @property
    def label(self) -> str:
        detail = self.settings.get("name") or self.settings.get("path") or ""
        return f"{self.kind} {detail}".strip()


@dataclass(frozen=True)
class Approval:
    approvers: list[str]
    timeout_s: float = 86400.0


@dataclass(frozen=True)
class Rollout:
    steps: list[int]
    interval_s: float = 60.0
    max_error_rate: float = 0.01
    max_p99_ms: float | None = None
    min_requests: int = 0


@dataclass(frozen=True)
class Stage:
    name: str
    deploy: Deploy
    checks: list[Check] = field(default_factory=list)
    approval: Approval | None = None
    rollout: Rollout | None = None
    alias: str | None = None


@dataclass(frozen=True)
class Trigger:
    model: str
    tags: dict[str, str] = field(default_factory=dict)  # key -> glob the tag's value matches


@dataclass(frozen=True)
class ReleaseSpec:
    name: str
    trigger: Trigger
    stages: list[Stage]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReleaseSpec:
        stages = []
        for s in data["stages"]:
            stages.append(
                Stage(
                    name=s["name"],
                    deploy=Deploy(**s["deploy"]),
                    checks=[Check(**c) for c in s["checks"]],
                    approval=Approval(**s["approval"]) if s["approval"] else None,
                    rollout=Rollout(**s["rollout"]) if s["rollout"] else None,
                    alias=s["alias"],
                )
            )
        return cls(data["name"], Trigger(**data["trigger"]), stages)


class _Reader:
    """Python values from YAML nodes, remembering the line of each field's path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[str, int] = {}

    def value(self, node: yaml.Node, path: str) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in out:
                    raise self.error(f"{path}.{key}" if path else key, "is given twice")
                out[key] = self.value(value_node, f"{path}.{key}" if path else key)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        return yaml.SafeLoader("").construct_object(node)  # a scalar, typed as YAML types it

    def error(self, path: str, problem: str) -> InvalidRelease:
        line = self.lines.get(path)
        while line is None and path:
            path_parent = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", path)
            if path_parent == path:
                break
            line = self.lines.get(path_parent)
            if line is not None:
                break
            path = path_parent
        where = f"{self.source} line {line}" if line else self.source
        return InvalidRelease(f"{where}: {path}: {problem}")


def parse(text: str, source: str = "release.yaml") -> ReleaseSpec:
    """The definition in ``text``; :class:`InvalidRelease` names the line of anything wrong."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source} line {mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidRelease(f"{where}: not valid YAML: {problem}") from None
    reader = _Reader(source)
    if root is None or not isinstance(root, yaml.MappingNode):
        raise InvalidRelease(
            f"{source}: a release definition is a mapping with name, trigger and stages "
            "(see docs/releases.md)."
        )
    data = reader.value(root, "")
    return _Checker(reader).release(data)


class _Checker:
    def __init__(self, reader: _Reader) -> None:
        self.reader = reader

    def fail(self, path: str, problem: str) -> InvalidRelease:
        return self.reader.error(path, problem)

    def mapping(self, value: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a mapping with {', '.join(allowed)}")
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise self.fail(
                f"{path}.{unknown[0]}" if path else unknown[0],
                f"is not a field here; the fields are {', '.join(allowed)}",
            )
        return value

    def text(self, value: Any, path: str, example: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"must be a non-empty string (e.g. {example})")
        return value

    def number(self, value: Any, path: str, low: float, high: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, f"must be a number; got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
            raise self.fail(path, f"must be {bound}; got {value!r}")
        return float(value)

    def duration(self, value: Any, path: str) -> float:
        seconds = parse_duration(value)
        if seconds is None:
            raise self.fail(path, f"must be a duration such as 5s, 10m or 24h; got {value!r}")
        return seconds

    def release(self, data: dict[str, Any]) -> ReleaseSpec:
        self.mapping(data, "", ("name", "trigger", "stages"))
        for required in ("name", "trigger", "stages"):
            if required not in data:
                raise self.fail("", f"the field {required!r} is missing")
        name = self.text(data["name"], "name", "seer")
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$", name):
            raise self.fail("name", "use letters, digits, '.', '_' and '-' (e.g. seer)")
        trigger = self.mapping(data["trigger"], "trigger", ("model", "tags"))
        if "model" not in trigger:
            raise self.fail(
                "trigger",
                "the field 'model' is missing (the model whose new versions start a release)",
            )
        tags = trigger.get("tags") or {}
        if not isinstance(tags, dict):
            raise self.fail(
                "trigger.tags", "must map tag names to values or globs (e.g. build: '*')"
            )
        stages_data = data["stages"]
        if not isinstance(stages_data, list) or not stages_data:
            raise self.fail("stages", "must be a list of at least one stage")
        stages = [self.stage(s, f"stages[{i}]") for i, s in enumerate(stages_data)]
        names = [s.name for s in stages]
        for i, stage_name in enumerate(names):
            if stage_name in names[:i]:
                raise self.fail(f"stages[{i}].name", f"{stage_name!r} names two stages")
        endpoints = [s.deploy.endpoint for s in stages]
        for i, endpoint in enumerate(endpoints):
            if endpoint in endpoints[:i]:
                raise self.fail(
                    f"stages[{i}].deploy.endpoint",
                    f"{endpoint!r} is deployed by two stages; each stage has its own endpoint",
                )
        return ReleaseSpec(
            name,
            Trigger(
                self.text(trigger["model"], "trigger.model", "seer"),
                {str(k): str(v) for k, v in tags.items()},
            ),
            stages,
        )

    def stage(self, data: Any, path: str) -> Stage:
        fields = ("name", "deploy", "checks", "approval", "rollout", "alias")
        self.mapping(data, path, fields)
        if "name" not in data or "deploy" not in data:
            raise self.fail(path, "a stage needs a name and a deploy (endpoint)")
        deploy = self.mapping(
            data["deploy"], f"{path}.deploy", ("endpoint", "target", "port", "options")
        )
        if "endpoint" not in deploy:
            raise self.fail(f"{path}.deploy", "the field 'endpoint' is missing")
        target = deploy.get("target", "local")
        if target not in TARGETS:
            raise self.fail(
                f"{path}.deploy.target",
                f"{target!r} is not a target releases deploy to yet; use: {', '.join(TARGETS)}",
            )
        port = deploy.get("port")
        if port is not None:
            port = int(self.number(port, f"{path}.deploy.port", 1, 65535))
        checks_data = data.get("checks") or []
        if not isinstance(checks_data, list):
            raise self.fail(f"{path}.checks", "must be a list of checks")
        alias = data.get("alias")
        rollout = self.rollout(data["rollout"], f"{path}.rollout") if "rollout" in data else None
        if alias is None and rollout is not None:
            alias = "production"
        return Stage(
            name=self.text(data["name"], f"{path}.name", "test"),
            deploy=Deploy(
                self.text(deploy["endpoint"], f"{path}.deploy.endpoint", "seer-test"),
                target,
                port,
                dict(deploy.get("options") or {}),
            ),
            checks=[self.check(c, f"{path}.checks[{i}]") for i, c in enumerate(checks_data)],
            approval=self.approval(data["approval"], f"{path}.approval")
            if data.get("approval")
            else None,
            rollout=rollout,
            alias=self.text(alias, f"{path}.alias", "production") if alias is not None else None,
        )

    def check(self, data: Any, path: str) -> Check:
        if not isinstance(data, dict) or len(data) != 1:
            raise self.fail(
                path, f"a check is one of {', '.join(CHECK_KINDS)} (e.g. - pytest: tests/release)"
            )
        kind, settings = next(iter(data.items()))
        if kind not in CHECK_KINDS:
            raise self.fail(
                f"{path}.{kind}", f"is not a check; the checks are {', '.join(CHECK_KINDS)}"
            )
        where = f"{path}.{kind}"
        if kind == "pytest":
            if isinstance(settings, str):
                settings = {"path": settings}
            self.mapping(settings, where, ("path", "timeout"))
            self.text(settings.get("path"), f"{where}.path", "tests/release")
        elif kind == "metric":
            self.mapping(settings, where, ("name", "min", "max"))
            self.text(settings.get("name"), f"{where}.name", "val_accuracy")
            if "min" not in settings and "max" not in settings:
                raise self.fail(where, "give min, max or both (e.g. min: 0.9)")
            for bound in ("min", "max"):
                if bound in settings:
                    self.number(settings[bound], f"{where}.{bound}", float("-inf"))
        elif kind == "probe":
            self.mapping(settings, where, ("path", "body", "status", "predictions", "headers"))
            self.text(settings.get("path"), f"{where}.path", "/score")
            if "body" not in settings:
                raise self.fail(where, "the field 'body' is missing (the JSON to post)")
            if "status" in settings:
                self.number(settings["status"], f"{where}.status", 100, 599)
        elif kind == "latency":
            self.mapping(settings, where, ("p99_ms", "requests", "concurrency", "body", "path"))
            if "p99_ms" not in settings or "body" not in settings:
                raise self.fail(where, "give p99_ms (the budget) and body (a request to send)")
            self.number(settings["p99_ms"], f"{where}.p99_ms", 0.001)
            self.number(settings.get("requests", 200), f"{where}.requests", 1, 100000)
            self.number(settings.get("concurrency", 8), f"{where}.concurrency", 1, 256)
        elif kind == "champion_challenger":
            self.mapping(settings, where, ("dataset", "label", "metric", "margin", "against"))
            self.text(settings.get("dataset"), f"{where}.dataset", "seer-holdout@1")
            self.text(settings.get("label"), f"{where}.label", "label")
            metric = settings.get("metric", "accuracy")
            if metric not in ("accuracy", "mae", "rmse"):
                raise self.fail(f"{where}.metric", "must be accuracy, mae or rmse")
            self.number(settings.get("margin", 0.0), f"{where}.margin", 0.0)
        elif kind == "replay":
            self.mapping(settings, where, ("window", "rows", "min_agreement", "p99_ms", "from"))
            self.duration(settings.get("window", "24h"), f"{where}.window")
            self.number(settings.get("min_agreement", 0.0), f"{where}.min_agreement", 0.0, 1.0)
            self.number(settings.get("rows", 1000), f"{where}.rows", 1)
        return Check(kind, dict(settings))

    def approval(self, data: Any, path: str) -> Approval:
        self.mapping(data, path, ("approvers", "timeout"))
        approvers = data.get("approvers")
        if (
            not isinstance(approvers, list)
            or not approvers
            or not all(isinstance(a, str) and a.strip() for a in approvers)
        ):
            raise self.fail(
                f"{path}.approvers",
                "must list who may approve: user names or roles (e.g. [alice, role:approver])",
            )
        for entry in approvers:
            if entry.startswith("role:") and entry.removeprefix("role:") not in actors.ROLES:
                raise self.fail(
                    f"{path}.approvers",
                    f"{entry!r} names no role; roles are "
                    + ", ".join(f"role:{r}" for r in actors.ROLES),
                )
        return Approval(
            list(approvers), self.duration(data.get("timeout", "24h"), f"{path}.timeout")
        )

    def rollout(self, data: Any, path: str) -> Rollout:
        self.mapping(
            data, path, ("steps", "interval", "max_error_rate", "max_p99_ms", "min_requests")
        )
        steps = data.get("steps", [10, 50, 100])
        if (
            not isinstance(steps, list)
            or not steps
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in steps)
            or any(not 0 < s <= 100 for s in steps)
            or any(b <= a for a, b in itertools.pairwise(steps))
            or steps[-1] != 100
        ):
            raise self.fail(
                f"{path}.steps",
                f"percents must rise and end at 100 (e.g. [10, 50, 100]); got {steps!r}",
            )
        p99 = data.get("max_p99_ms")
        return Rollout(
            steps=steps,
            interval_s=self.duration(data.get("interval", "60s"), f"{path}.interval"),
            max_error_rate=self.number(
                data.get("max_error_rate", 0.01), f"{path}.max_error_rate", 0.0, 1.0
            ),
            max_p99_ms=self.number(p99, f"{path}.max_p99_ms", 0.001) if p99 is not None else None,
            min_requests=int(self.number(data.get("min_requests", 0), f"{path}.min_requests", 0)),
        )
