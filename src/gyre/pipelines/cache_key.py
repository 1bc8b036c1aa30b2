"""The cache key of a step: what must be unchanged for its stored outputs to be reused.

key = sha256 over canonical JSON of: the code the step depends on, the parameters the step
itself takes, the digests of its inputs, its environment (Python version, requirements file),
and a format version. Run-level tags and metadata never enter it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gyre.errors import InvalidParameter
from gyre.pipelines.code_fingerprint import CodeFingerprinter
from gyre.pipelines.dsl import Node, Output, ScriptStep, Step

KEY_FORMAT = 1


@dataclass(frozen=True)
class CacheKey:
    digest: str
    parts: dict[str, Any]
    """code (digest), code_files ({file: digest}), params, inputs ({arg: digest}), env."""


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Output):
        return {"output": value.name, "file": value.file}
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise InvalidParameter(
        f"{type(value).__name__} values cannot be step parameters; use JSON-able values "
        "(numbers, strings, booleans, lists, dicts) or pass the value as a step output."
    )


def compute(
    node: Node,
    params: dict[str, Any],
    input_digests: dict[str, str],
    fingerprinter: CodeFingerprinter,
) -> CacheKey:
    """Key of ``node`` given its resolved ``params`` and the digests of its inputs."""
    step = node.step
    if isinstance(step, ScriptStep):
        own = ""
        files = fingerprinter.script(step.script)
    else:
        assert isinstance(step, Step)
        func = step.func
        own, files = fingerprinter.function(
            Path(func.__code__.co_filename), func.__name__, func.__code__.co_firstlineno
        )
    # File contents, not their paths, so that a published snapshot (laid out elsewhere) of
    # the same code has the same key.
    code = hashlib.sha256(canonical_json([own, sorted(files.values())]).encode()).hexdigest()
    env: dict[str, Any] = {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
    requirements = step.options.requirements
    if requirements:
        base = Path(node.defined_at.rsplit(":", 1)[0]).parent
        req_path = (base / requirements).resolve()
        env["requirements"] = hashlib.sha256(req_path.read_bytes()).hexdigest()
    parts = {
        "code": code,
        "code_files": files,
        "params": json.loads(canonical_json(params)),
        "inputs": dict(sorted(input_digests.items())),
        "env": env,
        "format": KEY_FORMAT,
    }
    hashed = {k: v for k, v in parts.items() if k != "code_files"}
    digest = hashlib.sha256(canonical_json(hashed).encode()).hexdigest()
    return CacheKey(digest, parts)


def explain_change(
    old: dict[str, Any], new: dict[str, Any], sources: dict[str, str] | None = None
) -> list[str]:
    """Human reasons why ``new`` differs from ``old`` (both ``CacheKey.parts``). ``sources``
    names the pipeline parameter behind a step parameter of another name (``start`` <- ``a``),
    so the reason says what the user changed."""
    sources = sources or {}
    reasons: list[str] = []
    if old.get("code") != new.get("code"):
        changed = [
            f
            for f in sorted(set(old.get("code_files", {})) | set(new.get("code_files", {})))
            if old.get("code_files", {}).get(f) != new.get("code_files", {}).get(f)
        ]
        reasons.append(
            "code changed: " + (", ".join(changed) if changed else "the step's own source")
        )
    old_params, new_params = old.get("params", {}), new.get("params", {})
    for key in sorted(set(old_params) | set(new_params)):
        if old_params.get(key) != new_params.get(key):
            via = f" (pipeline param {sources[key]})" if key in sources else ""
            reasons.append(
                f"param {key}{via}: {_short(old_params.get(key))} -> {_short(new_params.get(key))}"
            )
    old_inputs, new_inputs = old.get("inputs", {}), new.get("inputs", {})
    for key in sorted(set(old_inputs) | set(new_inputs)):
        if old_inputs.get(key) != new_inputs.get(key):
            reasons.append(f"input {key} changed")
    if old.get("env") != new.get("env"):
        reasons.append("environment changed (Python version or requirements)")
    if old.get("format") != new.get("format"):
        reasons.append("cache key format changed")
    return reasons or ["key differs"]


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
