"""``gyre ci plan --post github|gitlab|azure``: one comment on the pull request, updated on every
push instead of piling up, through the CI system's REST API.

Everything comes from the CI system's standard environment variables (the token, the
repository, the pull request); the token is sent in a header and never printed. The comment is
found again by :data:`gyre.ci.plan.MARKER`, its first line.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from gyre.ci.plan import MARKER
from gyre.errors import AccessDenied, InvalidParameter, Unreachable

SYSTEMS = ("github", "gitlab", "azure")


@dataclass(frozen=True)
class Posted:
    url: str  # of the API resource, never with the token
    updated: bool  # False: a new comment


def post(system: str, body: str, env: dict[str, str] | None = None) -> Posted:
    env = dict(os.environ if env is None else env)
    if system == "github":
        return _GitHub(env).post(body)
    if system == "gitlab":
        return _GitLab(env).post(body)
    if system == "azure":
        return _Azure(env).post(body)
    raise InvalidParameter(
        f"Unknown CI system {system!r} for --post: {', '.join(SYSTEMS)}.", field="post"
    )


def _need(env: dict[str, str], *names: str, what: str) -> str:
    for name in names:
        if env.get(name):
            return env[name]
    raise InvalidParameter(
        f"--post needs {what}: set {' or '.join(names)} (the CI system sets it in a "
        "pull-request build; a token must be given to the job as a secret).",
        field=names[0],
    )


def _request(method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={**headers, **({"Content-Type": "application/json"} if data else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode() or "null"
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise AccessDenied(
                f"{method} {url} was refused ({exc.code} {exc.reason}): the token cannot comment "
                "on this pull request. Give the job a token with write access to pull requests."
            ) from None
        raise Unreachable(f"{method} {url} failed: {exc.code} {exc.reason}.") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(f"{method} {url} could not be reached: {reason}.") from None
    return json.loads(text)


class _GitHub:
    def __init__(self, env: dict[str, str]) -> None:
        self.token = _need(env, "GITHUB_TOKEN", "GH_TOKEN", what="a GitHub token")
        self.repo = _need(env, "GITHUB_REPOSITORY", what="the repository (owner/name)")
        self.api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
        self.number = _github_pr(env)
        self.headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "gyre-ci",
        }

    def post(self, body: str) -> Posted:
        base = f"{self.api}/repos/{self.repo}/issues"
        page = 1
        while True:
            comments = _request(
                "GET", f"{base}/{self.number}/comments?per_page=100&page={page}", self.headers
            )
            for comment in comments:
                if str(comment.get("body", "")).startswith(MARKER):
                    url = f"{base}/comments/{comment['id']}"
                    _request("PATCH", url, self.headers, {"body": body})
                    return Posted(url, True)
            if len(comments) < 100:
                break
            page += 1
        url = f"{base}/{self.number}/comments"
        _request("POST", url, self.headers, {"body": body})
        return Posted(url, False)


def _github_pr(env: dict[str, str]) -> int:
    match = re.match(r"refs/pull/(\d+)/", env.get("GITHUB_REF", ""))
    if match:
        return int(match.group(1))
    event = env.get("GITHUB_EVENT_PATH")
    if event:
        try:
            with open(event) as handle:
                number = json.load(handle).get("pull_request", {}).get("number")
        except (OSError, ValueError):
            number = None
        if number:
            return int(number)
    raise InvalidParameter(
        "--post github found no pull request: GITHUB_REF is not refs/pull/N/merge and "
        "GITHUB_EVENT_PATH names none. Post the plan from a pull_request workflow.",
        field="GITHUB_REF",
    )


class _GitLab:
    def __init__(self, env: dict[str, str]) -> None:
        self.token = _need(env, "GITLAB_TOKEN", "GYRE_GITLAB_TOKEN", what="a GitLab token")
        self.api = _need(env, "CI_API_V4_URL", what="the GitLab API URL").rstrip("/")
        self.project = _need(env, "CI_PROJECT_ID", what="the project id")
        self.iid = _need(env, "CI_MERGE_REQUEST_IID", what="a merge request (a MR pipeline)")
        self.headers = {"PRIVATE-TOKEN": self.token, "User-Agent": "gyre-ci"}

    def post(self, body: str) -> Posted:
        base = (
            f"{self.api}/projects/{urllib.parse.quote(self.project, safe='')}"
            f"/merge_requests/{self.iid}/notes"
        )
        for note in _request("GET", f"{base}?per_page=100", self.headers):
            if str(note.get("body", "")).startswith(MARKER):
                url = f"{base}/{note['id']}"
                _request("PUT", url, self.headers, {"body": body})
                return Posted(url, True)
        _request("POST", base, self.headers, {"body": body})
        return Posted(base, False)


class _Azure:
    API = "api-version=7.1"

    def __init__(self, env: dict[str, str]) -> None:
        self.token = _need(env, "SYSTEM_ACCESSTOKEN", what="the build's access token")
        self.collection = _need(env, "SYSTEM_COLLECTIONURI", what="the organization URL")
        self.project = _need(env, "SYSTEM_TEAMPROJECT", what="the project")
        self.repo = _need(env, "BUILD_REPOSITORY_ID", what="the repository id")
        self.pr = _need(env, "SYSTEM_PULLREQUEST_PULLREQUESTID", what="a pull request build")
        self.headers = {"Authorization": f"Bearer {self.token}", "User-Agent": "gyre-ci"}

    def post(self, body: str) -> Posted:
        base = (
            f"{self.collection.rstrip('/')}/{urllib.parse.quote(self.project)}/_apis/git/"
            f"repositories/{self.repo}/pullRequests/{self.pr}/threads"
        )
        threads = _request("GET", f"{base}?{self.API}", self.headers).get("value", [])
        for thread in threads:
            for comment in thread.get("comments", []):
                if str(comment.get("content", "")).startswith(MARKER):
                    url = f"{base}/{thread['id']}/comments/{comment['id']}"
                    _request("PATCH", f"{url}?{self.API}", self.headers, {"content": body})
                    return Posted(url, True)
        new = {"comments": [{"parentCommentId": 0, "content": body, "commentType": 1}], "status": 1}
        _request("POST", f"{base}?{self.API}", self.headers, new)
        return Posted(base, False)
