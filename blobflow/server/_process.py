"""The server in a child process (``python -m blobflow.server``), for crash tests and for
benchmarks that must not share the client's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from blobflow._errors import BlobflowError
from blobflow.server._db import add_tenant, connect, in_transaction

__all__ = ["ServerProcess"]


class ServerProcess:
    """``with ServerProcess() as srv:`` or ``async with ServerProcess() as srv:``.

    The child binds ``port`` (0 = a free one) and reports its address on stdout.
    Fields once started: ``address``, ``token``, ``team_id``, ``workspace_id``, ``data_dir``,
    ``pid``. ``kill()`` sends SIGKILL (crash tests); leaving the block stops it with SIGTERM.
    """

    def __init__(  # noqa: PLR0913 - the server's options, as `blobflow serve`'s
        self,
        data_dir: str | Path | None = None,
        *,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0,
        bandwidth_mbps: float | None = None,
        startup_timeout: float = 30.0,
        db_url: str | None = None,
        storage_url: str | None = None,
    ) -> None:
        self._temp: str | None = None
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.token = token or secrets.token_urlsafe(32)
        self.host = host
        self.port = port
        self.latency_ms = latency_ms
        self.bandwidth_mbps = bandwidth_mbps
        self.startup_timeout = startup_timeout
        self.db_url = db_url
        self.storage_url = storage_url
        self.address = ""
        self.team_id = 0
        self.workspace_id = 0
        self.pid = 0
        self._popen: subprocess.Popen[bytes] | None = None
        self._aproc: asyncio.subprocess.Process | None = None

    def _argv(self) -> list[str]:
        if self.data_dir is None:
            self._temp = tempfile.mkdtemp(prefix="blobflow-server-")
            self.data_dir = Path(self._temp)
        argv = [
            sys.executable, "-m", "blobflow.server", "--json",
            "--host", self.host, "--port", str(self.port),
            "--data-dir", str(self.data_dir), f"--token={self.token}",  # may start with "-"
            "--latency-ms", str(self.latency_ms),
            "--stop-on-stdin-eof",  # our end of its stdin closes when we exit, even on SIGKILL
        ]
        if self.bandwidth_mbps:
            argv += ["--bandwidth-mbps", str(self.bandwidth_mbps)]
        if self.db_url:
            argv += ["--db", self.db_url]
        if self.storage_url:
            argv += ["--storage", self.storage_url]
        return argv

    def _ready(self, line: bytes) -> None:
        try:
            info: dict[str, Any] = json.loads(line)
            self.address = info["address"]
            self.team_id = info["team_id"]
            self.workspace_id = info["workspace_id"]
        except (ValueError, KeyError, TypeError):
            raise BlobflowError(f"blobflow server did not start (said {line[:200]!r})") from None

    # --- sync -----------------------------------------------------------------------------

    def start(self) -> ServerProcess:
        self._popen = subprocess.Popen(
            self._argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.pid = self._popen.pid
        stdout = self._popen.stdout
        assert stdout is not None
        try:
            self._ready(self._readline(stdout))
        except BaseException:
            self.stop()
            raise
        return self

    def _readline(self, stdout: IO[bytes]) -> bytes:
        deadline = time.monotonic() + self.startup_timeout
        buf = b""
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([stdout], [], [], left)[0]:
                raise BlobflowError("blobflow server did not start in time")
            chunk = os.read(stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
        return buf

    def stop(self) -> None:
        if self._popen is not None:
            if self._popen.poll() is None:
                self._popen.terminate()
                try:
                    self._popen.wait(15)
                except subprocess.TimeoutExpired:
                    self._popen.kill()
                    self._popen.wait()
            for pipe in (self._popen.stdin, self._popen.stdout):
                if pipe is not None:
                    pipe.close()
            self._popen = None
        self._remove_temp()

    def _remove_temp(self) -> None:
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- async ----------------------------------------------------------------------------

    async def __aenter__(self) -> ServerProcess:
        loop = asyncio.get_running_loop()
        argv = await loop.run_in_executor(None, self._argv)
        self._aproc = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.pid = self._aproc.pid
        assert self._aproc.stdout is not None
        try:
            line = await asyncio.wait_for(self._aproc.stdout.readline(), self.startup_timeout)
            self._ready(line)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        proc, self._aproc = self._aproc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._remove_temp)

    # --- both -----------------------------------------------------------------------------

    def kill(self) -> None:
        """SIGKILL the server: no clean-up of any kind (crash tests)."""
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        if self._popen is not None:
            self._popen.wait()

    async def add_tenant(self, token: str) -> tuple[int, int]:
        """Register another user for ``token`` (written straight to the child's database);
        returns its ``(team_id, workspace_id)``."""
        return await asyncio.get_running_loop().run_in_executor(None, self.add_tenant_sync, token)

    async def _add_tenant_pg(self, token: str) -> tuple[int, int]:
        from blobflow.server._pg import PgDatabase

        assert self.db_url is not None
        db = PgDatabase(self.db_url, pool_size=1)
        try:
            await db.open()
            tenant = await db.write(add_tenant, token)
        finally:
            await db.close()
        return tenant.team_id, tenant.workspace_id

    def add_tenant_sync(self, token: str) -> tuple[int, int]:
        """:meth:`add_tenant` for synchronous callers."""
        if self.db_url:
            return asyncio.run(self._add_tenant_pg(token))
        assert self.data_dir is not None
        conn = connect(self.data_dir / "blobflow.sqlite3")
        try:
            tenant = in_transaction(add_tenant, conn, token)
        finally:
            conn.close()
        return tenant.team_id, tenant.workspace_id
