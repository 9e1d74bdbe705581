"""Running the graphs' async nodes from both graph APIs, and bounding model calls across loops.

* :func:`node`: an ``async def`` node usable from ``invoke``/``stream`` and ``ainvoke``/``astream``
  (LangGraph runs an async node only under its async API). Built on public APIs only: a
  ``Runnable`` with ``invoke`` and ``ainvoke``, the runtime read with ``get_runtime``.
* :class:`Slots`: a semaphore for coroutines on any event loop and thread.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

__all__ = ["Slots", "node", "run_sync"]


class Slots:
    """A semaphore for coroutines on any event loop and thread: bounds model calls in both run modes.

    Sync graph runs execute parallel nodes in threads, each with its own event loop, so an
    ``asyncio.Semaphore`` would not bound them. Waiters park on a future of their own loop (no
    thread is blocked); a released slot passes straight to the oldest waiter.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self._free = n
        self._lock = threading.Lock()
        self._waiters: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = (
            collections.deque()
        )

    async def __aenter__(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            fut: asyncio.Future[None] = loop.create_future()
            entry = (loop, fut)
            self._waiters.append(entry)
        try:
            await fut
        except asyncio.CancelledError:
            with self._lock:
                if entry in self._waiters:
                    self._waiters.remove(entry)  # never granted
            raise  # a slot granted meanwhile is passed on by _grant (the future is cancelled)

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Give a slot back: to the oldest waiter, else to the pool."""
        with self._lock:
            if not self._waiters:
                self._free += 1
                return
            loop, fut = self._waiters.popleft()
        try:
            loop.call_soon_threadsafe(self._grant, fut)
        except RuntimeError:  # that waiter's loop is closed: pass the slot on
            self.release()

    def _grant(self, fut: asyncio.Future[None]) -> None:
        if fut.done():  # cancelled while the slot was on its way
            self.release()
        else:
            fut.set_result(None)


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion from sync code (in a worker thread when a loop is running here)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _runtime(config: Any) -> Any:
    """The LangGraph runtime of the node run that ``config`` belongs to (public ``get_runtime``)."""
    from langchain_core.runnables.config import var_child_runnable_config
    from langgraph.runtime import get_runtime

    if config is None:
        return get_runtime()
    token = var_child_runnable_config.set(config)  # the node's own config, on any Python version
    try:
        return get_runtime()
    finally:
        var_child_runnable_config.reset(token)


def node(afunc: Callable[[Any, Any], Awaitable[Any]]) -> Any:
    """The node ``afunc(state, runtime)`` for both run modes, as a plain ``Runnable``.

    Under ``ainvoke``/``astream`` the coroutine runs on the caller's loop; under ``invoke``/``stream``
    it runs to completion on an event loop of its own (:func:`run_sync`). (A bare Runnable, not a
    ``RunnableLambda``: the graph already traces the node, a second run per call costs ms.)
    """
    from langchain_core.runnables import Runnable, RunnableConfig

    class Node(Runnable[Any, Any]):
        name = getattr(afunc, "__name__", "node")
        __doc__ = afunc.__doc__

        def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
            return run_sync(afunc(input, _runtime(config)))  # type: ignore[arg-type]

        async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
            return await afunc(input, _runtime(config))

    return Node()
