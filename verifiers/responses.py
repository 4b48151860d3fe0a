"""The direct_post response endpoint (OpenID4VP 1.0 §8.2) as the event loop runs it.

Why it is shaped so (issue 14, defect 8): with one worker, 60 simultaneous presentations held all
40 threads of the pool that synchronous routes share, each waiting for the ledger's grant route,
which needed one of those threads; 40 answered 503 after the ledger call's timeout and /healthz
waited ~10 s. Now:
- the endpoint is async; the checks (CPU-bound: signatures, SD-JWT, DCQL, policy) and the short
  database steps run in worker threads of the response path's own limiter (RESPONSE_CAPACITY per
  worker), never in the shared pool, so a burst queues here while every other route keeps its
  threads;
- the ledger call is awaited on the event loop over a keep-alive async client
  (verifiers/consent_http.py): no thread waits for the ledger, so none can wait for itself;
- the ledger's grant route runs in threads of its own (consent/presentations.py), so it can run
  however busy the shared pool is (a wallet or a console calling this server from a synchronous
  route holds those threads).
The call stays HTTP: the ledger is another party, on this server or elsewhere.

The decision and the ledger's `used` event are one outcome: verifiers/acceptance.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from anyio import to_thread
from sqlalchemy.exc import SQLAlchemyError

from storage.reads import read_model
from storage.threads import LoopThreads
from verifiers.acceptance import Acceptance, Acceptances
from verifiers.consent_gateway import ConsentRefused, ConsentUnavailable
from verifiers.errors import VerifierError
from verifiers.models import PresentationRequest
from verifiers.presentation_checks import PresentationChecks, evidence_of
from verifiers.service import REQUEST_BY_STATE, ResponseOutcome, VerifierService

log = logging.getLogger("seoul_wallet.verifiers")

# Responses checked at once per worker. The checks are CPU-bound and the GIL runs one at a time: a
# few threads keep the CPU and the database busy; more would only take the GIL from the event loop
# that answers every other route.
RESPONSE_CAPACITY = 4
RECOVERY_INTERVAL = 5.0  # seconds between rounds of carrying on acceptances left without an owner
# This event loop's limiter for the response path (one per worker; tests run several loops).
response_threads = LoopThreads("verifier_response_threads", RESPONSE_CAPACITY)
T = TypeVar("T")


class PresentationResponses:
    """Wallets' answers to a verifier's requests: checked, then accepted with their consent."""

    def __init__(self, service: VerifierService) -> None:
        self.service = service
        self.checks = PresentationChecks(service)
        self.acceptances = Acceptances(service)

    async def _in_thread(self, step: Callable[..., T], *args: Any) -> T:
        return await to_thread.run_sync(step, *args, limiter=response_threads())

    async def handle_response(self, slug: str, vp_token_raw: str | None, state: str | None) -> ResponseOutcome:
        """Check a direct_post response completely, then accept it with its consent. Every refusal
        is recorded on the request and logged with its reason; nothing is ever decided "eligible"
        unless every check passed. A 503 (the ledger did not answer) may be retried with the same
        response: the retry carries the same acceptance on, and is decided once."""
        acceptance = await self._in_thread(self.begin, slug, vp_token_raw, state)
        return await self.settle(acceptance)

    async def handle_error_response(self, slug: str, state: str | None, error: str) -> None:
        """A wallet's error response (OpenID4VP 1.0 §8.5): see VerifierService.handle_error_response."""
        await self._in_thread(self.service.handle_error_response, slug, state, error)

    def begin(self, slug: str, vp_token_raw: str | None, state: str | None) -> Acceptance:
        """Step 1 (in a worker thread): every check, then the intent and its lease; or, for a
        retry of the response being accepted, its lease. Refusals are recorded and raised."""
        service = self.service
        if not state:
            raise VerifierError("missing_state", "state is required")
        request = read_model(service.engine, PresentationRequest, REQUEST_BY_STATE, {"state": state})
        if request is None or request.verifier != slug:
            raise VerifierError("unknown_state", "no request with this state")
        now = int(time.time())
        if request.status == "accepting":
            # A retry of the response being accepted (after a 503, a lost answer, a crash)
            # carries it on; the checks passed when it was posted, so they are not run again.
            return self.acceptances.resume(request.id, evidence_of(vp_token_raw), now)
        if request.status != "pending":
            raise VerifierError("request_already_answered", "this request has already been answered")
        if now >= request.expires_at:
            raise service.refuse(request, VerifierError("request_expired", "the request has expired", final=True))
        try:
            checked = self.checks.check(request, vp_token_raw, now)
            try:
                return self.acceptances.begin(checked, vp_token_raw, now)
            except VerifierError as exc:
                exc.final = True  # every check passed, the holder's binding to this request included
                raise
        except VerifierError as exc:
            raise service.refuse(request, exc) from None

    async def settle(self, acceptance: Acceptance, *, keep_lease: bool = False) -> ResponseOutcome:
        """Steps 2 and 3 of an acceptance: the ledger call, then complete or roll back. Without an
        answer the acceptance stays (503); its lease is released for the wallet's retry, or kept
        until it runs out (`keep_lease`, the background recovery: a natural back-off)."""
        try:
            record = await self.service.consent.record_presentation_grant(acceptance.grant)
        except ConsentRefused as exc:
            refusal = VerifierError(exc.reason, str(exc), final=True)
            await self._in_thread(self.acceptances.roll_back, acceptance, refusal)
            raise refusal from None
        except ConsentUnavailable as exc:
            await self._no_answer(acceptance, "consent_unavailable", keep_lease)
            raise VerifierError("consent_unavailable", str(exc), status=503, error="temporarily_unavailable") from None
        try:
            return await self._in_thread(self.acceptances.complete, acceptance, record)
        except SQLAlchemyError:
            log.exception("decision not stored", extra={"request_id": acceptance.request_id})
            await self._no_answer(acceptance, "decision_not_stored", keep_lease)
            detail = "the decision could not be stored yet"
            raise VerifierError("decision_not_stored", detail, status=503, error="temporarily_unavailable") from None

    async def _no_answer(self, acceptance: Acceptance, reason: str, keep_lease: bool) -> None:
        log.warning("presentation deferred", extra={"request_id": acceptance.request_id, "reason": reason})
        if not keep_lease:
            try:
                await self._in_thread(self.acceptances.release, acceptance)
            except SQLAlchemyError:  # the lease then runs out by itself
                log.exception("acceptance lease not released", extra={"request_id": acceptance.request_id})

    async def recover(self, now: int | None = None) -> int:
        """Carry on every acceptance no attempt holds (its attempt crashed, or lost the ledger's
        answer and the wallet never retried): complete it or roll it back as the ledger answers.
        Returns how many ended."""
        now = int(time.time()) if now is None else now
        ended = 0
        for acceptance in await self._in_thread(self.acceptances.take_stale, now):
            try:
                await self.settle(acceptance, keep_lease=True)
            except VerifierError as exc:
                if exc.status < 500:  # rolled back, or ended by another attempt meanwhile
                    ended += 1
            else:
                ended += 1
        return ended


async def recover_acceptances(responses: PresentationResponses, interval: float = RECOVERY_INTERVAL) -> None:
    """At startup and every `interval` seconds, until cancelled (started by the app's lifespan)."""
    while True:
        try:
            await responses.recover()
        except Exception:  # a bad row must not stop the worker; it is logged and retried
            log.exception("acceptance recovery error")
        await anyio.sleep(interval)
