"""Errors about local projects and project-level transfers."""

from __future__ import annotations

from blobflow._errors import BlobflowError

__all__ = ["ProjectError", "DuplicateNameError", "first_problem"]


class ProjectError(BlobflowError):
    """A local project folder is missing, malformed or inconsistent."""


class DuplicateNameError(ProjectError):
    """Two different images share one name inside one dataset (the server would reject them)."""


def first_problem(problems: list[str] | str, others: int = 0) -> str:
    """The first of several problems found by a check, and how many others there are: from the
    list of all of them, or from the first and a count of the others."""
    if isinstance(problems, list):
        problems, others = problems[0], len(problems) - 1
    if not others:
        return problems
    return f"{problems} (and {others} other problem{'s' if others > 1 else ''})"
