"""The citizen's inbox (skeleton, filled in by the inbox work)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.engine import Engine


class Inbox:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
