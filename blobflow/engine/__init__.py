"""blobflow.engine: producer/consumer pipelines for blob upload and download."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blobflow._lazy import attach

if TYPE_CHECKING:
    from blobflow._loop import install_uvloop, run
    from blobflow.engine._download import DatasetDownload, blob_path, download_dataset_blobs
    from blobflow.engine._files import extract_ranges, read_files, write_file_atomic, write_files
    from blobflow.engine._upload import (
        TF_BLOB_DIR,
        AnnotationSource,
        BlobUpload,
        register_offsets,
        upload_blob,
        upload_blob_files,
    )

__all__ = [
    "TF_BLOB_DIR",
    "AnnotationSource",
    "BlobUpload",
    "DatasetDownload",
    "blob_path",
    "download_dataset_blobs",
    "extract_ranges",
    "install_uvloop",
    "read_files",
    "register_offsets",
    "run",
    "upload_blob",
    "upload_blob_files",
    "write_file_atomic",
    "write_files",
]

if not TYPE_CHECKING:  # each name's module is imported when the name is first read
    __getattr__, __dir__ = attach(
        __name__,
        {
            "blobflow._loop": ("install_uvloop", "run"),
            "blobflow.engine._download": ("DatasetDownload", "blob_path", "download_dataset_blobs"),
            "blobflow.engine._files": (
                "extract_ranges",
                "read_files",
                "write_file_atomic",
                "write_files",
            ),
            "blobflow.engine._upload": (
                "TF_BLOB_DIR",
                "AnnotationSource",
                "BlobUpload",
                "register_offsets",
                "upload_blob",
                "upload_blob_files",
            ),
        },
    )
