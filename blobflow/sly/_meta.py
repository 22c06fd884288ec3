"""``ProjectMeta``, ``ObjClass``, ``TagMeta``, ``ProjectType``: the SDK's project meta, minimal.

The JSON they read and write is the SDK's (its keys and defaults: a class gets ``description``,
``geometry_config`` and ``hotkey``; a tag meta gets ``hotkey``, ``applicable_type``, ``classes``
and ``target_type``); the Python objects carry what scripts use (names, shapes, colours,
lookups), not the SDK's whole geometry and validation library.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["ObjClass", "ObjClassCollection", "ProjectMeta", "ProjectType", "TagMeta"]


class ProjectType(str, enum.Enum):
    """Supervisely project types (``str(ProjectType.IMAGES) == "images"``, as the SDK's)."""

    IMAGES = "images"
    VIDEOS = "videos"
    VOLUMES = "volumes"
    POINT_CLOUDS = "point_clouds"
    POINT_CLOUD_EPISODES = "point_cloud_episodes"
    MESHES = "meshes"
    AUDIO = "audio"

    def __str__(self) -> str:
        return self.value


def _hex_to_rgb(color: str) -> list[int]:
    color = color.lstrip("#")
    if len(color) != 6:
        raise ValueError(f"colour must be '#RRGGBB', got {color!r}")
    return [int(color[i : i + 2], 16) for i in (0, 2, 4)]


def _rgb_to_hex(rgb: Iterable[int]) -> str:
    return "#" + "".join(f"{int(c):02X}" for c in rgb)


def _random_rgb() -> list[int]:
    # The SDK picks a random colour for a class or tag without one; so do we.
    return [random.randint(0, 255) for _ in range(3)]


class ObjClass:
    """An annotation class: ``name``, ``geometry_type`` (the shape name, e.g. ``"rectangle"``),
    ``color`` as ``[r, g, b]``."""

    def __init__(
        self,
        name: str,
        geometry_type: str,
        color: list[int] | None = None,
        geometry_config: dict[str, Any] | None = None,
        sly_id: int | None = None,
        hotkey: str | None = None,
        description: str = "",
    ) -> None:
        self.name = name
        self.geometry_type = geometry_type
        self.color = list(color) if color is not None else _random_rgb()
        self.geometry_config = dict(geometry_config or {})
        self.sly_id = sly_id
        self.hotkey = hotkey or ""
        self.description = description

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ObjClass:
        color = data.get("color")
        return cls(
            data["title"],
            data["shape"],
            _hex_to_rgb(color) if color else None,
            data.get("geometry_config"),
            data.get("id"),
            data.get("hotkey"),
            data.get("description", ""),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "title": self.name,
            "description": self.description,
            "shape": self.geometry_type,
            "color": _rgb_to_hex(self.color),
            "geometry_config": self.geometry_config,
        }
        if self.sly_id is not None:
            out["id"] = self.sly_id
        out["hotkey"] = self.hotkey
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjClass) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash((self.name, self.geometry_type))

    def __repr__(self) -> str:
        return f"ObjClass({self.name!r}, {self.geometry_type!r}, color={self.color})"


class TagMeta:
    """A tag definition: ``name``, ``value_type`` (``"none"``, ``"any_string"``,
    ``"any_number"``, ``"oneof_string"``), ``possible_values`` for ``oneof_string``."""

    def __init__(  # noqa: PLR0913 - the SDK's TagMeta.__init__ signature
        self,
        name: str,
        value_type: str,
        possible_values: list[str] | None = None,
        color: list[int] | None = None,
        sly_id: int | None = None,
        hotkey: str | None = None,
        applicable_to: str | None = None,
        applicable_classes: list[str] | None = None,
        target_type: str | None = None,
    ) -> None:
        self.name = name
        self.value_type = value_type
        self.possible_values = list(possible_values) if possible_values is not None else None
        self.color = list(color) if color is not None else _random_rgb()
        self.sly_id = sly_id
        self.hotkey = hotkey or ""
        self.applicable = applicable_to or "all"
        self.applicable_classes = list(applicable_classes or [])
        self.target_type = target_type or "all"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TagMeta:
        color = data.get("color")
        return cls(
            data["name"],
            data["value_type"],
            data.get("values"),
            _hex_to_rgb(color) if color else None,
            data.get("id"),
            data.get("hotkey"),
            data.get("applicable_type"),
            data.get("classes"),
            data.get("target_type"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "value_type": self.value_type,
            "color": _rgb_to_hex(self.color),
        }
        if self.sly_id is not None:
            out["id"] = self.sly_id
        if self.possible_values is not None:
            out["values"] = self.possible_values
        out.update(
            hotkey=self.hotkey,
            applicable_type=self.applicable,
            classes=self.applicable_classes,
            target_type=self.target_type,
        )
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TagMeta) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash((self.name, self.value_type))

    def __repr__(self) -> str:
        return f"TagMeta({self.name!r}, {self.value_type!r})"


Item = TypeVar("Item", ObjClass, TagMeta)


class ObjClassCollection(Generic[Item]):
    """Items by name, in order (the SDK's ``ObjClassCollection`` / ``TagMetaCollection``)."""

    def __init__(self, items: Iterable[Item] = ()) -> None:
        self._items: dict[str, Item] = {}
        for item in items:
            if item.name in self._items:
                raise ValueError(f"duplicate name {item.name!r} in the project meta")
            self._items[item.name] = item

    def get(self, name: str, default: Item | None = None) -> Item | None:
        return self._items.get(name, default)

    def has_key(self, name: str) -> bool:
        return name in self._items

    def keys(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[Item]:
        return list(self._items.values())

    def to_json(self) -> list[dict[str, Any]]:
        return [item.to_json() for item in self._items.values()]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self._items)})"


_DEFAULT_SETTINGS: dict[str, Any] = {
    "multiView": {"enabled": False, "tagName": None, "tagId": None, "isSynced": False}
}


class ProjectMeta:
    """The classes and tag metas of a project (``meta.json``)."""

    def __init__(
        self,
        obj_classes: Iterable[ObjClass] | None = None,
        tag_metas: Iterable[TagMeta] | None = None,
        project_type: str | None = None,
        project_settings: Mapping[str, Any] | None = None,
    ) -> None:
        self._obj_classes: ObjClassCollection[ObjClass] = ObjClassCollection(obj_classes or ())
        self._tag_metas: ObjClassCollection[TagMeta] = ObjClassCollection(tag_metas or ())
        self.project_type = project_type
        self.project_settings = dict(project_settings or _DEFAULT_SETTINGS)

    @property
    def obj_classes(self) -> ObjClassCollection[ObjClass]:
        return self._obj_classes

    @property
    def tag_metas(self) -> ObjClassCollection[TagMeta]:
        return self._tag_metas

    def get_obj_class(self, name: str) -> ObjClass | None:
        return self._obj_classes.get(name)

    def get_tag_meta(self, name: str) -> TagMeta | None:
        return self._tag_metas.get(name)

    def get_obj_class_by_id(self, sly_id: int) -> ObjClass | None:
        return next((c for c in self._obj_classes if c.sly_id == sly_id), None)

    def add_obj_class(self, new_obj_class: ObjClass) -> ProjectMeta:
        """A new meta with the class added (the SDK's objects are immutable)."""
        return self.clone(obj_classes=[*self._obj_classes, new_obj_class])

    def add_tag_meta(self, new_tag_meta: TagMeta) -> ProjectMeta:
        return self.clone(tag_metas=[*self._tag_metas, new_tag_meta])

    def clone(
        self,
        obj_classes: Iterable[ObjClass] | None = None,
        tag_metas: Iterable[TagMeta] | None = None,
        project_type: str | None = None,
    ) -> ProjectMeta:
        return ProjectMeta(
            obj_classes if obj_classes is not None else self._obj_classes,
            tag_metas if tag_metas is not None else self._tag_metas,
            project_type if project_type is not None else self.project_type,
            self.project_settings,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProjectMeta:
        if not isinstance(data, Mapping):
            raise TypeError(f"ProjectMeta.from_json needs a dict, not {type(data).__name__}")
        return cls(
            [ObjClass.from_json(c) for c in data.get("classes") or []],
            [TagMeta.from_json(t) for t in data.get("tags") or []],
            data.get("projectType"),
            data.get("projectSettings"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "classes": self._obj_classes.to_json(),
            "tags": self._tag_metas.to_json(),
        }
        if self.project_type is not None:
            out["projectType"] = str(self.project_type)
        out["projectSettings"] = self.project_settings
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProjectMeta) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"ProjectMeta(classes={self._obj_classes.keys()}, tags={self._tag_metas.keys()})"
        )
