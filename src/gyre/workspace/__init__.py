"""Workspace integrity: ``gyre fsck`` checks that what the workspace recorded is still there,
byte for byte, and repairs what intact copies allow (:mod:`gyre.workspace.fsck`)."""

from gyre.workspace.fsck import Finding, Report, check

__all__ = ["Finding", "Report", "check"]
