"""Errors about local projects and project-level transfers."""

from __future__ import annotations

from blobflow._errors import BlobflowError

__all__ = ["ProjectError", "DuplicateNameError", "first_problem"]


class ProjectError(BlobflowError):
    """A local project folder is missing, malformed or inconsistent."""


class DuplicateNameError(ProjectError):
    """Two different images share one name inside one dataset (the server would reject them)."""


def first_problem(problems: list[str]) -> str:
    """The first of several problems found by a check, and how many others there are."""
    others = len(problems) - 1
    if not others:
        return problems[0]
    return f"{problems[0]} (and {others} other problem{'s' if others > 1 else ''})"
