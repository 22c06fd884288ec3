"""Pure helpers: Range parsing, Team Files path normalisation, the mime rule."""

from __future__ import annotations

from pathlib import Path

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


def test_an_older_data_dir_gains_the_annotation_object_count(tmp_path: Path) -> None:
    import json
    import sqlite3

    from blobflow.server._db import connect

    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE annotations(image_id INTEGER PRIMARY KEY, data TEXT NOT NULL,"
                " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)")  # fmt: skip
    rows = [(1, json.dumps({"objects": [{}, {}]})), (2, json.dumps({"tags": []}))]
    old.executemany("INSERT INTO annotations VALUES(?, ?, 'x', 'x')", rows)
    old.commit()
    old.close()
    conn = connect(path)
    counts = conn.execute("SELECT image_id, objects FROM annotations ORDER BY image_id")
    assert [tuple(r) for r in counts] == [(1, 2), (2, 0)]
    conn.close()
    connect(path).close()  # a second start finds nothing to migrate


def test_image_pages_walk_an_index_instead_of_sorting(tmp_path: Path) -> None:
    """Listing a dataset page by page must not sort all its ids for every page."""
    from blobflow.server._db import connect
    from blobflow.server._lists import page_ids_sql

    conn = connect(tmp_path / "db.sqlite3")
    sql = page_ids_sql("images i", " WHERE i.dataset_id = ? AND 1", "i.id ASC, i.id ASC")
    plan = " | ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", [1, 1000, 29000]))
    assert "images_dataset" in plan and "TEMP B-TREE" not in plan, plan
    conn.close()


def test_schema_versions_are_applied_once_in_order(tmp_path: Path) -> None:
    """A new database ends at the last version; reopening runs no step again; a database at
    an older version runs only the steps after it."""
    from blobflow.server._db import MIGRATIONS, connect

    path = tmp_path / "db.sqlite3"
    conn = connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.execute("PRAGMA user_version = 1")  # as if written before the second step existed
    conn.execute("ALTER TABLE annotations DROP COLUMN objects")
    conn.close()
    conn = connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    columns = {r[1] for r in conn.execute("PRAGMA table_info(annotations)")}
    assert "objects" in columns
    conn.close()
