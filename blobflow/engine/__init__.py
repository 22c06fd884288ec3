"""blobflow.engine: producer/consumer pipelines for blob upload and download."""

from blobflow._loop import install_uvloop, run
from blobflow.engine._download import DatasetDownload, blob_path, download_dataset_blobs
from blobflow.engine._files import extract_ranges, read_files, write_file_atomic, write_files
from blobflow.engine._upload import (
    TF_BLOB_DIR,
    AnnotationSource,
    BlobUpload,
    register_offsets,
    upload_blob,
    upload_blob_files,
)

__all__ = [
    "TF_BLOB_DIR",
    "AnnotationSource",
    "BlobUpload",
    "DatasetDownload",
    "blob_path",
    "download_dataset_blobs",
    "extract_ranges",
    "install_uvloop",
    "read_files",
    "register_offsets",
    "run",
    "upload_blob",
    "upload_blob_files",
    "write_file_atomic",
    "write_files",
]
