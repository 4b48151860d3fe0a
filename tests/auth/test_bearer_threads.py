"""The bearer check takes no worker thread when the platform keys it needs are cached (issue 15).

A sync dependency runs in the thread pool the synchronous routes share: on application day every
API call queued for a thread just to check its token, behind the very routes it guards. The check
is CPU only once the keys are cached, so it runs on the event loop; only a key read (a key rotated
in by another worker, or the cache expired) goes to a few threads of its own. Each test below fills
the shared pool first: before the change the token checks waited for it and timed out."""

from __future__ import annotations

import concurrent.futures

import anyio
import httpx
from anyio import to_thread
from fastapi import Depends

from auth.tokens import AccessToken

ANSWER_WITHIN = 5.0  # seconds; a check queued behind the full pool never answers


def _run_async(function, *args):
    # On a thread of its own: Playwright's sync API may hold an event loop in this worker's main thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, function, *args).result()


def _app_with_async_route(app, platform):
    require_offer = Depends(platform.bearer.require("credentials:offer"))

    @app.get("/_protected_async")
    async def protected(token: AccessToken = require_offer) -> dict:
        return {"subject": token.subject}

    return app


def _token(platform, scopes: list[str]) -> str:
    return platform.tokens.issue("agency:mois", "c_mois", scopes)


async def _statuses_with_the_shared_pool_full(app, tokens: list[str]) -> list[int]:
    shared = to_thread.current_default_thread_limiter()
    holders = [object() for _ in range(int(shared.total_tokens))]
    for holder in holders:
        shared.acquire_on_behalf_of_nowait(holder)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            statuses = []
            for token in tokens:
                with anyio.fail_after(ANSWER_WITHIN):
                    answer = await client.get("/_protected_async", headers={"Authorization": f"Bearer {token}"})
                statuses.append(answer.status_code)
            return statuses
    finally:
        for holder in holders:
            shared.release_on_behalf_of(holder)


def test_a_token_is_checked_while_every_shared_thread_is_busy(app, platform) -> None:
    app = _app_with_async_route(app, platform)
    good = _token(platform, ["credentials:offer"])
    platform.tokens.validate(good)  # the keys are now cached, as after a worker's first request
    wrong_scope = platform.tokens.issue("verifier:x", "c_x", ["presentations:request"])
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    statuses = _run_async(_statuses_with_the_shared_pool_full, app, [good, wrong_scope, forged, "garbage"])
    assert statuses == [200, 403, 401, 401]


def test_a_key_rotated_in_elsewhere_is_read_on_threads_of_its_own(app, platform) -> None:
    app = _app_with_async_route(app, platform)
    before = _token(platform, ["credentials:offer"])
    platform.tokens.validate(before)  # cached: the set without the next key
    platform.keyring.rotate("platform")  # as another worker would: this one's cache lacks the kid
    after = _token(platform, ["credentials:offer"])
    assert not platform.tokens.validates_without_io(after)
    assert _run_async(_statuses_with_the_shared_pool_full, app, [after, before]) == [200, 200]
    assert platform.tokens.validates_without_io(after)  # read once, then cached
