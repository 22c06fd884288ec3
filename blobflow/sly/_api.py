"""``blobflow.sly.Api``: the SDK's synchronous ``Api`` over blobflow's async client.

Each method has the SDK's name, positional order, keyword names and defaults, and returns the
SDK's info tuples. The work runs on the async client, on one private event loop per ``Api``
(its portal, a background thread), so one ``Api`` serves any number of calls from a script
or from a notebook whose loop is already running.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

from blobflow import api as aio
from blobflow._config import TransferConfig
from blobflow._portal import Portal
from blobflow.api import (
    AnnotationInfo,
    DatasetInfo,
    FileInfo,
    ImageInfo,
    NotFoundError,
    ProjectInfo,
    TeamInfo,
    WorkspaceInfo,
    portal_of,
)
from blobflow.sly._annotation import Annotation
from blobflow.sly._args import refuse
from blobflow.sly._meta import ProjectMeta, ProjectType

__all__ = [
    "AnnotationApi",
    "Api",
    "DatasetApi",
    "FileApi",
    "ImageApi",
    "ProjectApi",
    "TeamApi",
    "WorkspaceApi",
]

T = TypeVar("T")
Resolution = Literal["rename", "skip", "replace"]
_VALIDATION = "blobflow does not validate metas on the client (leave it False)"


def _not_found(what: str, key: object) -> NotFoundError:
    return NotFoundError(404, f"{what} {key} not found")


def _or_raise(info: T | None, raise_error: bool | None, what: str, key: object) -> T | None:
    if info is None and raise_error:
        raise _not_found(what, key)
    return info


class _Group:
    """A group of sync methods: runs coroutines of the async client on the portal."""

    def __init__(self, client: aio.Api, portal: Portal) -> None:
        # The async client and the portal only (no back-reference to the sync Api): the sync
        # Api is then freed by reference counting and its portal closes at once.
        self._aio = client
        self._portal = portal

    def _run(self, awaitable: Callable[[], Awaitable[T]]) -> T:
        async def go() -> T:
            return await awaitable()

        return self._portal.call(go)


class FileApi(_Group):
    """``api.file``: Team Files."""

    def upload(self, team_id: int, src: str, dst: str, progress_cb: Any = None) -> FileInfo:
        return self._run(lambda: self._aio.file.upload(team_id, src, dst, progress_cb))

    def upload_bulk(
        self,
        team_id: int,
        src_paths: list[str],
        dst_paths: list[str],
        progress_cb: Any = None,
    ) -> list[FileInfo]:
        return self._run(
            lambda: self._aio.file.upload_bulk(team_id, src_paths, dst_paths, progress_cb)
        )

    def list(
        self,
        team_id: int,
        path: str,
        recursive: bool = True,
        return_type: Literal["dict", "fileinfo"] = "dict",
    ) -> list[Any]:
        return self._run(lambda: self._aio.file.list(team_id, path, recursive, return_type))

    def get_info_by_path(self, team_id: int, remote_path: str) -> FileInfo | None:
        return self._run(lambda: self._aio.file.get_info_by_path(team_id, remote_path))

    def get_info_by_id(self, id: int) -> FileInfo:
        return self._run(lambda: self._aio.file.get_info_by_id(id))

    def exists(self, team_id: int, remote_path: str, recursive: bool = True) -> bool:
        return self._run(lambda: self._aio.file.exists(team_id, remote_path))

    def dir_exists(self, team_id: int, remote_directory: str, recursive: bool = True) -> bool:
        return self._run(lambda: self._aio.file.dir_exists(team_id, remote_directory))

    def download(
        self,
        team_id: int,
        remote_path: str,
        local_save_path: str,
        cache: Any = None,
        progress_cb: Any = None,
    ) -> None:
        refuse("api.file.download", "download without a cache", cache=cache)
        self._run(
            lambda: self._aio.file.download(team_id, remote_path, local_save_path, progress_cb)
        )


class TeamApi(_Group):
    """``api.team``."""

    def get_list(self, filters: list[dict[str, Any]] | None = None) -> list[TeamInfo]:
        return self._run(lambda: self._aio.team.get_list(filters))

    def get_info_by_id(self, id: int, raise_error: bool | None = False) -> TeamInfo | None:
        info = self._run(lambda: self._aio.team.get_info_by_id(id))
        return _or_raise(info, raise_error, "team", id)

    def get_info_by_name(self, name: str) -> TeamInfo | None:
        return self._run(lambda: self._aio.team.get_info_by_name(name))


class WorkspaceApi(_Group):
    """``api.workspace``."""

    def get_list(
        self, team_id: int, filters: list[dict[str, Any]] | None = None
    ) -> list[WorkspaceInfo]:
        return self._run(lambda: self._aio.workspace.get_list(team_id, filters))

    def get_info_by_id(self, id: int, raise_error: bool | None = False) -> WorkspaceInfo | None:
        info = self._run(lambda: self._aio.workspace.get_info_by_id(id))
        return _or_raise(info, raise_error, "workspace", id)

    def get_info_by_name(
        self, parent_id: int, name: str, fields: list[str] | None = None
    ) -> WorkspaceInfo | None:
        return self._run(lambda: self._aio.workspace.get_info_by_name(parent_id, name))

    def create(
        self,
        team_id: int,
        name: str,
        description: str = "",
        change_name_if_conflict: bool = False,
        hidden: bool = False,
    ) -> WorkspaceInfo:
        refuse(
            "api.workspace.create", "create a visible workspace with a free name",
            change_name_if_conflict=change_name_if_conflict, hidden=hidden,
        )  # fmt: skip
        return self._run(lambda: self._aio.workspace.create(team_id, name, description))


class ProjectApi(_Group):
    """``api.project``."""

    def create(  # noqa: PLR0913 - the SDK's ProjectApi.create signature
        self,
        workspace_id: int,
        name: str,
        type: ProjectType | str = ProjectType.IMAGES,
        description: str | None = "",
        change_name_if_conflict: bool | None = False,
        readme: str | None = None,
        settings: dict[str, Any] | None = None,
        custom_data: dict[str, Any] | None = None,
        read_only: bool | None = None,
    ) -> ProjectInfo:
        refuse("api.project.create", "create a writable project", read_only=read_only)
        return self._run(
            lambda: self._aio.project.create(
                workspace_id, name, str(type), description or "",
                bool(change_name_if_conflict), readme, settings, custom_data,
            )  # fmt: skip
        )

    def get_info_by_id(
        self,
        id: int,
        expected_type: str | None = None,
        raise_error: bool = False,
        extra_fields: list[str] | None = None,
    ) -> ProjectInfo | None:
        refuse("api.project.get_info_by_id", "the default fields", extra_fields=extra_fields)
        info = self._run(lambda: self._aio.project.get_info_by_id(id))
        if info is not None and expected_type is not None and info.type != str(expected_type):
            raise TypeError(f"project {id} is of type {info.type}, not {expected_type}")
        return _or_raise(info, raise_error, "project", id)

    def get_info_by_name(
        self,
        parent_id: int,
        name: str,
        expected_type: ProjectType | str | None = None,
        raise_error: bool | None = False,
    ) -> ProjectInfo | None:
        info = self._run(lambda: self._aio.project.get_info_by_name(parent_id, name))
        if info is not None and expected_type is not None and info.type != str(expected_type):
            raise TypeError(f"project {name!r} is of type {info.type}, not {expected_type}")
        return _or_raise(info, raise_error, "project", name)

    def get_list(
        self,
        workspace_id: int | None = None,
        filters: list[dict[str, Any]] | None = None,
        fields: list[str] | None = None,
        team_id: int | None = None,
    ) -> list[ProjectInfo]:
        return self._run(
            lambda: self._aio.project.get_list(workspace_id, filters, fields, team_id)
        )

    def exists(self, parent_id: int, name: str) -> bool:
        return self._run(lambda: self._aio.project.exists(parent_id, name))

    def get_free_name(self, parent_id: int, name: str) -> str:
        return self._run(lambda: self._aio.project.get_free_name(parent_id, name))

    def get_meta(self, id: int, with_settings: bool = False) -> dict[str, Any]:
        return self._run(lambda: self._aio.project.get_meta(id, with_settings))

    def update_meta(self, id: int, meta: ProjectMeta | Mapping[str, Any]) -> ProjectMeta:
        """Set the project meta; returns the server's (with class and tag ids), as the SDK."""
        data = meta.to_json() if isinstance(meta, ProjectMeta) else dict(meta)
        answer = self._run(lambda: self._aio.project.update_meta(id, data))
        return ProjectMeta.from_json(answer)

    def get_custom_data(self, id: int) -> dict[str, Any]:
        return self._run(lambda: self._aio.project.get_custom_data(id))

    def update_custom_data(self, id: int, data: dict[str, Any], silent: bool = False) -> Any:
        return self._run(lambda: self._aio.project.update_custom_data(id, data, silent))


class DatasetApi(_Group):
    """``api.dataset``."""

    def create(
        self,
        project_id: int,
        name: str,
        description: str | None = "",
        change_name_if_conflict: bool | None = False,
        parent_id: int | None = None,
        custom_data: dict[str, Any] | None = None,
    ) -> DatasetInfo:
        return self._run(
            lambda: self._aio.dataset.create(
                project_id, name, description or "", bool(change_name_if_conflict),
                parent_id, custom_data,
            )  # fmt: skip
        )

    def get_info_by_id(self, id: int, raise_error: bool | None = False) -> DatasetInfo | None:
        info = self._run(lambda: self._aio.dataset.get_info_by_id(id))
        return _or_raise(info, raise_error, "dataset", id)

    def get_info_by_name(
        self,
        project_id: int,
        name: str,
        fields: list[str] | None = None,
        parent_id: int | None = None,
    ) -> DatasetInfo | None:
        refuse("api.dataset.get_info_by_name", "the default fields", fields=fields)
        return self._run(lambda: self._aio.dataset.get_info_by_name(project_id, name, parent_id))

    def get_list(
        self,
        project_id: int,
        filters: list[dict[str, Any]] | None = None,
        recursive: bool | None = False,
        parent_id: int | None = None,
        include_custom_data: bool | None = False,
    ) -> list[DatasetInfo]:
        refuse("api.dataset.get_list", "api.dataset.get_info_by_id(id).custom_data",
               include_custom_data=include_custom_data)  # fmt: skip
        return self._run(
            lambda: self._aio.dataset.get_list(project_id, filters, bool(recursive), parent_id)
        )

    def exists(self, project_id: int, name: str, parent_id: int | None = None) -> bool:
        return self._run(lambda: self._aio.dataset.exists(project_id, name, parent_id))

    def get_free_name(self, parent_id: int, name: str) -> str:
        return self._run(lambda: self._aio.dataset.get_free_name(parent_id, name))

    def quick_import(
        self,
        dataset: int | DatasetInfo,
        blob_path: str,
        offsets_path: str,
        anns: list[str],
        project_meta: ProjectMeta | None = None,
        project_type: ProjectType | str | None = None,
        log_progress: bool = True,
    ) -> None:
        """A local blob ``.tar`` + ``_offsets.pkl`` + annotation files into ``dataset``.

        As the SDK: only image projects (else ``NotImplementedError``); a name already in the
        dataset is an error (no conflict resolution); ``project_meta`` describes the
        annotations and is not written to the project.
        """
        self._run(
            lambda: self._aio.dataset.quick_import(
                dataset, blob_path, offsets_path, anns, project_meta, project_type,
                log_progress, conflict_resolution=None,
            )  # fmt: skip
        )


class ImageApi(_Group):
    """``api.image``: blob registration and the image calls the blob flows use."""

    def get_info_by_id(self, id: int, force_metadata_for_links: bool = True) -> ImageInfo | None:
        return self._run(lambda: self._aio.image.get_info_by_id(id, force_metadata_for_links))

    def get_info_by_id_batch(
        self,
        ids: list[int],
        progress_cb: Any = None,
        force_metadata_for_links: bool = True,
        fields: list[str] | None = None,
    ) -> list[ImageInfo]:
        refuse("api.image.get_info_by_id_batch", "the default fields", fields=fields)
        infos = self._run(lambda: self._aio.image.get_info_by_id_batch(ids))
        if progress_cb is not None:
            aio.Progress(progress_cb).advance(len(infos))
        return infos

    def get_list(  # noqa: PLR0913 - the SDK's ImageApi.get_list signature
        self,
        dataset_id: int | None = None,
        filters: list[dict[str, Any]] | None = None,
        sort: str | None = "id",
        sort_order: str | None = "asc",
        limit: int | None = None,
        force_metadata_for_links: bool | None = True,
        return_first_response: bool | None = False,
        project_id: int | None = None,
        only_labelled: bool | None = False,
        fields: list[str] | None = None,
        recursive: bool | None = False,
        entities_collection_id: int | None = None,
        ai_search_collection_id: int | None = None,
        ai_search_threshold: float | None = None,
        ai_search_threshold_direction: str = "above",
        extra_fields: list[str] | None = None,
    ) -> list[ImageInfo]:
        refuse(
            "api.image.get_list", "filters=[...] on a dataset or project",
            return_first_response=return_first_response, only_labelled=only_labelled,
            entities_collection_id=entities_collection_id,
            ai_search_collection_id=ai_search_collection_id,
            ai_search_threshold=ai_search_threshold,
        )  # fmt: skip
        infos = self._run(
            lambda: self._aio.image.get_list(
                dataset_id, filters, sort or "id", sort_order or "asc",
                bool(force_metadata_for_links), project_id, bool(recursive), fields,
                extra_fields,
            )  # fmt: skip
        )
        return infos[:limit] if limit is not None else infos

    def remove_batch(
        self, ids: list[int], progress_cb: Any = None, batch_size: int | None = 50
    ) -> None:
        self._run(lambda: self._aio.image.remove_batch(ids, batch_size or 50))
        if progress_cb is not None:
            aio.Progress(progress_cb).advance(len(ids))

    # -- upload ------------------------------------------------------------------------------

    def upload_paths(  # noqa: PLR0913 - the SDK's ImageApi.upload_paths signature
        self,
        dataset_id: int,
        names: list[str],
        paths: list[str],
        progress_cb: Any = None,
        metas: list[dict[str, Any]] | None = None,
        conflict_resolution: Resolution | None = None,
        validate_meta: bool | None = False,
        use_strict_validation: bool | None = False,
        use_caching_for_validation: bool | None = False,
        parent_ids: list[int | None] | None = None,
    ) -> list[ImageInfo]:
        refuse("api.image.upload_paths", _VALIDATION, validate_meta=validate_meta,
               use_strict_validation=use_strict_validation,
               use_caching_for_validation=use_caching_for_validation, parent_ids=parent_ids)
        return self._run(
            lambda: self._aio.image.upload_paths(
                dataset_id, names, paths, progress_cb, metas, conflict_resolution
            )
        )

    def upload_path(
        self,
        dataset_id: int,
        name: str,
        path: str,
        meta: dict[str, Any] | None = None,
        validate_meta: bool | None = False,
        use_strict_validation: bool | None = False,
        use_caching_for_validation: bool | None = False,
        parent_id: int | None = None,
    ) -> ImageInfo:
        refuse("api.image.upload_path", _VALIDATION, validate_meta=validate_meta,
               use_strict_validation=use_strict_validation,
               use_caching_for_validation=use_caching_for_validation, parent_id=parent_id)
        return self._run(lambda: self._aio.image.upload_path(dataset_id, name, path, meta))

    def upload_hashes(  # noqa: PLR0913 - the SDK's ImageApi.upload_hashes signature
        self,
        dataset_id: int,
        names: list[str],
        hashes: list[str],
        progress_cb: Any = None,
        metas: list[dict[str, Any]] | None = None,
        batch_size: int | None = 50,
        skip_validation: bool | None = False,
        conflict_resolution: Resolution | None = None,
        validate_meta: bool | None = False,
        use_strict_validation: bool | None = False,
        use_caching_for_validation: bool | None = False,
        parent_ids: list[int | None] | None = None,
    ) -> list[ImageInfo]:
        refuse("api.image.upload_hashes", _VALIDATION, skip_validation=skip_validation,
               validate_meta=validate_meta, use_strict_validation=use_strict_validation,
               use_caching_for_validation=use_caching_for_validation, parent_ids=parent_ids)
        return self._run(
            lambda: self._aio.image.upload_hashes(
                dataset_id, names, hashes, progress_cb, metas, conflict_resolution,
                batch_size or 50,
            )  # fmt: skip
        )

    def upload_by_offsets(  # noqa: PLR0913 - the SDK's ImageApi.upload_by_offsets signature
        self,
        dataset: DatasetInfo | int,
        team_file_id: int,
        names: list[str] | None = None,
        offsets: list[dict[str, int]] | None = None,
        progress_cb: Any = None,
        metas: list[dict[str, Any]] | None = None,
        batch_size: int | None = 50,
        skip_validation: bool | None = False,
        conflict_resolution: Resolution | None = None,
        validate_meta: bool | None = False,
        use_strict_validation: bool | None = False,
        use_caching_for_validation: bool | None = False,
        parent_ids: list[int | None] | None = None,
    ) -> list[ImageInfo]:
        """Register blob images from names and ``{offsetStart, offsetEnd}`` dicts."""
        refuse("api.image.upload_by_offsets", _VALIDATION, skip_validation=skip_validation,
               validate_meta=validate_meta, use_strict_validation=use_strict_validation,
               use_caching_for_validation=use_caching_for_validation, parent_ids=parent_ids)
        if names is None or offsets is None:
            raise ValueError("upload_by_offsets needs names and offsets")
        return self._run(
            lambda: self._aio.image.upload_by_offsets(
                dataset, team_file_id, names, offsets, progress_cb, metas, batch_size or 50,
                conflict_resolution,
            )  # fmt: skip
        )

    def upload_by_offsets_generator(  # noqa: PLR0913 - the SDK's ImageApi.upload_by_offsets_generator signature
        self,
        dataset: DatasetInfo | int,
        team_file_id: int,
        offsets_file_path: str | None = None,
        progress_cb: Any = None,
        metas: dict[str, dict[str, Any]] | None = None,
        batch_size: int | None = 10000,
        skip_validation: bool | None = False,
        conflict_resolution: Resolution | None = None,
        validate_meta: bool | None = False,
        use_strict_validation: bool | None = False,
        use_caching_for_validation: bool | None = False,
    ) -> Iterator[list[ImageInfo]]:
        """Register the blob's images batch by batch, yielding each batch's ImageInfo (lazy,
        as the SDK: nothing is registered until you iterate)."""
        refuse("api.image.upload_by_offsets_generator", _VALIDATION,
               skip_validation=skip_validation, validate_meta=validate_meta,
               use_strict_validation=use_strict_validation,
               use_caching_for_validation=use_caching_for_validation)  # fmt: skip
        return self._portal.iterate(
            self._aio.image.upload_by_offsets_generator(
                dataset, team_file_id, offsets_file_path, progress_cb, metas, batch_size,
                conflict_resolution,
            )  # fmt: skip
        )

    def upload_blob_images(
        self,
        dataset: DatasetInfo | int,
        blob_file: FileInfo | str,
        metas: Mapping[str, dict[str, Any]] | None = None,
        change_name_if_conflict: bool = True,
        progress_cb: Any = None,
        return_image_infos_generator: bool = False,
    ) -> Iterator[list[ImageInfo]] | None:
        """Register every image of a Team Files blob (its ``_offsets.pkl`` beside it).

        With ``return_image_infos_generator`` the registration happens as you iterate the
        returned generator of batches; otherwise now, returning None (as the SDK).
        """
        batches = self._portal.iterate(
            self._aio.image.upload_blob_images(
                dataset, blob_file, metas, change_name_if_conflict, progress_cb,
                return_image_infos_generator=True,
            )  # fmt: skip
        )
        if return_image_infos_generator:
            return batches
        for _ in batches:
            pass
        return None

    def get_blob_offsets_file(self, team_file_id: int, progress_cb: Any = None) -> str:
        return self._run(lambda: self._aio.image.get_blob_offsets_file(team_file_id, progress_cb))

    # -- download ----------------------------------------------------------------------------

    def download_bytes(
        self, dataset_id: int, ids: list[int], progress_cb: Any = None
    ) -> list[bytes]:
        return self._run(lambda: self._aio.image.download_bytes(dataset_id, ids, progress_cb))

    def download_paths(
        self, dataset_id: int, ids: list[int], paths: list[str], progress_cb: Any = None
    ) -> None:
        self._run(lambda: self._aio.image.download_paths(dataset_id, ids, paths, progress_cb))

    def download_blob_file(
        self,
        project_id: int,
        download_id: str,
        path: str | None = None,
        log_progress: bool = True,
        chunk_size: int | None = None,
    ) -> bytes | None:
        """The whole blob an image lives in: written to ``path`` (returns None), or returned."""
        got = self._run(lambda: self._aio.image.download_blob_file(project_id, download_id, path))
        return got if isinstance(got, bytes) else None

    async def download_blob_files_async(
        self,
        project_id: int,
        download_ids: list[str],
        paths: list[str],
        semaphore: asyncio.Semaphore | None = None,
        log_progress: bool = True,
        progress_cb: Any = None,
    ) -> None:
        """A coroutine, as in the SDK (await it in your loop); the downloads run on the Api's
        own loop, at most ``TransferConfig.download_concurrency`` at once."""
        refuse("api.image.download_blob_files_async",
               "Api(..., config=TransferConfig(download_concurrency=N))", semaphore=semaphore)
        await self._portal.acall(
            self._aio.image.download_blob_files_async, project_id, download_ids, paths,
            None, progress_cb,
        )  # fmt: skip


class AnnotationApi(_Group):
    """``api.annotation``."""

    def upload_paths(
        self,
        img_ids: list[int],
        ann_paths: list[str],
        progress_cb: Any = None,
        skip_bounds_validation: bool | None = False,
    ) -> None:
        refuse("api.annotation.upload_paths", "upload_jsons(..., skip_bounds_validation=True)",
               skip_bounds_validation=skip_bounds_validation)  # fmt: skip
        self._run(lambda: self._aio.annotation.upload_paths(img_ids, ann_paths, progress_cb))

    def upload_path(
        self, img_id: int, ann_path: str, skip_bounds_validation: bool | None = False
    ) -> None:
        self.upload_paths([img_id], [ann_path], None, skip_bounds_validation)

    def upload_jsons(
        self,
        img_ids: list[int],
        ann_jsons: list[dict[str, Any]],
        progress_cb: Any = None,
        skip_bounds_validation: bool | None = False,
    ) -> None:
        self._run(
            lambda: self._aio.annotation.upload_jsons(
                img_ids, ann_jsons, progress_cb, bool(skip_bounds_validation)
            )
        )

    def upload_json(
        self, img_id: int, ann_json: dict[str, Any], skip_bounds_validation: bool | None = False
    ) -> None:
        self.upload_jsons([img_id], [ann_json], None, skip_bounds_validation)

    def upload_anns(
        self,
        img_ids: list[int],
        anns: Sequence[Annotation],
        progress_cb: Any = None,
        skip_bounds_validation: bool | None = False,
    ) -> None:
        self.upload_jsons(img_ids, [a.to_json() for a in anns], progress_cb,
                          skip_bounds_validation)  # fmt: skip

    def upload_ann(
        self, img_id: int, ann: Annotation, skip_bounds_validation: bool | None = False
    ) -> None:
        self.upload_anns([img_id], [ann], None, skip_bounds_validation)

    def download(
        self,
        image_id: int,
        with_custom_data: bool | None = False,
        force_metadata_for_links: bool | None = True,
        figure_filters: list[dict[str, Any]] | None = None,
    ) -> AnnotationInfo:
        refuse("api.annotation.download", "filter the labels of the downloaded JSON",
               figure_filters=figure_filters)  # fmt: skip
        return self._run(
            lambda: self._aio.annotation.download(
                image_id, bool(with_custom_data), bool(force_metadata_for_links)
            )
        )

    def download_json(
        self,
        image_id: int,
        with_custom_data: bool | None = False,
        force_metadata_for_links: bool | None = True,
        figure_filters: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        info = self.download(image_id, with_custom_data, force_metadata_for_links, figure_filters)
        return dict(info.annotation or {})

    def download_batch(
        self,
        dataset_id: int,
        image_ids: list[int],
        progress_cb: Any = None,
        with_custom_data: bool | None = False,
        force_metadata_for_links: bool | None = True,
        figure_filters: list[dict[str, Any]] | None = None,
    ) -> list[AnnotationInfo]:
        refuse("api.annotation.download_batch", "api.annotation.download(image_id, True)",
               with_custom_data=with_custom_data, figure_filters=figure_filters)  # fmt: skip
        return self._run(
            lambda: self._aio.annotation.download_batch(
                dataset_id, image_ids, progress_cb, bool(force_metadata_for_links)
            )
        )


class Api:
    """The SDK's ``sly.Api``: ``Api(server_address, token)`` or ``Api.from_env()``.

    ``config`` (keyword only, blobflow's) sets pool size, timeouts, retries and concurrency;
    ``retry_count`` sets its ``retry_attempts`` when given. ``aio`` is the underlying async
    client, for code that wants to ``await``.
    """

    def __init__(  # noqa: PLR0913 - the SDK's Api.__init__ signature
        self,
        server_address: str | None = None,
        token: str | None = None,
        retry_count: int | None = None,
        retry_sleep_sec: int | None = None,
        external_logger: Any = None,
        ignore_task_id: bool = False,
        api_server_address: str | None = None,
        check_instance_version: bool | str = False,
        *,
        config: TransferConfig | None = None,
    ) -> None:
        refuse(
            "Api", "TransferConfig(backoff_base=...) for retries, the SUPERVISELY_API_SERVER_"
            "ADDRESS environment variable for the API address, and no task id variable",
            retry_sleep_sec=retry_sleep_sec, external_logger=external_logger,
            api_server_address=api_server_address, check_instance_version=check_instance_version,
            ignore_task_id=ignore_task_id and bool(os.environ.get("SUPERVISELY_TASK_ID")),
        )  # fmt: skip
        config = config or TransferConfig()
        if retry_count is not None:
            config = TransferConfig(**{**vars(config), "retry_attempts": max(1, retry_count)})
        self.aio = aio.Api(server_address, token, config)
        self.server_address = self.aio.server_address
        self.token = self.aio.token
        portal = portal_of(self.aio)
        self._portal = portal
        self.file = FileApi(self.aio, portal)
        self.team = TeamApi(self.aio, portal)
        self.workspace = WorkspaceApi(self.aio, portal)
        self.project = ProjectApi(self.aio, portal)
        self.dataset = DatasetApi(self.aio, portal)
        self.image = ImageApi(self.aio, portal)
        self.annotation = AnnotationApi(self.aio, portal)

    @classmethod
    def from_env(
        cls,
        retry_count: int = 10,
        ignore_task_id: bool = False,
        env_file: str = "~/supervisely.env",
        check_instance_version: bool | str = False,
        *,
        config: TransferConfig | None = None,
    ) -> Api:
        """``SERVER_ADDRESS`` and ``API_TOKEN`` from the environment, else (in development)
        from ``env_file`` — the SDK's names and file. The environment is left unchanged."""
        found = aio.Api.from_env(Path(env_file), config)
        return cls(
            found.server_address, found.token, None, None, None, ignore_task_id, None,
            check_instance_version, config=config,
        )  # fmt: skip

    def close(self) -> None:
        """Close the session and stop the private loop (also done at exit and on GC)."""
        self._portal.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"blobflow.sly.Api({self.server_address!r})"
