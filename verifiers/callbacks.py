"""Pushing decisions to backends' callback URLs: signed, retried with exponential backoff, logged."""

from __future__ import annotations

import logging
import time

import httpx
from sqlalchemy import update
from sqlmodel import Session, col, select

from outbound.urls import UnsafeURL, checked_url, pinned_request
from verifiers.models import CallbackAttempt, CallbackDelivery
from verifiers.service import VerifierService

log = logging.getLogger("seoul_wallet.verifiers.callbacks")

MAX_ATTEMPTS = 8
BASE_DELAY = 2  # seconds; attempt n waits BASE_DELAY ** n, capped
MAX_DELAY = 3600
LEASE = 60  # a worker owns a delivery for this long while it sends


def backoff(attempts: int) -> int:
    return min(BASE_DELAY**attempts, MAX_DELAY)


def deliver_due(service: VerifierService, http: httpx.Client, now: int | None = None, limit: int = 20) -> int:
    """Attempt every delivery that is due; returns how many were attempted. Safe with many workers:
    each delivery is leased by a conditional update before it is sent."""
    now = int(time.time()) if now is None else now
    with Session(service.engine, expire_on_commit=False) as session:
        due = session.exec(
            select(CallbackDelivery)
            .where(CallbackDelivery.status == "pending", CallbackDelivery.next_attempt_at <= now)
            .order_by(col(CallbackDelivery.next_attempt_at))
            .limit(limit)
        ).all()
    attempted = 0
    for delivery in due:
        with Session(service.engine, expire_on_commit=False) as session:
            leased = session.execute(
                update(CallbackDelivery)
                .where(
                    CallbackDelivery.id == delivery.id,
                    CallbackDelivery.status == "pending",
                    CallbackDelivery.next_attempt_at == delivery.next_attempt_at,
                )
                .values(next_attempt_at=now + LEASE)
            )
            session.commit()
        if leased.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another worker took it
        attempted += 1
        _attempt(service, http, delivery, now)
    return attempted


def _attempt(service: VerifierService, http: httpx.Client, delivery: CallbackDelivery, now: int) -> None:
    status_code: int | None = None
    error: str | None = None
    try:
        # Checked again at send time: a name that resolved to a public address at registration
        # may resolve to a private one now (DNS rebinding).
        url, addresses = checked_url(delivery.url, development=service.settings.development)
        target, host_headers, extensions = pinned_request(url, addresses)
        body = service.signed_callback_body(delivery.request_id)
        response = http.post(
            target,
            content=body,
            headers={"Content-Type": "application/jwt", **host_headers},
            extensions=extensions,
            timeout=10.0,
            follow_redirects=False,
        )
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except UnsafeURL as exc:
        error = f"unsafe URL: {exc}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    attempts = delivery.attempts + 1
    delivered = error is None
    failed = not delivered and (attempts >= MAX_ATTEMPTS or error.startswith("unsafe URL"))
    with Session(service.engine, expire_on_commit=False) as session:
        session.add(CallbackAttempt(delivery_id=delivery.id, attempted_at=now, status_code=status_code, error=error))
        session.execute(
            update(CallbackDelivery)
            .where(CallbackDelivery.id == delivery.id)
            .values(
                attempts=attempts,
                status="delivered" if delivered else "failed" if failed else "pending",
                next_attempt_at=now + backoff(attempts),
            )
        )
        session.commit()
    log.info(
        "callback attempt",
        extra={"request_id": delivery.request_id, "attempt": attempts, "status_code": status_code, "error": error},
    )


def delivery_log(service: VerifierService, request_id: str) -> list[dict]:
    """Every delivery of a request's result with its attempts, oldest first."""
    with Session(service.engine, expire_on_commit=False) as session:
        deliveries = session.exec(
            select(CallbackDelivery).where(CallbackDelivery.request_id == request_id).order_by(col(CallbackDelivery.id))
        ).all()
        out = []
        for delivery in deliveries:
            attempts = session.exec(
                select(CallbackAttempt)
                .where(CallbackAttempt.delivery_id == delivery.id)
                .order_by(col(CallbackAttempt.id))
            ).all()
            out.append(
                {
                    "url": delivery.url,
                    "status": delivery.status,
                    "attempts": [
                        {"at": a.attempted_at, "status_code": a.status_code, "error": a.error} for a in attempts
                    ],
                }
            )
    return out
