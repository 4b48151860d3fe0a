"""Races between workers: parallel status changes must all land in the list, and parallel PIN
guesses must not get more tries than the limit. Threads share one real database (SQLite or
PostgreSQL) through separate connections, as two workers would."""

from __future__ import annotations

import threading

from issuers.offers import Offers
from issuers.oid4vci import MAX_TX_ATTEMPTS
from tests.issuers.test_oid4vci_errors import make_offer, redeem
from tests.issuers.test_status_rotation_storage import issue, status_of
from vc.status_list import INVALID


def _together(target, arguments) -> list:
    results: list = [None] * len(arguments)
    barrier = threading.Barrier(len(arguments))

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target(*arguments[i])
        except Exception as exc:  # collected: the assertions below say which outcome was expected
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(arguments))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_parallel_revocations_all_reach_the_status_list(client, mois, issuer_context) -> None:
    issued = [issue(client, mois) for _ in range(8)]
    offers = Offers(issuer_context)
    results = _together(offers.change_status, [("mois", offer_id, "revoke") for offer_id, _ in issued])
    assert not [r for r in results if isinstance(r, Exception)], results
    for _, credential in issued:
        status, _, _ = status_of(client, credential)
        assert status == INVALID


def test_parallel_pin_guesses_get_no_more_than_the_limit(client, mois) -> None:
    offer = make_offer(client, mois, tx_code={"length": 4})
    pin = offer["tx_code"]
    wrong = "0000" if pin != "0000" else "1111"
    responses = _together(lambda: redeem(client, offer, tx_code=wrong), [() for _ in range(24)])
    judged = [r for r in responses if "attempt(s) left" in r.json().get("error_description", "")]
    assert 1 <= len(judged) <= MAX_TX_ATTEMPTS
    assert all(r.status_code == 400 and r.json()["error"] == "invalid_grant" for r in responses)
    # Locked now: even the right code is refused.
    final = redeem(client, offer, tx_code=pin)
    assert final.json()["error"] == "invalid_grant" and "locked" in final.json()["error_description"]


def test_deeply_nested_json_is_a_clean_error(client, mois) -> None:
    response = client.post(
        "/issuers/mois/credential",
        content=b"[" * 200_000,
        headers={"Content-Type": "application/json", "Authorization": "Bearer nothing"},
    )
    assert response.status_code in (400, 401)
    assert "error" in response.json()
