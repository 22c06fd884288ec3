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
    from blobflow.project._errors import (
        DuplicateNameError,
        ProjectError,
    )
    from blobflow.project._folder import (
        is_project_folder,
        project_from_folder,
    )
    from blobflow.project._local import (
        SUPPORTED_IMG_EXTS,
        Dataset,
        OpenMode,
        Project,
        empty_annotation,
        find_project_dir,
        read_json,
    )
    from blobflow.project._quick_import import (
        Annotations,
        QuickImportResult,
        quick_import,
        quick_import_async,
    )
    from blobflow.project._readme import (
        create_blob_readme,
    )
    from blobflow.project._upload import (
        UploadResult,
        upload_project,
        upload_project_async,
    )

__all__ = [
    "Annotations",
    "SUPPORTED_IMG_EXTS",
    "create_blob_readme",
    "Dataset",
    "DiskFullError",
    "download_fast",
    "download_fast_async",
    "DownloadResult",
    "DuplicateNameError",
    "empty_annotation",
    "find_project_dir",
    "is_project_folder",
    "OpenMode",
    "Project",
    "project_from_folder",
    "ProjectError",
    "quick_import",
    "quick_import_async",
    "QuickImportResult",
    "read_json",
    "upload_project",
    "upload_project_async",
    "UploadResult",
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
            "blobflow.project._folder": (
                "is_project_folder",
                "project_from_folder",
            ),
            "blobflow.project._local": (
                "SUPPORTED_IMG_EXTS",
                "Dataset",
                "OpenMode",
                "Project",
                "empty_annotation",
                "find_project_dir",
                "read_json",
            ),
            "blobflow.project._quick_import": (
                "Annotations",
                "QuickImportResult",
                "quick_import",
                "quick_import_async",
            ),
            "blobflow.project._readme": (
                "create_blob_readme",
            ),
            "blobflow.project._upload": (
                "UploadResult",
                "upload_project",
                "upload_project_async",
            ),
        },
    )
