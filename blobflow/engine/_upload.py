"""Upload pipeline: blob + index to Team Files, then registration by offsets, then annotations.

The registration itself is the client's protocol (:func:`blobflow.api.register_offsets`);
this module composes it with the file upload (or the pack-while-uploading of a folder).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from blobflow._errors import BlobflowError
from blobflow.api import (
    AnnotationSource,
    Api,
    ConflictResolution,
    DatasetInfo,
    ImageInfo,
    ProgressCallback,
    register_offsets,
)
from blobflow.blob import offsets_pkl_path
from blobflow.engine._blob_files import BlobUpload, upload_blob_files, while_checked
from blobflow.engine._pack_upload import pack_and_upload_blob_files
from blobflow.engine._parts import list_images, upload_blob_parts

__all__ = ["upload_blob"]


async def _team_of(api: Api, ds: DatasetInfo) -> int:
    team_id = ds.team_id
    if team_id is None and ds.project_id is not None:
        proj = await api.project.get_info_by_id(ds.project_id)
        team_id = proj.team_id if proj else None
    if team_id is None:
        raise BlobflowError(f"cannot tell the team of dataset {ds.id}")
    return team_id


async def upload_blob(  # noqa: PLR0913 - the SDK-shaped keyword options of one flow
    api: Api,
    dataset: int | DatasetInfo,
    tar_path: str | os.PathLike[str],
    offsets_path: str | os.PathLike[str] | None = None,
    *,
    team_dir: str | None = None,
    metas: Mapping[str, dict[str, Any]] | None = None,
    annotations: AnnotationSource | None = None,
    conflict_resolution: ConflictResolution | None = "skip",
    progress_cb: ProgressCallback = None,
    bytes_progress_cb: ProgressCallback = None,
    images_dir: str | os.PathLike[str] | None = None,
    filter_func: Callable[[str], bool] | None = None,
    convert_coordinates: bool = True,
    checked: Callable[[], Awaitable[Any]] | None = None,
) -> AsyncIterator[list[ImageInfo]]:
    """The whole blob upload: files to Team Files, registration, annotations; yields batches.

    ``team_dir`` defaults to ``/blob-files`` (the SDK's ``TF_BLOB_DIR``).
    ``conflict_resolution`` defaults to ``skip`` so a re-run never duplicates images (the
    existing ones are returned in place). ``progress_cb`` counts images, ``bytes_progress_cb``
    bytes sent to Team Files. With ``images_dir`` the blob is first packed from that folder
    into ``tar_path`` (and ``<stem>_offsets.pkl`` beside it) while it uploads; a folder of more
    than ``config.blob_part_images`` images goes in parts (``<stem>_001.tar``, ... each with its
    ``_offsets.pkl``), each registered while the next uploads (see ``_parts``); only the files
    ``filter_func`` selects are packed. ``checked()`` (a check of the input, e.g. the
    annotations) runs while the files (the first part) upload; nothing is registered unless it
    succeeds, and its failure stops the upload.
    """
    if images_dir is not None and offsets_path is not None:
        raise ValueError("with images_dir the offsets are written beside the tar, as "
                         "<tar stem>_offsets.pkl: offsets_path must be None")
    ds = await api.dataset.resolve(dataset)
    team_id = await _team_of(api, ds)
    part_images = api.config.blob_part_images
    members: list[str] | None = None  # listed once: the filter sees each file once
    if images_dir is not None and part_images is not None:
        members = await list_images(images_dir, Path(tar_path), filter_func)
        if len(members) > part_images:
            async for infos in upload_blob_parts(
                api, ds, team_id, images_dir, tar_path, members, part_images=part_images,
                team_dir=team_dir, metas=metas, annotations=annotations,
                conflict_resolution=conflict_resolution, progress_cb=progress_cb,
                bytes_progress_cb=bytes_progress_cb, convert_coordinates=convert_coordinates,
                checked=checked,
            ):  # fmt: skip
                yield infos
            return
    sending: Awaitable[BlobUpload]
    if images_dir is not None:
        sending = pack_and_upload_blob_files(
            api, team_id, images_dir, tar_path, team_dir=team_dir, progress_cb=bytes_progress_cb,
            members=members, filter_func=filter_func if members is None else None,
        )  # fmt: skip
    else:
        sending = upload_blob_files(
            api, team_id, tar_path, offsets_path, team_dir=team_dir, progress_cb=bytes_progress_cb
        )
    files = await while_checked(sending, checked() if checked is not None else None)
    assert files.blob.id is not None
    local_offsets = Path(offsets_path) if offsets_path else offsets_pkl_path(tar_path)
    async for infos in register_offsets(
        api, ds, files.blob.id, local_offsets,
        metas=metas, conflict_resolution=conflict_resolution,
        progress_cb=progress_cb, annotations=annotations,
        convert_coordinates=convert_coordinates, annotations_checked=checked is not None,
    ):  # fmt: skip
        yield infos
