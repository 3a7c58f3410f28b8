"""Wake-ups for desk streams: this process committed something, look for new orders.

A desk that polls its queue costs a request per poll, and with a hundred reports arriving
at once the polls were two thirds of the API's work. A desk stream (``GET
/api/desk/stream``) instead waits on an :class:`OrderFeed` and reads its queue only when
a write of this process has committed, or after ``desk_stream_poll_seconds`` at the latest
(so orders written by another process, a CLI or a second API worker still arrive).

Wake-ups are counted in ``generation``, bumped on the event loop's thread only: a stream
notes the generation before it reads and :meth:`OrderFeed.wait` returns at once if it has
moved since, so a commit landing between the read and the wait is never missed.
"""

from __future__ import annotations

import asyncio
import contextlib


class OrderFeed:
    """Commit notifications from any thread to the streams on one event loop."""

    def __init__(self) -> None:
        self.generation = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Future[None]] = set()

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Deliver wake-ups to ``loop`` (the API's, set in its lifespan; None detaches)."""
        self._loop = loop

    def notify(self) -> None:
        """A write committed (call from any thread; cheap when nobody listens)."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self.generation += 1
        waiters, self._waiters = self._waiters, set()
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def wait(self, since: int, timeout: float) -> bool:
        """Until the generation moves past ``since`` or ``timeout`` seconds pass; True if it moved."""
        if self.generation != since:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(future)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return False
        finally:
            self._waiters.discard(future)
        return True
