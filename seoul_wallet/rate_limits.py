"""Wiring the rate limits (auth/rate_limits.py) into the app: the storage the settings name, the
caller of each request, and the Problem Details answer for routes that raise TooManyRequests.

Storage: Redis when SEOUL_WALLET_REDIS_URL is set, else the platform's database
(auth/rate_limit_storage.py). Both are seen by every worker of every machine that shares them,
so `serve --workers N` gives no caller N times the budget.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from limits.storage import RedisStorage, Storage
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from auth.rate_limits import RULES, RateLimits, TooManyRequests, bind_caller
from keys.master import derive_key
from seoul_wallet.problems import problem_response
from seoul_wallet.settings import Settings

KEY_PURPOSE = "seoul-wallet: rate limit counter keys v1"
REDIS_TIMEOUT = 2.0  # seconds


def rate_limit_storage(settings: Settings, engine: Engine) -> Storage:
    # wrap_exceptions: the storage's own failures arrive as limits' StorageError (auth/rate_limits.py).
    if settings.redis_url:
        # Bounded waits: a Redis that does not answer must not hold requests (they go unlimited).
        return RedisStorage(
            settings.redis_url,
            key_prefix=settings.redis_key_prefix,
            wrap_exceptions=True,
            socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
        )
    from auth.rate_limit_storage import DatabaseStorage

    return DatabaseStorage(engine=engine, wrap_exceptions=True)


def build_rate_limits(settings: Settings, engine: Engine, master_key: bytes) -> RateLimits:
    rules = {rule: getattr(settings, f"rate_limit_{rule}") for rule in RULES}
    return RateLimits(rate_limit_storage(settings, engine), rules, derive_key(master_key, KEY_PURPOSE))


class RateLimitCallerMiddleware:
    """Binds the limits and the caller's address (what uvicorn says it is: behind a proxy it trusts,
    `--proxy-headers` makes that the forwarded client) to each HTTP request."""

    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        with bind_caller(self.limits, client[0] if client else None):
            await self.app(scope, receive, send)


def too_many_requests(exc: TooManyRequests, instance: str | None = None) -> JSONResponse:
    """RFC 6585 §4: 429, with RFC 9110 §10.2.3 Retry-After (seconds), as Problem Details."""
    return problem_response(
        429,
        "Too many requests",
        f"this limit is spent for now; try again in {exc.retry_after} seconds",
        instance=instance,
        headers={"Retry-After": str(exc.retry_after)},
        reason="rate_limited",
    )


def install_rate_limits(app: FastAPI, limits: RateLimits) -> None:
    app.state.rate_limits = limits
    app.add_middleware(RateLimitCallerMiddleware, limits=limits)

    @app.exception_handler(TooManyRequests)
    async def _too_many(request: Request, exc: TooManyRequests) -> JSONResponse:
        return too_many_requests(exc, request.url.path)
