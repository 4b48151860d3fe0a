"""No log line holds anything redeemable or secret (issue 14 defect 11): the access log recorded
capability URLs (an offer by reference, anyone with it can redeem it; a request object, anyone with
it can answer the check), and at DEBUG Authlib logged whole access tokens."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from seoul_wallet.logging_setup import configure_logging
from seoul_wallet.middleware import loggable_path
from tests.conftest import bearer_for
from tests.verifiers.conftest import youth_claims


def test_the_access_log_keeps_the_shape_of_a_capability_url_but_not_its_secret(client, platform, caplog) -> None:
    headers = bearer_for(client, platform, "agency:mois", ["credentials:offer"])
    body = {"subject": "citizen-log-0001", "credential_type": "resident_registration"}
    offer = client.post(
        "/issuers/mois/offers", json={**body, "claims": youth_claims()["resident_registration"]}, headers=headers
    )
    path = urlsplit(offer.json()["credential_offer_uri"]).path
    reference = path.rsplit("/", 1)[1]
    backend = bearer_for(client, platform, "verifier:seoul-youth", ["presentations:request"])
    check = client.post("/verifiers/requests", json={"service_id": "seoul_youth_allowance"}, headers=backend).json()
    with caplog.at_level(logging.INFO, logger="seoul_wallet.access"):
        assert client.get(path).status_code == 200
        assert client.get(f"/verifiers/seoul-youth/requests/{check['request_id']}/object").status_code == 200
    logged = [r.path for r in caplog.records if r.name == "seoul_wallet.access"]
    assert logged == ["/issuers/mois/credential-offers/…", "/verifiers/seoul-youth/requests/…/object"]
    assert not any(reference in r.getMessage() or reference in str(r.__dict__) for r in caplog.records)


def test_other_paths_are_logged_as_they_are() -> None:
    assert loggable_path("/issuers/mois/offers") == "/issuers/mois/offers"
    assert loggable_path("/verifiers/requests/abc") == "/verifiers/requests/abc"


def test_at_debug_no_library_logs_tokens_or_fetched_urls() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("DEBUG")
        for name in ("authlib", "httpx", "httpcore"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
        assert logging.getLogger("seoul_wallet.wallet").isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for name in ("authlib", "httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.NOTSET)
