"""Where blobs and their indexes live: one home for the layout names the SDK uses.

::

    <project>/blob/<stem>.tar              BLOB_DIR_NAME, blob_tar_path()
    <project>/<ds>/<stem>_offsets.pkl      OFFSETS_PKL_SUFFIX, offsets_pkl_path()
    Team Files: /blob-files/<stem>.tar     TF_BLOB_DIR, team_files_blob_path()
                /blob-files/<stem>_offsets.pkl
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path, PurePosixPath

__all__ = [
    "BLOB_DIR_NAME",
    "OFFSETS_PKL_SUFFIX",
    "TF_BLOB_DIR",
    "blob_tar_path",
    "offsets_pkl_path",
    "team_files_blob_path",
    "team_files_offsets_path",
]

#: the index of ``<stem>.tar`` is ``<stem>_offsets.pkl``
OFFSETS_PKL_SUFFIX = "_offsets.pkl"
#: a local project's folder of blob archives (``<project>/blob/<stem>.tar``)
BLOB_DIR_NAME = "blob"
#: the Team Files folder the SDK uploads project blobs to, as the SDK spells it
#: (``supervisely.project.project.TF_BLOB_DIR``; its paths are ``/blob-files/<name>``)
TF_BLOB_DIR = "blob-files"


def offsets_pkl_path(
    tar_path: str | os.PathLike[str], output_dir: str | os.PathLike[str] | None = None
) -> Path:
    """``<output_dir>/<tar stem>_offsets.pkl`` (beside the tar by default), the SDK's name."""
    tar = Path(tar_path)
    folder = tar.parent if output_dir is None else Path(output_dir)
    return folder / (tar.stem + OFFSETS_PKL_SUFFIX)


def blob_tar_path(blob_dir: str | os.PathLike[str], stem: str | int) -> Path:
    """``<blob_dir>/<stem>.tar``; a downloaded blob's stem is its ``related_data_id``."""
    return Path(blob_dir) / f"{stem}.tar"


def team_files_blob_path(name: str, team_dir: str | None = None) -> str:
    """A blob file's Team Files path: ``/blob-files/<name>``, or ``<team_dir>/<name>``."""
    return posixpath.join(team_dir if team_dir is not None else f"/{TF_BLOB_DIR}", name)


def team_files_offsets_path(blob_path: str) -> str:
    """Team Files path of a blob's index: ``<dir>/<blob stem>_offsets.pkl``."""
    blob = PurePosixPath(blob_path)
    return str(blob.with_name(blob.stem + OFFSETS_PKL_SUFFIX))
