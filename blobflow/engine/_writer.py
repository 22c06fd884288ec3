"""Where a download's many small files get written: a child process, or an executor thread.

Writing 30,000 annotation files is ~0.8 s of CPU, most of it system calls. In a thread of
the downloading process, each of the ~150,000 calls gives up the GIL and waits to take it back
from the event loop; in a child process the same work runs on another core, unhindered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Mapping
from typing import Protocol

from blobflow import _write_child
from blobflow._config import TransferConfig
from blobflow._errors import BlobflowError
from blobflow._files import safe_member_name
from blobflow._write_child import frame_head, write_files_in

__all__ = ["FileWriter", "ProcessFileWriter", "ThreadFileWriter", "open_file_writer"]

log = logging.getLogger(__name__)
_CHILD = os.path.abspath(_write_child.__file__)


class FileWriter(Protocol):
    async def write(self, folder: str | os.PathLike[str], files: Mapping[str, bytes]) -> None:
        """Write ``files`` (plain name -> bytes) into ``folder`` (created), each atomically."""

    async def aclose(self, *, failed: bool = False) -> None:
        """Finish (``failed``: stop at once)."""


def _checked(files: Mapping[str, bytes]) -> list[tuple[str, bytes]]:
    return [(safe_member_name(name), data) for name, data in files.items()]


class ThreadFileWriter:
    """One batch at a time in an executor thread: concurrent writer threads only fight over
    the GIL (measured slower)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    async def write(self, folder: str | os.PathLike[str], files: Mapping[str, bytes]) -> None:
        checked = _checked(files)
        async with self._lock:
            await asyncio.to_thread(write_files_in, folder, checked)

    async def aclose(self, *, failed: bool = False) -> None:
        return None


class ProcessFileWriter:
    """Frames of files to ``_write_child.py`` in a child process, one answer per frame."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self._lock = asyncio.Lock()
        self._broken = False  # a frame was cut short (cancelled, or the child died)

    @classmethod
    async def start(cls) -> ProcessFileWriter:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", _CHILD,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(proc)

    async def write(self, folder: str | os.PathLike[str], files: Mapping[str, bytes]) -> None:
        checked = _checked(files)
        async with self._lock:
            if self._broken:
                raise BlobflowError("the file writer process is unusable after an earlier error")
            self._broken = True  # until the answer arrives
            reply = await self._exchange(frame_head(folder, checked), checked)
            self._broken = False
        if "ok" in reply:
            return
        if reply.get("errno") is not None:
            raise OSError(reply["errno"], reply.get("error"), reply.get("path"))
        raise BlobflowError(f"the file writer process refused a batch: {reply.get('error')}")

    async def _exchange(
        self, head: list[bytes], files: list[tuple[str, bytes]]
    ) -> dict[str, object]:
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.writelines([*head, *(d for _, d in files)])
            await stdin.drain()
            line = await stdout.readline()
        except (ConnectionError, RuntimeError):  # uvloop: RuntimeError on a closed pipe
            line = b""
        if not line:
            code = await self._proc.wait()
            raise BlobflowError(f"the file writer process exited unexpectedly (code {code})")
        reply = json.loads(line)
        if not isinstance(reply, dict):
            raise BlobflowError(f"the file writer process answered {line!r}")
        return reply

    async def aclose(self, *, failed: bool = False) -> None:
        if self._proc.returncode is None:
            if failed or self._broken:
                self._proc.kill()
            elif self._proc.stdin is not None:
                self._proc.stdin.close()  # the child ends at end of input
        await self._proc.wait()


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


async def open_file_writer(config: TransferConfig) -> FileWriter:
    """A child process when ``config.writer_process`` says so (``None``: with 2+ CPUs), else
    a thread; a child that cannot be started falls back to the thread, with a warning."""
    use_process = config.writer_process
    if use_process is None:
        use_process = _cpus() >= 2
    if use_process and sys.executable:
        try:
            return await ProcessFileWriter.start()
        except (OSError, NotImplementedError) as exc:
            log.warning("file writer process not started (%s): writing in a thread", exc)
    return ThreadFileWriter()
