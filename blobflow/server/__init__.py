"""The blobflow reference server: a Supervisely-API-compatible storage service.

``blobflow serve`` runs it from the command line; :func:`serve_in_process` runs it inside an
event loop; :class:`ServerProcess` runs it in a child process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blobflow._lazy import attach

if TYPE_CHECKING:
    from blobflow.server._app import (
        create_app,
    )
    from blobflow.server._context import (
        ServerConfig,
    )
    from blobflow.server._embedded import (
        ServerHandle,
        serve_in_process,
    )
    from blobflow.server._main import (
        add_serve_arguments,
        run_serve,
    )
    from blobflow.server._process import (
        ServerProcess,
    )

__all__ = [
    "add_serve_arguments",
    "create_app",
    "run_serve",
    "serve_in_process",
    "ServerConfig",
    "ServerHandle",
    "ServerProcess",
]

if not TYPE_CHECKING:  # each name's module is imported when the name is first read
    __getattr__, __dir__ = attach(
        __name__,
        {
            "blobflow.server._app": (
                "create_app",
            ),
            "blobflow.server._context": (
                "ServerConfig",
            ),
            "blobflow.server._embedded": (
                "ServerHandle",
                "serve_in_process",
            ),
            "blobflow.server._main": (
                "add_serve_arguments",
                "run_serve",
            ),
            "blobflow.server._process": (
                "ServerProcess",
            ),
        },
    )
