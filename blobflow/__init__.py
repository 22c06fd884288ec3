"""blobflow: move very many small images to and from a Supervisely-API server as tar blobs.

The public surface is re-exported here; everything in underscore modules is private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blobflow._lazy import attach

if TYPE_CHECKING:
    from blobflow._config import (
        TransferConfig,
    )
    from blobflow._errors import (
        AnnotationError,
        BlobflowError,
        BlobFormatError,
        InputError,
        IntegrityError,
        UnsafePickleError,
    )
    from blobflow._loop import (
        install_uvloop,
        run,
    )
    from blobflow._media import (
        SUPPORTED_IMG_EXTS,
    )
    from blobflow._version import (
        __version__,
    )
    from blobflow.api import (
        AnnotationInfo,
        Api,
        ApiError,
        AuthError,
        ConflictError,
        ConflictResolution,
        DatasetInfo,
        DownloadedFile,
        FileInfo,
        ImageInfo,
        NotFoundError,
        Progress,
        ProgressCallback,
        ProjectInfo,
        RetryBudgetExceeded,
        TeamInfo,
        WorkspaceInfo,
    )
    from blobflow.blob import (
        BLOB_DIR_NAME,
        OFFSETS_PKL_SUFFIX,
        TF_BLOB_DIR,
        BlobImageInfo,
        BlobPart,
        BlobReader,
        archive_directory,
        archive_directory_parts,
        get_file_offsets_batch_generator,
        save_blob_offsets_pkl,
    )
    from blobflow.project import (
        Annotations,
        Dataset,
        DiskFullError,
        DownloadResult,
        DuplicateNameError,
        OpenMode,
        Project,
        ProjectError,
        QuickImportResult,
        UploadResult,
        download_fast,
        download_fast_async,
        is_project_folder,
        project_from_folder,
        quick_import,
        quick_import_async,
        upload_project,
        upload_project_async,
    )

__all__ = [
    "BLOB_DIR_NAME",
    "OFFSETS_PKL_SUFFIX",
    "SUPPORTED_IMG_EXTS",
    "TF_BLOB_DIR",
    "__version__",
    "AnnotationError",
    "AnnotationInfo",
    "Annotations",
    "Api",
    "ApiError",
    "archive_directory",
    "archive_directory_parts",
    "AuthError",
    "BlobflowError",
    "BlobFormatError",
    "BlobImageInfo",
    "BlobPart",
    "BlobReader",
    "ConflictError",
    "ConflictResolution",
    "Dataset",
    "DatasetInfo",
    "DiskFullError",
    "download_fast",
    "download_fast_async",
    "DownloadedFile",
    "DownloadResult",
    "DuplicateNameError",
    "FileInfo",
    "get_file_offsets_batch_generator",
    "ImageInfo",
    "InputError",
    "install_uvloop",
    "IntegrityError",
    "is_project_folder",
    "NotFoundError",
    "OpenMode",
    "Progress",
    "ProgressCallback",
    "Project",
    "project_from_folder",
    "ProjectError",
    "ProjectInfo",
    "quick_import",
    "quick_import_async",
    "QuickImportResult",
    "RetryBudgetExceeded",
    "run",
    "save_blob_offsets_pkl",
    "TeamInfo",
    "TransferConfig",
    "UnsafePickleError",
    "upload_project",
    "upload_project_async",
    "UploadResult",
    "WorkspaceInfo",
]

if not TYPE_CHECKING:  # each name's module is imported when the name is first read
    __getattr__, __dir__ = attach(
        __name__,
        {
            "blobflow._version": (
                "__version__",
            ),
            "blobflow._config": (
                "TransferConfig",
            ),
            "blobflow._errors": (
                "AnnotationError",
                "InputError",
                "BlobflowError",
                "BlobFormatError",
                "IntegrityError",
                "UnsafePickleError",
            ),
            "blobflow._loop": (
                "install_uvloop",
                "run",
            ),
            "blobflow._media": (
                "SUPPORTED_IMG_EXTS",
            ),
            "blobflow.api": (
                "AnnotationInfo",
                "Api",
                "ApiError",
                "AuthError",
                "ConflictError",
                "ConflictResolution",
                "DatasetInfo",
                "DownloadedFile",
                "FileInfo",
                "ImageInfo",
                "NotFoundError",
                "Progress",
                "ProgressCallback",
                "ProjectInfo",
                "RetryBudgetExceeded",
                "TeamInfo",
                "WorkspaceInfo",
            ),
            "blobflow.blob": (
                "BLOB_DIR_NAME",
                "OFFSETS_PKL_SUFFIX",
                "TF_BLOB_DIR",
                "BlobImageInfo",
                "BlobPart",
                "BlobReader",
                "archive_directory",
                "archive_directory_parts",
                "get_file_offsets_batch_generator",
                "save_blob_offsets_pkl",
            ),
            "blobflow.project": (
                "Annotations",
                "Dataset",
                "DiskFullError",
                "DownloadResult",
                "DuplicateNameError",
                "OpenMode",
                "Project",
                "ProjectError",
                "QuickImportResult",
                "UploadResult",
                "download_fast",
                "download_fast_async",
                "is_project_folder",
                "project_from_folder",
                "quick_import",
                "quick_import_async",
                "upload_project",
                "upload_project_async",
            ),
        },
    )
