"""My data: everything the wallet and the ledger hold about the citizen as one JSON document, and
the deletion of her account.

Deletion, after an explicit confirmation, in the order that leaves nothing readable whatever step
fails (each step can be repeated, so a retry finishes the job):
1. the ledger erases the citizen (`ConsentLedger.erase_citizen`: record contents, receipts, events
   and salts deleted; tombstones keep the verifiers' status lists answering INVALID, and the log's
   leaves, which without the salts link to nobody, keep the audit green);
2. her history and inbox rows are deleted;
3. the vault is crypto-shredded: her data key is destroyed first, so every sealed credential and
   holder key is unreadable even before its row is deleted.
What the agencies and the services keep (the issuer's record of what it issued, a verifier's
decision under its stated retention) is theirs, not the wallet's, and is not touched here.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from consent.service import ConsentLedger
from vc.sd_jwt_vc import ISSUED_IN_CLEAR
from wallet.consents import WalletConsents
from wallet.history import History
from wallet.inbox import Inbox
from wallet.vault import Vault

EXPORT_FORMAT = "seoul-wallet-export/1"
SEOUL = ZoneInfo("Asia/Seoul")
CONFIRMATION = "DELETE"  # what the citizen types (or the app sends) to confirm


def export_filename(document: dict[str, Any]) -> str:
    """seoul-wallet-YYYY-MM-DD.json, on the citizen's (Seoul's) calendar day."""
    day = dt.datetime.fromtimestamp(document["exported_at"], SEOUL).date().isoformat()
    return f"seoul-wallet-{day}.json"


@dataclass(frozen=True)
class Erased:
    consents: int
    history: int
    inbox: int
    credentials: int


class MyData:
    def __init__(
        self,
        vault: Vault,
        ledger: ConsentLedger,
        consents: WalletConsents,
        history: History,
        inbox: Inbox,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.vault = vault
        self.ledger = ledger
        self.consents = consents
        self.history = history
        self.inbox = inbox
        self.clock = clock

    def _credentials(self, citizen_id: str) -> list[dict[str, Any]]:
        out = []
        for stored in self.vault.list(citizen_id):
            opened = self.vault.open(citizen_id, stored.id)
            out.append(
                {
                    "id": stored.id,
                    "issuer": stored.issuer,
                    "vct": stored.vct,
                    "configuration_id": stored.configuration_id,
                    "display": stored.display,
                    "status": stored.status,
                    "issued_at": stored.issued_at,
                    "expires_at": stored.expires_at,
                    "received_at": stored.received_at,
                    "claims": {k: v for k, v in opened.claims.items() if k not in ISSUED_IN_CLEAR},
                    "registered_claims": {k: v for k, v in opened.claims.items() if k in ISSUED_IN_CLEAR},
                    # As issued, so another wallet can import it (without the holder key: a key
                    # leaves the wallet never, and the credential is bound to it).
                    "sd_jwt": opened.sd_jwt,
                }
            )
        return out

    def export(self, citizen_id: str) -> dict[str, Any]:
        """Everything, decoded: credentials with their claims, consents with history and receipts,
        history and inbox."""
        return {
            "format": EXPORT_FORMAT,
            "exported_at": int(self.clock()),
            "citizen": citizen_id,
            "credentials": self._credentials(citizen_id),
            "consents": self.consents.export(citizen_id),
            "history": self.history.export(citizen_id),
            "inbox": self.inbox.export(citizen_id),
        }

    def erase(self, citizen_id: str) -> Erased:
        """Delete the citizen's account and everything the wallet and the ledger hold of her."""
        consents = self.ledger.erase_citizen(f"citizen:{citizen_id}")
        history = self.history.erase(citizen_id)
        inbox = self.inbox.erase(citizen_id)
        credentials = self.vault.erase(citizen_id)
        return Erased(consents=consents, history=history, inbox=inbox, credentials=credentials)
