"""Every bad pipeline definition gets a GyreError naming the pipeline, the step and the fix."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from gyre.cli.options import parse_params
from gyre.errors import InvalidParameter, InvalidPipeline, NotFound, PipelineImportError
from gyre.pipelines.graph import build_graph
from gyre.pipelines.loader import load_pipeline
from gyre.pipelines.params import resolve_params

BAD = Path(__file__).parents[1] / "resources" / "bad"
GOOD = Path(__file__).parents[1] / "resources" / "good"


def test_a_cycle_is_refused_and_the_cycle_is_named() -> None:
    with pytest.raises(InvalidPipeline) as info:
        build_graph(load_pipeline(f"{BAD}/cycle.py:cyclic"))
    message = str(info.value)
    assert "'cyclic' has a cycle" in message
    assert "a -> b -> a" in message or "b -> a -> b" in message
    assert "Remove one of these dependencies" in message


def test_an_input_that_no_step_produces_names_the_outputs_that_exist() -> None:
    with pytest.raises(InvalidPipeline) as info:
        build_graph(load_pipeline(f"{BAD}/missing_output.py:missing"))
    message = str(info.value)
    assert "step 'use'" in message and "'modle'" in message
    assert "['model', 'report']" in message and "Did you mean 'model'?" in message


def test_an_output_input_type_mismatch_names_both_types_and_the_line() -> None:
    with pytest.raises(InvalidPipeline) as info:
        build_graph(load_pipeline(f"{BAD}/mismatch.py:mismatched"))
    message = str(info.value)
    assert "input 'folder' expects Dir but step 'make' returns int" in message
    assert "mismatch.py:" in message


def test_two_different_steps_with_the_same_name_are_refused_with_both_locations() -> None:
    with pytest.raises(InvalidPipeline) as info:
        build_graph(load_pipeline(f"{BAD}/duplicate.py:clash"))
    message = str(info.value)
    assert "two steps are named 'work'" in message
    assert "duplicate.py:23" in message and "duplicate.py:24" in message
    assert ".named(" in message


def test_a_step_called_twice_gets_a_derived_stable_name_for_its_second_call() -> None:
    first = build_graph(load_pipeline(f"{BAD}/duplicate.py:twice"))
    again = build_graph(load_pipeline(f"{BAD}/duplicate.py:twice"))
    assert first.order == again.order == ["work", "work_2"]
    assert first.nodes["work_2"].bindings["x"].value == 2


def test_a_pipeline_file_that_does_not_import_says_why_and_where() -> None:
    with pytest.raises(PipelineImportError) as info:
        load_pipeline(f"{BAD}/broken_import.py:broken")
    message = str(info.value)
    assert "does not import" in message
    assert "a_module_that_does_not_exist" in message
    line = next(
        i
        for i, t in enumerate((BAD / "broken_import.py").read_text().splitlines(), 1)
        if "a_module_that" in t
    )
    assert f"broken_import.py:{line}" in message


def test_an_unknown_pipeline_name_suggests_the_close_one() -> None:
    with pytest.raises(NotFound, match="Did you mean 'chain'"):
        load_pipeline(f"{GOOD}/chain.py:chian")


def test_a_missing_pipeline_file_is_named() -> None:
    with pytest.raises(NotFound, match="does_not_exist.py does not exist"):
        load_pipeline("does_not_exist.py:x")


def test_an_unknown_parameter_lists_the_known_ones_and_suggests_one() -> None:
    pipeline = load_pipeline(f"{GOOD}/chain.py:chain")
    with pytest.raises(InvalidParameter) as info:
        resolve_params(pipeline, {"scael": "2"})
    message = str(info.value)
    assert "no parameter 'scael'" in message and "Did you mean 'scale'?" in message
    assert "n, scale, seed" in message


def test_a_badly_typed_parameter_says_the_type_and_shows_an_example() -> None:
    pipeline = load_pipeline(f"{GOOD}/chain.py:chain")
    with pytest.raises(InvalidParameter) as info:
        resolve_params(pipeline, {"n": "three"})
    assert "Parameter 'n' of pipeline 'chain' expects int, got 'three'" in str(info.value)
    assert "--param n=20" in str(info.value)


def test_parameters_from_the_command_line_are_typed() -> None:
    pipeline = load_pipeline(f"{GOOD}/chain.py:chain")
    values = resolve_params(pipeline, parse_params(["n=5", "scale=2"]))
    assert values == {"n": 5, "scale": 2, "seed": 0}


def test_a_param_without_equals_sign_is_refused() -> None:
    with pytest.raises(click.BadParameter, match="write it like --param epochs=20"):
        parse_params(["epochs"])


def test_a_boolean_parameter_is_not_an_int() -> None:
    pipeline = load_pipeline(f"{GOOD}/chain.py:chain")
    with pytest.raises(InvalidParameter):
        resolve_params(pipeline, {"n": True})


def test_calling_a_step_outside_a_pipeline_runs_the_plain_function() -> None:
    from gyre import step

    @step
    def double(x: int = 2) -> int:
        return 2 * x

    assert double(4) == 8


def test_a_pipeline_parameter_without_default_is_refused() -> None:
    import gyre

    with pytest.raises(InvalidPipeline, match="parameter 'epochs' has no default"):

        @gyre.pipeline
        def p(epochs: int):  # type: ignore[no-untyped-def]
            pass


def test_arithmetic_on_parameters_gives_values_and_loops_follow_them() -> None:
    import gyre
    from gyre.pipelines.dsl import trace

    @gyre.step
    def s(x: int = 0) -> int:
        return x

    @gyre.pipeline
    def p(a: int = 3):  # type: ignore[no-untyped-def]
        for i in range(a):
            s.named(f"s{i}")(x=a * 2 + i)

    nodes = trace(p, {"a": 2})
    assert {k: v.bindings["x"].value for k, v in nodes.items()} == {"s0": 4, "s1": 5}


def test_an_error_inside_the_pipeline_function_names_the_line() -> None:
    import gyre
    from gyre.pipelines.dsl import trace

    @gyre.pipeline
    def broken(a: int = 3):  # type: ignore[no-untyped-def]
        return [1][a]

    with pytest.raises(
        InvalidPipeline,
        match=r"'broken' could not be traced: IndexError.*test_pipeline_definition_errors.py:\d+",
    ):
        trace(broken)
