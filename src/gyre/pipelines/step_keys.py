"""A step node's parameters and cache key, given the run's values and finished outputs."""

from __future__ import annotations

from typing import Any

from gyre.pipelines.cache_key import CacheKey, compute
from gyre.pipelines.code_fingerprint import CodeFingerprinter
from gyre.pipelines.dataset_inputs import DatasetPins, dataset_args, is_dataset
from gyre.pipelines.dsl import Node
from gyre.store.runs import ArtifactRecord


def node_params(node: Node, values: dict[str, Any]) -> dict[str, Any]:
    """The node's parameters (datasets excluded: they are inputs)."""
    out: dict[str, Any] = {}
    for arg, binding in node.bindings.items():
        if binding.kind == "param":
            assert binding.param is not None
            value = values[binding.param]
        elif binding.kind == "const":
            value = binding.value
        else:
            continue
        if not is_dataset(value):
            out[arg] = value
    return out


def param_sources(node: Node) -> dict[str, str]:
    """Step parameter -> the pipeline parameter it is bound to, where the names differ."""
    return {
        arg: binding.param
        for arg, binding in node.bindings.items()
        if binding.kind == "param" and binding.param is not None and binding.param != arg
    }


def key_for(
    node: Node,
    values: dict[str, Any],
    done: dict[str, dict[str, ArtifactRecord]],
    fingerprinter: CodeFingerprinter,
    pins: DatasetPins | None = None,
) -> CacheKey:
    digests = {arg: done[ref.node][ref.output].digest for arg, ref in node.inputs.items()}
    digests.update({arg: v.digest for arg, v in dataset_args(node, values, pins).items()})
    return compute(node, node_params(node, values), digests, fingerprinter)
