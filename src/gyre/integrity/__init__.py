"""Workspace integrity: ``gyre fsck`` checks that what the workspace recorded is still there,
byte for byte, and repairs what intact copies allow (:mod:`gyre.integrity.fsck`)."""

from gyre.integrity.fsck import Finding, Report, check

__all__ = ["Finding", "Report", "check"]
