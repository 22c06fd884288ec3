"""A private event loop in a background thread, through which synchronous code runs async code.

Like anyio's ``BlockingPortal``: :meth:`Portal.call` hands a coroutine to the portal's loop and
blocks the calling thread until it is done; :meth:`Portal.iterate` turns an async iterator into
a plain one. Because the loop lives in its own thread it does not matter whether the caller
is a script (no loop), Jupyter or an async test (a loop already running in the caller's
thread; it is blocked meanwhile, as by any synchronous call), or another thread.

Objects that hold loop-bound resources (an ``Api``'s aiohttp session) keep using one loop for
their whole life: :func:`portal_for` gives each owner one portal, closed when the owner is
garbage-collected, when :meth:`Portal.close` is called, or at interpreter exit — in each case
after awaiting the owner's clean-up on the loop, so no "Unclosed client session" is left.
:func:`blocking` makes the synchronous twin of an ``async def`` with the same signature.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import inspect
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, ParamSpec, TypeVar, cast

from blobflow._loop import new_event_loop

__all__ = ["Portal", "PortalClosedError", "blocking", "owned_portal", "portal_for"]

T = TypeVar("T")
P = ParamSpec("P")

#: An async clean-up run on the portal's loop before it stops.
Cleanup = Callable[[], Awaitable[object]]

# How long a caller interrupted by Ctrl-C waits for the cancelled work to unwind (it removes
# partial files and closes streams) before the interrupt propagates.
_UNWIND_TIMEOUT = 10.0


class PortalClosedError(RuntimeError):
    """The portal was closed (its owner was closed); nothing more can run on it."""


class Portal:
    """One event loop in one daemon thread, started on first use.

    ``close()`` cancels what still runs, awaits the clean-ups (newest first), shuts down async
    generators and the default executor, and joins the thread. It is idempotent and safe from
    any thread, including the portal's own (then it does not wait).
    """

    def __init__(self, name: str = "blobflow-portal", *, use_uvloop: bool = True) -> None:
        self._name = name
        self._use_uvloop = use_uvloop
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._cleanups: list[Cleanup] = []
        _LIVE.add(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def add_cleanup(self, cleanup: Cleanup) -> None:
        """Await ``cleanup()`` on the loop when the portal closes."""
        self._cleanups.append(cleanup)

    def in_portal_thread(self) -> bool:
        thread = self._thread
        return thread is not None and thread.ident == threading.get_ident()

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise PortalClosedError("this object was closed; create a new one")
            if self._loop is None:
                loop = new_event_loop(use_uvloop=self._use_uvloop)
                thread = threading.Thread(
                    target=self._main, args=(loop,), name=self._name, daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            loop.run_until_complete(self._shutdown(loop))
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    async def _shutdown(self, loop: asyncio.AbstractEventLoop) -> None:
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks(loop) if t is not me]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for cleanup in reversed(self._cleanups):
            try:
                await cleanup()
            except Exception as exc:  # one failed clean-up must not skip the others
                loop.call_exception_handler({"message": "portal clean-up failed", "exception": exc})
        self._cleanups.clear()
        await loop.shutdown_asyncgens()
        with contextlib.suppress(RuntimeError):  # at interpreter exit no thread may start
            await loop.shutdown_default_executor()

    def call(
        self, fn: Callable[P, Coroutine[Any, Any, T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(*args, **kwargs)`` on the portal's loop and return its result.

        Exceptions propagate unchanged. A ``KeyboardInterrupt`` while waiting cancels the work
        and waits (a bounded time) for it to unwind before re-raising.
        """
        loop = self._start()
        if self.in_portal_thread():
            raise RuntimeError(
                "a synchronous blobflow call was made on the thread of its own event loop "
                "(from a callback?): await the async API there instead"
            )
        finished = threading.Event()

        async def guarded() -> T:
            try:
                return await fn(*args, **kwargs)
            finally:
                finished.set()

        future = asyncio.run_coroutine_threadsafe(guarded(), loop)
        try:
            return future.result()
        except BaseException:
            if not future.done():  # interrupted while waiting (Ctrl-C): stop the work first
                future.cancel()
                finished.wait(_UNWIND_TIMEOUT)
            raise

    async def acall(
        self, fn: Callable[P, Coroutine[Any, Any, T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await ``fn(*args, **kwargs)`` run on the portal's loop, from another event loop
        (cancelling the await cancels the work)."""
        loop = self._start()
        if self.in_portal_thread():
            return await fn(*args, **kwargs)
        future = asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), loop)
        return await asyncio.wrap_future(future)

    def iterate(self, aiterator: AsyncIterator[T]) -> Iterator[T]:
        """A plain iterator over ``aiterator``, each step run on the loop.

        Closing the plain iterator early (``break``, garbage collection) closes the async one
        on the loop, so its ``finally`` blocks run there.
        """
        return self._iterate(aiterator)

    def _iterate(self, aiterator: AsyncIterator[T]) -> Iterator[T]:
        done = False
        try:
            while True:
                more, item = self.call(_next, aiterator)
                if not more:
                    done = True
                    return
                yield cast(T, item)
        finally:
            aclose = getattr(aiterator, "aclose", None)
            if not done and aclose is not None and not self._closed:
                if self.in_portal_thread():  # collected on the loop's own thread
                    asyncio.ensure_future(aclose())
                else:
                    self.call(aclose)

    def close(self, timeout: float | None = 30.0) -> None:
        """Stop the loop after cancelling its work and awaiting the clean-ups."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        _LIVE.discard(self)
        if loop is None or thread is None:
            return
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # already closed
            return
        if thread is not threading.current_thread():
            thread.join(timeout)


async def _next(aiterator: AsyncIterator[T]) -> tuple[bool, T | None]:
    # StopAsyncIteration must not cross the thread boundary: a Future cannot carry it well.
    try:
        return True, await aiterator.__anext__()
    except StopAsyncIteration:
        return False, None


_LIVE: weakref.WeakSet[Portal] = weakref.WeakSet()
_OWNED: weakref.WeakKeyDictionary[object, Portal] = weakref.WeakKeyDictionary()
_OWNED_LOCK = threading.Lock()


def portal_for(owner: object, cleanup: Cleanup | None = None) -> Portal:
    """The one portal of ``owner`` (created on first use; a closed one is replaced).

    It closes when ``owner`` is garbage-collected or at exit, awaiting ``cleanup`` first.
    ``cleanup`` must not refer to ``owner`` (that would keep it alive): pass e.g. the bound
    ``aclose`` of a resource the owner holds.
    """
    with _OWNED_LOCK:
        portal = _OWNED.get(owner)
        if portal is None or portal.closed:
            portal = Portal(f"blobflow-portal-{type(owner).__name__}")
            if cleanup is not None:
                portal.add_cleanup(cleanup)
            _OWNED[owner] = portal
            weakref.finalize(owner, portal.close)
        return portal


def owned_portal(owner: object) -> Portal | None:
    """``owner``'s open portal, if it has one (without creating it)."""
    with _OWNED_LOCK:
        portal = _OWNED.get(owner)
    return portal if portal is not None and not portal.closed else None


def blocking(
    fn: Callable[P, Coroutine[Any, Any, T]],
    portal_of: Callable[[Any], Portal],
    owner: str = "api",
) -> Callable[P, T]:
    """The synchronous twin of ``fn``: same parameters, run on the portal of its ``owner``
    argument (``portal_of(value)``), so one object serves any number of calls."""
    signature = inspect.signature(fn)
    if owner not in signature.parameters:
        raise TypeError(f"{fn.__qualname__} has no parameter {owner!r}")

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        value = signature.bind(*args, **kwargs).arguments[owner]
        return portal_of(value).call(fn, *args, **kwargs)

    name = fn.__name__.removesuffix("_async")
    wrapper.__name__ = name
    wrapper.__qualname__ = fn.__qualname__.removesuffix("_async")
    wrapper.__doc__ = (
        f"Synchronous :func:`{fn.__name__}` (same parameters; runs on the private event loop "
        f"of ``{owner}``, so one object serves many calls, in scripts and in notebooks).\n\n"
        + (inspect.getdoc(fn) or "")
    )
    return wrapper


@atexit.register
def _close_all() -> None:
    # Portals not owned (or whose owner outlives the interpreter) close here, after their
    # clean-ups: no loop thread is left holding sockets at exit.
    for portal in list(_LIVE):
        portal.close(timeout=5.0)
