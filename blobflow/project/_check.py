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
from blobflow._geometry import MAPS, annotation_problem, meta_shapes
from blobflow.project._errors import ProjectError, first_problem
from blobflow.project._local import read_annotation

__all__ = ["check_annotations", "check_image_annotations"]

#: ``(where, annotation JSON or its file)`` pairs; ``where`` names it in an error.
Sources = Iterable[tuple[str, "Mapping[str, Any] | str | os.PathLike[str]"]]


class _Checker:
    """The checks of one job, one annotation at a time: what a report needs is kept, not the
    annotations."""

    def __init__(self, meta: Mapping[str, Any]) -> None:
        self.classes = meta_shapes(meta)
        self.missing: dict[str, str] = {}  # class title -> first file using it
        self.first: str | None = None
        self.others = 0  # annotations with a problem after the first: counted, not kept
        self.count = 0

    def add(self, where: str, ann: Mapping[str, Any]) -> None:
        self.count += 1
        objects = ann.get("objects")
        titles = {o.get("classTitle") for o in objects if isinstance(o, MAPS)} if isinstance(
            objects, list) else set()
        unknown = {t for t in titles if isinstance(t, str) and t not in self.classes}
        for title in unknown:
            self.missing.setdefault(title, where)
        if not unknown and (problem := annotation_problem(ann, self.classes)) is not None:
            if self.first is None:
                self.first = f"{where}: {problem}"
            else:
                self.others += 1

    def finish(self) -> int:
        if self.missing:
            named = ", ".join(
                f"{t!r} (first in {w})" for t, w in sorted(self.missing.items())[:20]
            )
            more = f" and {len(self.missing) - 20} more" if len(self.missing) > 20 else ""
            raise ProjectError(
                f"the project meta lacks classes the annotations use: {named}{more}"
            )
        if self.first is not None:
            raise AnnotationError(first_problem(self.first, self.others))
        return self.count


def check_annotations(sources: Sources, meta: Mapping[str, Any]) -> int:
    """Read and check every annotation; the number checked.

    Classes the meta lacks are collected over all of them and named together (a
    :class:`ProjectError`); otherwise the first other problem is an :class:`AnnotationError`
    naming its file and field, and how many other annotations have a problem. Blocking: run
    it in a worker thread.
    """
    checker = _Checker(meta)
    for where, source in sources:
        checker.add(where, source if isinstance(source, Mapping) else read_annotation(source))
    return checker.finish()


def check_image_annotations(
    folder: str | os.PathLike[str], names: Iterable[str], meta: Mapping[str, Any]
) -> int:
    """:func:`check_annotations` of ``<folder>/<name>.json`` for each image name, which must
    all exist: a missing one is a :class:`ProjectError` naming the first and how many others.

    ``names`` is read once, as it comes, and nothing grows with it: a check of 300,000
    annotations held the lists of their names and files (~110 MB) before.
    """
    folder = os.fspath(folder)
    checker = _Checker(meta)
    first_missing: str | None = None
    missing = 0
    for name in names:
        path = os.path.join(folder, f"{name}.json")
        try:
            ann = read_annotation(path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            missing += 1
            first_missing = first_missing or f"no annotation file for image {name!r}: {path}"
            continue
        checker.add(path, ann)
    if first_missing is not None:
        raise ProjectError(first_problem(first_missing, missing - 1))
    return checker.finish()
