"""A traced pipeline as a validated DAG: every input produced, no cycles, types that fit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gyre.errors import InvalidPipeline, did_you_mean
from gyre.pipelines.dsl import Dir, File, Node, OutputRef, Pipeline, trace


@dataclass
class PipelineGraph:
    pipeline: Pipeline
    nodes: dict[str, Node]
    order: list[str]
    """Node names in a topological order (producers before consumers)."""

    def downstream(self, name: str) -> set[str]:
        found: set[str] = set()
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for node in self.nodes.values():
                if current in node.upstream and node.name not in found:
                    found.add(node.name)
                    frontier.append(node.name)
        return found


def build_graph(pipeline: Pipeline, values: dict[str, Any] | None = None) -> PipelineGraph:
    """Trace ``pipeline`` with parameter ``values`` and validate the result.

    Raises:
        InvalidPipeline: a cycle, an input that no step produces, or mismatched types.
    """
    nodes = trace(pipeline, values)
    if not nodes:
        raise InvalidPipeline(
            f"Pipeline {pipeline.name!r} ({pipeline.defined_at}) calls no step. Call at least "
            "one @step function (or create a ScriptStep) inside it."
        )
    for node in nodes.values():
        for upstream in node.after:
            if upstream not in nodes:
                raise InvalidPipeline(
                    f"Pipeline {pipeline.name!r}: step {node.name!r} ({node.defined_at}) waits "
                    f"for {upstream!r}, which no step of the pipeline is named."
                    f"{did_you_mean(upstream, nodes)}"
                )
        for arg, ref in node.inputs.items():
            _check_input(pipeline, nodes, node, arg, ref)
    return PipelineGraph(pipeline, nodes, _topological_order(pipeline, nodes))


def _check_input(
    pipeline: Pipeline, nodes: dict[str, Node], node: Node, arg: str, ref: OutputRef
) -> None:
    where = f"Pipeline {pipeline.name!r}: step {node.name!r} ({node.defined_at})"
    producer = nodes.get(ref.node)
    if producer is None:
        raise InvalidPipeline(
            f"{where} takes {arg!r} from step {ref.node!r}, which is not part of this pipeline. "
            "Call the producing step inside the same pipeline function."
        )
    if ref.output not in producer.options.outputs:
        raise InvalidPipeline(
            f"{where} takes {arg!r} from output {ref.output!r} of step {ref.node!r}, which no "
            f"step produces; {ref.node!r} has outputs {list(producer.options.outputs)}."
            f"{did_you_mean(ref.output, producer.options.outputs)}"
        )
    expected = node.annotations.get(arg)
    if not _compatible(ref.annotation, expected):
        raise InvalidPipeline(
            f"{where}: input {arg!r} expects {_type_name(expected)} but step {ref.node!r} "
            f"returns {_type_name(ref.annotation)}. Change one of the two annotations so "
            "they agree."
        )


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__name__", None) or repr(annotation)


def _compatible(produced: Any, expected: Any) -> bool:
    if produced is None or expected is None or Any in (produced, expected):
        return True
    if expected is object or isinstance(produced, str) or isinstance(expected, str):
        if isinstance(produced, str) and isinstance(expected, str):
            return produced.split(".")[-1] == expected.split(".")[-1]
        return True
    if not isinstance(produced, type) or not isinstance(expected, type):
        return True  # generics such as list[int]: checked by the materializer at run time
    path_like = (Dir, File)
    if issubclass(produced, path_like) or issubclass(expected, path_like):
        if expected in path_like and produced in path_like:
            return produced is expected
        from pathlib import Path

        return expected is Path or issubclass(produced, expected)
    if expected is float and produced is int:
        return True
    return issubclass(produced, expected)


def _topological_order(pipeline: Pipeline, nodes: dict[str, Node]) -> list[str]:
    remaining = {name: set(node.upstream) for name, node in nodes.items()}
    order: list[str] = []
    while remaining:
        ready = [name for name, deps in remaining.items() if not deps]
        if not ready:
            raise InvalidPipeline(
                f"Pipeline {pipeline.name!r} has a cycle: {_find_cycle(remaining)}. "
                "Remove one of these dependencies (a gyre.after(...) call or an input)."
            )
        for name in ready:
            order.append(name)
            del remaining[name]
        for deps in remaining.values():
            deps.difference_update(ready)
    return order


def _find_cycle(remaining: dict[str, set[str]]) -> str:
    start = next(iter(remaining))
    path = [start]
    while True:
        nxt = sorted(remaining[path[-1]])[0]
        if nxt in path:
            cycle = [*path[path.index(nxt) :], nxt]
            return " -> ".join(reversed(cycle))
        path.append(nxt)
