"""``api.dataset``: datasets (nested via ``parent_id``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from blobflow.api._errors import NotFoundError
from blobflow.api._models import DatasetInfo, dataset_info
from blobflow.api._project import free_name, name_filter

if TYPE_CHECKING:
    from blobflow.api._api import Api

__all__ = ["DatasetApi"]


class DatasetApi:
    def __init__(self, api: Api) -> None:
        self._api = api

    async def get_list(
        self,
        project_id: int,
        filters: list[dict[str, Any]] | None = None,
        recursive: bool = False,
        parent_id: int | None = None,
    ) -> list[DatasetInfo]:
        filters = list(filters or [])
        if parent_id is not None:
            filters.append({"field": "parentId", "operator": "=", "value": parent_id})
            recursive = True
        body = {"projectId": project_id, "filter": filters, "recursive": recursive}
        return [dataset_info(r) for r in await self._api.list_all("datasets.list", body)]

    async def get_info_by_id(self, id: int) -> DatasetInfo | None:
        try:
            return dataset_info(await self._api.post("datasets.info", {"id": id}))
        except NotFoundError:
            return None

    async def resolve(self, dataset: int | DatasetInfo) -> DatasetInfo:
        """The DatasetInfo for an id (or the info itself); NotFoundError when it does not exist."""
        if isinstance(dataset, DatasetInfo):
            return dataset
        info = await self.get_info_by_id(dataset)
        if info is None:
            raise NotFoundError(404, f"dataset {dataset} not found", "datasets.info")
        return info

    async def get_info_by_name(
        self, project_id: int, name: str, parent_id: int | None = None
    ) -> DatasetInfo | None:
        rows = await self.get_list(project_id, name_filter(name), recursive=True)
        return next((d for d in rows if d.name == name and d.parent_id == parent_id), None)

    async def exists(self, project_id: int, name: str, parent_id: int | None = None) -> bool:
        return await self.get_info_by_name(project_id, name, parent_id) is not None

    async def get_free_name(self, project_id: int, name: str, parent_id: int | None = None) -> str:
        return await free_name(name, lambda n: self.exists(project_id, n, parent_id))

    async def create(
        self,
        project_id: int,
        name: str,
        description: str = "",
        change_name_if_conflict: bool = False,
        parent_id: int | None = None,
        custom_data: dict[str, Any] | None = None,
    ) -> DatasetInfo:
        if change_name_if_conflict:
            name = await self.get_free_name(project_id, name, parent_id)
        body: dict[str, Any] = {
            "projectId": project_id,
            "name": name,
            "description": description,
            "parentId": parent_id,
        }
        if custom_data is not None:
            body["customData"] = custom_data
        return dataset_info(await self._api.post("datasets.add", body))
