"""``Annotation``, ``Label``, ``Tag``: an image annotation in the SDK's JSON, minimal.

``from_json`` checks what the SDK checks before anything is sent (``size``, ``tags`` and
``objects`` present; every object's class and every tag in the project meta) and ``to_json``
writes the SDK's keys and defaults. A label's geometry is kept as the JSON it came in
(``points``, ``bitmap``...): blobflow does not re-implement the SDK's geometry library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blobflow.sly._meta import ObjClass, ProjectMeta, TagMeta

__all__ = ["Annotation", "Geometry", "Label", "Tag"]

# Keys of a label object that are not its geometry.
_LABEL_KEYS = frozenset(
    {
        "id", "classId", "classTitle", "description", "tags", "labelerLogin", "createdAt",
        "updatedAt", "geometryType", "shape", "nnCreated", "nnUpdated", "instance",
    }
)  # fmt: skip
_AUTHOR_KEYS = ("labelerLogin", "updatedAt", "createdAt")


class Tag:
    """A tag on an image or a label: its ``meta`` (a :class:`TagMeta`) and ``value``."""

    def __init__(self, meta: TagMeta, value: Any = None, **author: Any) -> None:
        self.meta = meta
        self.value = value
        self._author = {k: v for k, v in author.items() if v is not None}

    @property
    def name(self) -> str:
        return self.meta.name

    @classmethod
    def from_json(cls, data: Mapping[str, Any], tag_metas: Any) -> Tag:
        meta = tag_metas.get(data["name"])
        if meta is None:
            raise RuntimeError(f"tag {data['name']!r} is not in the project meta")
        return cls(meta, data.get("value"), **{k: data.get(k) for k in _AUTHOR_KEYS})

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.value is not None:
            out["value"] = self.value
        out.update(self._author)
        return out

    def __repr__(self) -> str:
        return f"Tag({self.name!r}, {self.value!r})"


class Geometry:
    """A label's shape: its name (``"rectangle"``...) and its JSON, as given."""

    def __init__(self, name: str, data: Mapping[str, Any]) -> None:
        self._name = name
        self._data = dict(data)

    def geometry_name(self) -> str:
        return self._name

    def to_json(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"Geometry({self._name!r})"


class Label:
    """One object of an annotation: ``obj_class``, ``geometry``, ``tags``, ``description``."""

    def __init__(
        self,
        geometry: Geometry,
        obj_class: ObjClass,
        tags: list[Tag] | None = None,
        description: str = "",
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.geometry = geometry
        self.obj_class = obj_class
        self.tags = list(tags or [])
        self.description = description
        self._extra = dict(extra or {})  # id, classId, author fields, nn flags

    @classmethod
    def from_json(cls, data: Mapping[str, Any], project_meta: ProjectMeta) -> Label:
        title = data.get("classTitle")
        obj_class = project_meta.get_obj_class(title) if isinstance(title, str) else None
        if obj_class is None:
            raise RuntimeError(
                f"label class name {title} was not found in the given project meta"
            )
        if "tags" not in data:
            raise RuntimeError("a label has no 'tags' list")
        tags = [Tag.from_json(t, project_meta.tag_metas) for t in data["tags"]]
        geometry = {k: v for k, v in data.items() if k not in _LABEL_KEYS}
        extra = {k: data[k] for k in (*_AUTHOR_KEYS, "id", "classId", "nnCreated", "nnUpdated")
                 if k in data}  # fmt: skip
        return cls(
            Geometry(obj_class.geometry_type, geometry), obj_class, tags,
            data.get("description", ""), extra=extra,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "classTitle": self.obj_class.name,
            "description": self.description,
            "tags": [t.to_json() for t in self.tags],
            **self.geometry.to_json(),
        }
        out.update({k: self._extra[k] for k in (*_AUTHOR_KEYS, "id") if k in self._extra})
        class_id = self._extra.get("classId", self.obj_class.sly_id)
        if class_id is not None:
            out["classId"] = class_id
        out["geometryType"] = out["shape"] = self.geometry.geometry_name()
        out["nnCreated"] = bool(self._extra.get("nnCreated", False))
        out["nnUpdated"] = bool(self._extra.get("nnUpdated", False))
        return out

    def __repr__(self) -> str:
        return f"Label({self.obj_class.name!r}, {self.geometry.geometry_name()!r})"


class Annotation:
    """An image's annotation: ``img_size`` as ``(height, width)``, ``labels``, ``img_tags``.

    ``from_json`` checks every object's class and tags against the meta at once; the
    :class:`Label` objects themselves are built on first use of ``labels`` (a script that reads
    30,000 annotations to look at a few should not pay for building all of them).
    """

    def __init__(
        self,
        img_size: tuple[int, int],
        labels: list[Label] | None = None,
        img_tags: list[Tag] | None = None,
        img_description: str = "",
        custom_data: Mapping[str, Any] | None = None,
    ) -> None:
        self.img_size = (int(img_size[0]), int(img_size[1]))
        self._labels = list(labels or [])
        self._pending: tuple[list[Mapping[str, Any]], ProjectMeta] | None = None
        self.img_tags = list(img_tags or [])
        self.img_description = img_description
        self.custom_data = dict(custom_data or {})

    @property
    def labels(self) -> list[Label]:
        if self._pending is not None:
            objects, meta = self._pending
            self._labels = [Label.from_json(obj, meta) for obj in objects]
            self._pending = None
        return list(self._labels)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], project_meta: ProjectMeta) -> Annotation:
        if not isinstance(data, Mapping):
            raise TypeError(f"Annotation.from_json needs a dict, not {type(data).__name__}")
        for key in ("size", "tags", "objects"):
            if key not in data:
                raise KeyError(key)
        objects = list(data["objects"])
        classes, tag_metas = project_meta.obj_classes, project_meta.tag_metas
        for obj in objects:
            problem = _label_problem(obj, classes, tag_metas)
            if problem:  # the SDK's message, naming the cause once
                raise RuntimeError(
                    f"Failed to deserialize one of the label from JSON format annotation: {problem}"
                )
        size = data["size"]
        ann = cls(
            (size["height"], size["width"]),
            None,
            [Tag.from_json(t, tag_metas) for t in data["tags"]],
            data.get("description", ""),
            data.get("customBigData"),
        )
        ann._pending = (objects, project_meta)
        return ann

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.img_description,
            "size": {"height": self.img_size[0], "width": self.img_size[1]},
            "tags": [t.to_json() for t in self.img_tags],
            "objects": [label.to_json() for label in self.labels],
            "customBigData": self.custom_data,
        }

    def __repr__(self) -> str:
        return f"Annotation(size={self.img_size}, labels={len(self.labels)})"


def _label_problem(obj: Any, classes: Any, tag_metas: Any) -> str | None:
    """Why the SDK would refuse this label object, or None."""
    if not isinstance(obj, Mapping):
        return f"an object is not a dict: {obj!r}"
    title = obj.get("classTitle")
    if not isinstance(title, str) or title not in classes:
        return f"label class name {title} was not found in the given project meta"
    tags = obj.get("tags")
    if not isinstance(tags, list):
        return f"label of class {title!r} has no 'tags' list"
    for tag in tags:
        name = tag.get("name") if isinstance(tag, Mapping) else None
        if name not in tag_metas:
            return f"tag {name!r} is not in the project meta"
    return None
