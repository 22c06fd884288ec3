"""blobflow: move very many small images to and from a Supervisely-API server as tar blobs.

The public surface is re-exported here; everything in underscore modules is private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blobflow._lazy import attach

if TYPE_CHECKING:
    from blobflow._config import TransferConfig
    from blobflow._errors import (
        AnnotationError,
        BlobflowError,
        BlobFormatError,
        InputError,
        IntegrityError,
        UnsafePickleError,
    )
    from blobflow._media import SUPPORTED_IMG_EXTS
    from blobflow._version import __version__
    from blobflow.api import (
        AnnotationInfo,
        Api,
        ApiError,
        AuthError,
        ConflictError,
        DatasetInfo,
        FileInfo,
        ImageInfo,
        NotFoundError,
        ProjectInfo,
        RetryBudgetExceeded,
        TeamInfo,
        WorkspaceInfo,
    )
    from blobflow.blob import (
        BlobImageInfo,
        BlobPart,
        BlobReader,
        archive_directory,
        archive_directory_parts,
        get_file_offsets_batch_generator,
        save_blob_offsets_pkl,
    )
    from blobflow.project import (
        Dataset,
        OpenMode,
        Project,
        ProjectError,
        QuickImportResult,
        download_fast,
        download_fast_async,
        quick_import,
        quick_import_async,
        upload_project,
        upload_project_async,
    )


__all__ = [
    "__version__",
    # errors
    "BlobflowError",
    "AnnotationError",
    "InputError",
    "BlobFormatError",
    "IntegrityError",
    "UnsafePickleError",
    # blob format (blobflow.blob)
    "BlobImageInfo",
    "BlobPart",
    "BlobReader",
    "archive_directory",
    "archive_directory_parts",
    "get_file_offsets_batch_generator",
    "save_blob_offsets_pkl",
    "SUPPORTED_IMG_EXTS",
    # client (blobflow.api)
    "Api",
    "TransferConfig",
    "ApiError",
    "AuthError",
    "NotFoundError",
    "ConflictError",
    "RetryBudgetExceeded",
    "ImageInfo",
    "FileInfo",
    "ProjectInfo",
    "DatasetInfo",
    "TeamInfo",
    "WorkspaceInfo",
    "AnnotationInfo",
    # local projects and project flows (blobflow.project)
    "Project",
    "Dataset",
    "OpenMode",
    "ProjectError",
    "upload_project",
    "upload_project_async",
    "download_fast",
    "download_fast_async",
    "QuickImportResult",
    "quick_import",
    "quick_import_async",
]

if not TYPE_CHECKING:  # each name's module is imported when the name is first read
    __getattr__, __dir__ = attach(
        __name__,
        {
            "blobflow._version": ("__version__",),
            "blobflow._config": ("TransferConfig",),
            "blobflow._errors": (
                "AnnotationError",
                "InputError",
                "BlobflowError",
                "BlobFormatError",
                "IntegrityError",
                "UnsafePickleError",
            ),
            "blobflow._media": ("SUPPORTED_IMG_EXTS",),
            "blobflow.api": (
                "AnnotationInfo",
                "Api",
                "ApiError",
                "AuthError",
                "ConflictError",
                "DatasetInfo",
                "FileInfo",
                "ImageInfo",
                "NotFoundError",
                "ProjectInfo",
                "RetryBudgetExceeded",
                "TeamInfo",
                "WorkspaceInfo",
            ),
            "blobflow.blob": (
                "BlobImageInfo",
                "BlobPart",
                "BlobReader",
                "archive_directory",
                "archive_directory_parts",
                "get_file_offsets_batch_generator",
                "save_blob_offsets_pkl",
            ),
            "blobflow.project": (
                "Dataset",
                "OpenMode",
                "Project",
                "ProjectError",
                "QuickImportResult",
                "download_fast",
                "download_fast_async",
                "quick_import",
                "quick_import_async",
                "upload_project",
                "upload_project_async",
            ),
        },
    )
