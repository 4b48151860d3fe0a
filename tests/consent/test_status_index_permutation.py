"""A verifier's consent status list indexes are a keyed permutation (issue 14 defect 15), as the
agencies' credential indexes are: consecutive consents are not neighbours, so an index tells a
verifier neither the order nor the pace in which citizens consented. Indexes stay unique and in the
list, statuses read as before, and indexes handed out in order before stay where they are."""

from __future__ import annotations

import itertools

from sqlalchemy import text

from consent.status_indexes import BLOCK
from keys.jwk import load_public_jwk
from vc.status_list import INVALID, VALID, verify_status_list_token

from .conftest import make_record

VERIFIER = "verifier:youth-allowance"


def _status(ledger, index: int, verifier: str = VERIFIER) -> int:
    """What a verifier reads at `index` in the ledger's signed status list token."""
    keys = ledger.jwks()["keys"]
    public = load_public_jwk({k: keys[0][k] for k in ("kty", "crv", "x")})
    verified = verify_status_list_token(
        ledger.status_list_token(verifier),
        public,
        expected_uri=ledger.status_list_uri(verifier),
        now=int(ledger.clock()),
    )
    return verified.status(index)


def _request(ledger, n: int, verifier: str = VERIFIER) -> tuple[str, int]:
    citizen = f"citizen:person-{n:04d}"
    record_id = ledger.request(make_record(citizen=citizen, recipient=verifier))
    return record_id, ledger.get_for_citizen(record_id, citizen).status_index


def test_consecutive_consents_get_unpredictable_unique_indexes_within_the_list(ledger) -> None:
    allocated = [_request(ledger, n) for n in range(48)]
    indexes = [index for _, index in allocated]
    assert len(set(indexes)) == len(indexes), "two consents share a status index"
    assert all(0 <= index < BLOCK for index in indexes)
    # Not handed out in order: consecutive consents are not neighbours, and the order is not kept.
    assert sum(abs(a - b) <= 8 for a, b in itertools.pairwise(indexes)) < 3
    assert indexes != sorted(indexes)
    # Each verifier's list has its own permutation: the same position says nothing across lists.
    other = [_request(ledger, 100 + n, "verifier:transport-subsidy")[1] for n in range(8)]
    assert other != indexes[:8]
    # Statuses read as before at each record's own index.
    granted, withdrawn = allocated[0][0], allocated[1][0]
    ledger.grant(granted)
    ledger.grant(withdrawn)
    ledger.withdraw(withdrawn, "citizen:person-0001")
    assert _status(ledger, indexes[0]) == VALID
    assert _status(ledger, indexes[1]) == INVALID
    assert _status(ledger, indexes[2]) == INVALID  # requested, never granted


def test_indexes_handed_out_in_order_before_stay_and_new_ones_start_above_them(ledger, platform) -> None:
    # A database from before the permutation: consents at 0, 1, 2 and no allocation row yet.
    old = [_request(ledger, n) for n in range(3)]
    with platform.engine.begin() as connection:
        connection.execute(text("DELETE FROM consent_status_allocations"))
        for position, (record_id, _) in enumerate(old):
            connection.execute(
                text("UPDATE consent_records SET status_index = :index WHERE id = :id"),
                {"index": position, "id": record_id},
            )
    ledger.grant(old[1][0])
    new = [_request(ledger, 10 + n)[1] for n in range(5)]
    # Permuted allocation starts in the first block above the old indexes: the two never meet.
    assert all(BLOCK <= index < 2 * BLOCK for index in new) and len(set(new)) == 5
    ledger.grant(ledger.list_for_citizen("citizen:person-0010")[0].id)
    # The list now spans both blocks, and the old consents read as they did.
    assert [_status(ledger, index) for index in (0, 1, 2)] == [INVALID, VALID, INVALID]
    assert _status(ledger, new[0]) == VALID
