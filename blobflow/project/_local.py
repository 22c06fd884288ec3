"""Local projects in the Supervisely layout, with ``blob/`` folders.

The layout the SDK reads and writes::

    <project>/meta.json
    <project>/blob/<stem>.tar                 blob archives shared by the datasets
    <project>/<ds>/<stem>_offsets.pkl         this dataset's images inside blob/<stem>.tar
    <project>/<ds>/img/<name>                 regular images
    <project>/<ds>/ann/<name>.json            one annotation per image
    <project>/<ds>/img_info/<name>.json       optional ImageInfo dumps
    <project>/<ds>/meta/<name>.json           optional per-image meta
    <project>/<ds>/datasets/<child>/...       nested datasets

Everything here is synchronous file I/O: async flows call it through an executor.
"""

from __future__ import annotations

import enum
import io
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from blobflow import _json
from blobflow._files import read_file, safe_member_name, write_named_files
from blobflow._media import SUPPORTED_IMG_EXTS, is_image_name
from blobflow.blob import (
    BLOB_DIR_NAME,
    OFFSETS_PKL_SUFFIX,
    BlobImageInfo,
    BlobReader,
    blob_tar_path,
)
from blobflow.project._errors import DuplicateNameError, ProjectError

__all__ = [
    "SUPPORTED_IMG_EXTS",
    "Dataset",
    "OpenMode",
    "Project",
    "empty_annotation",
    "find_project_dir",
]

_DATASETS_DIR = "datasets"
# Folder names that are parts of a dataset, never datasets themselves (as in the SDK).
_RESERVED_DIRS = frozenset({"img", "ann", "img_info", "seg", "meta", _DATASETS_DIR, BLOB_DIR_NAME})
_META_JSON = "meta.json"


class OpenMode(enum.Enum):
    """How to open a local project or dataset."""

    READ = 1
    CREATE = 2  # the folder must be missing or empty
    UPDATE = 3  # open an existing project for writing, or create it (re-runs, resumed downloads)




def json_bytes(obj: Any, *, indent: int | None = None) -> bytes:
    # Annotations are written compact (orjson): indenting them took 4 of the 9 seconds of
    # downloading 30,000 annotations. ``meta.json`` keeps the SDK's indentation.
    if indent is None:
        return _json.dumps(obj)
    return json.dumps(obj, indent=indent, ensure_ascii=False).encode("utf-8")


def parse_json(raw: bytes, path: str | os.PathLike[str]) -> Any:
    """``raw`` (the bytes of ``path``) as JSON; a ProjectError naming the file if it is not."""
    try:
        return _json.loads(raw)
    except ValueError as exc:
        raise ProjectError(f"{path}: not valid JSON ({exc})") from exc


def read_json(path: str | os.PathLike[str]) -> Any:
    """A local JSON file; a ProjectError naming it if it is not valid JSON."""
    with open(path, "rb") as fh:
        return parse_json(fh.read(), path)


def parse_annotation(raw: bytes, path: str | os.PathLike[str]) -> dict[str, Any]:
    """``raw`` (the bytes of ``path``) as an annotation; a ProjectError naming the file if it
    is not a JSON object."""
    ann = parse_json(raw, path)
    if not isinstance(ann, dict):
        raise ProjectError(f"{path}: an annotation must be a JSON object")
    return ann


def read_annotation(path: str | os.PathLike[str]) -> dict[str, Any]:
    """An annotation file; a ProjectError naming it if it is not a JSON object."""
    return parse_annotation(read_file(path), path)


def empty_annotation(image: bytes | None = None) -> dict[str, Any]:
    """An annotation with no objects; its size is read from the image header when given."""
    height: int | None = None
    width: int | None = None
    if image is not None:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(image)) as im:
                width, height = im.size
        except Exception:  # not decodable: leave the size unknown, as the server fills it
            pass
    return {
        "description": "",
        "size": {"height": height, "width": width},
        "tags": [],
        "objects": [],
        "customBigData": {},
    }


def _split_dataset_path(directory: Path) -> tuple[Path, list[str]]:
    """``<project>/a/datasets/b`` -> (``<project>``, ["a", "b"])."""
    chain = [directory.name]
    cur = directory.parent
    while cur.name == _DATASETS_DIR and cur.parent != cur:
        chain.insert(0, cur.parent.name)
        cur = cur.parent.parent
    return cur, chain


class Dataset:
    """One dataset folder: regular images in ``img/``, blob images through ``*_offsets.pkl``.

    Blob images are indexed once when the dataset is opened (name -> blob, byte range), so
    ``get_blob_img_bytes`` is O(1) per image; the tar is read through a cached
    :class:`~blobflow.blob.BlobReader`.
    """

    item_dir_name = "img"
    ann_dir_name = "ann"
    item_info_dir_name = "img_info"
    meta_dir_name = "meta"
    datasets_dir_name = _DATASETS_DIR
    blob_dir_name = BLOB_DIR_NAME

    def __init__(
        self,
        directory: str | os.PathLike[str],
        mode: OpenMode = OpenMode.READ,
        *,
        project_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._directory = Path(directory)
        guessed_project, chain = _split_dataset_path(self._directory)
        self._project_dir = Path(project_dir) if project_dir is not None else guessed_project
        self._name = "/".join(chain)
        self._parents = chain[:-1]
        self._img_names: list[str] = []
        self._img_set: set[str] = set()
        self._ann_files: set[str] = set()
        #: files in ``img/`` that are not images (by extension): never uploaded
        self.skipped_names: list[str] = []
        # Blob index: name -> (index into _blob_stems, offset_start, offset_end).
        self._blob_stems: list[str] = []
        self._blob: dict[str, tuple[int, int, int]] = {}
        self._readers: dict[str, BlobReader] = {}
        self._repeats: set[str] = set()  # blob stems whose pickle lists an entry twice
        if mode is OpenMode.READ:
            self._read()
        elif mode is OpenMode.CREATE:
            self._create()
        elif self._directory.is_dir():
            self._read()
        else:
            self._create()

    # --- paths and names ------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def project_dir(self) -> Path:
        return self._project_dir

    @property
    def name(self) -> str:
        """Full name including parents, ``parent/child``."""
        return self._name

    @property
    def short_name(self) -> str:
        return self._directory.name

    @property
    def parents(self) -> list[str]:
        return list(self._parents)

    @property
    def img_dir(self) -> Path:
        return self._directory / self.item_dir_name

    @property
    def ann_dir(self) -> Path:
        return self._directory / self.ann_dir_name

    @property
    def img_info_dir(self) -> Path:
        return self._directory / self.item_info_dir_name

    @property
    def meta_dir(self) -> Path:
        return self._directory / self.meta_dir_name

    @property
    def blob_offsets(self) -> list[Path]:
        """The ``*_offsets.pkl`` files of this dataset."""
        return [self._directory / f"{stem}{OFFSETS_PKL_SUFFIX}" for stem in self._blob_stems]

    def blob_tar_path(self, stem: str) -> Path:
        return blob_tar_path(self._project_dir / BLOB_DIR_NAME, stem)

    # --- reading --------------------------------------------------------------------------
    def _read(self) -> None:
        if not self._directory.is_dir():
            raise ProjectError(f"dataset folder not found: {self._directory}")
        if self.img_dir.is_dir():
            files = sorted(e.name for e in os.scandir(self.img_dir) if e.is_file())
            self._img_names = [n for n in files if is_image_name(n)]
            self._img_set = set(self._img_names)
            self.skipped_names = [n for n in files if n not in self._img_set]
        if self.ann_dir.is_dir():
            self._ann_files = {
                e.name for e in os.scandir(self.ann_dir) if e.is_file() and e.name.endswith(".json")
            }
        pkls = sorted(
            e.name
            for e in os.scandir(self._directory)
            if e.is_file() and e.name.endswith(OFFSETS_PKL_SUFFIX)
        )
        for pkl in pkls:
            self._index_offsets(pkl[: -len(OFFSETS_PKL_SUFFIX)], self._directory / pkl)
        clash = self._img_set.intersection(self._blob)
        if clash:
            name = sorted(clash)[0]
            raise DuplicateNameError(
                f"dataset {self._name!r}: image {name!r} is both in img/ and in a blob "
                f"({len(clash)} such names)"
            )

    def _index_offsets(self, stem: str, pkl: Path) -> None:
        if stem not in self._blob_stems:
            self._blob_stems.append(stem)
        idx = self._blob_stems.index(stem)
        for batch in BlobImageInfo.load_from_pickle_generator(str(pkl)):
            for info in batch:
                entry = (idx, info.offset_start, info.offset_end)
                old = self._blob.setdefault(info.name, entry)
                # The SDK appends offsets on every re-download: identical repeats are harmless.
                if old is not entry and old == entry:
                    self._repeats.add(stem)
                elif old != entry:
                    raise DuplicateNameError(
                        f"dataset {self._name!r}: image {info.name!r} appears twice with "
                        f"different data (in {pkl.name}"
                        + (
                            f" and {self._blob_stems[old[0]]}{OFFSETS_PKL_SUFFIX})"
                            if old[0] != idx
                            else ")"
                        )
                    )

    def get_items_names(self) -> list[str]:
        """Regular images first, then blob images in offsets order."""
        return self._img_names + list(self._blob)

    def __len__(self) -> int:
        return len(self._img_names) + len(self._blob)

    def __iter__(self) -> Iterator[str]:
        return iter(self.get_items_names())

    def __contains__(self, name: object) -> bool:
        return name in self._blob or name in self._img_set

    def item_exists(self, name: str) -> bool:
        return name in self

    def is_blob_item(self, name: str) -> bool:
        return name in self._blob

    def has_repeats(self, stem: str) -> bool:
        """Whether ``<stem>_offsets.pkl`` lists some image twice (the SDK's append quirk)."""
        return stem in self._repeats

    @property
    def regular_names(self) -> list[str]:
        """Names of the images in ``img/``."""
        return list(self._img_names)

    @property
    def regular_set(self) -> frozenset[str]:
        return frozenset(self._img_set)

    def blob_items(self) -> dict[str, list[BlobImageInfo]]:
        """Blob images grouped by blob stem, in offsets order."""
        out: dict[str, list[BlobImageInfo]] = {stem: [] for stem in self._blob_stems}
        for name, (idx, start, end) in self._blob.items():
            out[self._blob_stems[idx]].append(BlobImageInfo(name, start, end))
        return out

    def get_img_path(self, name: str) -> Path:
        return self.img_dir / name

    def get_ann_path(self, name: str) -> Path | None:
        """``ann/<name>.json``, or the legacy ``ann/<stem>.json``; None when there is none."""
        for candidate in (f"{name}.json", f"{os.path.splitext(name)[0]}.json"):
            if candidate in self._ann_files:
                return self.ann_dir / candidate
        return None

    def get_ann(self, name: str) -> dict[str, Any] | None:
        """The annotation JSON of an image as a dict, or None if it has no annotation file."""
        if name not in self:
            raise ProjectError(f"dataset {self._name!r} has no image {name!r}")
        path = self.get_ann_path(name)
        if path is None:
            return None
        return read_annotation(path)

    def get_image_info(self, name: str) -> dict[str, Any] | None:
        path = self.img_info_dir / f"{name}.json"
        return read_json(path) if path.is_file() else None

    def get_image_meta(self, name: str) -> dict[str, Any]:
        """``meta/<name>.json`` merged over the ``img_info`` meta, as the SDK uploads it."""
        meta: dict[str, Any] = {}
        info = self.get_image_info(name)
        if info and isinstance(info.get("meta"), dict):
            meta.update(info["meta"])
        path = self.meta_dir / f"{name}.json"
        if path.is_file():
            meta.update(read_json(path))
        return meta

    def get_blob_info(self, name: str) -> tuple[str, BlobImageInfo] | None:
        """(blob stem, offsets) of a blob image, or None if the name is not a blob image."""
        entry = self._blob.get(name)
        if entry is None:
            return None
        idx, start, end = entry
        return self._blob_stems[idx], BlobImageInfo(name, start, end)

    def _reader(self, stem: str) -> BlobReader:
        reader = self._readers.get(stem)
        if reader is None:
            tar = self.blob_tar_path(stem)
            if not tar.is_file():
                raise ProjectError(
                    f"dataset {self._name!r}: blob {tar} not found "
                    f"(referenced by {stem}{OFFSETS_PKL_SUFFIX})"
                )
            infos = self.blob_items()[stem]
            reader = BlobReader(tar, infos)
            self._readers[stem] = reader
        return reader

    def get_blob_img_bytes(self, name: str) -> bytes | None:
        """The bytes of a blob image; None if the name is not a blob image (as the SDK)."""
        found = self.get_blob_info(name)
        if found is None:
            return None
        return self._reader(found[0]).get_bytes(name)

    def get_blob_img_np(self, name: str) -> npt.NDArray[np.uint8] | None:
        """A blob image decoded to an HxWxC uint8 array; None if not a blob image."""
        found = self.get_blob_info(name)
        if found is None:
            return None
        return self._reader(found[0]).get_np(name)

    def get_img_bytes(self, name: str) -> bytes:
        """The bytes of any image of the dataset, regular or blob."""
        data = self.get_blob_img_bytes(name)
        if data is not None:
            return data
        path = self.img_dir / name
        if name not in self._img_set:
            raise ProjectError(f"dataset {self._name!r} has no image {name!r}")
        return path.read_bytes()

    def close(self) -> None:
        readers, self._readers = self._readers, {}
        for reader in readers.values():
            reader.close()

    # --- writing --------------------------------------------------------------------------
    def _create(self) -> None:
        self.ann_dir.mkdir(parents=True, exist_ok=True)
        self.img_dir.mkdir(parents=True, exist_ok=True)

    def _register_ann(self, name: str) -> None:
        self._ann_files.add(f"{name}.json")

    def set_ann_dict(self, name: str, ann: Mapping[str, Any]) -> None:
        self.write_anns({name: ann})

    def write_anns(self, anns: Mapping[str, Mapping[str, Any]]) -> None:
        """Write many annotations in one call (``ann/<name>.json``)."""
        write_named_files(self.ann_dir, {f"{n}.json": json_bytes(a) for n, a in anns.items()})
        for name in anns:
            self._register_ann(name)

    def write_image_infos(self, infos: Mapping[str, Mapping[str, Any]]) -> None:
        write_named_files(self.img_info_dir, {f"{n}.json": json_bytes(i) for n, i in infos.items()})

    def write_images(self, images: Mapping[str, bytes]) -> None:
        """Write many regular images into ``img/`` in one call."""
        write_named_files(self.img_dir, images)
        for name in images:
            if name not in self._img_set and is_image_name(name):
                self._img_set.add(name)
                self._img_names.append(name)

    def add_item_bytes(self, name: str, data: bytes, ann: Mapping[str, Any] | None = None) -> None:
        """Add a regular image; without an annotation an empty one is written (SDK rule)."""
        if not is_image_name(name):
            raise ProjectError(f"{name!r}: unsupported image extension")
        if name in self._blob:
            raise DuplicateNameError(f"dataset {self._name!r} already has blob image {name!r}")
        self.write_images({name: data})
        self.write_anns({name: ann if ann is not None else empty_annotation(data)})

    def add_item_file(
        self, name: str, path: str | os.PathLike[str], ann: Mapping[str, Any] | None = None
    ) -> None:
        self.add_item_bytes(name, Path(path).read_bytes(), ann)

    def add_blob_offsets(self, blob_name: str, infos: Iterable[BlobImageInfo]) -> Path:
        """Record this dataset's images inside ``blob/<blob_name>``: writes ``<stem>_offsets.pkl``.

        The file is rewritten whole (never appended), so a re-run cannot duplicate entries.
        """
        stem = Path(blob_name).stem if blob_name.endswith(".tar") else blob_name
        items = list(infos)
        clash = self._img_set.intersection(i.name for i in items)
        if clash:
            raise DuplicateNameError(
                f"dataset {self._name!r}: {sorted(clash)[0]!r} is already a regular image"
            )
        pkl = self._directory / f"{stem}{OFFSETS_PKL_SUFFIX}"
        self._directory.mkdir(parents=True, exist_ok=True)
        BlobImageInfo.dump_to_pickle(items, str(pkl))
        # Re-index this blob from scratch: the pickle replaced any previous one.
        if stem in self._blob_stems:
            idx = self._blob_stems.index(stem)
            self._blob = {n: e for n, e in self._blob.items() if e[0] != idx}
            self._repeats.discard(stem)
            old = self._readers.pop(stem, None)
            if old is not None:
                old.close()
        self._index_offsets(stem, pkl)
        return pkl

    def __repr__(self) -> str:
        return f"Dataset({str(self._directory)!r}, name={self._name!r}, items={len(self)})"


class Project:
    """A local project folder: ``meta.json``, datasets (nested too) and a ``blob/`` folder."""

    blob_dir_name = BLOB_DIR_NAME

    def __init__(self, directory: str | os.PathLike[str], mode: OpenMode = OpenMode.READ):
        self._directory = Path(directory)
        if not self._directory.name:
            raise ProjectError(f"cannot tell the project name from {directory!r}")
        self._meta: dict[str, Any] = {}
        self._datasets: dict[str, Dataset] = {}
        self._blob_files: list[str] = []
        meta_path = self._directory / _META_JSON
        if mode is OpenMode.READ or (mode is OpenMode.UPDATE and meta_path.is_file()):
            self._read()
        else:
            self._create(must_be_empty=mode is OpenMode.CREATE)

    def _read(self) -> None:
        if not self._directory.is_dir():
            raise ProjectError(f"project folder not found: {self._directory}")
        meta_path = self._directory / _META_JSON
        if not meta_path.is_file():
            raise ProjectError(f"{self._directory} is not a project: {_META_JSON} is missing")
        meta = read_json(meta_path)
        if not isinstance(meta, dict):
            raise ProjectError(f"{meta_path}: the project meta must be a JSON object")
        self._meta = meta
        if self.blob_dir.is_dir():
            self._blob_files = sorted(e.name for e in os.scandir(self.blob_dir) if e.is_file())
        self._read_datasets(self._directory)

    def _read_datasets(self, parent: Path) -> None:
        for entry in sorted(os.scandir(parent), key=lambda e: e.name):
            if not entry.is_dir() or entry.name in _RESERVED_DIRS or entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if _looks_like_dataset(path):
                ds = Dataset(path, OpenMode.READ, project_dir=self._directory)
                self._datasets[ds.name] = ds
            if (path / _DATASETS_DIR).is_dir():
                self._read_datasets(path / _DATASETS_DIR)

    def _create(self, *, must_be_empty: bool) -> None:
        if must_be_empty and self._directory.is_dir() and any(self._directory.iterdir()):
            raise ProjectError(f"cannot create a project in {self._directory}: not empty")
        self._directory.mkdir(parents=True, exist_ok=True)
        self.set_meta({"classes": [], "tags": []})

    # --- properties -----------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def name(self) -> str:
        return self._directory.name

    @property
    def meta(self) -> dict[str, Any]:
        """The project meta (``meta.json``) as a JSON dict."""
        return self._meta

    @property
    def blob_dir(self) -> Path:
        return self._directory / BLOB_DIR_NAME

    @property
    def blob_files(self) -> list[str]:
        """File names in ``blob/``."""
        return list(self._blob_files)

    @property
    def datasets(self) -> list[Dataset]:
        """Datasets, parents before children."""
        return list(self._datasets.values())

    def skipped_names(self) -> list[str]:
        """``<dataset>/img/<name>`` of every file in an ``img/`` that is not an image."""
        return [f"{ds.name}/img/{n}" for ds in self._datasets.values() for n in ds.skipped_names]

    @property
    def total_items(self) -> int:
        return sum(len(ds) for ds in self._datasets.values())

    def __iter__(self) -> Iterator[Dataset]:
        return iter(self.datasets)

    def get_dataset(self, name: str) -> Dataset:
        try:
            return self._datasets[name]
        except KeyError:
            raise ProjectError(f"project {self.name!r} has no dataset {name!r}") from None

    # --- writing --------------------------------------------------------------------------
    def set_meta(self, meta: Mapping[str, Any]) -> None:
        self._meta = dict(meta)
        write_named_files(self._directory, {_META_JSON: json_bytes(self._meta, indent=4)})

    def create_dataset(self, name: str, parent: str | Dataset | None = None) -> Dataset:
        """Create (or reopen) dataset ``name``, nested as ``<parent>/datasets/<name>``."""
        safe_member_name(name)
        if name in _RESERVED_DIRS:
            raise ProjectError(f"{name!r} is a reserved folder name and cannot be a dataset")
        if parent is None:
            path = self._directory / name
            full = name
        else:
            pds = parent if isinstance(parent, Dataset) else self.get_dataset(parent)
            path = pds.directory / _DATASETS_DIR / name
            full = f"{pds.name}/{name}"
        existing = self._datasets.get(full)
        if existing is not None:
            return existing
        ds = Dataset(path, OpenMode.UPDATE, project_dir=self._directory)
        self._datasets[full] = ds
        return ds

    def add_blob_file(self, src: str | os.PathLike[str], *, move: bool = False) -> Path:
        """Place a tar in ``blob/`` (copied, or moved, via a temp name) and register it.

        A file already inside ``blob/`` is only registered.
        """
        src_path = Path(src)
        if not src_path.is_file():
            raise ProjectError(f"blob file not found: {src_path}")
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        dst = self.blob_dir / src_path.name
        if not (dst.exists() and os.path.samefile(src_path, dst)):
            tmp = self.blob_dir / f".{src_path.name}.part"
            try:
                if move:
                    shutil.move(str(src_path), tmp)
                else:
                    shutil.copyfile(src_path, tmp)
                os.replace(tmp, dst)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        if dst.name not in self._blob_files:
            self._blob_files.append(dst.name)
            self._blob_files.sort()
        return dst

    def close(self) -> None:
        for ds in self._datasets.values():
            ds.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Project({str(self._directory)!r}, datasets={len(self._datasets)})"


def _looks_like_dataset(path: Path) -> bool:
    if any((path / sub).is_dir() for sub in ("ann", "img", _DATASETS_DIR)):
        return True
    return any(e.is_file() and e.name.endswith(OFFSETS_PKL_SUFFIX) for e in os.scandir(path))


def find_project_dir(directory: str | os.PathLike[str]) -> Path:
    """The project folder at or below ``directory`` (exactly one must hold a ``meta.json``)."""
    root = Path(directory)
    if not root.is_dir():
        raise ProjectError(f"folder not found: {root}")
    if (root / _META_JSON).is_file():
        return root
    found = sorted({p.parent for p in root.rglob(_META_JSON)})
    if len(found) > 1:
        shown = ", ".join(str(p) for p in found[:3])
        raise ProjectError(f"{root} holds {len(found)} projects ({shown}...): pick one")
    if not found:
        raise ProjectError(f"{root} holds no project (no {_META_JSON})")
    return found[0]
