"""``Project``/``Dataset`` (local, SDK-shaped) and the whole-project flows ``upload_project`` and
``download_fast`` with the SDK's signatures, over :mod:`blobflow.project`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from blobflow import project as local
from blobflow.project import OpenMode, download_fast_async, upload_project_async
from blobflow.sly._annotation import Annotation
from blobflow.sly._api import Api
from blobflow.sly._args import refuse
from blobflow.sly._meta import ProjectMeta

__all__ = ["Dataset", "Project", "download_fast", "upload_project"]


class Dataset:
    """A local dataset, as the SDK's ``sly.Dataset`` (items: regular and blob images)."""

    def __init__(self, dataset: local.Dataset) -> None:
        self._ds = dataset

    @property
    def name(self) -> str:
        return self._ds.name

    @property
    def short_name(self) -> str:
        return self._ds.short_name

    @property
    def directory(self) -> str:
        return str(self._ds.directory)

    @property
    def item_dir(self) -> str:
        return str(self._ds.img_dir)

    @property
    def ann_dir(self) -> str:
        return str(self._ds.ann_dir)

    def get_items_names(self) -> list[str]:
        return self._ds.get_items_names()

    def item_exists(self, item_name: str) -> bool:
        return self._ds.item_exists(item_name)

    def get_item_path(self, item_name: str) -> str:
        return str(self._ds.get_img_path(item_name))

    get_img_path = get_item_path

    def get_ann_path(self, item_name: str) -> str:
        path = self._ds.get_ann_path(item_name)
        return str(path if path is not None else self._ds.ann_dir / f"{item_name}.json")

    def get_ann(self, item_name: str, project_meta: ProjectMeta) -> Annotation:
        """The item's annotation, read against ``project_meta`` (its classes and tags)."""
        data = self._ds.get_ann(item_name)
        if data is None:
            raise FileNotFoundError(f"no annotation file for {item_name!r} in {self.name!r}")
        return Annotation.from_json(data, project_meta)

    def get_blob_img_bytes(self, image_name: str) -> bytes | None:
        return self._ds.get_blob_img_bytes(image_name)

    def get_blob_img_np(self, image_name: str) -> npt.NDArray[np.uint8] | None:
        return self._ds.get_blob_img_np(image_name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ds)

    def __len__(self) -> int:
        return len(self._ds)

    @property
    def items_count(self) -> int:
        return len(self._ds)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, items={len(self)})"


class Project:
    """A local project in Supervisely format, as the SDK's ``sly.Project``.

    ``meta`` is a :class:`ProjectMeta`; iterating yields :class:`Dataset` objects.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        mode: OpenMode | None = None,
        project_id: int | None = None,
        api: Api | None = None,
    ) -> None:
        refuse("Project", "download_fast(api, project_id, dest_dir) then Project(dest_dir)",
               project_id=project_id, api=api)  # fmt: skip
        self._project = local.Project(directory, mode or OpenMode.READ)
        self._meta = ProjectMeta.from_json(self._project.meta)
        self._datasets = [Dataset(ds) for ds in self._project.datasets]

    @property
    def name(self) -> str:
        return self._project.name

    @property
    def directory(self) -> str:
        return str(self._project.directory)

    @property
    def parent_dir(self) -> str:
        return str(self._project.directory.parent)

    @property
    def blob_dir(self) -> str:
        return str(self._project.blob_dir)

    @property
    def meta(self) -> ProjectMeta:
        return self._meta

    def set_meta(self, new_meta: ProjectMeta) -> None:
        self._project.set_meta(new_meta.to_json())
        self._meta = new_meta

    @property
    def datasets(self) -> list[Dataset]:
        return list(self._datasets)

    @property
    def total_items(self) -> int:
        return self._project.total_items

    def get_items_count(self) -> int:
        return self._project.total_items

    def add_blob_file(self, file_name: str) -> None:
        """Copy a blob ``.tar`` into the project's ``blob/`` folder."""
        self._project.add_blob_file(file_name)

    def __iter__(self) -> Iterator[Dataset]:
        return iter(self._datasets)

    def __len__(self) -> int:
        return len(self._datasets)

    def close(self) -> None:
        self._project.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Project({self.directory!r}, datasets={len(self._datasets)})"


def _flows_refuse(flow: str, progress_cb: Any) -> None:
    refuse(flow, "log_progress=True shows the flow's own progress bars", progress_cb=progress_cb)


def upload_project(
    dir: str,
    api: Api,
    workspace_id: int,
    project_name: str | None = None,
    log_progress: bool = True,
    progress_cb: Any = None,
    project_id: int | None = None,
) -> tuple[int, str]:
    """Upload a local project (blob-aware); returns ``(project_id, project_name)``.

    A new project gets a free name as the SDK; with ``project_id`` the images go into that
    project (datasets reused by name; images already there are kept, not duplicated).
    """
    _flows_refuse("upload_project", progress_cb)

    async def go() -> tuple[int, str]:
        result = await upload_project_async(
            dir, api.aio, workspace_id, project_name, project_id=project_id,
            progress=log_progress,
        )  # fmt: skip
        return result.project_id, result.project_name

    return api._portal.call(go)


def download_fast(
    api: Api,
    project_id: int,
    dest_dir: str,
    dataset_ids: list[int] | None = None,
    log_progress: bool = True,
    progress_cb: Any = None,
    semaphore: asyncio.Semaphore | None = None,
    **kwargs: Any,
) -> None:
    """Download a project into ``dest_dir`` in Supervisely format.

    ``download_blob_files=True`` keeps blob images in their blobs (``blob/<id>.tar`` plus
    ``<dataset>/<id>_offsets.pkl``); the default (False, as the SDK) writes them to ``img/``.
    Also accepted as in the SDK: ``save_image_info``, ``skip_create_readme``.
    """
    _flows_refuse("download_fast", progress_cb)
    refuse("download_fast", "download the whole project", dataset_ids=dataset_ids)
    refuse("download_fast", "Api(..., config=TransferConfig(download_concurrency=N))",
           semaphore=semaphore)  # fmt: skip
    blob = bool(kwargs.pop("download_blob_files", False))
    save_image_info = bool(kwargs.pop("save_image_info", False))
    readme = not kwargs.pop("skip_create_readme", False)
    kwargs.pop("project_info", None)  # an optimisation hint of the SDK: not needed here
    if kwargs:
        name = next(iter(kwargs))
        raise NotImplementedError(
            f"blobflow.sly: download_fast({name}=...) is not supported; supported keyword "
            "arguments: download_blob_files, save_image_info, skip_create_readme"
        )
    dest = Path(dest_dir)

    async def go() -> None:
        await download_fast_async(
            api.aio, project_id, dest, blob, save_image_info=save_image_info,
            progress=log_progress, readme=readme,
        )  # fmt: skip

    api._portal.call(go)
