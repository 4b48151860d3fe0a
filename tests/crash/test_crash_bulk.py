"""SIGKILL during a bulk issuance while wallets redeem offers (issue 14, net 5 (a), defect 10).

After each restart: the batch's counts are exactly its committed rows, the body sent again finishes
it with one offer per line, no credential is half issued, and no offer can be redeemed twice."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import bindparam, text

from tests.crash.conftest import LANDED, CrashPoints
from tests.crash.support import bearer, post_until_served, run_while_killing, wait_until
from tests.issuers.conftest import RESIDENT
from tests.issuers.spec_wallet import PRE_AUTH, HolderKey

BODY_ROWS = 5000  # five transactions of rows (900 kB, under the 1 MiB body limit): a kill lands among them
POOL = 8  # offers the wallets redeem during each round


@dataclass
class Redemption:
    """One wallet's pre-authorized code flow, kept across the crash like a real wallet's state."""

    code: str
    offer_id: str
    token: str | None = None
    credential: str | None = None
    lost: list[str] = field(default_factory=list)  # steps whose answer the crash took

    def advance(self, http: httpx.Client, issuer: str) -> None:
        if self.token is None:
            response = http.post(f"{issuer}/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": self.code})
            if response.status_code != 200:
                self.lost.append(f"token: {response.status_code} {response.text}")
                return
            self.token = response.json()["access_token"]
        if self.credential is None:
            nonce = http.post(f"{issuer}/nonce").json()["c_nonce"]
            response = http.post(
                f"{issuer}/credential",
                json={
                    "credential_configuration_id": "resident_registration",
                    "proofs": {"jwt": [HolderKey.generate().proof(issuer, nonce)]},
                },
                headers={"Authorization": f"Bearer {self.token}"},
            )
            if response.status_code != 200:
                self.lost.append(f"credential: {response.status_code} {response.text}")
                return
            self.credential = response.json()["credentials"][0]["credential"]


def _rows(round_number: int, count: int) -> bytes:
    lines = [json.dumps({"subject": f"citizen-r{round_number}-{n:05d}", "claims": RESIDENT}) for n in range(count)]
    lines[10] = "{not json"  # one malformed row per body: `failed` counts it
    return ("\n".join(lines) + "\n").encode()


def _batch_counts(engine, batch_id: str) -> dict[str, int]:
    with engine.connect() as connection:
        lines, created, failed, received = connection.execute(
            text("SELECT lines, created, failed, received_lines FROM issuer_batches WHERE id = :b"), {"b": batch_id}
        ).one()
        offers, distinct = connection.execute(
            text("SELECT count(*), count(DISTINCT batch_line) FROM issuer_offers WHERE batch_id = :b"),
            {"b": batch_id},
        ).one()
        errors = connection.execute(
            text("SELECT count(*) FROM issuer_batch_errors WHERE batch_id = :b"), {"b": batch_id}
        ).scalar()
    return {
        "lines": lines,
        "created": created,
        "failed": failed,
        "received": received,
        "offers": offers,
        "distinct_lines": distinct,
        "errors": errors,
    }


def _assert_no_credential_is_half_issued(engine) -> None:
    """An offer is issued with all of its issuance record, or has none of it and keeps its claims."""
    with engine.connect() as connection:
        offers = connection.execute(
            text(
                "SELECT id, state, claims_sealed IS NULL, issued_at, status_list_id, status_index, status, "
                "holder_jkt, c_nonce_hash, access_token_hash FROM issuer_offers WHERE agency = 'mois'"
            )
        ).all()
        allocated = dict(connection.execute(text("SELECT id, allocated FROM issuer_status_lists")).all())
    issued = [o for o in offers if o.state == "issued"]
    for offer in issued:
        record = (offer.issued_at, offer.status_list_id, offer.status_index, offer.status, offer.holder_jkt)
        assert None not in record and offer.c_nonce_hash is not None, f"half-issued credential {offer.id}"
        assert offer[2] and offer.access_token_hash is None, f"issued offer {offer.id} kept its claims or token"
    for offer in offers:
        if offer.state != "issued":
            assert (offer.issued_at, offer.status_index, offer.holder_jkt) == (None, None, None), offer.id
            assert not offer[2], f"unredeemed offer {offer.id} lost its claims"
    slots = [(o.status_list_id, o.status_index) for o in issued]
    assert len(set(slots)) == len(slots), "two credentials share a status list index"
    for list_id in {o.status_list_id for o in issued}:
        assert sum(o.status_list_id == list_id for o in issued) <= allocated[list_id]


def _credential_request(http: httpx.Client, issuer: str, token: str) -> httpx.Response:
    nonce = http.post(f"{issuer}/nonce").json()["c_nonce"]
    return http.post(
        f"{issuer}/credential",
        json={
            "credential_configuration_id": "resident_registration",
            "proofs": {"jwt": [HolderKey.generate().proof(issuer, nonce)]},
        },
        headers={"Authorization": f"Bearer {token}"},
    )


def _pool(http: httpx.Client, rows_url: str, agency: dict[str, str], round_number: int) -> list[Redemption]:
    """Offers for the wallets to redeem while the next body runs."""
    results = http.post(rows_url, content=_rows(1000 + round_number, POOL + 11), headers=agency).json()["results"]
    wallets = []
    for result in results[:POOL]:
        offer = json.loads(parse_qs(urlsplit(result["link"]).query)["credential_offer"][0])
        wallets.append(Redemption(offer["grants"][PRE_AUTH]["pre-authorized_code"], result["offer_id"]))
    return wallets


def _progress(engine, batch: str) -> tuple[int, int]:
    """(rows settled, lines received): the second grows when a body is claimed, before its rows."""
    with engine.connect() as connection:
        return tuple(
            connection.execute(
                text("SELECT lines, received_lines FROM issuer_batches WHERE id = :b"), {"b": batch}
            ).one()
        )


def _crash_round(server, engine, http: httpx.Client, batch: str, round_number: int, point: float, sent: int) -> int:
    """One crash point: a body and redemptions under way, SIGKILL once `point` (a fraction) of the
    body's rows are committed (below 0.1: once the body is claimed, before any row), restart, check,
    finish. Returns the rows sent so far. A point in the work, not in time: it lands inside the body
    on a fast machine and a slow one alike."""
    base = server.base_url
    issuer, rows_url = f"{base}/issuers/mois", f"{base}/issuers/mois/batches/{batch}/rows"
    agency = bearer(base, engine, "agency:mois", ["credentials:offer"])
    wallets = _pool(http, rows_url, agency, round_number)
    body = _rows(round_number, BODY_ROWS)
    sent += POOL + 11 + BODY_ROWS
    answered: list[httpx.Response] = []

    def redeem(mine: list[Redemption]) -> None:
        with httpx.Client(timeout=60) as wallet_http:
            for wallet in mine:
                wallet.advance(wallet_http, issuer)

    load = [
        lambda: answered.append(http.post(rows_url, content=body, headers=agency)),
        lambda: redeem(wallets[0::2]),
        lambda: redeem(wallets[1::2]),
    ]
    settled_before = _progress(engine, batch)[0]

    def reached() -> bool:
        settled, received = _progress(engine, batch)
        if point < 0.1:
            return received >= sent
        return settled >= settled_before + point * BODY_ROWS

    failures = run_while_killing(load, lambda: wait_until(reached), server.kill)
    assert not failures, failures
    server.start()

    # Right after the restart: the counters are exactly the committed rows.
    counts = _batch_counts(engine, batch)
    assert counts["lines"] == counts["created"] + counts["failed"], counts
    assert (counts["created"], counts["failed"]) == (counts["offers"], counts["errors"]), counts
    assert counts["offers"] == counts["distinct_lines"], "two offers for one line"
    progress = http.get(f"{base}/issuers/mois/batches/{batch}", headers=agency).json()
    assert progress["lines"] + progress["pending_lines"] == sent, progress
    if progress["pending_lines"]:
        LANDED["bulk issuance"] = LANDED.get("bulk issuance", 0) + 1
    _assert_no_credential_is_half_issued(engine)

    # The agency sends the body again (its answer, if any, was lost): that finishes the batch.
    retried = post_until_served(lambda: http.post(rows_url, content=body, headers=agency))
    assert retried.status_code == 200, retried.text
    results = retried.json()["results"]
    assert [r["line"] for r in results] == list(range(sent - BODY_ROWS + 1, sent + 1))
    if answered and answered[0].status_code == 200:
        assert answered[0].json()["results"] == results  # the retry returns what the first answer held
    counts = _batch_counts(engine, batch)
    assert counts["offers"] == counts["distinct_lines"] == counts["created"] == sent - 2 * (round_number + 1)
    assert retried.json()["batch"]["pending_lines"] == 0
    with engine.connect() as connection:
        created = connection.execute(
            text("SELECT id FROM issuer_offers WHERE batch_id = :b AND batch_line > :after"),
            {"b": batch, "after": sent - BODY_ROWS},
        ).scalars()
        assert set(created) == {r["offer_id"] for r in results if "offer_id" in r}

    # Each wallet finishes; then no code and no token yields a second credential.
    for wallet in wallets:
        wallet.advance(http, issuer)
    _assert_no_credential_is_half_issued(engine)
    with engine.connect() as connection:
        states = dict(
            connection.execute(
                text("SELECT id, state FROM issuer_offers WHERE id IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": [w.offer_id for w in wallets]},
            ).all()
        )
    for wallet in wallets:
        # A credential whose answer the crash took is issued but never reaches the wallet; a token
        # the crash took leaves the offer spent (RFC 6749 §4.1.2: a code is used once).
        assert wallet.credential is not None or states[wallet.offer_id] in ("issued", "token_issued"), wallet
        again = http.post(f"{issuer}/token", data={"grant_type": PRE_AUTH, "pre-authorized_code": wallet.code})
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text
        if wallet.token is not None:
            second = _credential_request(http, issuer, wallet.token)
            assert second.status_code in (400, 401), second.text
    assert sum(state == "issued" for state in states.values()) >= sum(w.credential is not None for w in wallets)
    return sent


def test_sigkill_during_bulk_issuance_and_redemptions(crash_server, crash_platform) -> None:
    base, engine = crash_server.base_url, crash_platform.engine
    agency = bearer(base, engine, "agency:mois", ["credentials:offer"])
    with httpx.Client(timeout=120) as http:
        opened = http.post(
            f"{base}/issuers/mois/batches", json={"credential_type": "resident_registration"}, headers=agency
        )
        assert opened.status_code == 201, opened.text
        batch = opened.json()["batch_id"]
        sent = 0
        for round_number, point in enumerate(CrashPoints("bulk issuance", 0.0, 0.8)):
            sent = _crash_round(crash_server, engine, http, batch, round_number, point, sent)
        agency = bearer(base, engine, "agency:mois", ["credentials:offer"])
        closed = http.post(f"{base}/issuers/mois/batches/{batch}/close", headers=agency)
        assert closed.status_code == 200, closed.text
        assert closed.json()["lines"] == sent and closed.json()["pending_lines"] == 0
