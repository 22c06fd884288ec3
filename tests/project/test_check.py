"""The annotation checks a job runs before anything registers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blobflow import AnnotationError
from blobflow.project import ProjectError
from blobflow.project._check import check_image_annotations

META = {"classes": [{"title": "box", "shape": "rectangle"}], "tags": []}
GOOD = {"description": "", "size": {"height": 4, "width": 4}, "tags": [], "objects": []}


def test_each_images_file_is_checked_as_the_names_come(tmp_path: Path) -> None:
    (tmp_path / "a.png.json").write_text(json.dumps(GOOD))
    (tmp_path / "stray.json").write_text("no image has it: never read")
    names = iter(["a.png"])
    assert check_image_annotations(tmp_path, names, META) == 1
    assert next(names, None) is None  # one pass over the names


def test_missing_files_are_named_first_then_counted(tmp_path: Path) -> None:
    (tmp_path / "a.png.json").write_text('{"objects": 1}')  # bad too, but missing comes first
    with pytest.raises(ProjectError) as err:
        check_image_annotations(tmp_path, iter(["a.png", "b.png", "c.png"]), META)
    assert str(err.value) == (
        f"no annotation file for image 'b.png': {tmp_path / 'b.png.json'} (and 1 other problem)"
    )


def test_a_bad_annotation_is_named_with_its_file(tmp_path: Path) -> None:
    bad = {**GOOD, "objects": [{"classTitle": "box", "geometryType": "polygon",
                                "points": {"exterior": [], "interior": []}}]}  # fmt: skip
    (tmp_path / "a.png.json").write_text(json.dumps(GOOD))
    (tmp_path / "b.png.json").write_text(json.dumps(bad))
    with pytest.raises(AnnotationError, match=r"b\.png\.json"):
        check_image_annotations(tmp_path, ["a.png", "b.png"], META)
    lacking = {**GOOD, "objects": [{"classTitle": "cat", "geometryType": "rectangle"}]}
    (tmp_path / "b.png.json").write_text(json.dumps(lacking))
    with pytest.raises(ProjectError, match="lacks classes .*'cat'"):
        check_image_annotations(tmp_path, ["a.png", "b.png"], META)
