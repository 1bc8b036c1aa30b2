"""gyre ci plan --post: one pull-request comment, created then updated, through each CI
system's REST API. GitHub, GitLab and Azure DevOps cannot be reached from here, so a local HTTP
server stands in for them and checks every request against the API's documented shape
(method, path, headers, body); docs/ci.md says so."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import copy_resource, run_gyre

TOKEN = "s3cr3t-token-value"


class FakeApi:
    """Comments kept in memory; each request is checked, the first wrong one is kept."""

    def __init__(self, system: str) -> None:
        self.system = system
        self.comments: dict[int, str] = {}
        self.requests: list[tuple[str, str]] = []
        self.errors: list[str] = []

    def handle(self, method: str, path: str, headers: Any, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path))
        check = getattr(self, f"_{self.system}")
        return check(method, path, headers, body)

    def _expect(self, condition: bool, what: str) -> None:
        if not condition:
            self.errors.append(what)

    def _github(self, method: str, path: str, headers: Any, body: Any) -> tuple[int, Any]:
        self._expect(headers.get("Authorization") == f"Bearer {TOKEN}", "Bearer token")
        self._expect(headers.get("Accept") == "application/vnd.github+json", "Accept header")
        self._expect(headers.get("X-GitHub-Api-Version") == "2022-11-28", "API version")
        if method == "GET" and re.fullmatch(r"/repos/acme/seer/issues/17/comments\?.*", path):
            return 200, [{"id": i, "body": b} for i, b in self.comments.items()]
        if method == "POST" and path == "/repos/acme/seer/issues/17/comments":
            self._expect(set(body) == {"body"}, "POST body is {body}")
            self.comments[len(self.comments) + 1] = body["body"]
            return 201, {"id": len(self.comments)}
        match = re.fullmatch(r"/repos/acme/seer/issues/comments/(\d+)", path)
        if method == "PATCH" and match:
            self.comments[int(match.group(1))] = body["body"]
            return 200, {"id": int(match.group(1))}
        self.errors.append(f"unexpected {method} {path}")
        return 404, {}

    def _gitlab(self, method: str, path: str, headers: Any, body: Any) -> tuple[int, Any]:
        self._expect(headers.get("PRIVATE-TOKEN") == TOKEN, "PRIVATE-TOKEN header")
        notes = "/api/v4/projects/42/merge_requests/5/notes"
        if method == "GET" and path.startswith(f"{notes}?"):
            return 200, [{"id": i, "body": b} for i, b in self.comments.items()]
        if method == "POST" and path == notes:
            self.comments[len(self.comments) + 1] = body["body"]
            return 201, {"id": len(self.comments)}
        match = re.fullmatch(rf"{notes}/(\d+)", path)
        if method == "PUT" and match:
            self.comments[int(match.group(1))] = body["body"]
            return 200, {}
        self.errors.append(f"unexpected {method} {path}")
        return 404, {}

    def _azure(self, method: str, path: str, headers: Any, body: Any) -> tuple[int, Any]:
        self._expect(headers.get("Authorization") == f"Bearer {TOKEN}", "Bearer token")
        threads = "/acme/Seer%20Project/_apis/git/repositories/repo-1/pullRequests/9/threads"
        self._expect(path.endswith("api-version=7.1"), "api-version=7.1")
        if method == "GET" and path.startswith(f"{threads}?"):
            value = [
                {"id": i, "comments": [{"id": 1, "content": c}]} for i, c in self.comments.items()
            ]
            return 200, {"value": value, "count": len(value)}
        if method == "POST" and path.startswith(f"{threads}?"):
            (comment,) = body["comments"]
            self._expect(comment["parentCommentId"] == 0 and body["status"] == 1, "thread shape")
            self.comments[len(self.comments) + 1] = comment["content"]
            return 200, {"id": len(self.comments)}
        match = re.fullmatch(rf"{threads}/(\d+)/comments/1\?api-version=7.1", path)
        if method == "PATCH" and match:
            self.comments[int(match.group(1))] = body["content"]
            return 200, {}
        self.errors.append(f"unexpected {method} {path}")
        return 404, {}


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Iterator[tuple[FakeApi, str]]:
    fake = FakeApi(request.param)

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, answer = fake.handle(self.command, self.path, self.headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = _serve  # noqa: N815 - http.server names them

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield fake, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _env(system: str, url: str) -> dict[str, str]:
    return {
        "github": {
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_REPOSITORY": "acme/seer",
            "GITHUB_API_URL": url,
            "GITHUB_REF": "refs/pull/17/merge",
        },
        "gitlab": {
            "GITLAB_TOKEN": TOKEN,
            "CI_API_V4_URL": f"{url}/api/v4",
            "CI_PROJECT_ID": "42",
            "CI_MERGE_REQUEST_IID": "5",
        },
        "azure": {
            "SYSTEM_ACCESSTOKEN": TOKEN,
            "SYSTEM_COLLECTIONURI": f"{url}/acme/",
            "SYSTEM_TEAMPROJECT": "Seer Project",
            "BUILD_REPOSITORY_ID": "repo-1",
            "SYSTEM_PULLREQUEST_PULLREQUESTID": "9",
        },
    }[system]


@pytest.mark.parametrize("api", ["github", "gitlab", "azure"], indirect=True)
def test_the_plan_is_posted_once_then_updated_and_the_token_never_printed(
    api: tuple[FakeApi, str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = api
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    run_gyre("init")
    for name, value in _env(fake.system, url).items():
        monkeypatch.setenv(name, value)
    first = run_gyre("ci", "plan", "chain.py:chain", "--post", fake.system)
    assert "Posted the plan" in first.stderr
    run_gyre("run", "chain.py:chain")
    second = run_gyre("ci", "plan", "chain.py:chain", "--post", fake.system)
    assert "Updated the plan" in second.stderr
    assert fake.errors == []
    assert len(fake.comments) == 1  # updated, not piled up
    (comment,) = fake.comments.values()
    assert comment.startswith("<!-- gyre ci plan -->") and "nothing to train" in comment
    for done in (first, second):
        assert TOKEN not in done.stdout + done.stderr


def test_a_missing_token_or_pull_request_is_named(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_resource("good/chain.py", project)
    copy_resource("good/helper.py", project)
    run_gyre("init")
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_REF", "GITHUB_EVENT_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/seer")
    missing = run_gyre("ci", "plan", "chain.py:chain", "--post", "github", ok=False)
    assert missing.returncode == 1 and "GITHUB_TOKEN or GH_TOKEN" in missing.stderr
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    no_pr = run_gyre("ci", "plan", "chain.py:chain", "--post", "github", ok=False)
    assert "found no pull request" in no_pr.stderr and TOKEN not in no_pr.stderr
