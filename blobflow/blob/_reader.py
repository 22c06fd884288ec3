"""``BlobReader``: random access to the images of a blob tar through its offsets."""

from __future__ import annotations

import io
import mmap
import os
from array import array
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

import numpy as np
from PIL import Image

from blobflow._errors import BlobFormatError
from blobflow._gc import gc_paused
from blobflow.blob._offsets import scan_blob
from blobflow.blob._pickle import BlobImageInfo

__all__ = ["BlobReader"]

OffsetsSource = str | os.PathLike[str] | Iterable[BlobImageInfo] | None


class BlobReader(Mapping[str, bytes]):
    """A read-only mapping ``image name -> bytes`` over a memory-mapped blob tar.

    ``offsets`` is an ``_offsets.pkl`` path, an iterable of BlobImageInfo, or None to scan the
    tar's headers. Lookups are O(1) (a dict of name -> row in numpy offset arrays); iteration
    is in tar order. Every range is checked against the file size when opened. When a name
    appears more than once in the offsets, the last entry wins (as in the SDK's
    ``get_blob_img_bytes``). Use as a context manager, or call :meth:`close`.

        with BlobReader("blob/images.tar", "ds0/images_offsets.pkl") as blob:
            data = blob.get_bytes("img_001.jpg")
            for name in blob: ...
    """

    def __init__(self, tar_path: str | os.PathLike[str], offsets: OffsetsSource = None) -> None:
        self.tar_path = os.fspath(tar_path)
        self._mm: mmap.mmap | None = None
        with gc_paused():
            self._build_index(self._load_offsets(offsets))
        with open(self.tar_path, "rb") as f:
            self._size = os.fstat(f.fileno()).st_size
            if self._size == 0:
                raise BlobFormatError(f"{self.tar_path}: empty file, not a blob")
            self._check_ranges()
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    def _build_index(self, infos: Iterable[BlobImageInfo]) -> None:
        # Compact from the start: a million entries cost ~16 MB of offsets plus the names
        # and one dict, not a million BlobImageInfo objects or boxed ints.
        names: list[str] = []
        starts = array("q")
        ends = array("q")
        for info in infos:
            names.append(info.name)
            starts.append(info.offset_start)
            ends.append(info.offset_end)
        start_arr = np.frombuffer(starts, dtype=np.int64) if starts else np.zeros(0, np.int64)
        end_arr = np.frombuffer(ends, dtype=np.int64) if ends else np.zeros(0, np.int64)
        # a name listed twice: the last entry wins, as in the SDK's get_blob_img_bytes
        index = {name: i for i, name in enumerate(names)}
        in_order = bool(np.all(start_arr[1:] >= start_arr[:-1]))
        if len(index) == len(names) and in_order:  # the usual case: reuse everything
            self._starts, self._ends, self._names = start_arr, end_arr, names
        else:
            keep = np.sort(np.fromiter(index.values(), dtype=np.int64, count=len(index)))
            keep = keep[np.argsort(start_arr[keep], kind="stable")]  # tar order; ties: input
            self._starts = start_arr[keep]
            self._ends = end_arr[keep]
            self._names = [names[i] for i in keep.tolist()]
            del names
            index = {name: i for i, name in enumerate(self._names)}
        self._index = index

    def _load_offsets(self, offsets: OffsetsSource) -> Iterable[BlobImageInfo]:
        if offsets is None:
            return scan_blob(self.tar_path)
        if isinstance(offsets, (str, os.PathLike)):
            pkl = os.fspath(offsets)
            return (i for batch in BlobImageInfo.load_from_pickle_generator(pkl) for i in batch)
        return offsets

    def _check_ranges(self) -> None:
        if not len(self._starts):
            return
        bad = np.flatnonzero(
            (self._starts < 0) | (self._ends < self._starts) | (self._ends > self._size)
        )
        if bad.size:
            i = int(bad[0])
            raise BlobFormatError(
                f"{self.tar_path}: offsets of {self._names[i]!r} "
                f"[{self._starts[i]}, {self._ends[i]}) lie outside the file "
                f"({self._size} bytes); {bad.size} entr{'y' if bad.size == 1 else 'ies'} bad"
            )

    # -- Mapping
    def __getitem__(self, name: str) -> bytes:
        return self.get_bytes(name)

    def __iter__(self) -> Iterator[str]:
        """Image names in tar order."""
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    # -- access
    def _mmap(self) -> mmap.mmap:
        if self._mm is None:
            raise ValueError(f"BlobReader for {self.tar_path} is closed")
        return self._mm

    def info(self, name: str) -> BlobImageInfo:
        i = self._row(name)
        return BlobImageInfo(name, int(self._starts[i]), int(self._ends[i]))

    def infos(self) -> Iterator[BlobImageInfo]:
        """BlobImageInfo of every image, in tar order."""
        for name in self:
            yield self.info(name)

    def _row(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"{name!r} is not in {self.tar_path}") from None

    def get_bytes(self, name: str) -> bytes:
        """The bytes of one image (KeyError if the name is not in the offsets)."""
        i = self._row(name)
        mm = self._mmap()
        return mm[int(self._starts[i]) : int(self._ends[i])]

    def get_np(self, name: str, keep_alpha: bool = False) -> np.ndarray:
        """Decode one image with Pillow to an HxWxC uint8 array (RGB, or RGBA with keep_alpha)."""
        data = self.get_bytes(name)
        try:
            with Image.open(io.BytesIO(data)) as img:
                mode = "RGBA" if keep_alpha else "RGB"
                return np.asarray(img.convert(mode), dtype=np.uint8)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise BlobFormatError(
                f"{self.tar_path}: cannot decode image {name!r} ({len(data)} bytes): {exc}"
            ) from None

    def verify(self) -> int:
        """Check every range against the tar's own headers; return how many were checked.

        Raises BlobFormatError naming the first entries whose range is not exactly the data of
        a regular member with that basename (e.g. offsets of another tar, or a stale index).
        """
        actual = {(i.name, i.offset_start, i.offset_end) for i in scan_blob(self.tar_path)}
        wrong = [
            (name, int(self._starts[i]), int(self._ends[i]))
            for name, i in self._index.items()
            if (name, int(self._starts[i]), int(self._ends[i])) not in actual
        ]
        if wrong:
            shown = ", ".join(f"{n!r} [{s}, {e})" for n, s, e in wrong[:3])
            what = "entry does" if len(wrong) == 1 else "entries do"
            raise BlobFormatError(
                f"{self.tar_path}: {len(wrong)} offset {what} not match the tar headers: {shown}"
            )
        return len(self._index)

    # -- lifetime
    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None

    @property
    def closed(self) -> bool:
        return self._mm is None

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        mm: Any = getattr(self, "_mm", None)
        if mm is not None:
            mm.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self)} images"
        return f"<BlobReader {self.tar_path!r} ({state})>"
