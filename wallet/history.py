"""The citizen's history: every issuance and presentation (skeleton, filled in by the history work)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.engine import Engine


class History:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
