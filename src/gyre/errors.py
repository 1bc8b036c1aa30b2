"""The one error hierarchy of gyre.

Every message says what was being done, the offending value, why it is wrong and how to fix it.
The CLI prints a ``GyreError`` without a traceback (``--debug`` shows it)::

    GyreError
    ├── WorkspaceError          workspace missing, unreadable, or on an old schema
    ├── NotFound                a run, step, pipeline or blob that does not exist
    ├── Conflict                a write that would contradict what is stored
    ├── InvalidPipeline         a pipeline definition that cannot run (cycle, duplicate, types)
    │   └── PipelineImportError the pipeline file does not import
    ├── InvalidParameter        an unknown or badly typed parameter
    ├── StepFailed              a step raised, timed out or was killed
    ├── RunCancelled            a run was cancelled by a user
    ├── CorruptBlob             a blob whose bytes do not match its digest, or that is missing
    ├── Unreachable             a storage location or service did not answer (network)
    ├── ComputeUnavailable      a compute target (a Ray cluster, its warm driver) cannot run steps
    ├── ServeFailed             the scoring server cannot start (the port is taken, ...)
    ├── ModelLoadFailed         a model version's flavor could not load its files
    ├── UntrustedContent        a file holds code or types that must be trusted explicitly
    ├── AccessDenied            a storage location refused the credentials (or got none)
    ├── ReadFailed              a storage location could not be read for another reason
    ├── WriteFailed             a file could not be written (nothing half-written is left)
    ├── InsecureSecrets         the secrets file can be read by other users
    ├── NoActiveRun             a gyre.log_* call with no run to log to
    ├── InvalidRelease          a release definition (release.yaml) that cannot be used
    ├── ServerFailed            the team server answered a request with its own failure (5xx)
    ├── Unauthenticated         a request to the server without a valid token (missing, wrong,
    │                           expired or revoked)
    ├── Forbidden               a known caller without the role an operation needs
    │   └── NotAnApprover       an approval or rejection by someone the stage does not name
    └── MissingExtra            an optional dependency is not installed
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GyreError(Exception):
    """Root of every error gyre raises on purpose."""


class WorkspaceError(GyreError):
    """The workspace is missing, unreadable or needs a migration."""


class NotFound(GyreError):
    """A named thing does not exist."""


class Conflict(GyreError):
    """A write contradicts what is already stored."""


class InvalidPipeline(GyreError):
    """A pipeline definition cannot run."""


class PipelineImportError(InvalidPipeline):
    """A pipeline file could not be imported."""


class InvalidParameter(GyreError):
    """A parameter (or a request field) is unknown or has the wrong type."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class StepFailed(GyreError):
    """A step raised, timed out or was killed."""


class RunCancelled(GyreError):
    """A run was cancelled."""


class CorruptBlob(GyreError):
    """A blob is missing or its bytes do not match its digest."""


class Unreachable(GyreError):
    """A storage location or service did not answer: refused, timed out, unknown host."""


class ComputeUnavailable(GyreError):
    """A compute target cannot run steps now: its cluster does not answer, or its warm
    driver failed or ended."""


class ServeFailed(GyreError):
    """The scoring server cannot start."""


class ModelLoadFailed(GyreError):
    """A model version's flavor could not load its (intact) files."""


class UntrustedContent(GyreError):
    """A file holds pickles or types that are loaded only when the user trusts them."""


class AccessDenied(GyreError):
    """A storage location refused the credentials, or none were given."""


class ReadFailed(GyreError):
    """A storage location answered but could not be read (not a network or access error)."""


class WriteFailed(GyreError):
    """A file could not be written; nothing half-written is left behind."""


class InsecureSecrets(GyreError):
    """The secrets file can be read by other users."""


class NoActiveRun(GyreError):
    """A gyre.log_* call found no run to log to."""


class InvalidRelease(GyreError):
    """A release definition cannot be used; the message names the file and line."""


class ServerFailed(GyreError):
    """The team server failed on a request (a 5xx that is not its database being away)."""


class Unauthenticated(GyreError):
    """A request to the team server carried no token, or one that is wrong, expired or
    revoked."""


class Forbidden(GyreError):
    """The caller is known but lacks the role the operation needs."""


class NotAnApprover(Forbidden):
    """Someone approved or rejected a release stage that does not list them as an approver."""


class MissingExtra(GyreError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the package {package!r}, which is not installed. "
            f"Install it with: pip install 'gyre[{extra}]'"
        )


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ' Did you mean X?' for the closest candidate, or '' when none is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1)
    return f" Did you mean {matches[0]!r}?" if matches else ""
