"""``README.md`` for a downloaded blob project: what it is, its tree, its dataset descriptions.

The sections follow the SDK's ``create_blob_readme`` (general info, structure with at most two
entries per folder, descriptions and custom data per dataset); the wording is blobflow's own.
"""

from __future__ import annotations

import heapq
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from blobflow._files import write_named_files
from blobflow.project._local import Dataset, Project

__all__ = ["create_blob_readme"]

_LIMIT = 2  # entries shown per folder, as the SDK


def _as_dict(info: Any) -> dict[str, Any]:
    if info is None:
        return {}
    if isinstance(info, Mapping):
        return dict(info)
    asdict = getattr(info, "_asdict", None)
    return dict(asdict()) if callable(asdict) else {}


def _general(info: Mapping[str, Any]) -> str:
    lines = []
    for key, value in info.items():
        # Only short scalar facts; bool is an int but says nothing useful here.
        if value and isinstance(value, (str, int)) and not isinstance(value, bool):
            lines.append(f"**{key.replace('_', ' ').capitalize()}:** {value}<br>")
    return "\n".join(lines)


def _listing(folder: Path, prefix: str, icon: str, suffix: str = "") -> list[str]:
    """The first entries of a folder (by name) and how many more: streamed, as a folder may
    hold a million files."""
    shown, count = _first_files(folder, suffix, _LIMIT)
    out = [f"{prefix}┣ {icon} {n}<br>" for n in shown]
    if count > _LIMIT:
        out.append(f"{prefix}┗ ... {count - _LIMIT} more<br>")
    return out


def _first_files(folder: Path, suffix: str, limit: int | None) -> tuple[list[str], int]:
    """The first ``limit`` (all if None) file names ending in ``suffix``, and their count."""
    if not folder.is_dir():
        return [], 0
    count = 0

    def names() -> Iterator[str]:
        nonlocal count
        with os.scandir(folder) as it:
            for e in it:
                if e.is_file() and e.name.endswith(suffix) and not e.name.startswith("."):
                    count += 1
                    yield e.name

    first = sorted(names()) if limit is None else heapq.nsmallest(limit, names())
    return first, count


def _dataset_tree(ds: Dataset, depth: int) -> list[str]:
    pad = "┃ " * depth
    rel = ds.directory.relative_to(ds.project_dir).as_posix()
    out = [f"{pad}┣ 📂 [{ds.short_name}]({rel})<br>"]
    inner = pad + "┃ "
    out += [f"{inner}┣ 📄 {n}<br>" for n in _first_files(ds.directory, ".pkl", None)[0]]
    for sub, icon in ((ds.img_dir, "🏞️"), (ds.ann_dir, "📝")):
        if sub.is_dir():
            out.append(f"{inner}┣ 📁 {sub.name}<br>")
            out += _listing(sub, inner + "┃ ", icon)
    return out


def create_blob_readme(
    project: Project,
    project_info: Any = None,
    dataset_infos: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``<project>/README.md`` and return its path.

    ``project_info`` is a ProjectInfo (or dict); ``dataset_infos`` maps a dataset's full name
    (``parent/child``) to its DatasetInfo (or dict), for descriptions and custom data.
    """
    info = _as_dict(project_info)
    title = info.get("name") or project.name
    parts = [f"# {title}", "", "A Supervisely-format project with blob images.", ""]
    parts += ["## General information", "", _general(info) or f"**Name:** {project.name}<br>", ""]
    tree = [f"🗂️ {title}<br>"]
    if _first_files(project.blob_dir, "", 1)[1]:
        tree.append(f"┣ 📁 {project.blob_dir_name}<br>")
        tree += _listing(project.blob_dir, "┃ ", "📦")
    for ds in project.datasets:
        tree += _dataset_tree(ds, len(ds.parents))
    parts += ["## Dataset structure", "", *tree, ""]
    described = {}
    for name, ds_info in (dataset_infos or {}).items():
        d = _as_dict(ds_info)
        entry = {k: d[k] for k in ("description", "custom_data") if d.get(k)}
        if entry:
            described[name] = entry
    parts += ["## Dataset descriptions and custom data", ""]
    if described:
        parts += ["```json", json.dumps(described, indent=2, ensure_ascii=False), "```"]
    else:
        parts.append("_No dataset descriptions or custom data in the project._")
    parts += [
        "",
        "## Reading it",
        "",
        "```python",
        "from blobflow.project import Project",
        "",
        f'project = Project("{project.directory.name}")',
        "for ds in project.datasets:",
        "    for name in ds.get_items_names():",
        "        data = ds.get_img_bytes(name)",
        "```",
        "",
        "The official SDK opens it too: `sly.Project(path, sly.OpenMode.READ)`, then",
        "`dataset.get_blob_img_bytes(name)`.",
        "",
    ]
    write_named_files(project.directory, {"README.md": "\n".join(parts).encode("utf-8")})
    return project.directory / "README.md"
