"""blobflow: move very many small images to and from a Supervisely-API server as tar blobs.

The public surface is re-exported here; everything in underscore modules is private.
"""

from __future__ import annotations

from blobflow._errors import BlobflowError, BlobFormatError, IntegrityError, UnsafePickleError

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # errors
    "BlobflowError",
    "BlobFormatError",
    "IntegrityError",
    "UnsafePickleError",
]
