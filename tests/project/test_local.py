"""Local projects: reading the SDK's layout, writing one the SDK reads, the blob index."""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blobflow.blob import BlobImageInfo, archive_directory
from blobflow.project import (
    DuplicateNameError,
    OpenMode,
    Project,
    ProjectError,
    create_blob_readme,
    find_project_dir,
)

from ._helpers import SDK_READ_ALL, make_image_folder, png_bytes, run_sdk


def _sources(sdk_fixtures: Path) -> dict[str, bytes]:
    files = (sdk_fixtures / "source-images").rglob("*")
    return {p.name: p.read_bytes() for p in files if p.is_file()}


def test_sdk_fixture_project_reads_back_byte_identical(sdk_fixtures: Path) -> None:
    sources = _sources(sdk_fixtures)
    with Project(sdk_fixtures / "project-blob") as project:
        assert [ds.name for ds in project.datasets] == ["ds0"]
        assert project.blob_files == ["small_images.tar"]
        ds = project.get_dataset("ds0")
        assert sorted(ds.get_items_names()) == sorted(sources)
        for name, data in sources.items():
            assert ds.get_blob_img_bytes(name) == data
            ann = ds.get_ann(name)
            assert ann is not None and ann["objects"][0]["classTitle"] == "car"
            arr = ds.get_blob_img_np(name)
            assert arr is not None and arr.dtype == np.uint8
            assert arr.shape[:2] == (ann["size"]["height"], ann["size"]["width"])
            expected = np.asarray(Image.open(io.BytesIO(data)))
            assert arr.shape[:2] == expected.shape[:2]
        assert ds.get_blob_img_bytes("not-there.png") is None
        assert project.meta["classes"][0]["title"] == "car"


def test_sdk_fixture_blobs_as_projects(sdk_fixtures: Path, tmp_path: Path) -> None:
    """The loose SDK blob files (full and jpg-only offsets) work as project datasets."""
    sources = _sources(sdk_fixtures)
    for variant in ("blob", "blob_jpg_only"):
        root = tmp_path / variant
        ds_dir = root / "ds"
        (ds_dir / "ann").mkdir(parents=True)
        (root / "meta.json").write_text('{"classes": [], "tags": []}')
        (root / "blob").mkdir()
        shutil.copy(sdk_fixtures / "blob" / "small_images.tar", root / "blob")
        shutil.copy(sdk_fixtures / variant / "small_images_offsets.pkl", ds_dir)
        ds = Project(root).get_dataset("ds")
        names = ds.get_items_names()
        expected = {n for n in sources if variant == "blob" or n.endswith(".jpg")}
        assert set(names) == expected
        assert all(ds.get_blob_img_bytes(n) == sources[n] for n in names)
        ds.close()


def _write_project(tmp_path: Path) -> tuple[Path, dict[str, dict[str, bytes]]]:
    """A project with a blob dataset, a nested blob dataset and a regular-image dataset."""
    images_a = make_image_folder(tmp_path / "src_a", 7, "a")
    images_b = make_image_folder(tmp_path / "src_b", 5, "b")
    root = tmp_path / "out" / "proj"
    project = Project(root, OpenMode.CREATE)
    project.set_meta(
        {"classes": [{"title": "car", "shape": "rectangle", "color": "#FF0000"}], "tags": []}
    )
    tar_a = archive_directory(tmp_path / "src_a", tmp_path / "a.tar")
    tar_b = archive_directory(tmp_path / "src_b", tmp_path / "b.tar")
    project.add_blob_file(tmp_path / "a.tar")
    project.add_blob_file(tmp_path / "b.tar", move=True)
    ds_a = project.create_dataset("ds_a")
    ds_a.add_blob_offsets("a.tar", tar_a)
    child = project.create_dataset("child", parent=ds_a)
    child.add_blob_offsets("b", tar_b)
    regular = project.create_dataset("regular")
    plain = {"r_0.png": png_bytes(100), "r_1.png": png_bytes(101, (8, 9))}
    for name, data in plain.items():
        regular.add_item_bytes(name, data)
    box = {
        "classTitle": "car",
        "tags": [],
        "geometryType": "rectangle",
        "points": {"exterior": [[1, 1], [5, 5]], "interior": []},
    }
    ds_a.write_anns(
        {
            n: {
                "description": "",
                "size": {"height": 16, "width": 20},
                "tags": [],
                "objects": [box],
            }
            for n in images_a
        }
    )
    child.write_anns(
        {n: {"size": {"height": 16, "width": 20}, "tags": [], "objects": []} for n in images_b}
    )
    project.close()
    return root, {"ds_a": images_a, "ds_a/child": images_b, "regular": plain}


def test_written_project_round_trip(tmp_path: Path) -> None:
    root, expected = _write_project(tmp_path)
    assert not (tmp_path / "b.tar").exists()  # moved
    with Project(root) as project:
        assert [d.name for d in project.datasets] == ["ds_a", "ds_a/child", "regular"]
        assert project.get_dataset("ds_a/child").parents == ["ds_a"]
        for ds_name, images in expected.items():
            ds = project.get_dataset(ds_name)
            assert sorted(ds.get_items_names()) == sorted(images)
            for name, data in images.items():
                assert ds.get_img_bytes(name) == data
                assert ds.get_ann(name) is not None
        reg = project.get_dataset("regular").get_ann("r_1.png")
        assert reg is not None and reg["size"] == {"height": 9, "width": 8}
        assert project.total_items == 14


@pytest.mark.sdk
def test_sdk_reads_a_project_blobflow_wrote(tmp_path: Path) -> None:
    root, expected = _write_project(tmp_path)
    got = run_sdk(SDK_READ_ALL, str(root))
    want = {
        ds: {n: hashlib.sha256(d).hexdigest() for n, d in images.items()}
        for ds, images in expected.items()
    }
    assert got == want


def test_blob_index_is_built_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, expected = _write_project(tmp_path)
    with Project(root) as project:
        ds = project.get_dataset("ds_a")

        def no_rescan(*args: object, **kwargs: object) -> None:
            raise AssertionError("offsets re-read on a lookup")

        monkeypatch.setattr(BlobImageInfo, "load_from_pickle_generator", no_rescan)
        for name, data in expected["ds_a"].items():
            assert ds.get_blob_img_bytes(name) == data


def test_identical_repeats_are_merged_conflicts_are_errors(tmp_path: Path) -> None:
    root, expected = _write_project(tmp_path)
    pkl = root / "ds_a" / "a_offsets.pkl"
    infos = [b for batch in BlobImageInfo.load_from_pickle_generator(str(pkl)) for b in batch]
    # The SDK appends on re-download: the same entries twice in one file.
    with open(pkl, "ab") as fh:
        fh.write(pkl.read_bytes())
    ds = Project(root).get_dataset("ds_a")
    assert sorted(ds.get_items_names()) == sorted(expected["ds_a"])
    ds.close()
    # The same name pointing at other bytes is a clear error naming it.
    bad = [BlobImageInfo(infos[0].name, infos[1].offset_start, infos[1].offset_end)]
    BlobImageInfo.dump_to_pickle(bad, str(root / "ds_a" / "b_offsets.pkl"))
    with pytest.raises(DuplicateNameError, match=infos[0].name):
        Project(root)


def test_name_both_in_img_and_blob_is_an_error(tmp_path: Path) -> None:
    root, expected = _write_project(tmp_path)
    name = next(iter(expected["ds_a"]))
    (root / "ds_a" / "img" / name).write_bytes(b"x")
    with pytest.raises(DuplicateNameError, match="ds_a"):
        Project(root)


def test_missing_things_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="not found"):
        Project(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProjectError, match="meta.json"):
        Project(tmp_path / "empty")
    root, expected = _write_project(tmp_path)
    (root / "blob" / "a.tar").unlink()
    with Project(root) as project, pytest.raises(ProjectError, match="a.tar"):
        project.get_dataset("ds_a").get_blob_img_bytes(next(iter(expected["ds_a"])))
    with pytest.raises(ProjectError, match="not empty"):
        Project(root, OpenMode.CREATE)


def test_find_project_dir(tmp_path: Path) -> None:
    root, _ = _write_project(tmp_path)
    assert find_project_dir(root) == root
    assert find_project_dir(tmp_path / "out") == root
    with pytest.raises(ProjectError, match="no project"):
        find_project_dir(tmp_path / "src_a")


def test_rewriting_offsets_replaces_them(tmp_path: Path) -> None:
    root, expected = _write_project(tmp_path)
    with Project(root, OpenMode.UPDATE) as project:
        ds = project.get_dataset("ds_a")
        infos = ds.blob_items()["a"]
        ds.add_blob_offsets("a.tar", infos[:3])
        assert len(ds) == 3
    with Project(root) as project:
        assert len(project.get_dataset("ds_a")) == 3


def test_blob_readme(tmp_path: Path) -> None:
    root, _ = _write_project(tmp_path)
    with Project(root) as project:
        path = create_blob_readme(
            project,
            {"id": 7, "name": "proj", "items_count": 14, "custom_data": {}},
            {"ds_a": {"description": "first", "custom_data": {"k": 1}}, "regular": {}},
        )
    text = path.read_text()
    assert "a.tar" in text and "a_offsets.pkl" in text and "[child](ds_a/datasets/child)" in text
    assert '"description": "first"' in text and "**Items count:** 14" in text
    assert "regular" in text
