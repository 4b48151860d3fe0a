"""Checking a credential's status in its issuer's Token Status List, fetched over HTTP.

Lists are cached for their `ttl` (clamped to sane bounds; `default_ttl` when the token has none)
from the time they were fetched. When a refresh fails, a cached list is still used while it is
younger than `max_staleness` and not past its own `exp`; beyond that the credential is refused
("status unavailable") rather than trusted.

The cache is per worker and bounded (outbound/bounded_cache.py): by lists, and by their decoded
size, since a wallet fetches the lists of any issuer that sends it an offer. An evicted list is
only fetched again. A token with `ttl: 0` is malformed (draft -20 §5.1: a positive number) and
refused by vc/status_list.py, so it never reaches the cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from keys import jws
from keys.jwk import PublicKey
from outbound.bounded_cache import BoundedTTLCache
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
# A real list (2 bits x 131,072 entries, issuers/status_lists.py) decodes to 32 KiB: the defaults
# keep 1,024 of them (32 MiB), about every list of a city's agencies, per worker.
MAX_CACHED_LISTS = 1024
MAX_CACHED_BYTES = 32 * 1024 * 1024


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
class _Cached:
    fetched_at: float
    fresh_until: float  # fetched_at + ttl (or the token's exp, if sooner): used without a fetch until then
    verified: VerifiedStatusList


def _weight(cached: _Cached) -> int:
    # The decoded list and its compressed form in the payload: what the entry keeps alive.
    status_list = cached.verified.status_list
    claim = cached.verified.payload.get("status_list")
    lst = claim.get("lst") if isinstance(claim, dict) else None
    return (len(status_list) * status_list.bits + 7) // 8 + (len(lst) if isinstance(lst, str) else 0)


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
        default_ttl: float = DEFAULT_TTL,
        max_lists: int = MAX_CACHED_LISTS,
        max_bytes: int = MAX_CACHED_BYTES,
    ) -> None:
        if not MIN_TTL <= default_ttl <= MAX_TTL:
            raise ValueError(f"default_ttl must be between {MIN_TTL} and {MAX_TTL} seconds")
        self.clock = clock
        self.http = http
        self.max_staleness = max_staleness
        self.allow_http = allow_http
        self.default_ttl = default_ttl
        # uri -> the list, kept until it can no longer stand in for a failed refresh (max_staleness,
        # or its own exp): the same clock as the ttl, so a test's clock moves both.
        self._cache: BoundedTTLCache[str, _Cached] = BoundedTTLCache(
            max_lists, max_weight=max_bytes, weigh=_weight, clock=clock
        )

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

    def _ttl(self, verified: VerifiedStatusList) -> float:
        ttl = verified.payload.get("ttl")
        if ttl is None:
            return self.default_ttl
        # Clamped as a float: a ttl of 1e400 is a JSON number (infinity) that int() cannot take.
        return min(max(float(ttl), MIN_TTL), MAX_TTL)

    def _list(self, uri: str, key: PublicKey | jws.KeyResolver) -> tuple[float, VerifiedStatusList]:
        now = self.clock()
        cached = self._cache.get(uri)
        if cached is not None and now < cached.fresh_until:
            return cached.fetched_at, cached.verified
        try:
            verified = self._fetch(uri, key, now)
        except (httpx.HTTPError, StatusListError, StatusUnavailable) as exc:
            # The cache keeps an entry only while it may stand in (younger than max_staleness, not
            # past its exp), but the clock moved since `get`: check again.
            stand_in = cached is not None and now - cached.fetched_at <= self.max_staleness
            if cached is not None and stand_in and not _expired(cached.verified, now):
                return cached.fetched_at, cached.verified
            if isinstance(exc, StatusUnavailable):
                raise
            raise StatusUnavailable(f"status list {uri} unavailable: {exc}") from None
        fresh_until = now + self._ttl(verified)
        keep_until = now + self.max_staleness
        exp = verified.payload.get("exp")
        if isinstance(exp, int | float):
            fresh_until, keep_until = min(fresh_until, float(exp)), min(keep_until, float(exp))
        # Kept past its freshness (never past max_staleness or exp) to stand in when a refresh fails.
        self._cache.put(uri, _Cached(now, fresh_until, verified), max(keep_until, fresh_until))
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
