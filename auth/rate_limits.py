"""Rate limits on what a stranger can guess or flood: client secrets at the token endpoint, PINs of
credential offers, passwords at the sign-in form, and request creation. Built on the `limits`
library's fixed-window strategy over a storage every worker shares (Redis, or the database:
auth/rate_limit_storage.py), so two workers never give a caller twice the budget.

The composition root binds the limits and the caller's address to each request
(`bind_caller`); the code that knows what an attempt means asks `current_caller()`, so a party
counts what only it can tell (a wrong PIN, a wrong password) without learning where the counters
live. Outside a request (the CLI, a service used directly) there is no caller and nothing is
limited.

Counter keys hold a keyed hash of what they count (an address, a typed platform id, a client id),
never the value itself: the counters are no record of who tried what, and a key is short however
long the input.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter

log = logging.getLogger("seoul_wallet.rate_limits")

# The rules, by what each counts. "Failures" rules count only wrong answers (a wrong PIN or
# password), so honest use never spends them; the others count every request.
TOKEN_CLIENT = "token_client"  # every POST /oauth/token naming this client id
TOKEN_ADDRESS = "token_address"  # every POST /oauth/token from this address
PIN_ADDRESS = "pin_address"  # failures: wrong transaction codes from this address (any offer)
SIGNIN_ACCOUNT = "signin_account"  # failures: wrong passwords for this platform id
SIGNIN_ADDRESS = "signin_address"  # failures: wrong passwords, failed sign-in completions from this address
REQUEST_CLIENT = "request_client"  # every POST /verifiers/requests by this OAuth client
RULES = (TOKEN_CLIENT, TOKEN_ADDRESS, PIN_ADDRESS, SIGNIN_ACCOUNT, SIGNIN_ADDRESS, REQUEST_CLIENT)

Check = tuple[str, str | None]  # (rule, what it counts for this request); None: not applicable


def parse_limit(rule: str, text: str) -> RateLimitItem:
    """`text` in the `limits` notation ("30/minute", "5 per 10 seconds") as the item of `rule`."""
    item = parse(text)  # ValueError for text it cannot read
    if item.amount < 1:
        raise ValueError(f"rate limit {rule}: {text!r} allows nothing")
    # The rule's name as the namespace: two rules never share a counter, whatever they count.
    return type(item)(item.amount, item.multiples, namespace=rule)


class TooManyRequests(Exception):
    """A limit is spent: answer 429 with `Retry-After: retry_after` (seconds)."""

    def __init__(self, retry_after: int, rule: str) -> None:
        super().__init__(f"too many attempts; try again in {retry_after} s")
        self.retry_after, self.rule = retry_after, rule


class RateLimits:
    """Named limits over one storage (made with `wrap_exceptions=True`, so that its failures are
    StorageError). `secret` keys the hash of what the counters count."""

    def __init__(self, storage: Storage, rules: Mapping[str, str], secret: bytes) -> None:
        unknown = set(rules) - set(RULES)
        if unknown:
            raise ValueError(f"unknown rate limit rules: {', '.join(sorted(unknown))}")
        self.storage = storage
        self._strategy = FixedWindowRateLimiter(storage)
        self._items = {rule: parse_limit(rule, text) for rule, text in rules.items()}
        self._secret = secret

    def _identifier(self, rule: str, value: str) -> str:
        # surrogatepass: any str a parser let through hashes; it never raises.
        message = f"{rule}\x00{value}".encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def _retry_after(self, item: RateLimitItem, identifier: str) -> int:
        reset = self._strategy.get_window_stats(item, identifier)[0]  # (reset time, remaining)
        return max(1, math.ceil(reset - time.time()))

    def _checks(self, checks: tuple[Check, ...]) -> Iterator[tuple[str, RateLimitItem, str]]:
        for rule, value in checks:
            item = self._items.get(rule)
            if item is not None and value is not None:
                yield rule, item, self._identifier(rule, value)

    def check(self, *checks: Check) -> TooManyRequests | None:
        """The refusal if any of `checks` has nothing left in its window; counts nothing."""
        try:
            for rule, item, identifier in self._checks(checks):
                if not self._strategy.test(item, identifier):
                    return TooManyRequests(self._retry_after(item, identifier), rule)
        except StorageError as exc:
            self._storage_failed(exc)
        return None

    def count(self, *checks: Check) -> TooManyRequests | None:
        """Count one attempt against each of `checks`; the refusal if that went over any of them."""
        refusal = None
        try:
            for rule, item, identifier in self._checks(checks):
                if not self._strategy.hit(item, identifier) and refusal is None:
                    refusal = TooManyRequests(self._retry_after(item, identifier), rule)
        except StorageError as exc:
            self._storage_failed(exc)
        return refusal

    @staticmethod
    def _storage_failed(exc: Exception) -> None:
        # Open, not closed: with its counters unreachable (Redis down), the platform keeps signing
        # people in rather than refusing everyone. What must hold regardless holds in the main
        # database (an offer locks after its wrong PINs; secrets and passwords stay hashed).
        log.warning("rate limit storage unavailable; not limiting", extra={"reason": type(exc).__name__})


@dataclass(frozen=True, slots=True)
class Caller:
    """The rate limits as they apply to the request in progress, whose address is known."""

    limits: RateLimits
    address: str | None

    def check(self, *checks: Check) -> TooManyRequests | None:
        return self.limits.check(*checks)

    def count(self, *checks: Check) -> TooManyRequests | None:
        return self.limits.count(*checks)


_caller: ContextVar[Caller | None] = ContextVar("rate_limit_caller", default=None)


def current_caller() -> Caller | None:
    """The limits of the request in progress; None outside a request (nothing is limited then)."""
    return _caller.get()


@contextmanager
def bind_caller(limits: RateLimits, address: str | None) -> Iterator[Caller]:
    """Within the block (a request), `current_caller()` is this caller. Threads a request's work
    runs in (run_in_threadpool) copy the context, so they see it too."""
    caller = Caller(limits, address)
    token = _caller.set(caller)
    try:
        yield caller
    finally:
        _caller.reset(token)
