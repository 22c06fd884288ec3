"""Errors about local projects and project-level transfers."""

from __future__ import annotations

from blobflow._errors import BlobflowError

__all__ = ["ProjectError", "DuplicateNameError"]


class ProjectError(BlobflowError):
    """A local project folder is missing, malformed or inconsistent."""


class DuplicateNameError(ProjectError):
    """Two different images share one name inside one dataset (the server would reject them)."""
