"""``api.annotation``: bulk upload and download of annotation JSON."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from blobflow import _json
from blobflow._errors import AnnotationError, InputError
from blobflow._files import batched, read_files
from blobflow._geometry import annotation_problem, to_pixel, to_subpixel
from blobflow.api._errors import ApiError, NotFoundError
from blobflow.api._models import AnnotationInfo, annotation_info
from blobflow.api._progress import Progress, ProgressCallback

if TYPE_CHECKING:
    from blobflow.api._api import Api

__all__ = ["AnnotationApi"]


def _refuse_invalid(
    anns: Sequence[Any], img_ids: Sequence[Any], sources: Sequence[str | os.PathLike[str]] | None
) -> None:
    """:class:`AnnotationError` naming the first annotation the platform would refuse, and why
    (the meta checks are the project layer's, ``blobflow.project._check``)."""
    for n, ann in enumerate(anns):
        problem = annotation_problem(ann, None)
        if problem is not None:
            where = (os.fspath(sources[n]) if sources is not None
                     else f"annotation {n} (image {img_ids[n]})")
            raise AnnotationError(f"{where}: {problem}")


class AnnotationApi:
    def __init__(self, api: Api) -> None:
        self._api = api

    async def _dataset_of(self, image_id: int) -> int:
        info = await self._api.image.get_info_by_id(image_id, force_metadata_for_links=False)
        if info is None or info.dataset_id is None:
            raise NotFoundError(404, f"image {image_id} not found", "images.info")
        return info.dataset_id

    async def upload_jsons(
        self,
        img_ids: Sequence[int],
        anns: Sequence[dict[str, Any]] | Sequence[_json.Encoded],
        progress_cb: ProgressCallback = None,
        skip_bounds_validation: bool = False,
        dataset_id: int | None = None,
        *,
        convert_coordinates: bool = True,
        sources: Sequence[str | os.PathLike[str]] | None = None,
        checked: bool = False,
    ) -> None:
        """``annotations.bulk.add`` in batches of 50 (concurrently). The dataset is learned from
        the first image (``images.info``, as the SDK) unless ``dataset_id`` is given.

        Geometry goes from the pixel system of ``ann/*.json`` to the platform's subpixel one,
        as the SDK converts it (see :mod:`blobflow._geometry`); ``convert_coordinates=False``
        sends it as is (``quick_import``: the SDK's sends it unconverted too). Every annotation
        is checked first; one the platform would refuse is refused, naming it (its
        file from ``sources``, else its index and image id) before anything is sent
        (:class:`~blobflow.AnnotationError`); ``checked=True``: the caller checked them all
        already (``upload_project`` and ``quick_import`` check every file first). Annotations
        already encoded (``_json.Encoded``, the bytes of checked files) go as they are: only
        with ``checked=True`` and ``convert_coordinates=False``.
        """
        if len(img_ids) != len(anns):
            raise ValueError("img_ids and anns differ in length")
        if not img_ids:
            return
        if isinstance(anns[0], _json.Encoded) and (convert_coordinates or not checked):
            raise ValueError("encoded annotations go only checked and unconverted")
        if not checked:
            _refuse_invalid(anns, img_ids, sources)
        if convert_coordinates:
            anns = [to_subpixel(a) for a in anns]  # type: ignore[arg-type]  # dicts: see above
        if dataset_id is None:
            dataset_id = await self._dataset_of(img_ids[0])
        progress = Progress(progress_cb)
        size = self._api.config.annotation_batch

        async def one(start: int) -> None:
            pairs = zip(img_ids[start : start + size], anns[start : start + size], strict=False)
            body = {
                "datasetId": dataset_id,
                "annotations": [{"imageId": i, "annotation": a} for i, a in pairs],
                "skipBoundsValidation": skip_bounds_validation,
            }
            await self._api.post("annotations.bulk.add", body)
            progress.advance(min(size, len(img_ids) - start))

        await self._api.gather_limited(one(s) for s in range(0, len(img_ids), size))

    async def upload_paths(
        self,
        img_ids: Sequence[int],
        ann_paths: Sequence[str | os.PathLike[str]],
        progress_cb: ProgressCallback = None,
        dataset_id: int | None = None,
    ) -> None:
        """Read annotation files (batched executor reads) and upload them."""
        if len(img_ids) != len(ann_paths):
            raise ValueError("img_ids and ann_paths differ in length")
        anns: list[dict[str, Any]] = []
        for path, raw in zip(ann_paths, await read_files(ann_paths), strict=False):
            try:
                anns.append(_json.loads(raw))
            except ValueError as exc:
                raise InputError(f"{path}: not valid annotation JSON: {exc}") from exc
        await self.upload_jsons(img_ids, anns, progress_cb, dataset_id=dataset_id,
                                sources=ann_paths)

    async def download(
        self, image_id: int, with_custom_data: bool = False, force_metadata_for_links: bool = True
    ) -> AnnotationInfo:
        body = {
            "imageId": image_id,
            "withCustomBigData": with_custom_data,
            "forceMetadataForLinks": force_metadata_for_links,
            "integerCoords": False,
        }
        answer = await self._api.post("annotations.info", body)
        to_pixel(answer["annotation"])  # as the SDK: the platform's subpixel -> pixel
        return annotation_info(answer)

    async def download_batch(
        self,
        dataset_id: int,
        image_ids: Sequence[int],
        progress_cb: ProgressCallback = None,
        force_metadata_for_links: bool = True,
    ) -> list[AnnotationInfo]:
        """``annotations.bulk.info`` 50 ids a call (concurrently); in the order of ``image_ids``.
        A requested id missing from the answers raises ApiError (the SDK raises KeyError).
        """
        progress = Progress(progress_cb)

        async def one(chunk: list[int]) -> list[AnnotationInfo]:
            body = {
                "datasetId": dataset_id,
                "imageIds": chunk,
                "withCustomBigData": False,
                "forceMetadataForLinks": force_metadata_for_links,
                "integerCoords": False,
            }
            rows = await self._api.post("annotations.bulk.info", body)
            progress.advance(len(chunk))
            # as the SDK: the platform's subpixel -> pixel (in place: JSON parsed just now)
            return [annotation_info({**r, "annotation": to_pixel(r["annotation"])})
                    for r in rows or []]

        by_id: dict[int | None, AnnotationInfo] = {}
        for infos in await self._api.gather_limited(
            one(c) for c in batched(image_ids, self._api.config.annotation_batch)
        ):
            by_id.update((a.image_id, a) for a in infos)
        missing = [i for i in image_ids if i not in by_id]
        if missing:
            raise ApiError(200, f"annotations.bulk.info did not return images {missing[:10]}")
        return [by_id[i] for i in image_ids]
