"""blobflow.blob: the blob format.

A blob is an uncompressed tar of images plus an offsets index (``<tar stem>_offsets.pkl``:
image name -> byte range, end exclusive) that the Supervisely SDK reads and writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blobflow._lazy import attach

if TYPE_CHECKING:
    from blobflow.blob._layout import (
        BLOB_DIR_NAME,
        OFFSETS_PKL_SUFFIX,
        TF_BLOB_DIR,
        blob_tar_path,
        offsets_pkl_path,
        team_files_blob_path,
        team_files_offsets_path,
    )
    from blobflow.blob._offsets import (
        get_file_offsets_batch_generator,
        save_blob_offsets_pkl,
        scan_blob,
    )
    from blobflow.blob._pack import (
        BlobPart,
        archive_directory,
        archive_directory_parts,
        list_members,
    )
    from blobflow.blob._pickle import (
        OFFSETS_PKL_BATCH_SIZE,
        BlobImageInfo,
        write_streams,
    )
    from blobflow.blob._reader import (
        BlobReader,
    )

__all__ = [
    "BLOB_DIR_NAME",
    "OFFSETS_PKL_BATCH_SIZE",
    "OFFSETS_PKL_SUFFIX",
    "TF_BLOB_DIR",
    "archive_directory",
    "archive_directory_parts",
    "blob_tar_path",
    "BlobImageInfo",
    "BlobPart",
    "BlobReader",
    "get_file_offsets_batch_generator",
    "list_members",
    "offsets_pkl_path",
    "save_blob_offsets_pkl",
    "scan_blob",
    "team_files_blob_path",
    "team_files_offsets_path",
    "write_streams",
]

if not TYPE_CHECKING:  # each name's module is imported when the name is first read
    __getattr__, __dir__ = attach(
        __name__,
        {
            "blobflow.blob._layout": (
                "BLOB_DIR_NAME",
                "OFFSETS_PKL_SUFFIX",
                "TF_BLOB_DIR",
                "blob_tar_path",
                "offsets_pkl_path",
                "team_files_blob_path",
                "team_files_offsets_path",
            ),
            "blobflow.blob._offsets": (
                "get_file_offsets_batch_generator",
                "save_blob_offsets_pkl",
                "scan_blob",
            ),
            "blobflow.blob._pack": (
                "BlobPart",
                "archive_directory",
                "archive_directory_parts",
                "list_members",
            ),
            "blobflow.blob._pickle": (
                "OFFSETS_PKL_BATCH_SIZE",
                "BlobImageInfo",
                "write_streams",
            ),
            "blobflow.blob._reader": ("BlobReader",),
        },
    )
