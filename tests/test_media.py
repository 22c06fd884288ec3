"""The one definition of "image file" (``blobflow._media``), and the SDK's list it copies."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

import pytest

import blobflow
from blobflow._media import SUPPORTED_IMG_EXTS, FileSelection, Skipped, is_image_name

_PRINT_SDK_EXTS = (
    "import json; from supervisely.imaging.image import SUPPORTED_IMG_EXTS as e; "
    "print(json.dumps(e))"
)


def test_supported_extensions_are_the_sdks_any_case() -> None:
    for name in ("a.tif", "b.TIFF", "c.Png", "d.bmp", "e.webp", "f.JPG", "g.jpeg", "h.nrrd",
                 "i.jfif", "j.mpo", "dir/k.png"):  # fmt: skip
        assert is_image_name(name), name
    for name in ("notes.txt", "x.gif", "png", "a.png.json", "noext"):
        assert not is_image_name(name), name
    assert blobflow.SUPPORTED_IMG_EXTS is SUPPORTED_IMG_EXTS


def test_extension_is_splitexts_for_every_short_name() -> None:
    """The fast path of ``_ext`` cuts where ``os.path.splitext`` does, for every name of up to
    six characters from an alphabet of dots, slashes and letters (leading dots included)."""
    from blobflow._media import _ext

    for length in range(7):
        for chars in itertools.product("a./BÜ\\", repeat=length):
            name = "".join(chars)
            assert _ext(name) == os.path.splitext(name)[1].lower(), name


def test_matches_the_installed_sdk() -> None:
    python = os.environ.get("BLOBFLOW_SDK_PYTHON")
    if not python or not Path(python).exists():
        pytest.skip("BLOBFLOW_SDK_PYTHON is not set (path to a python with supervisely installed)")
    out = subprocess.run(
        [python, "-c", _PRINT_SDK_EXTS],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert tuple(json.loads(out)) == SUPPORTED_IMG_EXTS


def test_selection_records_what_it_skips() -> None:
    sel = FileSelection(["*.jpg", "*.JPEG"], ignore_case=True)
    kept = [p for p in ["a.jpg", "sub/b.Jpeg", "c.png", "notes.txt", "d.gif"] if sel(p)]
    assert kept == ["a.jpg", "sub/b.Jpeg"]
    assert sel.kept == 2
    assert sel.skipped.as_dict() == {
        "count": 3,
        "names": ["c.png", "notes.txt", "d.gif"],
        "unsupported_images": 1,
        "unsupported_names": ["d.gif"],
    }
    assert "skipped 3 files" in sel.skipped.text()
    assert "d.gif" in sel.skipped.warning()


def test_selection_without_patterns_keeps_images_case_sensitive_globs() -> None:
    sel = FileSelection()
    assert sel("A.TIF") and not sel("notes.txt")
    strict = FileSelection(["*.jpg"])
    assert strict("x.jpg") and not strict("x.JPG")
    anything = FileSelection(images_only=False)
    assert anything("notes.txt")


def test_skipped_names_are_a_sample_unless_verbose() -> None:
    short, full = Skipped(), Skipped(verbose=True)
    names = [f"f{i}.txt" for i in range(12)]
    short.update(names)
    full.update(names)
    assert short.count == full.count == 12
    assert len(short.names) == 5 and full.names == names
    assert "and 7 more (--verbose lists all)" in short.text()
    assert short.warning() == ""
