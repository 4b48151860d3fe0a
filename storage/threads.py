"""Worker threads of their own for one kind of blocking work (database steps, key reads), per
event loop.

A route that blocks on the database in anyio's default thread pool competes with every
synchronous route for it; a step that other requests wait for (a grant, a response's checks, a
key read) gets a few threads of its own instead. An anyio CapacityLimiter belongs to the event
loop that first uses it, and a worker process (or a test) may run several loops one after the
other, so each loop gets its own limiter.
"""

from __future__ import annotations

from anyio import CapacityLimiter
from anyio.lowlevel import RunVar


class LoopThreads:
    """`limiter()`: this event loop's CapacityLimiter of `capacity` threads, named `name`."""

    def __init__(self, name: str, capacity: int) -> None:
        self.capacity = capacity
        self._limiters: RunVar[CapacityLimiter] = RunVar(name)

    def __call__(self) -> CapacityLimiter:
        try:
            return self._limiters.get()
        except LookupError:
            limiter = CapacityLimiter(self.capacity)
            self._limiters.set(limiter)
            return limiter
