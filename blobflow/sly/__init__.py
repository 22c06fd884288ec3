"""blobflow.sly: the Supervisely SDK's synchronous surface, on blobflow's engine.

A script written for the SDK runs when ``import supervisely as sly`` becomes
``import blobflow.sly as sly`` (and ``supervisely.x`` imports become ``blobflow.sly.x``), for
what the blob tutorial uses: ``sly.Api`` and its groups, ``sly.upload_project``,
``sly.download_fast``, ``sly.Project``, ``sly.ProjectMeta``, ``sly.fs``, ``sly.json``,
``sly.image``. Each ``Api`` runs blobflow's async client on a private event loop in a
background thread, so it serves any number of calls, in scripts and in notebooks. What is not
supported raises ``NotImplementedError`` naming the nearest supported form.
"""

from blobflow.api import (
    AnnotationInfo,
    ApiError,
    AuthError,
    DatasetInfo,
    FileInfo,
    ImageInfo,
    NotFoundError,
    ProjectInfo,
    TeamInfo,
    WorkspaceInfo,
)
from blobflow.blob import BlobImageInfo
from blobflow.project import OpenMode
from blobflow.sly import fs, image, json, project
from blobflow.sly._annotation import Annotation, Geometry, Label, Tag
from blobflow.sly._api import Api
from blobflow.sly._meta import ObjClass, ObjClassCollection, ProjectMeta, ProjectType, TagMeta
from blobflow.sly._project import Dataset, Project, download_fast, upload_project

__all__ = [
    "Annotation",
    "AnnotationInfo",
    "Api",
    "ApiError",
    "AuthError",
    "BlobImageInfo",
    "Dataset",
    "DatasetInfo",
    "FileInfo",
    "Geometry",
    "ImageInfo",
    "Label",
    "NotFoundError",
    "ObjClass",
    "ObjClassCollection",
    "OpenMode",
    "Project",
    "ProjectInfo",
    "ProjectMeta",
    "ProjectType",
    "Tag",
    "TagMeta",
    "TeamInfo",
    "WorkspaceInfo",
    "download_fast",
    "fs",
    "image",
    "json",
    "project",
    "upload_project",
]
