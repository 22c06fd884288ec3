"""blobflow.api: the async client for the Supervisely public API v3 (and ``blobflow serve``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blobflow._lazy import attach

if TYPE_CHECKING:
    from blobflow._config import (
        TransferConfig,
    )
    from blobflow._hash import (
        b64_sha256,
    )
    from blobflow.api._api import (
        Api,
        SemaphoreKind,
        portal_of,
        read_env_file,
    )
    from blobflow.api._errors import (
        ApiError,
        AuthError,
        ConflictError,
        NotFoundError,
        RetryBudgetExceeded,
    )
    from blobflow.api._image import (
        ConflictResolution,
    )
    from blobflow.api._models import (
        AnnotationInfo,
        DatasetInfo,
        FileInfo,
        ImageInfo,
        ProjectInfo,
        TeamInfo,
        WorkspaceInfo,
    )
    from blobflow.api._progress import (
        Progress,
        ProgressCallback,
    )
    from blobflow.api._register import (
        AnnotationSource,
        register_offsets,
    )
    from blobflow.api._transport import (
        BodyCounter,
        BodyFactory,
        DownloadedFile,
        HttpTransport,
        Transport,
        UploadSource,
        file_body,
    )

__all__ = [
    "AnnotationInfo",
    "AnnotationSource",
    "Api",
    "ApiError",
    "AuthError",
    "b64_sha256",
    "BodyCounter",
    "BodyFactory",
    "ConflictError",
    "ConflictResolution",
    "DatasetInfo",
    "DownloadedFile",
    "file_body",
    "FileInfo",
    "HttpTransport",
    "ImageInfo",
    "NotFoundError",
    "portal_of",
    "Progress",
    "ProgressCallback",
    "ProjectInfo",
    "read_env_file",
    "register_offsets",
    "RetryBudgetExceeded",
    "SemaphoreKind",
    "TeamInfo",
    "TransferConfig",
    "Transport",
    "UploadSource",
    "WorkspaceInfo",
]

if not TYPE_CHECKING:  # each name's module is imported when the name is first read
    __getattr__, __dir__ = attach(
        __name__,
        {
            "blobflow._config": (
                "TransferConfig",
            ),
            "blobflow._hash": (
                "b64_sha256",
            ),
            "blobflow.api._api": (
                "Api",
                "SemaphoreKind",
                "portal_of",
                "read_env_file",
            ),
            "blobflow.api._errors": (
                "ApiError",
                "AuthError",
                "ConflictError",
                "NotFoundError",
                "RetryBudgetExceeded",
            ),
            "blobflow.api._image": (
                "ConflictResolution",
            ),
            "blobflow.api._models": (
                "AnnotationInfo",
                "DatasetInfo",
                "FileInfo",
                "ImageInfo",
                "ProjectInfo",
                "TeamInfo",
                "WorkspaceInfo",
            ),
            "blobflow.api._progress": (
                "Progress",
                "ProgressCallback",
            ),
            "blobflow.api._register": (
                "AnnotationSource",
                "register_offsets",
            ),
            "blobflow.api._transport": (
                "BodyCounter",
                "BodyFactory",
                "DownloadedFile",
                "HttpTransport",
                "Transport",
                "UploadSource",
                "file_body",
            ),
        },
    )
