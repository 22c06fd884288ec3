"""The exception hierarchy shared by every part of blobflow.

Everything blobflow raises on purpose derives from :class:`BlobflowError`, so callers (and
the command line) can tell "a clear error about your input or the server" from a bug.
"""

from __future__ import annotations

import pickle

__all__ = [
    "BlobflowError",
    "InputError",
    "BlobFormatError",
    "UnsafePickleError",
    "IntegrityError",
    "AnnotationError",
]


class BlobflowError(Exception):
    """Base of every error blobflow raises on purpose.

    A refusal the caller can override names the library parameter that does it
    (``opt_in``: parameter, what it does); the command line names its own flag instead.
    """

    opt_in: tuple[str, str] | None = None
    cause: str = ""

    @classmethod
    def refusal(cls, cause: str, param: str, action: str) -> BlobflowError:
        """``cause (pass param=True to action)``, with the parts kept for other wordings."""
        exc = cls(f"{cause} (pass {param}=True to {action})")
        exc.cause, exc.opt_in = cause, (param, action)
        return exc

    def in_terms(self, switches: dict[str, str]) -> str:
        """This message with ``param=True`` spelled as the caller knows it (a CLI flag)."""
        if self.opt_in is None or self.opt_in[0] not in switches:
            return str(self)
        param, action = self.opt_in
        return f"{self.cause} (pass {switches[param]} to {action})"


class InputError(BlobflowError, ValueError):
    """Local input (a file, a folder, an argument) cannot be used; nothing was sent."""


class BlobFormatError(BlobflowError, ValueError):
    """A tar blob or an offsets file is malformed, truncated, compressed or unsafe."""


class UnsafePickleError(BlobFormatError, pickle.UnpicklingError):
    """An offsets pickle references something outside the allow-list, or is malformed."""


class IntegrityError(BlobflowError):
    """Received or stored bytes do not match their declared size or checksum."""


class AnnotationError(BlobflowError, ValueError):
    """An annotation the platform would refuse (its file or image named, and the field)."""
