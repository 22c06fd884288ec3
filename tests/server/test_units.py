"""Pure helpers: Range parsing, Team Files path normalisation, the mime rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blobflow.server._errors import BadRequest, RangeNotSatisfiable
from blobflow.server._files import clean_path
from blobflow.server._http import parse_range
from blobflow.server._images import mime_for


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(1, 10_000))
def test_parse_range_matches_slicing(a: int, b: int, size: int) -> None:
    data = bytes(range(256)) * 40
    data = data[:size]
    try:
        rng = parse_range(f"bytes={a}-{b}", size)
    except RangeNotSatisfiable:
        assert a >= size and b >= a
        return
    if rng is None:
        assert b < a  # an invalid range means "send it all"
        return
    start, end = rng
    assert data[start:end] == data[a : b + 1]


def test_parse_range_forms() -> None:
    assert parse_range(None, 100) is None
    assert parse_range("bytes=10-", 100) == (10, 100)
    assert parse_range("bytes=-30", 100) == (70, 100)
    assert parse_range("bytes=0-0", 100) == (0, 1)
    assert parse_range("bytes=5-9,20-30", 100) is None  # multi-range: whole body
    assert parse_range("items=1-2", 100) is None
    assert parse_range("bytes=x-y", 100) is None
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=100-", 100)


@given(st.lists(st.sampled_from(["a", "b", ".", "..", "", "c d", "é"]), max_size=8))
def test_clean_path_never_escapes(parts: list[str]) -> None:
    raw = "/" + "/".join(parts)
    try:
        clean = clean_path(raw)
    except BadRequest:
        assert ".." in parts
        return
    assert ".." not in clean.split("/") and "//" not in clean and clean.startswith("/")
    assert clean_path(clean) == clean


@pytest.mark.parametrize("bad", ["/a/\x00b", "a\\..\\b", "/" + "x" * 5000])
def test_clean_path_refuses(bad: str) -> None:
    with pytest.raises(BadRequest):
        clean_path(bad)


@pytest.mark.parametrize(
    ("name", "mime"),
    [("a.jpg", "image/jpeg"), ("a.JPEG", "image/jpeg"), ("a.png", "image/png"),
     ("a.tif", "image/tif"), ("a.tar", None), ("noext", None)],
)
def test_mime_subtype_is_what_the_sdk_accepts(name: str, mime: str | None) -> None:
    assert mime_for(name) == mime
