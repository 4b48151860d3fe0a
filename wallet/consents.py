"""My consents: every consent of the citizen from the ledger (skeleton, filled in by the consents work)."""

from __future__ import annotations

import httpx

from consent.service import ConsentLedger


class WalletConsents:
    def __init__(self, ledger: ConsentLedger, http: httpx.Client, public_url: str, *, development: bool) -> None:
        self.ledger = ledger
        self.http = http
        self.public_url = public_url.rstrip("/")
        self.development = development
