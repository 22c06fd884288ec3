"""What counts as an image file: one definition for all of blobflow, the SDK's.

Every command and flow that picks files (``pack``, ``offsets``, ``upload`` of a plain folder or
a project's ``img/``, ``import-blob``) asks :func:`is_image_name`, and records what it left out
in a :class:`Skipped` tally so the user is told (count and a few names), never silently.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

__all__ = [
    "SUPPORTED_IMG_EXTS",
    "FileSelection",
    "add_selection_arguments",
    "selection_from_args",
    "Skipped",
    "is_image_like",
    "is_image_name",
]

#: The image extensions the SDK supports (``supervisely.imaging.image.SUPPORTED_IMG_EXTS``),
#: compared case-insensitively. A tuple: nothing can change it under another module's feet.
SUPPORTED_IMG_EXTS: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".mpo",
    ".bmp",
    ".png",
    ".webp",
    ".tiff",
    ".tif",
    ".nrrd",
    ".jfif",
)
_SUPPORTED = frozenset(SUPPORTED_IMG_EXTS)

# Extensions of image formats the platform does not take as images: a file with one of these
# was probably meant to go along, so skipping it deserves a warning, not just a count.
_IMAGE_LIKE = frozenset(
    {
        ".gif", ".heic", ".heif", ".avif", ".ico", ".svg", ".jp2", ".j2k", ".jpe", ".jxl",
        ".tga", ".psd", ".exr", ".hdr", ".dng", ".cr2", ".nef", ".arw", ".raw", ".dcm",
        ".pbm", ".pgm", ".ppm", ".pnm",
    }
)  # fmt: skip

#: names shown in a summary unless ``verbose`` (then all of them)
SAMPLE_NAMES = 5


def _ext(name: str) -> str:
    dot = name.rfind(".")
    # the usual name ("dir/img_001.png"): the dot follows a character of the file name that
    # is not a dot, so splitext would cut there too; two string searches instead of its loop
    if dot > 0 and name[dot - 1] not in "./" and name.rfind("/", dot) < 0 and os.sep == "/":
        return name[dot:].lower()
    return os.path.splitext(name)[1].lower()


def is_image_name(name: str) -> bool:
    """Whether ``name`` (a file name or path) has a supported image extension, in any case."""
    return _ext(name) in _SUPPORTED


def is_image_like(name: str) -> bool:
    """Whether ``name`` looks like an image in a format the platform does not support."""
    return _ext(name) in _IMAGE_LIKE


@dataclass
class Skipped:
    """Files a selection left out: how many, their first names (all with ``verbose``), and
    which of them look like images in an unsupported format (the user probably meant them)."""

    verbose: bool = False
    reason: str = "not images"
    count: int = 0
    names: list[str] = field(default_factory=list)
    unsupported: int = 0  # how many look like images in an unsupported format
    unsupported_names: list[str] = field(default_factory=list)

    def add(self, name: str) -> None:
        self.count += 1
        if self.verbose or len(self.names) < SAMPLE_NAMES:
            self.names.append(name)
        if is_image_like(name):
            self.unsupported += 1
            if self.verbose or len(self.unsupported_names) < SAMPLE_NAMES:
                self.unsupported_names.append(name)

    def update(self, names: Iterable[str]) -> None:
        for name in names:
            self.add(name)

    def as_dict(self) -> dict[str, Any]:
        """The ``skipped`` object of a ``--json`` summary."""
        return {
            "count": self.count,
            "names": list(self.names),
            "unsupported_images": self.unsupported,
            "unsupported_names": list(self.unsupported_names),
        }

    def _listing(self, names: list[str], total: int) -> str:
        more = total - len(names)
        return ", ".join(names) + (f" and {more} more (--verbose lists all)" if more > 0 else "")

    def listing(self) -> str:
        """``a.txt, b.gif and 7 more (--verbose lists all)``."""
        return self._listing(self.names, self.count)

    def text(self) -> str:
        """One line for a summary, or "" when nothing was skipped."""
        if not self.count:
            return ""
        files = "file" if self.count == 1 else "files"
        return f"skipped {self.count} {files} ({self.reason}): {self.listing()}"

    def report(self, summary: dict[str, Any], lines: list[str]) -> None:
        """Add this tally to a command's ``--json`` summary, its text, and its warnings."""
        summary["skipped"] = self.as_dict()
        if self.count:
            lines.append(self.text())
        if self.unsupported:
            summary.setdefault("_warnings", []).append(self.warning())

    def warning(self) -> str:
        """A warning when image-like files in unsupported formats were left out, else ""."""
        if not self.unsupported:
            return ""
        listing = self._listing(self.unsupported_names, self.unsupported)
        return (
            f"warning: {self.unsupported} image-like file(s) in a format the platform does not "
            f"take were skipped: {listing} (supported: {', '.join(SUPPORTED_IMG_EXTS)})"
        )


class FileSelection:
    """A ``filter_func`` that keeps image files matching any of ``patterns`` (all images when
    there are none), recording every file it rejects in :attr:`skipped`.

    A pattern is a glob matched against the relative path and against the basename;
    ``ignore_case`` matches both without regard to case. ``images_only=False`` keeps every
    file the patterns keep (a folder of anything, on purpose).
    """

    def __init__(
        self,
        patterns: Iterable[str] = (),
        *,
        ignore_case: bool = False,
        images_only: bool = True,
        verbose: bool = False,
        filter_func: Callable[[str], bool] | None = None,
    ) -> None:
        self.patterns = tuple(patterns)
        self.images_only = images_only
        self.filter_func = filter_func  # a caller's own test, applied after the others
        filtered = bool(self.patterns) or filter_func is not None
        reason = "filtered out" if filtered else "not images"
        if images_only and filtered:
            reason = "not images, or filtered out"
        self.skipped = Skipped(verbose=verbose, reason=reason)
        self.kept = 0
        flags = re.IGNORECASE if ignore_case else 0
        self._regex = (
            re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in self.patterns), flags)
            if self.patterns
            else None
        )

    def matches(self, path: str) -> bool:
        """Whether ``path`` passes the patterns (ignoring the image test)."""
        if self._regex is None:
            return True
        return bool(self._regex.match(path) or self._regex.match(posixpath.basename(path)))

    def __call__(self, path: str) -> bool:
        if self._regex is None and self.filter_func is None and self.images_only:
            keep = _ext(path) in _SUPPORTED  # the usual selection, called once per file
        else:
            keep = (
                (not self.images_only or is_image_name(path))
                and self.matches(path)
                and (self.filter_func is None or self.filter_func(path))
            )
        if keep:
            self.kept += 1
        else:
            self.skipped.add(path)
        return keep

    def nothing_selected(self, where: str | os.PathLike[str]) -> str:
        """The message for a selection that kept nothing: what it keeps, what it saw instead."""
        skipped = self.skipped
        seen = f"skipped {skipped.count}: {skipped.listing()}" if skipped.count else "no files"
        if skipped.unsupported:
            seen += (
                f"; {skipped.unsupported} of them image-like in a format the platform does not take"
            )
        return f"{os.fspath(where)}: no {self.describe()} ({seen})"

    def describe(self) -> str:
        """What this selection keeps, in the user's terms, for "nothing selected" messages."""
        what = "image files" if self.images_only else "files"
        if self.patterns:
            what += " matching " + " or ".join(repr(p) for p in self.patterns)
        if self.filter_func is not None:
            what += " passing filter_func"
        if self.images_only:
            what += f" (extensions: {', '.join(SUPPORTED_IMG_EXTS)}, any case)"
        return what


# --- the command line's spelling of a selection (pack, offsets, upload, import-blob) -------


def add_selection_arguments(parser: argparse.ArgumentParser, *, filters: bool = True) -> None:
    """``--filter GLOB`` (repeatable: any match keeps a file), ``--ignore-case``, and
    ``--verbose`` (list every skipped file, not the first few)."""
    if filters:
        parser.add_argument(
            "--filter", action="append", default=[], metavar="GLOB",
            help="keep only files whose path or name matches GLOB; repeat it to keep files "
            "matching any (e.g. --filter '*.jpg' --filter '*.jpeg')",
        )  # fmt: skip
        parser.add_argument(
            "--ignore-case", action="store_true", help="match --filter globs in any case"
        )
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="list every skipped file, not the first few"
    )


def selection_from_args(args: argparse.Namespace, *, images_only: bool = True) -> FileSelection:
    return FileSelection(
        getattr(args, "filter", None) or (),
        ignore_case=getattr(args, "ignore_case", False),
        images_only=images_only,
        verbose=getattr(args, "verbose", False),
    )
