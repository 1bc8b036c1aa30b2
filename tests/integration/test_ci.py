"""gyre ci check / plan / submit on real git repositories, as a CI job or a developer runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import copy_resource, run_gyre

PIPELINE = """
import gyre
from gyre import step

import helpers


@step
def prepare(n: int = 3) -> list:
    return [helpers.scale(i) for i in range(n)]


@step
def train(values: list) -> dict:
    return {"weights": sum(values)}


@step
def register(model: dict) -> dict:
    folder = gyre.output_dir("model")
    (folder / "score.py").write_text(
        "def init():\\n    pass\\n\\n\\ndef run(data):\\n    return data\\n"
    )
    (folder / "weights.json").write_text(str(model["weights"]))
    version = gyre.register_model("tiny", folder, flavor="python")
    return {"version": version.version}


@gyre.pipeline
def tiny(n: int = 3):
    register(train(prepare(n=n)))
"""

NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": 3,
            "id": "a1",
            "metadata": {"scrolled": True},
            "outputs": [{"name": "stdout", "output_type": "stream", "text": ["42\n"]}],
            "source": ["print(42)"],
        },
        {"cell_type": "markdown", "id": "b2", "metadata": {}, "source": ["# notes"]},
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "py"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(project: Path) -> Path:
    """A project in a git repository on branch main with one commit and a gyre workspace."""
    (project / "pipeline.py").write_text(PIPELINE)
    (project / "helpers.py").write_text("def scale(i):\n    return i * 2\n")
    (project / "requirements.txt").write_text("numpy==2.3.5\n")
    (project / ".gitignore").write_text(".gyre/\n")
    (project / "gyre.yaml").write_text("ci:\n  tests: false\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "config", "user.email", "ci@example.com")
    git(project, "config", "user.name", "CI")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "first")
    run_gyre("init")
    return project


def gates(out: str) -> dict[str, str]:
    return {g["name"]: g["status"] for g in json.loads(out)["gates"]}


def test_check_runs_every_gate_and_writes_junit(repo: Path) -> None:
    done = run_gyre("ci", "check", "--json", "--junit", "report.xml")
    assert gates(done.stdout) == {
        "lint": "passed",
        "tests": "skipped",
        "notebooks": "skipped",
        "pipelines": "passed",
        "dependencies": "passed",
        "releases": "skipped",
    }
    suite = ET.parse(repo / "report.xml").getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "6" and suite.get("failures") == "0"
    assert suite.get("skipped") == "3"


def test_a_release_definition_that_does_not_parse_fails_the_check_naming_its_line(
    repo: Path,
) -> None:
    (repo / "release.yaml").write_text(
        "name: r\ntrigger: {model: m}\nstages:\n  - name: test\n    deploy: {endpoint: e}\n"
        "    checks:\n      - pytest: missing_tests\n"
    )
    git(repo, "add", "release.yaml")
    failed = run_gyre("ci", "check", ok=False)
    assert failed.returncode == 1
    assert "release.yaml: stage test: pytest folder missing_tests does not exist" in failed.stdout
    (repo / "release.yaml").write_text(
        "name: r\ntrigger: {model: m}\nstages:\n  - name: test\n    deploy: {endpoint: e}\n"
        "    rollout: {steps: [100, 10]}\n"
    )
    failed = run_gyre("ci", "check", ok=False)
    assert "release.yaml line 6: stages[0].rollout.steps: percents must rise" in failed.stdout
    (repo / "release.yaml").write_text(
        "name: r\ntrigger: {model: m}\nstages:\n  - name: test\n    deploy: {endpoint: e}\n"
    )
    assert gates(run_gyre("ci", "check", "--json").stdout)["releases"] == "passed"


def test_notebooks_with_outputs_fail_and_fix_strips_them_as_nbstripout_does(repo: Path) -> None:
    notebook = repo / "explore.ipynb"
    notebook.write_text(json.dumps(NOTEBOOK, indent=1))
    git(repo, "add", "explore.ipynb")
    failed = run_gyre("ci", "check", "--junit", "report.xml", ok=False)
    assert failed.returncode == 1
    assert "explore.ipynb: cells 0 hold outputs" in failed.stdout
    assert "gyre ci check --fix" in failed.stdout
    suite = ET.parse(repo / "report.xml").getroot()
    (failure,) = suite.iter("failure")
    assert "hold outputs" in (failure.get("message") or "")

    fixed = run_gyre("ci", "check", "--fix", "--json")
    assert gates(fixed.stdout)["notebooks"] == "passed"
    stripped = json.loads(notebook.read_text())
    cell = stripped["cells"][0]
    assert cell["outputs"] == [] and cell["execution_count"] is None
    assert cell["source"] == ["print(42)"] and "scrolled" not in cell["metadata"]

    other = repo / "other.ipynb"  # what nbstripout itself leaves passes the check
    other.write_text(json.dumps(NOTEBOOK, indent=1))
    nbstripout = Path(sys.executable).parent / "nbstripout"
    subprocess.run([str(nbstripout), str(other)], check=True)
    git(repo, "add", "other.ipynb")
    assert gates(run_gyre("ci", "check", "--json").stdout)["notebooks"] == "passed"


def test_bad_notebooks_pipelines_and_requirements_are_named_with_the_fix(repo: Path) -> None:
    (repo / "broken.ipynb").write_text("{not json")
    (repo / "bad_pipeline.py").write_text(
        "import gyre\n\n@gyre.pipeline\ndef bad():\n    return undefined_step()\n"
    )
    (repo / "requirements-dev.txt").write_text(
        "# tools\npytest>=8\nruff==0.14.0\n-r requirements.txt\n"
    )
    git(repo, "add", "-A")
    done = run_gyre("ci", "check", ok=False)
    assert done.returncode == 1
    assert "broken.ipynb is not a valid notebook (not JSON" in done.stdout
    assert "bad_pipeline.py:bad" in done.stdout and "undefined_step" in done.stdout
    assert "requirements-dev.txt:2: pytest>=8 (no ==version)" in done.stdout
    assert "ruff==" not in done.stdout.split("--- dependencies ---")[1]


def test_unknown_ci_settings_are_refused_naming_the_key(repo: Path) -> None:
    (repo / "gyre.yaml").write_text("ci:\n  lnt: false\n")
    done = run_gyre("ci", "check", ok=False)
    assert done.returncode == 1
    assert "Unknown key(s) lnt under 'ci:'" in done.stderr and "lint, tests" in done.stderr


def test_plan_says_what_a_helper_change_reruns_and_runs_nothing(repo: Path) -> None:
    run_gyre("run", "pipeline.py:tiny")
    clean = json.loads(run_gyre("ci", "plan", "pipeline.py:tiny", "--format", "json").stdout)
    assert [s["action"] for s in clean["steps"]] == ["reuse", "reuse", "reuse"]

    git(repo, "checkout", "-q", "-b", "change")
    (repo / "helpers.py").write_text("def scale(i):\n    return i * 3\n")
    git(repo, "commit", "-q", "-am", "scale by three")
    runs_before = json.loads(run_gyre("runs", "list", "--json").stdout)
    planned = json.loads(
        run_gyre("ci", "plan", "pipeline.py:tiny", "--base", "main", "--format", "json").stdout
    )
    steps = {s["name"]: s for s in planned["steps"]}
    assert steps["prepare"]["action"] == "run"
    assert "code changed: helpers.py" in steps["prepare"]["reason"]
    assert steps["train"]["action"] == "run" and "upstream step prepare" in steps["train"]["reason"]
    assert steps["prepare"]["estimate_s"] is not None  # from its last run
    assert planned["changed_files"] == ["helpers.py"]
    assert json.loads(run_gyre("runs", "list", "--json").stdout) == runs_before  # ran nothing

    markdown = run_gyre("ci", "plan", "pipeline.py:tiny", "--format", "markdown").stdout
    assert markdown.startswith("<!-- gyre ci plan -->")
    assert "| `prepare` | **run** |" in markdown and "| `register` | **run** |" in markdown

    run_gyre("run", "pipeline.py:tiny")  # what the plan said is what a run does
    newest = json.loads(run_gyre("runs", "list", "--json").stdout)[0]["id"]
    done = json.loads(run_gyre("runs", "show", newest, "--json").stdout)
    assert {s["name"]: s["outcome"] for s in done["steps"]} == {
        name: "ran" if step["action"] == "run" else "reused" for name, step in steps.items()
    }
    bad = run_gyre("ci", "plan", "pipeline.py:tiny", "--base", "no-such-branch", ok=False)
    assert bad.returncode == 1 and "--base 'no-such-branch' is not a commit" in bad.stderr


def test_submit_tags_the_run_and_its_model_and_queues_once_per_commit(repo: Path) -> None:
    commit = git(repo, "rev-parse", "HEAD")
    first = json.loads(
        run_gyre("ci", "submit", "pipeline.py:tiny", "--build-id", "41", "--wait", "--json").stdout
    )
    assert first["status"] == "finished" and first["commit"] == commit and first["queued"]
    again = json.loads(
        run_gyre("ci", "submit", "pipeline.py:tiny", "--build-id", "41", "--json").stdout
    )
    assert again["run_id"] == first["run_id"] and not again["queued"]
    shown = json.loads(run_gyre("runs", "show", first["run_id"], "--json").stdout)
    assert shown["tags"]["build"] == "41" and shown["tags"]["commit"] == commit
    model = json.loads(run_gyre("model", "show", "tiny@1", "--json").stdout)
    assert model["tags"]["build"] == "41" and model["tags"]["commit"] == commit
    published = json.loads(run_gyre("pipeline", "show", "tiny", "--json").stdout)
    assert published[-1]["git_commit"] == commit

    (repo / "helpers.py").write_text("def scale(i):\n    return i * 5\n")
    refused = run_gyre("ci", "submit", "pipeline.py:tiny", "--build-id", "42", ok=False)
    assert refused.returncode == 1
    assert (
        "uncommitted changes (helpers.py)" in refused.stderr and "--allow-dirty" in refused.stderr
    )
    dirty = json.loads(
        run_gyre(
            "ci", "submit", "pipeline.py:tiny", "--build-id", "42", "--allow-dirty", "--json"
        ).stdout
    )
    assert dirty["dirty"] == ["helpers.py"] and dirty["run_id"] != first["run_id"]
    tags = json.loads(run_gyre("runs", "show", dirty["run_id"], "--json").stdout)["tags"]
    assert tags["dirty"] == "true"


def test_ci_outside_a_git_repository_says_so(project: Path) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    run_gyre("init")
    done = run_gyre("ci", "submit", "chain.py:chain", "--build-id", "1", ok=False)
    assert done.returncode == 1 and "is not in a git repository" in done.stderr
    assert "git init" in done.stderr
    assert shutil.which("git")  # the tests above ran real git


@pytest.fixture
def origin(repo: Path, tmp_path: Path) -> Path:
    """A bare repository the project pushes to, as a team's central repository."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    return bare


def _runs(tag: str = "commit") -> dict[str, str]:
    """commit -> run id of every run tagged with a commit."""
    found = {}
    for row in json.loads(run_gyre("runs", "list", "--json").stdout):
        commit = row.get("tags", {}).get(tag)
        if commit:
            assert commit not in found, f"two runs for {commit}"
            found[commit] = row["id"]
    return found


def test_pre_push_hook_runs_the_gates_and_installing_twice_is_one_hook(repo: Path) -> None:
    first = run_gyre("ci", "hook", "install")
    assert "Installed" in first.stdout
    again = run_gyre("ci", "hook", "install")
    assert "Rewrote" in again.stdout
    hook = repo / ".git" / "hooks" / "pre-push"
    assert hook.read_text().count("gyre.cli.main ci check") == 1
    (repo / "bad.py").write_text("import os\n")  # an unused import: ruff fails
    git(repo, "add", "bad.py")
    git(repo, "commit", "-q", "-m", "bad")
    bare = repo.parent / "pushed.git"
    git(repo.parent, "init", "-q", "--bare", str(bare))
    pushed = subprocess.run(
        ["git", "push", str(bare), "main"], cwd=repo, capture_output=True, text=True
    )
    assert pushed.returncode != 0 and "F401" in pushed.stdout + pushed.stderr
    (repo / "bad.py").write_text("")
    git(repo, "commit", "-q", "-am", "fixed")
    git(repo, "push", "-q", str(bare), "main")  # the gates pass: the push goes through
    (repo / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\necho mine\n")
    refused = run_gyre("ci", "hook", "install", "--hook", "pre-commit", ok=False)
    assert refused.returncode == 1 and "was not written by gyre" in refused.stderr


def test_a_push_to_main_submits_the_plan_that_ci_plan_showed(repo: Path, origin: Path) -> None:
    run_gyre("run", "pipeline.py:tiny")
    refused = run_gyre(
        "ci",
        "hook",
        "install",
        "--hook",
        "post-receive",
        "--pipeline",
        "pipeline.py:tiny",
        ok=False,
    )
    assert "is not a bare repository" in refused.stderr
    run_gyre(
        "ci",
        "hook",
        "install",
        str(origin),
        "--hook",
        "post-receive",
        "--pipeline",
        "pipeline.py:tiny",
    )
    (repo / "helpers.py").write_text("def scale(i):\n    return i * 7\n")
    git(repo, "commit", "-q", "-am", "scale by seven")
    planned = json.loads(run_gyre("ci", "plan", "pipeline.py:tiny", "--format", "json").stdout)
    pushed = subprocess.run(
        ["git", "push", "origin", "main"], cwd=repo, capture_output=True, text=True, check=True
    )
    commit = git(repo, "rev-parse", "HEAD")
    assert "gyre: queued run" in pushed.stderr and commit[:12] in pushed.stderr
    run_id = _runs()[commit]
    run_gyre("agent", "--once")
    shown = json.loads(run_gyre("runs", "show", run_id, "--json").stdout)
    assert shown["status"] == "finished" and shown["tags"]["build"] == commit[:12]
    assert {s["name"]: s["outcome"] for s in shown["steps"]} == {
        s["name"]: "ran" if s["action"] == "run" else "reused" for s in planned["steps"]
    }
    model = json.loads(run_gyre("model", "show", "tiny", "--json").stdout)[-1]
    assert model["tags"]["commit"] == commit


def test_watch_repo_submits_each_commit_once_even_after_a_sigkill(repo: Path, origin: Path) -> None:
    import signal
    import time

    def commit(text: str) -> str:
        (repo / "helpers.py").write_text(f"def scale(i):\n    return i * {text}\n")
        git(repo, "commit", "-q", "-am", f"scale by {text}")
        git(repo, "push", "-q", "origin", "main")
        return git(repo, "rev-parse", "HEAD")

    def watch_once() -> None:
        run_gyre("agent", "--once", "--watch-repo", str(origin), "--pipeline", "pipeline.py:tiny")

    first = git(repo, "rev-parse", "HEAD")
    watch_once()  # the first poll submits the head
    assert set(_runs()) == {first}
    second, third = commit("4"), commit("5")  # two pushes between polls
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gyre.cli.main",
            "agent",
            "--poll",
            "0.2",
            "--watch-repo",
            str(origin),
            "--pipeline",
            "pipeline.py:tiny",
        ],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while set(_runs()) != {first, second, third} and time.monotonic() < deadline:
        time.sleep(0.3)
    os.kill(agent.pid, signal.SIGKILL)
    agent.wait()
    assert set(_runs()) == {first, second, third}
    fourth = commit("6")
    watch_once()  # restarted: the new commit once, nothing twice
    watch_once()
    assert set(_runs()) == {first, second, third, fourth}

    git(repo, "reset", "-q", "--hard", second)  # a force-push rewrites main
    (repo / "helpers.py").write_text("def scale(i):\n    return i * 9\n")
    git(repo, "commit", "-q", "-am", "rewritten")
    git(repo, "push", "-q", "--force", "origin", "main")
    rewritten = git(repo, "rev-parse", "HEAD")
    watch_once()
    assert set(_runs()) == {first, second, third, fourth, rewritten}


SCENARIOS = {
    # system: (workflow steps' shell scripts, pull-request env, main-push env)
    "github": (
        lambda doc: [step["run"] for step in doc["jobs"]["gyre"]["steps"] if "run" in step],
        {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_BASE_REF": "main"},
        {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main", "GITHUB_RUN_NUMBER": "7"},
    ),
    "azure": (
        lambda doc: [step["script"] for step in doc["steps"] if "script" in step],
        {"BUILD_REASON": "PullRequest", "SYSTEM_PULLREQUEST_TARGETBRANCH": "refs/heads/main"},
        {
            "BUILD_REASON": "IndividualCI",
            "BUILD_SOURCEBRANCH": "refs/heads/main",
            "BUILD_BUILDID": "8",
        },
    ),
    "gitlab": (
        lambda doc: list(doc["gyre"]["script"]),
        {"CI_MERGE_REQUEST_IID": "3", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"},
        {"CI_COMMIT_BRANCH": "main", "CI_PIPELINE_IID": "9"},
    ),
}
SCHEMAS = {"github": "github-workflows", "azure": "azure-pipelines", "gitlab": "gitlab-ci"}


@pytest.mark.parametrize("system", sorted(SCENARIOS))
def test_generated_workflows_validate_and_their_steps_run_in_order(
    system: str, repo: Path, origin: Path, tmp_path: Path
) -> None:
    import yaml

    written = run_gyre("ci", "init", system, "--pipeline", "pipeline.py:tiny").stdout
    path = repo / written.split()[1].rstrip(";")
    assert path.exists()
    again = run_gyre("ci", "init", system, "--pipeline", "pipeline.py:tiny", ok=False)
    assert again.returncode == 1 and "--force" in again.stderr
    # Validated against the CI system's published schema (check-jsonschema's offline copy).
    checker = Path(sys.executable).parent / "check-jsonschema"
    valid = subprocess.run(
        [
            str(checker),
            "--regex-variant",
            "python",
            "--builtin-schema",
            f"vendor.{SCHEMAS[system]}",
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    assert valid.returncode == 0, valid.stdout + valid.stderr
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{system} workflow")
    git(repo, "push", "-q", "origin", "main")

    fake = tmp_path / "bin"  # pip would reach out to PyPI: it only records what it was asked
    fake.mkdir()
    (fake / "pip").write_text('#!/bin/sh\necho "$@" >> "$PIP_LOG"\n')
    (fake / "pip").chmod(0o755)
    scripts, pull_request, main_push = SCENARIOS[system]
    steps = scripts(yaml.safe_load(path.read_text()))
    summary = tmp_path / "summary.md"
    base_env = {
        **os.environ,
        "PATH": f"{fake}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "PIP_LOG": str(tmp_path / "pip.log"),
        "GYRE_URI": str(repo / ".gyre"),
        "GITHUB_STEP_SUMMARY": str(summary),
    }

    def run_steps(extra: dict[str, str]) -> None:
        for script in steps:
            done = subprocess.run(
                ["bash", "-e", "-c", script],
                cwd=repo,
                env={**base_env, **extra},
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"

    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "helpers.py").write_text("def scale(i):\n    return i * 11\n")
    git(repo, "commit", "-q", "-am", "a change to review")
    run_steps(pull_request)
    assert (repo / "gyre-check.xml").exists()
    plan_text = summary.read_text() if system == "github" else (repo / "gyre-plan.md").read_text()
    assert plan_text.startswith("<!-- gyre ci plan -->") and "helpers.py" in plan_text
    assert _runs() == {}  # a pull request trains nothing

    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "feature")
    run_steps(main_push)
    merged = git(repo, "rev-parse", "HEAD")
    assert list(_runs()) == [merged]
    assert "-r requirements.txt" in (tmp_path / "pip.log").read_text()


def test_a_failing_run_fails_the_ci_job_and_bad_names_are_refused(repo: Path) -> None:
    (repo / "failing.py").write_text(
        "import gyre\nfrom gyre import step\n\n\n@step\ndef boom() -> int:\n"
        "    raise RuntimeError('the data is bad')\n\n\n@gyre.pipeline\ndef failing():\n"
        "    boom()\n"
    )
    (repo / "broken.py").write_text(
        "import gyre\nimport not_a_module\n\n\n@gyre.pipeline\ndef p():\n    pass\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a failing pipeline")
    failed = run_gyre("ci", "submit", "failing.py:failing", "--build-id", "9", "--wait", ok=False)
    assert failed.returncode == 1 and "failed" in failed.stdout
    check = run_gyre("ci", "check", ok=False)
    assert "broken.py:p: The pipeline file" in check.stdout and "broken.py:2" in check.stdout
    unknown = run_gyre("ci", "init", "jenkins", "--pipeline", "failing.py:failing", ok=False)
    assert unknown.returncode == 2 and "'github', 'azure', 'gitlab'" in unknown.stderr


def test_a_ci_submitted_run_cancelled_while_queued_is_never_run(repo: Path) -> None:
    queued = json.loads(
        run_gyre("ci", "submit", "pipeline.py:tiny", "--build-id", "3", "--json").stdout
    )
    run_gyre("runs", "cancel", queued["run_id"])
    run_gyre("agent", "--once")  # nothing left to claim
    shown = json.loads(run_gyre("runs", "show", queued["run_id"], "--json").stdout)
    assert shown["status"] == "cancelled" and shown["steps"] == []
    events = json.loads(run_gyre("events", "list", "--json").stdout)
    assert [e["status"] for e in events if e["id"] == queued["job"]] == ["cancelled"]
