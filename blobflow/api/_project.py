"""``api.project``: projects, their meta and custom data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from blobflow.api._errors import NotFoundError
from blobflow.api._models import ProjectInfo, project_info

if TYPE_CHECKING:
    from blobflow.api._api import Api

__all__ = ["ProjectApi", "free_name", "name_filter"]

_BLOB_TAG = "is_blob_project"
_DEFAULT_SETTINGS = {
    "multiView": {"enabled": False, "tagName": None, "tagId": None, "isSynced": False}
}


def name_filter(name: str) -> list[dict[str, Any]]:
    return [{"field": "name", "operator": "=", "value": name}]


async def free_name(name: str, taken: Callable[[str], Awaitable[bool]]) -> str:
    """``name``, else ``name_001``, ``name_002``... (the SDK's format) whichever is free."""
    candidate, n = name, 0
    while await taken(candidate):
        n += 1
        candidate = f"{name}_{n:03d}"
    return candidate


class ProjectApi:
    def __init__(self, api: Api) -> None:
        self._api = api

    async def get_list(
        self,
        workspace_id: int | None = None,
        filters: list[dict[str, Any]] | None = None,
        fields: list[str] | None = None,
        team_id: int | None = None,
    ) -> list[ProjectInfo]:
        body: dict[str, Any] = {"filter": filters or [], "fields": fields or []}
        if workspace_id is not None:
            body["workspaceId"] = workspace_id
        elif team_id is not None:
            body["groupId"] = team_id
        return [project_info(r) for r in await self._api.list_all("projects.list", body)]

    async def get_info_by_id(self, id: int) -> ProjectInfo | None:
        try:
            return project_info(await self._api.post("projects.info", {"id": id}))
        except NotFoundError:
            return None

    async def get_info_by_name(self, workspace_id: int, name: str) -> ProjectInfo | None:
        rows = await self.get_list(workspace_id, name_filter(name))
        rows = [r for r in rows if r.name == name]
        if len(rows) > 1:
            raise RuntimeError(f"more than one project named {name!r} in workspace {workspace_id}")
        return rows[0] if rows else None

    async def exists(self, workspace_id: int, name: str) -> bool:
        return await self.get_info_by_name(workspace_id, name) is not None

    async def get_free_name(self, workspace_id: int, name: str) -> str:
        return await free_name(name, lambda n: self.exists(workspace_id, n))

    async def create(
        self,
        workspace_id: int,
        name: str,
        type: str = "images",
        description: str = "",
        change_name_if_conflict: bool = False,
        readme: str | None = None,
        settings: dict[str, Any] | None = None,
        custom_data: dict[str, Any] | None = None,
    ) -> ProjectInfo:
        if change_name_if_conflict:
            name = await self.get_free_name(workspace_id, name)
        body: dict[str, Any] = {
            "name": name,
            "workspaceId": workspace_id,
            "description": description,
            "type": str(type),
        }
        if readme is not None:
            body["readme"] = readme
        if settings is not None:
            body["settings"] = settings
        if custom_data is not None:
            body["customData"] = custom_data
        return project_info(await self._api.post("projects.add", body))

    async def get_meta(self, id: int, with_settings: bool = False) -> dict[str, Any]:
        """The ProjectMeta JSON (``classes``, ``tags``...); settings folded in on request."""
        meta: dict[str, Any] = await self._api.post("projects.meta", {"id": id})
        if with_settings:
            info = await self.get_info_by_id(id)
            s = (info.settings if info else None) or {}
            tag_id = s.get("groupImagesByTagId")
            tags = meta.get("tags") or []
            tag_name = next((t.get("name") for t in tags if tag_id is not None
                             and t.get("id") == tag_id), None)  # fmt: skip
            settings: dict[str, Any] = {
                "multiView": {
                    "enabled": bool(s.get("groupImages", False)),
                    "tagName": tag_name,
                    "tagId": tag_id,
                    "isSynced": bool(s.get("groupImagesSync", False)),
                }
            }
            # As the SDK: only the settings the server has (no invented defaults).
            for key in ("labelingInterface", "spectrogram"):
                if s.get(key) is not None:
                    settings[key] = s[key]
            meta["projectSettings"] = settings
        return meta

    async def update_meta(self, id: int, meta: dict[str, Any]) -> dict[str, Any]:
        """``projects.meta.update`` then ``projects.settings.update`` (as the SDK, always both).

        Returns the server's meta (with class/tag ids) or the meta sent when the server only
        answers ``{"success": true}``.
        """
        meta = dict(meta)
        meta.setdefault("projectSettings", _DEFAULT_SETTINGS)
        answer = await self._api.post("projects.meta.update", {"id": id, "meta": meta})
        mv = (meta.get("projectSettings") or {}).get("multiView") or {}
        settings: dict[str, Any] = {
            "groupImages": bool(mv.get("enabled", False)),
            "groupImagesByTagId": mv.get("tagId"),
            "groupImagesSync": bool(mv.get("isSynced", False)),
        }
        labeling = (meta.get("projectSettings") or {}).get("labelingInterface")
        if labeling:
            settings["labelingInterface"] = labeling
        await self._api.post("projects.settings.update", {"id": id, "settings": settings})
        if isinstance(answer, dict) and "classes" in answer:
            return answer
        return meta

    async def get_custom_data(self, id: int) -> dict[str, Any]:
        info = await self.get_info_by_id(id)
        if info is None:
            raise NotFoundError(404, f"project {id} not found", "projects.info")
        return dict(info.custom_data or {})

    async def update_custom_data(self, id: int, data: dict[str, Any], silent: bool = False) -> Any:
        """Replace the whole ``customData`` (read-modify-write is the caller's job)."""
        body = {"id": id, "customData": data, "silent": silent}
        return await self._api.post("projects.editInfo", body)

    async def mark_blob_project(self, id: int) -> None:
        """Set ``customData.is_blob_project = true`` (what the SDK does after blob uploads)."""
        data = await self.get_custom_data(id)
        if data.get(_BLOB_TAG) is not True:
            data[_BLOB_TAG] = True
            await self.update_custom_data(id, data)
