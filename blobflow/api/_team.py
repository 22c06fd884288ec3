"""``api.team`` and ``api.workspace``: discover where to work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from blobflow.api._errors import NotFoundError
from blobflow.api._models import TeamInfo, WorkspaceInfo, team_info, workspace_info

if TYPE_CHECKING:
    from blobflow.api._api import Api

__all__ = ["TeamApi", "WorkspaceApi"]


class TeamApi:
    def __init__(self, api: Api) -> None:
        self._api = api

    async def get_list(self, filters: list[dict[str, Any]] | None = None) -> list[TeamInfo]:
        rows = await self._api.list_all("teams.list", {"filter": filters or []})
        return [team_info(r) for r in rows]

    async def get_info_by_id(self, id: int) -> TeamInfo | None:
        try:
            return team_info(await self._api.post("teams.info", {"id": id}))
        except NotFoundError:
            return None

    async def get_info_by_name(self, name: str) -> TeamInfo | None:
        rows = await self.get_list([{"field": "name", "operator": "=", "value": name}])
        return next((t for t in rows if t.name == name), None)


class WorkspaceApi:
    def __init__(self, api: Api) -> None:
        self._api = api

    async def get_list(
        self, team_id: int, filters: list[dict[str, Any]] | None = None
    ) -> list[WorkspaceInfo]:
        body = {"teamId": team_id, "filter": filters or []}
        return [workspace_info(r) for r in await self._api.list_all("workspaces.list", body)]

    async def get_info_by_id(self, id: int) -> WorkspaceInfo | None:
        try:
            return workspace_info(await self._api.post("workspaces.info", {"id": id}))
        except NotFoundError:
            return None

    async def get_info_by_name(self, team_id: int, name: str) -> WorkspaceInfo | None:
        rows = await self.get_list(team_id, [{"field": "name", "operator": "=", "value": name}])
        return next((w for w in rows if w.name == name), None)

    async def create(self, team_id: int, name: str, description: str = "") -> WorkspaceInfo:
        body = {"teamId": team_id, "name": name, "description": description}
        return workspace_info(await self._api.post("workspaces.add", body))
