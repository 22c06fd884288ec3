"""``api.dataset``: datasets (nested via ``parent_id``)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from blobflow._hooks import provided
from blobflow.api._errors import NotFoundError
from blobflow.api._models import DatasetInfo, dataset_info
from blobflow.api._project import free_name, name_filter

if TYPE_CHECKING:
    from blobflow.api._api import Api
    from blobflow.api._image import ConflictResolution

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

    async def quick_import(
        self,
        dataset: int | DatasetInfo,
        blob_path: str | os.PathLike[str],
        offsets_path: str | os.PathLike[str],
        anns: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None,
        project_meta: Mapping[str, Any] | Any = None,
        project_type: str | None = None,
        log_progress: bool = True,
        *,
        conflict_resolution: ConflictResolution | None = "skip",
    ) -> Any:
        """The SDK's ``api.dataset.quick_import``: a local blob ``.tar`` + ``_offsets.pkl`` +
        annotation files into ``dataset``; returns a ``QuickImportResult``.

        This is :func:`blobflow.project.quick_import_async` under the SDK's name and
        parameters. ``project_meta`` (meta JSON, or an object with ``to_json()``) describes the
        annotations. As the SDK, only image projects: another ``project_type`` (given, or the
        project's own when None) raises ``NotImplementedError``.
        """
        if project_type is not None and str(project_type) != "images":
            raise NotImplementedError(
                f"Quick import is not implemented for project type {project_type}"
            )
        info = await self.resolve(dataset)
        kind = project_type
        if kind is None and info.project_id is not None:
            project = await self._api.project.get_info_by_id(info.project_id)
            kind = project.type if project is not None else None
        if kind is not None and str(kind) != "images":
            raise NotImplementedError(f"Quick import is not implemented for project type {kind}")
        to_json = getattr(project_meta, "to_json", None)
        meta = to_json() if callable(to_json) else project_meta
        flow = provided("dataset.quick_import")
        return await flow(
            self._api, info, blob_path, offsets_path, anns, meta,
            conflict_resolution=conflict_resolution, progress=log_progress,
        )  # fmt: skip
