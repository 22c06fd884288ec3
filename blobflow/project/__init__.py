"""blobflow.project: local projects in Supervisely format with ``blob/`` folders, and the
project-level flows (``upload_project``, ``download_fast``, ``quick_import``)."""

from __future__ import annotations

from blobflow.project._errors import DuplicateNameError, ProjectError
from blobflow.project._local import (
    BLOB_DIR_NAME,
    IMAGE_EXTENSIONS,
    OFFSETS_PKL_SUFFIX,
    TF_BLOB_DIR,
    Dataset,
    OpenMode,
    Project,
    empty_annotation,
    find_project_dir,
)
from blobflow.project._readme import create_blob_readme

__all__ = [
    "BLOB_DIR_NAME",
    "IMAGE_EXTENSIONS",
    "OFFSETS_PKL_SUFFIX",
    "TF_BLOB_DIR",
    "Dataset",
    "DuplicateNameError",
    "OpenMode",
    "Project",
    "ProjectError",
    "create_blob_readme",
    "empty_annotation",
    "find_project_dir",
]
