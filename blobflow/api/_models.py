"""Info objects with the SDK's snake_case field names, built from the API's camelCase JSON.

Every field may be ``None``: a missing key becomes ``None`` (the SDK's ``skip_missing``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "ImageInfo",
    "FileInfo",
    "ProjectInfo",
    "DatasetInfo",
    "TeamInfo",
    "WorkspaceInfo",
    "AnnotationInfo",
    "image_info",
    "file_info",
    "project_info",
    "dataset_info",
    "team_info",
    "workspace_info",
    "annotation_info",
]


class ImageInfo(NamedTuple):
    id: int | None = None
    name: str | None = None
    link: str | None = None
    hash: str | None = None
    mime: str | None = None
    ext: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    labels_count: int | None = None
    dataset_id: int | None = None
    created_at: str | None = None
    updated_at: str | None = None
    meta: dict[str, Any] | None = None
    path_original: str | None = None
    full_storage_url: str | None = None
    tags: list[dict[str, Any]] | None = None
    created_by: Any = None
    related_data_id: int | None = None
    download_id: str | None = None
    offset_start: int | None = None
    offset_end: int | None = None
    ai_search_meta: dict[str, Any] | None = None
    embeddings_updated_at: str | None = None
    project_id: int | None = None
    description: str | None = None
    parent_id: int | None = None


class FileInfo(NamedTuple):
    team_id: int | None = None
    id: int | None = None
    user_id: int | None = None
    name: str | None = None
    hash: str | None = None
    path: str | None = None
    storage_path: str | None = None
    mime: str | None = None
    ext: str | None = None
    sizeb: int | None = None
    created_at: str | None = None
    updated_at: str | None = None
    full_storage_url: str | None = None
    is_dir: bool | None = None


class ProjectInfo(NamedTuple):
    id: int | None = None
    name: str | None = None
    description: str | None = None
    size: Any = None
    readme: str | None = None
    workspace_id: int | None = None
    images_count: int | None = None
    items_count: int | None = None
    datasets_count: int | None = None
    created_at: str | None = None
    updated_at: str | None = None
    type: str | None = None
    reference_image_url: str | None = None
    custom_data: dict[str, Any] | None = None
    backup_archive: dict[str, Any] | None = None
    team_id: int | None = None
    settings: dict[str, Any] | None = None
    import_settings: dict[str, Any] | None = None
    version: dict[str, Any] | None = None
    created_by_id: int | None = None
    embeddings_enabled: bool | None = None
    embeddings_updated_at: str | None = None
    embeddings_in_progress: bool | None = None
    local_entities_count: int | None = None
    remote_entities_count: int | None = None


class DatasetInfo(NamedTuple):
    id: int | None = None
    name: str | None = None
    description: str | None = None
    size: Any = None
    project_id: int | None = None
    images_count: int | None = None
    items_count: int | None = None
    created_at: str | None = None
    updated_at: str | None = None
    reference_image_url: str | None = None
    team_id: int | None = None
    workspace_id: int | None = None
    parent_id: int | None = None
    custom_data: Any = None
    created_by: int | None = None


class TeamInfo(NamedTuple):
    id: int | None = None
    name: str | None = None
    description: str | None = None
    role: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    usage: Any = None


class WorkspaceInfo(NamedTuple):
    id: int | None = None
    name: str | None = None
    description: str | None = None
    team_id: int | None = None
    created_at: str | None = None
    updated_at: str | None = None


class AnnotationInfo(NamedTuple):
    image_id: int | None = None
    image_name: str | None = None
    annotation: dict[str, Any] | None = None
    created_at: str | None = None
    updated_at: str | None = None
    dataset_id: int | None = None


def _snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


T = TypeVar("T", bound=tuple[Any, ...])

# Fields whose JSON key is not the plain camelCase of the field name.
_KEYS: dict[type[Any], dict[str, str]] = {
    ImageInfo: {},
    FileInfo: {"mime": "meta.mime", "ext": "meta.ext", "sizeb": "meta.size"},
    ProjectInfo: {"created_by_id": "createdBy"},
    DatasetInfo: {},
    TeamInfo: {},
    WorkspaceInfo: {},
    AnnotationInfo: {},
}


def _lookup(data: Mapping[str, Any], key: str) -> Any:
    if "." not in key:
        return data.get(key)
    outer, inner = key.split(".", 1)
    nested = data.get(outer)
    # The SDK's quirk: with no nested object, fall back to the top-level key.
    source = nested if isinstance(nested, Mapping) else data
    return source.get(inner)


_KEY_CACHE: dict[type[Any], tuple[tuple[str, ...], bool]] = {}


def _keys_of(cls: type[Any]) -> tuple[tuple[str, ...], bool]:
    """JSON keys of ``cls``'s fields, in order (computed once), and whether any is nested."""
    cached = _KEY_CACHE.get(cls)
    if cached is None:
        special = _KEYS[cls]
        keys = tuple(special.get(f) or _snake_to_camel(f) for f in cls._fields)
        cached = _KEY_CACHE[cls] = (keys, any("." in k for k in keys))
    return cached


def _build(cls: type[T], data: Mapping[str, Any]) -> T:
    keys, nested = _keys_of(cls)
    if nested:
        return cls._make(_lookup(data, k) for k in keys)  # type: ignore[attr-defined,no-any-return]
    return cls._make(map(data.get, keys))  # type: ignore[attr-defined,no-any-return]


def _image_name(name: str | None, ext: str | None) -> str | None:
    """The SDK appends ``.<mime subtype>`` to a name whose extension disagrees with its mime."""
    if name is None:
        return None
    base = name.rpartition("/")[2]
    stem, dot, cur = base.rpartition(".")
    if not dot or not cur or not stem.strip("."):  # no extension (".hidden" has none either)
        return f"{name}.{ext}"
    cur = cur.lower()
    if ext is None or ext == cur or (ext == "jpeg" and cur in ("jpg", "jpeg", "mpo")):
        return name
    return f"{name}.{ext}"


_IMAGE_KEYS = _keys_of(ImageInfo)[0]
_I_NAME, _I_MIME, _I_EXT, _I_SIZE = (
    ImageInfo._fields.index(f) for f in ("name", "mime", "ext", "size")
)


def image_info(data: Mapping[str, Any]) -> ImageInfo:
    """ImageInfo from JSON: ``ext`` derived from ``mime`` (the server's is ignored), the SDK's
    name rule applied, a numeric string ``size`` made an int."""
    values = list(map(data.get, _IMAGE_KEYS))
    mime = values[_I_MIME]
    ext = mime.split("/", 1)[1] if isinstance(mime, str) and "/" in mime else None
    values[_I_EXT] = ext
    values[_I_NAME] = _image_name(values[_I_NAME], ext)
    size = values[_I_SIZE]
    if isinstance(size, str):
        values[_I_SIZE] = int(size) if size.isdigit() else None
    return ImageInfo._make(values)


def project_info(data: Mapping[str, Any]) -> ProjectInfo:
    info = _build(ProjectInfo, data)
    if info.items_count is None:
        info = info._replace(items_count=info.images_count)
    return info


def dataset_info(data: Mapping[str, Any]) -> DatasetInfo:
    info = _build(DatasetInfo, data)
    if info.items_count is None:
        info = info._replace(items_count=info.images_count)
    return info


def file_info(data: Mapping[str, Any]) -> FileInfo:
    return _build(FileInfo, data)


def team_info(data: Mapping[str, Any]) -> TeamInfo:
    return _build(TeamInfo, data)


def workspace_info(data: Mapping[str, Any]) -> WorkspaceInfo:
    return _build(WorkspaceInfo, data)


def annotation_info(data: Mapping[str, Any]) -> AnnotationInfo:
    return _build(AnnotationInfo, data)
