"""Choosing the metadata and bytes backends at start-up, and waiting for them.

The embedded default is SQLite plus files, both in the data dir. ``db_url``
(``postgresql://...``) and ``storage_url`` (``s3://bucket/prefix``) select the scale-out
backends; their drivers are the optional extra ``blobflow[server-scale]`` and are imported only
when asked for, so the embedded server stays light.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from blobflow._errors import BlobflowError
from blobflow.server._context import ServerConfig
from blobflow.server._db import Database, SqliteDatabase
from blobflow.server._errors import Unavailable
from blobflow.server._storage import BlobStore, LocalStorage

__all__ = ["open_backends", "make_database", "make_storage"]

log = logging.getLogger("blobflow.server")


def _missing_extra(what: str, exc: ImportError) -> BlobflowError:
    return BlobflowError(
        f"{what} needs the optional dependencies: pip install 'blobflow[server-scale]' ({exc})"
    )


def make_database(config: ServerConfig) -> Database:
    if config.db_url is None:
        return SqliteDatabase(config.data_dir / "blobflow.sqlite3")
    if not config.db_url.startswith(("postgresql://", "postgres://")):
        raise BlobflowError(f"--db must be a postgresql:// URL, not {config.db_url!r}")
    try:
        from blobflow.server._pg import PgDatabase
    except ImportError as exc:
        raise _missing_extra("--db postgresql://", exc) from None
    return PgDatabase(config.db_url)


def make_storage(config: ServerConfig) -> BlobStore:
    if config.storage_url is None:
        return LocalStorage(config.data_dir)
    if not config.storage_url.startswith("s3://"):
        raise BlobflowError(
            f"--storage must be an s3://bucket/prefix URL, not {config.storage_url!r}"
        )
    try:
        from blobflow.server._s3 import S3Storage
    except ImportError as exc:
        raise _missing_extra("--storage s3://", exc) from None
    return S3Storage(config.storage_url, sweep_grace_s=config.sweep_grace_s)


async def _until_ready(what: str, step: Callable[[], Awaitable[None]], deadline: float) -> None:
    """Run ``step`` until it stops answering :class:`Unavailable`, or the deadline passes."""
    delay = 0.1
    while True:
        try:
            await step()
            return
        except Unavailable as exc:
            if time.monotonic() + delay > deadline:
                raise BlobflowError(f"{what} did not become ready in time: {exc.message}") from None
            log.warning("waiting for %s: %s", what, exc.message)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def open_backends(config: ServerConfig) -> tuple[Database, BlobStore]:
    """Both stores, opened and migrated; waits up to ``config.startup_timeout_s`` for them."""
    deadline = time.monotonic() + config.startup_timeout_s
    db = make_database(config)
    storage = make_storage(config)
    try:
        await _until_ready("the object store", storage.prepare, deadline)
        await _until_ready("the database", db.open, deadline)
    except BaseException:
        await db.close()
        await storage.close()
        raise
    return db, storage
