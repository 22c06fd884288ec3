"""blobflow.api: the async client for the Supervisely public API v3 (and ``blobflow serve``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blobflow._lazy import attach

if TYPE_CHECKING:
    from blobflow._config import TransferConfig
    from blobflow.api._api import Api, portal_of
    from blobflow.api._errors import (
        ApiError,
        AuthError,
        ConflictError,
        NotFoundError,
        RetryBudgetExceeded,
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
    from blobflow.api._progress import Progress, ProgressCallback
    from blobflow.api._transport import DownloadResult, HttpTransport, Transport, b64_sha256

__all__ = [
    "Api",
    "portal_of",
    "TransferConfig",
    "Transport",
    "HttpTransport",
    "DownloadResult",
    "b64_sha256",
    "Progress",
    "ProgressCallback",
    # errors
    "ApiError",
    "AuthError",
    "NotFoundError",
    "ConflictError",
    "RetryBudgetExceeded",
    # info objects
    "ImageInfo",
    "FileInfo",
    "ProjectInfo",
    "DatasetInfo",
    "TeamInfo",
    "WorkspaceInfo",
    "AnnotationInfo",
]

if not TYPE_CHECKING:  # each name's module is imported when the name is first read
    __getattr__, __dir__ = attach(
        __name__,
        {
            "blobflow._config": ("TransferConfig",),
            "blobflow.api._api": (
                "Api",
                "portal_of",
            ),
            "blobflow.api._errors": (
                "ApiError",
                "AuthError",
                "ConflictError",
                "NotFoundError",
                "RetryBudgetExceeded",
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
            "blobflow.api._transport": (
                "DownloadResult",
                "HttpTransport",
                "Transport",
                "b64_sha256",
            ),
        },
    )
