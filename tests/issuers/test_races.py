"""Races between workers: parallel status changes must all land in the list, and parallel PIN
guesses must not get more tries than the limit. Threads share one real database (SQLite or
PostgreSQL) through separate connections, as two workers would."""

from __future__ import annotations

import threading

from sqlalchemy import text

from issuers.offers import Offers
from issuers.oid4vci import MAX_TX_ATTEMPTS
from tests.issuers.spec_wallet import HolderKey
from tests.issuers.test_oid4vci_errors import ISSUER, access_token, body_with, credential, make_offer, nonce, redeem
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
    for _, issued_credential in issued:
        status, _, _ = status_of(client, issued_credential)
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


def test_one_nonce_raced_across_offers_issues_once(client, mois) -> None:
    # The spent nonce is a unique column of the offer it issued: 8 offers racing with one nonce
    # get one credential between them; the other 7 keep their tokens for a fresh nonce.
    holder = HolderKey.generate()
    shared = nonce(client)
    tokens = [access_token(client, mois) for _ in range(8)]
    responses = _together(
        lambda token: credential(client, token, body_with(holder.proof(ISSUER, shared))), [(t,) for t in tokens]
    )
    assert sorted(r.status_code for r in responses) == [200] + [400] * 7
    assert all(r.json()["error"] == "invalid_nonce" for r in responses if r.status_code == 400)
    losers = [t for t, r in zip(tokens, responses, strict=True) if r.status_code == 400]
    retry = credential(client, losers[0], body_with(holder.proof(ISSUER, nonce(client))))
    assert retry.status_code == 200, retry.text


def test_one_access_token_raced_issues_once(client, mois) -> None:
    holder = HolderKey.generate()
    token = access_token(client, mois)
    proofs = [holder.proof(ISSUER, nonce(client)) for _ in range(8)]
    responses = _together(lambda proof: credential(client, token, body_with(proof)), [(p,) for p in proofs])
    assert sorted(r.status_code for r in responses) == [200] + [401] * 7
    assert all(r.json()["error"] == "invalid_token" for r in responses if r.status_code == 401)


def test_one_pre_authorized_code_raced_gives_one_token(client, mois) -> None:
    offer = make_offer(client, mois)
    responses = _together(lambda: redeem(client, offer), [() for _ in range(8)])
    assert sorted(r.status_code for r in responses) == [200] + [400] * 7
    assert all(r.json()["error"] == "invalid_grant" for r in responses if r.status_code == 400)


def test_right_pin_racing_wrong_guesses_ends_consistent(client, mois, platform) -> None:
    # Each answer, the right PIN's included, needs one of the attempts left, taken in the same
    # statement that redeems or locks: whatever the interleaving, the offer ends redeemed or locked,
    # never "offered" with its attempts used up, and never more answers than attempts.
    offer = make_offer(client, mois, tx_code={"length": 4})
    pin = offer["tx_code"]
    wrong = "0000" if pin != "0000" else "1111"
    for _ in range(MAX_TX_ATTEMPTS - 2):
        assert "attempt(s) left" in redeem(client, offer, tx_code=wrong).json()["error_description"]
    responses = _together(lambda code: redeem(client, offer, tx_code=code), [(pin,)] + [(wrong,)] * 11)
    right, guesses = responses[0], responses[1:]
    answered = [r for r in guesses if "attempt(s) left" in r.json().get("error_description", "")]
    with platform.engine.connect() as connection:
        state, attempts = connection.execute(text("SELECT state, tx_attempts FROM issuer_offers")).one()
    assert attempts <= MAX_TX_ATTEMPTS
    if right.status_code == 200:
        assert state == "token_issued" and len(answered) <= 1
    else:
        assert "locked" in right.json()["error_description"]
        assert (state, attempts, len(answered)) == ("locked", MAX_TX_ATTEMPTS, 2)
    assert all(r.status_code == 400 and r.json()["error"] == "invalid_grant" for r in guesses)
