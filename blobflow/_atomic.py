"""Write a file under a temporary name and rename it into place only when complete.

A ground module of its own (stdlib only, no asyncio): the blob format's writers use it, and
``blobflow pack`` must start without loading the async machinery.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["atomic_path"]


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike[str], *, fsync: bool = False) -> Iterator[str]:
    """Yield a temporary path beside ``final_path``; rename it over ``final_path`` on success.

    On any exception the temporary file is removed and ``final_path`` is left untouched, so a
    reader never sees a half-written file under its final name.
    """
    final = os.fspath(final_path)
    directory = os.path.dirname(os.path.abspath(final))
    # Not mkstemp: its 0600 mode would survive the rename; 0666 lets the umask decide, as usual.
    # os.urandom, not secrets.token_hex (the same bytes): ``secrets`` imports hmac and hashlib,
    # 4 ms of ``blobflow pack``'s start-up
    tmp = os.path.join(directory, f".{os.path.basename(final)}.{os.urandom(6).hex()}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        _remove_quietly(tmp)
        raise
