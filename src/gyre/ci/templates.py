"""``gyre ci init github|azure|gitlab``: a workflow for the CI server a team already uses, like
the talk's azure-pipelines.yml: the gates on every change, the plan on pull requests (in the
job's summary, and as a pull-request comment when the job has a token), training submitted
when main moves.

Each shell step decides for itself, from the CI system's own variables, whether it applies
(a pull request or main), so a workflow's steps can be run in order anywhere, which is how the
tests execute them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gyre.errors import Conflict, InvalidParameter


@dataclass(frozen=True)
class Template:
    system: str
    path: str  # where the CI system reads it, relative to the repository root
    text: str


def _github(pipeline: str, branch: str) -> str:
    return f"""# Written by gyre ci init github; edit freely.
name: gyre
on:
  push:
    branches: [{branch}]
  pull_request:
permissions:
  contents: read
  pull-requests: write
jobs:
  gyre:
    runs-on: ubuntu-latest
    env:
      GYRE_URI: ${{{{ secrets.GYRE_URI }}}}
      GYRE_ARTIFACTS: ${{{{ vars.GYRE_ARTIFACTS }}}}
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: install
        run: |
          pip install -r requirements.txt
          pip install "${{GYRE_PACKAGE:-gyre}}"
      - name: quality gates
        run: gyre ci check --junit gyre-check.xml
      - name: plan (pull requests)
        env:
          GITHUB_TOKEN: ${{{{ secrets.GITHUB_TOKEN }}}}
        run: |
          if [ "$GITHUB_EVENT_NAME" = "pull_request" ]; then
            gyre ci plan {pipeline} --base "origin/$GITHUB_BASE_REF" --format markdown \\
              ${{GITHUB_TOKEN:+--post github}} >> "$GITHUB_STEP_SUMMARY"
          fi
      - name: train ({branch})
        run: |
          if [ "$GITHUB_EVENT_NAME" = "push" ] && [ "$GITHUB_REF" = "refs/heads/{branch}" ]; then
            gyre ci submit {pipeline} --build-id "$GITHUB_RUN_NUMBER"
          fi
"""


def _azure(pipeline: str, branch: str) -> str:
    return f"""# Written by gyre ci init azure; edit freely.
trigger:
  branches:
    include:
      - {branch}
pr:
  branches:
    include:
      - {branch}
pool:
  vmImage: ubuntu-latest
variables:
  - name: GYRE_ARTIFACTS
    value: $(gyreArtifacts)
steps:
  - checkout: self
    fetchDepth: "0"
  - task: UsePythonVersion@0
    inputs:
      versionSpec: "3.11"
  - script: |
      pip install -r requirements.txt
      pip install "${{GYRE_PACKAGE:-gyre}}"
    displayName: install
  - script: gyre ci check --junit gyre-check.xml
    displayName: quality gates
    env:
      GYRE_URI: $(gyreUri)
  - task: PublishTestResults@2
    condition: always()
    inputs:
      testResultsFiles: gyre-check.xml
  - script: |
      if [ "$BUILD_REASON" = "PullRequest" ]; then
        target="${{SYSTEM_PULLREQUEST_TARGETBRANCH#refs/heads/}}"
        gyre ci plan {pipeline} --base "origin/$target" --format markdown \\
          ${{SYSTEM_ACCESSTOKEN:+--post azure}} > gyre-plan.md
        echo "##vso[task.uploadsummary]$PWD/gyre-plan.md"
      fi
    displayName: plan (pull requests)
    env:
      GYRE_URI: $(gyreUri)
      SYSTEM_ACCESSTOKEN: $(System.AccessToken)
  - script: |
      if [ "$BUILD_REASON" != "PullRequest" ] \\
        && [ "$BUILD_SOURCEBRANCH" = "refs/heads/{branch}" ]; then
        gyre ci submit {pipeline} --build-id "$BUILD_BUILDID"
      fi
    displayName: train ({branch})
    env:
      GYRE_URI: $(gyreUri)
"""


def _gitlab(pipeline: str, branch: str) -> str:
    return f"""# Written by gyre ci init gitlab; edit freely.
image: python:3.11
variables:
  GIT_DEPTH: "0"
gyre:
  script:
    - pip install -r requirements.txt
    - pip install "${{GYRE_PACKAGE:-gyre}}"
    - gyre ci check --junit gyre-check.xml
    - |
      if [ -n "$CI_MERGE_REQUEST_IID" ]; then
        target="$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
        gyre ci plan {pipeline} --base "origin/$target" --format markdown \\
          ${{GITLAB_TOKEN:+--post gitlab}} > gyre-plan.md
      fi
    - |
      if [ -z "$CI_MERGE_REQUEST_IID" ] && [ "$CI_COMMIT_BRANCH" = "{branch}" ]; then
        gyre ci submit {pipeline} --build-id "$CI_PIPELINE_IID"
      fi
  artifacts:
    when: always
    reports:
      junit: gyre-check.xml
    paths:
      - gyre-plan.md
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH == "{branch}"
"""


_RENDER = {
    "github": (".github/workflows/gyre.yml", _github),
    "azure": ("azure-pipelines.yml", _azure),
    "gitlab": (".gitlab-ci.yml", _gitlab),
}
SYSTEMS = tuple(_RENDER)


def render(system: str, pipeline: str, branch: str = "main") -> Template:
    if system not in _RENDER:
        raise InvalidParameter(
            f"Unknown CI system {system!r}: gyre ci init writes {', '.join(SYSTEMS)}.",
            field="system",
        )
    if ":" not in pipeline:
        raise InvalidParameter(
            f"--pipeline {pipeline!r} is not FILE:PIPELINE (e.g. pipeline.py:seer).",
            field="pipeline",
        )
    path, make = _RENDER[system]
    return Template(system, path, make(pipeline, branch))


def write(root: Path, template: Template, *, force: bool = False) -> Path:
    target = root / template.path
    if target.exists() and not force:
        raise Conflict(
            f"{target} exists. Move it away, or pass --force to replace it with gyre's workflow."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.gyre")
    temp.write_text(template.text)
    os.replace(temp, target)
    return target
