"""The exception hierarchy shared by every part of blobflow.

Everything blobflow raises on purpose derives from :class:`BlobflowError`, so callers (and
the command line) can tell "a clear error about your input or the server" from a bug.
"""

from __future__ import annotations

import pickle

__all__ = [
    "BlobflowError",
    "BlobFormatError",
    "UnsafePickleError",
    "IntegrityError",
]


class BlobflowError(Exception):
    """Base of every error blobflow raises on purpose."""


class BlobFormatError(BlobflowError, ValueError):
    """A tar blob or an offsets file is malformed, truncated, compressed or unsafe."""


class UnsafePickleError(BlobFormatError, pickle.UnpicklingError):
    """An offsets pickle references something outside the allow-list, or is malformed."""


class IntegrityError(BlobflowError):
    """Received or stored bytes do not match their declared size or checksum."""
