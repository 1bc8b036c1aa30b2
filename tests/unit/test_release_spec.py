"""release.yaml: a valid definition round-trips; every mistake names the line and the field."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gyre.errors import InvalidRelease
from gyre.releases.spec import ReleaseSpec, parse

GOOD = textwrap.dedent(
    """\
    name: seer
    trigger:
      model: seer
      tags: {build: "*"}
    stages:
      - name: test
        deploy: {endpoint: seer-test}
        checks:
          - metric: {name: val_accuracy, min: 0.9}
          - probe: {path: /score, body: [{x: 1}], status: 200}
          - pytest: tests/release
          - latency: {p99_ms: 200, requests: 100, body: [{x: 1}]}
          - champion_challenger: {dataset: holdout@1, label: y, margin: 0.01}
          - replay: {window: 1h, min_agreement: 0.9}
      - name: production
        deploy: {endpoint: seer}
        approval: {approvers: [alice, bob], timeout: 2h}
        rollout: {steps: [10, 50, 100], interval: 5s, max_error_rate: 0.02, max_p99_ms: 300}
    """
)


def test_a_good_definition_parses_and_round_trips_through_json() -> None:
    spec = parse(GOOD)
    assert [s.name for s in spec.stages] == ["test", "production"]
    assert spec.trigger.tags == {"build": "*"}
    production = spec.stages[1]
    assert production.approval is not None and production.approval.timeout_s == 7200
    assert production.rollout is not None and production.rollout.interval_s == 5
    assert production.alias == "production"  # a rollout stage moves production by default
    assert [c.kind for c in spec.stages[0].checks] == [
        "metric",
        "probe",
        "pytest",
        "latency",
        "champion_challenger",
        "replay",
    ]
    assert ReleaseSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("  model: seer\n", "  modle: seer\n"), r"line 3: trigger\.modle: is not a field here"),
        (
            ("steps: [10, 50, 100]", "steps: [50, 10]"),
            r"line 18: stages\[1\]\.rollout\.steps: "
            r"percents must rise and end at 100",
        ),
        (("steps: [10, 50, 100]", "steps: [10, 50]"), r"end at 100 .*got \[10, 50\]"),
        (("interval: 5s", "interval: soon"), r"line 18: .*interval: must be a duration"),
        (("timeout: 2h", "timeout: -3"), r"line 17: .*timeout: must be a duration"),
        (("approvers: [alice, bob]", "approvers: []"), r"line 17: .*approvers: must list who"),
        (
            ("- pytest: tests/release", "- pytset: tests/release"),
            r"line 11: stages\[0\]\.checks\[2\]\.pytset: is not a check",
        ),
        (("min: 0.9", "min: high"), r"line 9: .*metric\.min: must be a number; got 'high'"),
        (("endpoint: seer}", "endpoint: seer-test}"), r"line 16: .*'seer-test' is deployed by two"),
        (
            ("{p99_ms: 200, requests: 100, body: [{x: 1}]}", "{requests: 100}"),
            r"line 12: .*latency: give p99_ms",
        ),
        (("- name: production", "- name: test"), r"line 15: stages\[1\]\.name: 'test' names two"),
        (("max_error_rate: 0.02", "max_error_rate: 2"), r"max_error_rate: must be from 0 to 1"),
    ],
)
def test_each_mistake_names_its_line_and_field(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(InvalidRelease, match=message):
        parse(GOOD.replace(old, new, 1), "release.yaml")


def test_not_yaml_and_not_a_mapping_say_so() -> None:
    with pytest.raises(InvalidRelease, match=r"release.yaml line 2: not valid YAML"):
        parse("name: a\n  - b: [\n", "release.yaml")
    with pytest.raises(InvalidRelease, match="a mapping with name, trigger and stages"):
        parse("- just a list\n", "release.yaml")
    with pytest.raises(InvalidRelease, match="the field 'stages' is missing"):
        parse("name: a\ntrigger: {model: a}\n", "release.yaml")


@given(st.text(max_size=300))
def test_any_text_is_a_definition_or_an_invalid_release_error(text: str) -> None:
    try:
        parse(text, "fuzz.yaml")
    except InvalidRelease as exc:
        assert str(exc).startswith("fuzz.yaml")
