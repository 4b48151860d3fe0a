"""What every crash scenario needs: load running in threads while the server is killed, the
ledger's audit over its public endpoints, and the consent events counted per record."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from auth.clients import register_client
from consent.audit import HttpSource, audit


def bearer(base_url: str, engine: Engine, subject: str, scopes: list[str]) -> dict[str, str]:
    """Headers with a token from the server's own token endpoint (client credentials grant)."""
    creds = register_client(engine, subject, scopes)
    response = httpx.post(
        f"{base_url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": " ".join(scopes)},
        auth=(creds.client_id, creds.client_secret),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def run_while_killing(
    workers: list[Callable[[], None]], moment: float | Callable[[], None], kill: Callable[[], None]
) -> list[BaseException]:
    """Start `workers` (each a loop that stops on its own or when its calls fail), SIGKILL the server
    at `moment` (seconds after the start, or when a callable waiting for a point of the work returns),
    and wait for the workers; returns what they raised other than transport errors."""
    failures: list[BaseException] = []

    def guarded(work: Callable[[], None]) -> None:
        try:
            work()
        except httpx.TransportError:
            pass  # the server died under the request
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(work,), daemon=True) for work in workers]
    for thread in threads:
        thread.start()
    if callable(moment):
        moment()
    else:
        time.sleep(moment)
    kill()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a load thread did not stop after the kill"
    return failures


def wait_until(condition: Callable[[], bool], within: float = 120, every: float = 0.005) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the work never reached its crash point"
        time.sleep(every)


def audit_ledger(base_url: str, state: Path) -> int:
    """Audit the whole consent log from its public endpoints; the state file carries the last
    checkpoint this auditor saw, so a later audit also proves the log only grew. Returns its size."""
    with httpx.Client(timeout=60) as http:
        return audit(HttpSource(http, base_url), state_path=state).tree_size


def events_by_record(engine: Engine, verifier_id: str) -> dict[str, Counter[str]]:
    """Every consent record of `verifier_id` with the count of each of its event types."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT r.id, e.type FROM consent_records r LEFT JOIN consent_events e ON e.record_id = r.id "
                "WHERE r.verifier_id = :v"
            ),
            {"v": verifier_id},
        ).all()
    counted: dict[str, Counter[str]] = {}
    for record_id, event_type in rows:
        counted.setdefault(record_id, Counter())
        if event_type is not None:
            counted[record_id][event_type] += 1
    return counted


def links_by_request(engine: Engine, verifier_id: str) -> dict[str, str]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT request_id, record_id FROM consent_presentation_links WHERE verifier_id = :v"),
            {"v": verifier_id},
        ).all()
    return dict(rows)


def assert_log_holds_every_event(engine: Engine) -> None:
    """One leaf per consent event, none skipped, none shared: an event is never logged twice nor lost
    from the log while its row stays."""
    with engine.connect() as connection:
        size = connection.execute(text("SELECT tree_size FROM consent_log_head")).scalar() or 0
        leaves = connection.execute(text("SELECT count(*) FROM consent_log_leaves")).scalar()
        indexes = list(connection.execute(text("SELECT leaf_index FROM consent_events ORDER BY 1")).scalars())
    assert leaves == size
    assert indexes == list(range(size)), "an event without its own leaf, or a leaf without its event"


def post_until_served(call: Callable[[], httpx.Response], attempts: int = 30) -> httpx.Response:
    """What a client does after the crash: retry while the server is busy with the same request."""
    for _ in range(attempts):
        response = call()
        if response.status_code != 409 or "retry-after" not in response.headers:
            return response
        time.sleep(float(response.headers["retry-after"]))
    return response


def json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
