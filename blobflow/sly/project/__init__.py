"""``sly.project``: local projects and the whole-project flows (the SDK's module layout)."""

from blobflow.sly.project import project
from blobflow.sly.project.project import (
    TF_BLOB_DIR,
    Dataset,
    OpenMode,
    Project,
    download_fast,
    upload_project,
)

__all__ = [
    "TF_BLOB_DIR",
    "Dataset",
    "OpenMode",
    "Project",
    "download_fast",
    "project",
    "upload_project",
]
