"""blobflow.blob: the blob format.

A blob is an uncompressed tar of images plus an offsets index (``<tar stem>_offsets.pkl``:
image name -> byte range, end exclusive) that the Supervisely SDK reads and writes.
"""

from blobflow.blob._offsets import get_file_offsets_batch_generator, save_blob_offsets_pkl
from blobflow.blob._pack import BlobPart, archive_directory, archive_directory_parts
from blobflow.blob._pickle import OFFSETS_PKL_BATCH_SIZE, OFFSETS_PKL_SUFFIX, BlobImageInfo
from blobflow.blob._reader import BlobReader

__all__ = [
    "OFFSETS_PKL_BATCH_SIZE",
    "OFFSETS_PKL_SUFFIX",
    "BlobImageInfo",
    "BlobPart",
    "BlobReader",
    "archive_directory",
    "archive_directory_parts",
    "get_file_offsets_batch_generator",
    "save_blob_offsets_pkl",
]
