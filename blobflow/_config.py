"""Every tuning knob of the client and the transfer engine, in one frozen dataclass
(:class:`TransferConfig`, whose docstring holds the memory bound)."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["TransferConfig"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class TransferConfig:
    """Connection, retry and concurrency settings shared by :class:`blobflow.Api` and the engine.

    Memory bound of the client (s3transfer style; every knob in it is a field below, the
    numbers are the defaults; a parsed annotation is ~5 KiB, an ImageInfo with its request and
    answer ~1.1 KiB; a page is the server's page size, 1,000 on ``blobflow serve``)::

        peak ~= baseline (interpreter + aiohttp, ~60 MiB)
              + download_concurrency * chunk_size                  # blob streams in flight
              + upload_concurrency * chunk_size                    # Team Files uploads
              + (registration_concurrency + queue_depth)           # registration window:
                * (bulk_add_batch * 1.1 KiB                        #   offsets, request, answer
                   + 2 * annotation_upload_chunk * 5 KiB)          #   annotations sent + loading
              + (list_prefetch + 1) * page * 1.1 KiB               # listed pages held
              + pages_in_flight * 2 * min(annotation_download_chunk, page) * 5 KiB
                                                                   # a download's annotations:
                                                                   # written + being fetched
              + max_connections * ~64 KiB                          # socket buffers
        = 60 + 8 + 8 + 5 * (10.7 + 9.8) + 5.4 + 39 + 2 MiB ~= 225 MiB

    A blob packed while it uploads (``images_dir``) adds the packer's 3 chunks of 8 MiB in
    flight. With ``blob_part_images`` (parts) those are in flight while earlier parts register,
    and ``parts_registering`` parts register at once, each with at most
    ceil(blob_part_images / bulk_add_batch) batches (instead of the registration window above)::

        peak ~= 60 MiB + 24 MiB
                + parts_registering * ceil(part / batch)
                  * (min(part, batch) * 1.1 KiB + 2 * annotation_upload_chunk * 5 KiB)
                + 2 MiB
        = 60 + 24 + 2 * (10,000 * 1.1 KiB + 10 MiB) + 2 ~= 128 MiB       (part = 10,000)

    It depends on these knobs, never on the number of images: offsets are read from the pickle
    in batches, registered results stream out batch by batch, a download lists page by page,
    blobs are streamed to disk and images are sliced out of them by a few worker threads
    (``extract_batch`` files per executor call). An upload and a download at once add up;
    one of them alone stays well below the sum.

    Attributes (defaults in brackets):

    * ``max_connections`` [32]: size of the aiohttp connection pool.
    * ``max_connections_per_host`` [16]: pool limit per host (0 = no limit).
    * ``sock_connect_timeout`` [30 s]: time to open one connection.
    * ``sock_read_timeout`` [300 s]: longest idle gap between two reads of a response. There is
      no total timeout, so a multi-GB blob stream is never cut for being long, only for stalling.
    * ``retry_attempts`` [8]: attempts per request, the first included.
    * ``retry_max_total_backoff`` [120 s]: the whole sleep budget of one request; when the next
      sleep would exceed it the request fails with :class:`~blobflow.api.RetryBudgetExceeded`.
    * ``backoff_base`` [0.25 s] / ``backoff_cap`` [20 s]: exponential backoff with full jitter,
      sleep = uniform(0, min(cap, base * 2**attempt)); a ``Retry-After`` header wins when larger.
    * ``registration_concurrency`` [4]: ``images.bulk.add`` requests in flight.
    * ``download_concurrency`` [8]: blob/file downloads in flight.
    * ``upload_concurrency`` [8]: Team Files uploads in flight (a project's blob files).
    * ``request_concurrency`` [16]: small JSON calls in flight (annotations, hashes, pages).
    * ``queue_depth`` [1]: batches read ahead of the registration workers (backpressure).
    * ``list_prefetch`` [4]: list pages requested ahead of the one being consumed.
    * ``chunk_size`` [1 MiB]: read/write unit of streamed bodies.
    * ``bulk_add_batch`` [10,000]: images per ``images.bulk.add`` in the offsets flows (as the SDK).
    * ``extract_batch`` [1,000]: small files written per executor call.
    * ``annotation_upload_chunk`` [1,000]: parsed annotations loaded and sent per step of a
      registered batch (two steps per batch are held: one sent, the next loading).
    * ``annotation_download_chunk`` [2,000]: annotations fetched and written per step of a
      project download (one step written while the next is fetched).
    * ``pages_in_flight`` [4]: listed pages of a project download whose annotations (and
      regular images) are being fetched at once.
    * ``hashes_batch`` [900], ``bulk_upload_batch`` [50], ``annotation_batch`` [50],
      ``bulk_download_batch`` [50]: the SDK's batch sizes of the standard per-image calls.
    * ``pause_gc`` [True]: pause Python's cyclic garbage collector while a bulk call or a
      project flow runs (process-wide, restored after; see ``blobflow._gc``). Its full
      collections cost about a quarter of the client's CPU in a 30,000-image transfer that
      creates almost no cycles.
    * ``blob_part_images`` [10,000]: a blob packed from a folder while it uploads
      (``quick_import`` with ``images_dir``) goes in parts of this many images, each a complete
      tar with its own ``_offsets.pkl``, registered (with its annotations) while the next part
      uploads; None: one blob. 10,000 (one ``images.bulk.add``) was the fastest of None, 5,000
      and 10,000 side by side on loopback and under ``wan`` (docs: Benchmarks).
    * ``parts_registering`` [2]: blob parts registering at once (each with its registration
      window); the next part uploads meanwhile.
    * ``writer_process`` [None]: write a download's annotation files in a child process
      (``True``), in a thread (``False``), or in a child when 2+ CPUs are usable (``None``).
    """

    max_connections: int = 32
    max_connections_per_host: int = 16
    sock_connect_timeout: float = 30.0
    sock_read_timeout: float = 300.0
    retry_attempts: int = 8
    retry_max_total_backoff: float = 120.0
    backoff_base: float = 0.25
    backoff_cap: float = 20.0
    registration_concurrency: int = 4
    download_concurrency: int = 8
    upload_concurrency: int = 8
    request_concurrency: int = 16
    queue_depth: int = 1
    list_prefetch: int = 4
    chunk_size: int = 1 * MiB
    bulk_add_batch: int = 10_000
    extract_batch: int = 1_000
    annotation_upload_chunk: int = 1_000
    annotation_download_chunk: int = 2_000
    pages_in_flight: int = 4
    hashes_batch: int = 900
    bulk_upload_batch: int = 50
    annotation_batch: int = 50
    bulk_download_batch: int = 50
    pause_gc: bool = True
    writer_process: bool | None = None
    blob_part_images: int | None = 10_000
    parts_registering: int = 2

    def __post_init__(self) -> None:
        for name in (
            "max_connections",
            "retry_attempts",
            "registration_concurrency",
            "download_concurrency",
            "upload_concurrency",
            "request_concurrency",
            "queue_depth",
            "list_prefetch",
            "chunk_size",
            "bulk_add_batch",
            "extract_batch",
            "annotation_upload_chunk",
            "annotation_download_chunk",
            "pages_in_flight",
            "parts_registering",
            "hashes_batch",
            "bulk_upload_batch",
            "annotation_batch",
            "bulk_download_batch",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"TransferConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("sock_connect_timeout", "sock_read_timeout", "backoff_cap"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TransferConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.blob_part_images is not None and self.blob_part_images < 1:
            raise ValueError(
                f"TransferConfig.blob_part_images must be >= 1 or None, got {self.blob_part_images}"
            )
        if self.backoff_base < 0 or self.retry_max_total_backoff < 0:
            raise ValueError("TransferConfig backoff values must be >= 0")

    def with_(self, **changes: object) -> TransferConfig:
        """A copy with some knobs changed (``cfg.with_(retry_attempts=3)``)."""
        return replace(self, **changes)  # type: ignore[arg-type]
