"""Checking a credential's status in its issuer's Token Status List, fetched over HTTP.

Lists are cached for their `ttl` (clamped to sane bounds) from the time they were fetched. When a
refresh fails, a cached list is still used while it is younger than `max_staleness`; beyond that the
credential is refused ("status unavailable") rather than trusted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from keys import jws
from keys.jwk import PublicKey
from outbound.urls import FetchFailed, UnsafeURL, fetch_bounded
from vc.status_list import (
    INVALID,
    SUSPENDED,
    VALID,
    IndexOutOfRange,
    StatusListError,
    VerifiedStatusList,
    verify_status_list_token,
)

MIN_TTL, MAX_TTL = 10, 3600
DEFAULT_TTL = 300
MAX_STATUS_LIST_BYTES = 4 * 1024 * 1024


class StatusCheckFailed(ValueError):
    reason = "status_check_failed"


class CredentialRevoked(StatusCheckFailed):
    reason = "credential_revoked"


class CredentialSuspended(StatusCheckFailed):
    reason = "credential_suspended"


class StatusUnavailable(StatusCheckFailed):
    reason = "status_unavailable"


def _expired(verified: VerifiedStatusList, now: float) -> bool:
    # Status List §8.3: a token past its own `exp` MUST NOT be used, however recently it was fetched.
    exp = verified.payload.get("exp")
    return exp is not None and now >= exp


@dataclass(frozen=True, slots=True)
class StatusCheck:
    uri: str
    index: int
    status: int
    list_fetched_at: int  # unix seconds: when the list this answer comes from was fetched


class StatusListClient:
    def __init__(
        self,
        http: httpx.Client,
        *,
        max_staleness: int = 3600,
        allow_http: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.http = http
        self.max_staleness = max_staleness
        self.allow_http = allow_http
        self._cache: dict[str, tuple[float, float, VerifiedStatusList]] = {}  # uri -> (fetched, expires, list)
        self._lock = threading.Lock()

    def _fetch(self, uri: str, key: PublicKey | jws.KeyResolver, now: float) -> VerifiedStatusList:
        try:
            body = fetch_bounded(
                self.http,
                uri,
                development=self.allow_http,
                max_bytes=MAX_STATUS_LIST_BYTES,
                accept="application/statuslist+jwt",
            )
            token = body.decode("ascii")
        except (UnsafeURL, FetchFailed, UnicodeDecodeError) as exc:
            raise StatusUnavailable(f"status list {uri} unavailable: {exc}") from None
        return verify_status_list_token(token, key, expected_uri=uri, now=int(now))

    def _list(self, uri: str, key: PublicKey | jws.KeyResolver) -> tuple[float, VerifiedStatusList]:
        now = self.clock()
        with self._lock:
            cached = self._cache.get(uri)
        if cached is not None and now < cached[1]:
            return cached[0], cached[2]
        try:
            verified = self._fetch(uri, key, now)
        except (httpx.HTTPError, StatusListError, StatusUnavailable) as exc:
            if cached is not None and now - cached[0] <= self.max_staleness and not _expired(cached[2], now):
                return cached[0], cached[2]
            if isinstance(exc, StatusUnavailable):
                raise
            raise StatusUnavailable(f"status list {uri} unavailable: {exc}") from None
        # Clamped as a float: a ttl of 1e400 is a JSON number (infinity) that int() cannot take.
        ttl = min(max(float(verified.payload.get("ttl", DEFAULT_TTL)), MIN_TTL), MAX_TTL)
        expires = now + ttl
        exp = verified.payload.get("exp")
        if isinstance(exp, int | float):
            expires = min(expires, float(exp))
        with self._lock:
            self._cache[uri] = (now, expires, verified)
        return now, verified

    def check(self, uri: str, index: int, key: PublicKey | jws.KeyResolver) -> StatusCheck:
        """The status at `index`; raises CredentialRevoked / CredentialSuspended / StatusUnavailable."""
        fetched_at, verified = self._list(uri, key)
        try:
            status = verified.status(index)
        except IndexOutOfRange:
            raise StatusUnavailable(f"index {index} is outside the status list") from None
        if status == INVALID:
            raise CredentialRevoked("the credential has been revoked")
        if status == SUSPENDED:
            raise CredentialSuspended("the credential is suspended")
        if status != VALID:
            raise StatusUnavailable(f"unknown status {status}")
        return StatusCheck(uri=uri, index=index, status=status, list_fetched_at=int(fetched_at))
