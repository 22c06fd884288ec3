"""``sly.project.project``: as ``supervisely.project.project`` (``TF_BLOB_DIR``, ``Project``...)."""

from blobflow.blob import OFFSETS_PKL_BATCH_SIZE, OFFSETS_PKL_SUFFIX, TF_BLOB_DIR, BlobImageInfo
from blobflow.project import OpenMode
from blobflow.sly._meta import ProjectMeta
from blobflow.sly._project import Dataset, Project, download_fast, upload_project

__all__ = [
    "OFFSETS_PKL_BATCH_SIZE",
    "OFFSETS_PKL_SUFFIX",
    "TF_BLOB_DIR",
    "BlobImageInfo",
    "Dataset",
    "OpenMode",
    "Project",
    "ProjectMeta",
    "download_fast",
    "upload_project",
]
