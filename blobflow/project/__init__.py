"""blobflow.project: local projects in Supervisely format with ``blob/`` folders, and the
project-level flows (``upload_project``, ``download_fast``, ``quick_import``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blobflow._lazy import attach

if TYPE_CHECKING:
    from blobflow.project._download import (
        DiskFullError,
        DownloadResult,
        download_fast,
        download_fast_async,
    )
    from blobflow.project._errors import DuplicateNameError, ProjectError
    from blobflow.project._local import (
        BLOB_DIR_NAME,
        OFFSETS_PKL_SUFFIX,
        SUPPORTED_IMG_EXTS,
        TF_BLOB_DIR,
        Dataset,
        OpenMode,
        Project,
        empty_annotation,
        find_project_dir,
    )
    from blobflow.project._quick_import import QuickImportResult, quick_import, quick_import_async
    from blobflow.project._readme import create_blob_readme
    from blobflow.project._upload import UploadResult, upload_project, upload_project_async

__all__ = [
    "BLOB_DIR_NAME",
    "OFFSETS_PKL_SUFFIX",
    "SUPPORTED_IMG_EXTS",
    "TF_BLOB_DIR",
    "Dataset",
    "DiskFullError",
    "DownloadResult",
    "DuplicateNameError",
    "OpenMode",
    "Project",
    "ProjectError",
    "UploadResult",
    "create_blob_readme",
    "download_fast",
    "download_fast_async",
    "empty_annotation",
    "find_project_dir",
    "QuickImportResult",
    "quick_import",
    "quick_import_async",
    "upload_project",
    "upload_project_async",
]

if not TYPE_CHECKING:  # each name's module is imported when the name is first read
    __getattr__, __dir__ = attach(
        __name__,
        {
            "blobflow.project._download": (
                "DiskFullError",
                "DownloadResult",
                "download_fast",
                "download_fast_async",
            ),
            "blobflow.project._errors": (
                "DuplicateNameError",
                "ProjectError",
            ),
            "blobflow.project._local": (
                "BLOB_DIR_NAME",
                "OFFSETS_PKL_SUFFIX",
                "SUPPORTED_IMG_EXTS",
                "TF_BLOB_DIR",
                "Dataset",
                "OpenMode",
                "Project",
                "empty_annotation",
                "find_project_dir",
            ),
            "blobflow.project._quick_import": (
                "QuickImportResult",
                "quick_import",
                "quick_import_async",
            ),
            "blobflow.project._readme": ("create_blob_readme",),
            "blobflow.project._upload": (
                "UploadResult",
                "upload_project",
                "upload_project_async",
            ),
        },
    )
