"""``sly.image``: the image file extensions the SDK supports."""

from __future__ import annotations

from blobflow._media import SUPPORTED_IMG_EXTS as _EXTS

__all__ = ["DEFAULT_IMG_EXT", "SUPPORTED_IMG_EXTS"]

#: The SDK's list (``supervisely.imaging.image.SUPPORTED_IMG_EXTS``); blobflow's one definition
#: of "image file" lives in ``blobflow.SUPPORTED_IMG_EXTS``. A fresh list, as the SDK's is one.
SUPPORTED_IMG_EXTS: list[str] = list(_EXTS)
DEFAULT_IMG_EXT = ".png"
