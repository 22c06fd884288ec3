"""Annotations checked against a project meta before anything is registered.

The platform refuses an annotation whose class is not in the project's meta, whose geometry
type does not match its class, or which lacks ``size`` / ``objects``; the SDK fails on them
half-way through an upload. Checked first, the job stops with nothing registered, naming the
file (or, for classes the meta lacks, every such class).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from blobflow._errors import AnnotationError
from blobflow._geometry import annotation_problem, meta_shapes
from blobflow.project._errors import ProjectError, first_problem
from blobflow.project._local import read_annotation

__all__ = ["check_annotations", "folder_annotations"]

#: ``(where, annotation JSON or its file)`` pairs; ``where`` names it in an error.
Sources = Iterable[tuple[str, "Mapping[str, Any] | str | os.PathLike[str]"]]


def folder_annotations(folder: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Every ``*.json`` file of a folder, as :data:`Sources`."""
    with os.scandir(folder) as entries:
        return sorted(
            (e.path, e.path) for e in entries if e.name.endswith(".json") and e.is_file()
        )


def check_annotations(sources: Sources, meta: Mapping[str, Any]) -> int:
    """Read and check every annotation; the number checked.

    Classes the meta lacks are collected over all of them and named together (a
    :class:`ProjectError`); otherwise the first other problem is an :class:`AnnotationError`
    naming its file and field, and how many other annotations have a problem. Blocking: run
    it in a worker thread.
    """
    classes = meta_shapes(meta)
    missing: dict[str, str] = {}  # class title -> first file using it
    first: str | None = None
    others = 0  # annotations with a problem after the first: counted, not kept
    count = 0
    for where, source in sources:
        ann = source if isinstance(source, Mapping) else read_annotation(source)
        count += 1
        objects = ann.get("objects")
        titles = {o.get("classTitle") for o in objects if isinstance(o, Mapping)} if isinstance(
            objects, list) else set()
        unknown = {t for t in titles if isinstance(t, str) and t not in classes}
        for title in unknown:
            missing.setdefault(title, where)
        if not unknown and (problem := annotation_problem(ann, classes)) is not None:
            if first is None:
                first = f"{where}: {problem}"
            else:
                others += 1
    if missing:
        named = ", ".join(f"{t!r} (first in {w})" for t, w in sorted(missing.items())[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise ProjectError(f"the project meta lacks classes the annotations use: {named}{more}")
    if first is not None:
        raise AnnotationError(first_problem(first, others))
    return count
