"""The background re-check of held credentials' status (Token Status List), and the inbox notices
it raises: a credential revoked, suspended, or valid again once a suspension is lifted.

A credential is due when its status was read longer ago than its list's `ttl` (clamped to
outbound/status_lists.py MIN_TTL..MAX_TTL; a list this process has not fetched yet counts as
MIN_TTL, so the first round learns its ttl; a credential never checked is due). Due credentials are
grouped by (issuer, list URI) and each whole list is fetched ONCE per round, for every citizen
whose credential it holds: the issuer sees a wallet reading its list, never which citizen or which
entry. The list must verify with a key of the credential's own issuer (wallet/status_keys.py, as at
receipt). A list that cannot be fetched or verified changes nothing and is retried next round.

Revoked is final (the wallet stops asking) and an expired credential is no longer checked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import or_, select
from starlette.concurrency import run_in_threadpool

from keys import jws
from outbound.bounded_cache import BoundedTTLCache
from outbound.status_lists import DEFAULT_TTL, MAX_CACHED_LISTS, MAX_STATUS_LIST_BYTES, MAX_TTL, MIN_TTL
from outbound.urls import FetchFailed, UnsafeURL, fetch_bounded
from vc.status_list import INVALID, SUSPENDED, VALID, IndexOutOfRange, StatusListError, VerifiedStatusList
from vc.status_list import verify_status_list_token as verify_token
from wallet.inbox import Inbox
from wallet.models import WalletCredential
from wallet.oid4vci_client import IssuerClient
from wallet.receive_errors import ReceiveError
from wallet.status_keys import status_list_key
from wallet.vault import Vault

log = logging.getLogger("seoul_wallet.wallet")

STATUS_NAMES = {VALID: "valid", INVALID: "revoked", SUSPENDED: "suspended"}
NOTICE_KINDS = {"revoked": "credential_revoked", "suspended": "credential_suspended", "valid": "credential_valid_again"}
DEFAULT_BATCH = 1000
_CREDENTIALS = WalletCredential.__table__


@dataclass(frozen=True, slots=True)
class _Held:
    """A held credential's status reference, as read from the vault (no claim, nothing sealed)."""

    id: str
    citizen_id: str
    issuer: str
    uri: str
    index: int
    status: str
    checked_at: int | None
    vct: str
    configuration_id: str
    display: str


def list_ttl(verified: VerifiedStatusList, now: float) -> float:
    """How long a fetched list answers for: its `ttl` clamped, and never past its own `exp`."""
    # Clamped as a float: a ttl of 1e400 is a JSON number (infinity) that int() cannot take.
    ttl = min(max(float(verified.payload.get("ttl", DEFAULT_TTL)), MIN_TTL), MAX_TTL)
    exp = verified.payload.get("exp")
    if isinstance(exp, int | float):
        ttl = min(ttl, max(float(exp) - now, MIN_TTL))
    return ttl


class StatusRefresher:
    def __init__(
        self,
        vault: Vault,
        inbox: Inbox | None,
        http: httpx.Client,
        development: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.vault = vault
        self.inbox = inbox
        self.http = http
        self.development = development
        self.clock = clock
        self.issuers = IssuerClient(http, development=development)
        # uri -> the ttl its last fetch said. In memory: after a restart each list is read once
        # more, sooner than its ttl, which costs one request per list and tells the issuer nothing.
        # Bounded, and an entry is forgotten after long disuse (lists are keyed by URIs issuers choose).
        self._ttl: BoundedTTLCache[str, float] = BoundedTTLCache(MAX_CACHED_LISTS, clock=clock)
        # uri -> (when to try again, how many failures in a row): a list that cannot be fetched is
        # left alone for a while (doubling, at most MAX_TTL), so credentials on failing lists never
        # fill every batch and starve everyone else's re-checks. In memory, like the ttls.
        self._backoff: BoundedTTLCache[str, tuple[float, int]] = BoundedTTLCache(MAX_CACHED_LISTS, clock=clock)

    # -- which credentials are due --------------------------------------------------------------------

    def _is_due(self, held: _Held, now: float) -> bool:
        retry_at, _ = self._backoff.get(held.uri) or (0.0, 0)
        if now < retry_at:
            return False
        return held.checked_at is None or now - held.checked_at >= (self._ttl.get(held.uri) or MIN_TTL)

    def _failed(self, uri: str, now: float) -> None:
        _, failures = self._backoff.get(uri) or (0.0, 0)
        retry_at = now + min(MIN_TTL * 2**failures, MAX_TTL)
        self._backoff.put(uri, (retry_at, failures + 1), retry_at + 2 * MAX_TTL)  # kept so the doubling goes on

    def due(self, limit: int = DEFAULT_BATCH) -> list[_Held]:
        """Up to `limit` credentials whose status should be read again, least recently checked first."""
        now = self.clock()
        c = _CREDENTIALS.c
        query = (
            select(
                c.id,
                c.citizen_id,
                c.issuer,
                c.status_uri,
                c.status_idx,
                c.status,
                c.status_checked_at,
                c.vct,
                c.configuration_id,
                c.display,
            )
            .where(
                c.status_uri.is_not(None),
                c.status_idx.is_not(None),
                c.status != "revoked",
                or_(c.expires_at.is_(None), c.expires_at > int(now)),
                # No list answers for less than MIN_TTL: anything checked more recently is not due.
                or_(c.status_checked_at.is_(None), c.status_checked_at <= now - MIN_TTL),
            )
            .order_by(c.status_checked_at.asc().nulls_first(), c.id)
        )
        due: list[_Held] = []
        with self.vault.engine.connect() as connection:
            for row in connection.execution_options(yield_per=500).execute(query):
                held = _Held(*row)
                if self._is_due(held, now):
                    due.append(held)
                    if len(due) >= limit:
                        break
        return due

    # -- one round ------------------------------------------------------------------------------------

    def refresh_due(self, limit: int = DEFAULT_BATCH) -> int:
        """Read the status of up to `limit` due credentials, fetching each list once; update the
        vault and announce every change in the citizen's inbox. Returns how many were read."""
        groups: dict[tuple[str, str], list[_Held]] = {}
        for held in self.due(limit):
            groups.setdefault((held.issuer, held.uri), []).append(held)
        keys: dict[str, dict[str, Any] | None] = {}
        refreshed = 0
        for (issuer, uri), credentials in groups.items():
            now = self.clock()
            verified = self._fetch(issuer, uri, keys, now)
            if verified is None:
                self._failed(uri, now)  # unchanged, tried again after a backoff
                continue
            self._backoff.pop(uri)
            self._ttl.put(uri, list_ttl(verified, now), now + 2 * MAX_TTL)  # forgotten after long disuse
            for held in credentials:
                self._apply(held, verified, int(now))
                refreshed += 1
        return refreshed

    def _fetch(
        self, issuer: str, uri: str, keys: dict[str, dict[str, Any] | None], now: float
    ) -> VerifiedStatusList | None:
        """The whole list, verified with the issuer's key; None (logged) when it cannot be had."""
        try:
            if issuer not in keys:
                keys[issuer] = None  # a failure is remembered for this round: one try per issuer
                keys[issuer] = self.issuers.issuer_jwks(issuer)
            jwks = keys[issuer]
            if jwks is None:
                return None
            body = fetch_bounded(
                self.http,
                uri,
                development=self.development,
                max_bytes=MAX_STATUS_LIST_BYTES,
                accept="application/statuslist+jwt",
            )
            return verify_token(body.decode("ascii"), status_list_key(jwks), expected_uri=uri, now=int(now))
        except (ReceiveError, UnsafeURL, FetchFailed, UnicodeDecodeError, StatusListError, jws.JWSError) as exc:
            log.warning("status list not refreshed", extra={"status_uri": uri, "error": f"{type(exc).__name__}: {exc}"})
            return None

    def _apply(self, held: _Held, verified: VerifiedStatusList, checked_at: int) -> None:
        try:
            status = STATUS_NAMES.get(verified.status(held.index))
        except IndexOutOfRange:
            status = None
        if status is None:
            # Outside the list, or an application-specific value: the wallet cannot say what it
            # means, so the status is kept; it counts as read, not to ask again every round.
            log.warning("status not understood", extra={"status_uri": held.uri})
            status = held.status
        self.vault.set_status(held.id, status, checked_at=checked_at)
        if status != held.status:
            self._announce(held, status)

    def _announce(self, held: _Held, status: str) -> None:
        if self.inbox is None:
            return
        kind = NOTICE_KINDS[status]
        # The change from the status read at `checked_at`: two workers seeing the same change name
        # it alike (announced once), a later suspension after a reinstatement is a new event.
        key = f"{kind}:{held.id}" if status == "revoked" else f"{kind}:{held.id}:{held.checked_at or 0}"
        try:
            display = json.loads(held.display)
        except ValueError:
            display = {}
        issuer_display = display.get("issuer") if isinstance(display.get("issuer"), dict) else {}
        credential_display = display.get("credential") if isinstance(display.get("credential"), dict) else {}
        payload = {
            "credential_id": held.id,
            "type": held.configuration_id,
            "vct": held.vct,
            "issuer": held.issuer,
            "issuer_name": issuer_display.get("name", {}),
            "credential_name": credential_display.get("name", {}),
            "status": status,
            "previous_status": held.status,
        }
        self.inbox.add(held.citizen_id, kind, key, payload)


async def run_status_refresher(refresher: StatusRefresher, interval: float, batch: int = DEFAULT_BATCH) -> None:
    """Refresh due statuses every `interval` seconds until cancelled (started by the app's lifespan).
    A full batch means more are due: the next round starts at once."""
    while True:
        refreshed = 0
        try:
            refreshed = await run_in_threadpool(refresher.refresh_due, batch)
        except Exception:  # a bad row or an unreachable database must not stop the worker
            log.exception("status refresher error")
        await asyncio.sleep(0 if refreshed >= batch else interval)
