"""blobflow.engine: producer/consumer pipelines for blob upload and download."""

from __future__ import annotations

from typing import TYPE_CHECKING

from blobflow._lazy import attach

if TYPE_CHECKING:
    from blobflow._files import (
        extract_ranges,
        read_files,
        write_file_atomic,
        write_files,
    )
    from blobflow._loop import (
        install_uvloop,
        run,
    )
    from blobflow.engine._blob_files import (
        BlobUpload,
        upload_blob_files,
    )
    from blobflow.engine._download import (
        DOWNLOAD_STATE_FILE,
        BlobFetcher,
        DatasetDownload,
        download_dataset_blobs,
        load_download_state,
        save_download_state,
    )
    from blobflow.engine._pack_upload import (
        TarStream,
        pack_and_upload_blob_files,
    )
    from blobflow.engine._upload import (
        upload_blob,
    )
    from blobflow.engine._writer import (
        FileWriter,
        open_file_writer,
    )

__all__ = [
    "DOWNLOAD_STATE_FILE",
    "BlobFetcher",
    "BlobUpload",
    "DatasetDownload",
    "download_dataset_blobs",
    "extract_ranges",
    "FileWriter",
    "install_uvloop",
    "load_download_state",
    "open_file_writer",
    "pack_and_upload_blob_files",
    "read_files",
    "run",
    "save_download_state",
    "TarStream",
    "upload_blob",
    "upload_blob_files",
    "write_file_atomic",
    "write_files",
]

if not TYPE_CHECKING:  # each name's module is imported when the name is first read
    __getattr__, __dir__ = attach(
        __name__,
        {
            "blobflow._files": (
                "extract_ranges",
                "read_files",
                "write_file_atomic",
                "write_files",
            ),
            "blobflow._loop": (
                "install_uvloop",
                "run",
            ),
            "blobflow.engine._blob_files": (
                "BlobUpload",
                "upload_blob_files",
            ),
            "blobflow.engine._download": (
                "DOWNLOAD_STATE_FILE",
                "BlobFetcher",
                "DatasetDownload",
                "download_dataset_blobs",
                "load_download_state",
                "save_download_state",
            ),
            "blobflow.engine._pack_upload": (
                "TarStream",
                "pack_and_upload_blob_files",
            ),
            "blobflow.engine._upload": (
                "upload_blob",
            ),
            "blobflow.engine._writer": (
                "FileWriter",
                "open_file_writer",
            ),
        },
    )
