"""Event loop choice: uvloop when it is installed, the stdlib loop otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["install_uvloop", "new_event_loop", "run", "run_sync"]

T = TypeVar("T")


def _uvloop() -> Any:
    try:
        import uvloop
    except ImportError:  # Windows, or not installed
        return None
    return uvloop


def install_uvloop() -> bool:
    """Make new event loops uvloop loops; True when uvloop is available."""
    uvloop = _uvloop()
    if uvloop is None:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def new_event_loop(*, use_uvloop: bool = True) -> asyncio.AbstractEventLoop:
    """A new uvloop loop when available (and wanted), else a stdlib one; not made current."""
    uvloop = _uvloop() if use_uvloop else None
    return uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = True, debug: bool = False) -> T:
    """``asyncio.run(main)`` on uvloop when available (what the CLI entry points use)."""
    uvloop = _uvloop() if use_uvloop else None
    if uvloop is None:
        return asyncio.run(main, debug=debug)
    if hasattr(asyncio, "Runner"):  # Python >= 3.11
        with asyncio.Runner(loop_factory=uvloop.new_event_loop, debug=debug) as runner:
            return runner.run(main)  # type: ignore[no-any-return]
    loop = uvloop.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)  # type: ignore[no-any-return]
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a flow from synchronous code (scripts); refuses inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("inside an event loop: await the *_async flow instead")
    return run(factory())
