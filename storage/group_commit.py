"""Group commit: threads of one process that wait for the same serialised write share one transaction.

Every appending transaction holds the log lock, which every ledger change in every worker waits
for. While one transaction holds it, the grants that arrive in the same process queue here; when
it ends, one of them (the next leader) writes all that queued in one transaction: one lock, one
checkpoint, one statement per table, one commit. A grant never waits for a batch to fill: a batch
is whatever queued while the previous one was written, so a lone grant is written at once, as
before, and the batches grow only as the lock gets busy (issue 15).

Each item gets its own outcome, a result or the exception its write raised; the write function
decides how one item's failure is kept from the others (the grants' writes each alone again).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# A write function: one outcome per item, in order (the result, or the exception for that item).
BatchWrite = Callable[[Sequence[T]], list["R | Exception"]]


class _Slot(Generic[T, R]):
    __slots__ = ("done", "item", "outcome", "wake")

    def __init__(self, item: T) -> None:
        self.item = item
        self.outcome: R | BaseException | None = None
        self.done = False
        self.wake = threading.Event()  # set when the outcome is in, or when this slot is to lead


class GroupCommit(Generic[T, R]):
    """`submit(item, write)` blocks until `item` is written, in a batch of at most `limit` items
    written by whichever submitting thread leads; returns its result or raises its exception."""

    def __init__(self, limit: int = 32) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._queue: list[_Slot[T, R]] = []
        self._writing = False  # a leader is writing; the queue is then never left without one
        self.batches = 0  # batches written and items in them, for tests and benchmarks
        self.items = 0

    @property
    def waiting(self) -> int:
        """Items queued for the next batch (not the one being written)."""
        with self._lock:
            return len(self._queue)

    @property
    def writing(self) -> bool:
        """A batch is being written now."""
        with self._lock:
            return self._writing

    def submit(self, item: T, write: BatchWrite[T, R]) -> R:
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            lead = not self._writing
            self._writing = True
        if not lead:
            slot.wake.wait()
        if not slot.done:  # no leader was writing, or the last one handed over to this slot
            self._lead(write)
        if isinstance(slot.outcome, BaseException):
            raise slot.outcome
        return slot.outcome  # type: ignore[return-value]

    def _lead(self, write: BatchWrite[T, R]) -> None:
        # The leader is the queue's first slot: it joined an empty queue, or was handed the lead.
        with self._lock:
            batch, self._queue = self._queue[: self.limit], self._queue[self.limit :]
        outcomes: Sequence[R | BaseException]
        try:
            outcomes = write([slot.item for slot in batch])
            if len(outcomes) != len(batch):
                raise AssertionError("a batch write must give one outcome per item")
        except BaseException as exc:  # delivered to every waiting thread, none left hanging
            outcomes = [exc] * len(batch)
        for slot, outcome in zip(batch, outcomes, strict=True):
            slot.outcome, slot.done = outcome, True
        with self._lock:
            self.batches += 1
            self.items += len(batch)
            successor = self._queue[0] if self._queue else None
            self._writing = successor is not None
        for slot in batch[1:]:
            slot.wake.set()
        if successor is not None:
            successor.wake.set()  # not done yet: it leads the next batch
