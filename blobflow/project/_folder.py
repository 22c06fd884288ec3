"""A plain folder of images (and annotation files) as a local project, ready to upload."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from blobflow._errors import BlobFormatError
from blobflow._media import FileSelection
from blobflow.blob import archive_directory
from blobflow.project._errors import ProjectError
from blobflow.project._local import OpenMode, Project, read_annotation

__all__ = ["is_project_folder", "project_from_folder"]


def is_project_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds a Supervisely-format project (a ``meta.json`` in it or below),
    rather than a plain folder of images."""
    src = Path(folder)
    return (src / "meta.json").is_file() or any(src.rglob("meta.json"))


class _MetaFromAnns:
    """The classes and tags that plain annotation files use, so the server accepts them;
    fed one annotation at a time (a folder's annotations are never all in memory)."""

    _PALETTE = ("#E6194B", "#3CB44B", "#FFE119", "#4363D8", "#F58231", "#911EB4", "#46F0F0")

    def __init__(self) -> None:
        self.classes: dict[str, str] = {}
        self.tags: set[str] = set()

    def add(self, ann: dict[str, Any], path: Path) -> None:
        for obj in _json_list(ann, "objects", path):
            title = obj.get("classTitle")
            if isinstance(title, str):
                self.classes.setdefault(title, obj.get("geometryType") or "any")
            self._add_tags(obj, path)
        self._add_tags(ann, path)

    def _add_tags(self, holder: dict[str, Any], path: Path) -> None:
        self.tags.update(
            t["name"] for t in _json_list(holder, "tags", path) if isinstance(t.get("name"), str)
        )

    def meta(self) -> dict[str, Any]:
        palette = self._PALETTE
        return {
            "classes": [
                {"title": t, "shape": s, "color": palette[i % len(palette)]}
                for i, (t, s) in enumerate(sorted(self.classes.items()))
            ],
            "tags": [
                {"name": n, "value_type": "none", "color": "#0F7B8A"} for n in sorted(self.tags)
            ],
        }


def _json_list(holder: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    items = holder.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ProjectError(f"{path}: {key!r} must be a list of JSON objects")
    return items


#: annotation files parsed and written per step when packing a plain folder
_ANN_STEP = 1000


def project_from_folder(
    folder: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    select: FileSelection | None = None,
) -> Path:
    """A plain image folder -> a project in ``dest_dir/<folder name>``: one blob of the images
    (in ``dest_dir/<folder name>/blob/``), dataset ``ds0`` with its offsets, and the annotations
    found in ``<folder>/ann/<name>.json`` or beside the images as ``<name>.json``.

    ``select`` chooses the images (default: every image file); what it rejects, and ``.json``
    files that name no packed image, are recorded in ``select.skipped``. Annotations are read,
    checked and written 1,000 at a time; the project's meta is built from the classes and
    tags they use. Returns the project folder (sync; run it in a thread).
    """
    src, work = Path(folder), Path(dest_dir)
    select = FileSelection() if select is None else select
    project = Project(work / src.resolve().name, OpenMode.CREATE)
    tar = work / f"{src.resolve().name}.tar"

    def wanted(path: str) -> bool:
        # annotation files (ann/*, *.json) are read below, not skipped
        if path.endswith(".json") or "ann" in Path(path).parts[:-1]:
            return False
        return select(path)

    try:
        infos = archive_directory(src, tar, filter_func=wanted)
    except BlobFormatError:
        if select.kept:
            raise
        raise ProjectError(select.nothing_selected(src)) from None
    project.add_blob_file(tar, move=True)
    ds = project.create_dataset("ds0")
    ds.add_blob_offsets(tar.name, infos)
    names = {i.name for i in infos}
    del infos
    meta = _MetaFromAnns()
    seen: set[str] = set()
    step: dict[str, Any] = {}
    for candidate in src.rglob("*.json"):  # a generator: the folder is never listed whole
        name = candidate.name[: -len(".json")]
        if name not in names:  # no image of that name: not an annotation, and not an image
            select.skipped.add(str(candidate.relative_to(src)))
            continue
        if name in seen:
            continue
        ann = read_annotation(candidate)
        meta.add(ann, candidate)
        seen.add(name)
        step[name] = ann
        if len(step) >= _ANN_STEP:
            ds.write_anns(step)
            step = {}
    if step:
        ds.write_anns(step)
    if seen:
        project.set_meta(meta.meta())
    project.close()
    return project.directory
