"""Services for me (skeleton; being written)."""

from __future__ import annotations

import time
from collections.abc import Callable

from wallet.vault import Vault


class ServicesForMe:
    def __init__(self, vault: Vault, clock: Callable[[], float] = time.time) -> None:
        self.vault = vault
        self.clock = clock

    def eligible_ids(self, citizen_id: str) -> set[str]:
        """The ids of the catalog services the citizen qualifies for now (evaluated locally)."""
        return set()
