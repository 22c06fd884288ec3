"""Property tests: random names, sizes and nesting -> pack -> scan -> the same offsets and bytes,
equal to what Python's tarfile reports."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from blobflow import BlobReader, archive_directory
from blobflow.blob import get_file_offsets_batch_generator

from ._helpers import tarfile_offsets

# path components: any printable text without '/', NUL or surrogates, <= 255 UTF-8 bytes
_component = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1,
    max_size=70,
).filter(lambda s: s not in (".", "..") and len(s.encode()) <= 255)
_path = st.lists(_component, min_size=1, max_size=4)
_size = st.one_of(st.integers(1, 600), st.integers(511, 513), st.integers(1, 70_000))


@st.composite
def _trees(draw: st.DrawFn) -> dict[str, int]:
    paths = draw(st.lists(_path, min_size=1, max_size=12))
    tree: dict[str, int] = {}
    titles: set[str] = set()
    dirs: set[str] = set()
    for parts in paths:
        rel = "/".join(parts)
        prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
        # unique basenames; no file where another entry needs a directory (and vice versa)
        if parts[-1] in titles or rel in dirs or prefixes & set(tree):
            continue
        titles.add(parts[-1])
        dirs |= prefixes
        tree[rel] = draw(_size)
    return tree


@settings(max_examples=40, deadline=None)
@given(tree=_trees(), seed=st.integers(0, 255))
def test_pack_scan_tarfile_agree(tree: dict[str, int], seed: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="blobflow-prop-"))
    try:
        src = root / "src"
        src.mkdir()
        contents: dict[str, bytes] = {}
        for rel, size in tree.items():
            p = src / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            data = bytes((seed + i * 31) % 256 for i in range(size))
            p.write_bytes(data)
            contents[os.path.basename(rel)] = data
        tar = root / "blob.tar"
        packed = archive_directory(src, tar)
        scanned = [
            i for b in get_file_offsets_batch_generator(tar, output_format="objects") for i in b
        ]
        assert scanned == packed
        assert [(i.name, i.offset_start, i.offset_end) for i in packed] == tarfile_offsets(tar)
        blob = tar.read_bytes()
        assert {i.name: blob[i.offset_start : i.offset_end] for i in packed} == contents
        with BlobReader(tar) as reader:
            assert reader.verify() == len(contents)
            assert {name: reader[name] for name in reader} == contents
    finally:
        shutil.rmtree(root)
