"""Done-when: over a live server, a wallet written from the OpenID4VP 1.0 text alone completes a
youth-allowance check and the backend reads "eligible"; a citizen one year too old reads "not
eligible" with the failing condition named. The CLI starts the checks and prints the decisions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from auth.clients import register_client
from tests.issuers.spec_wallet import receive
from tests.verifiers.conftest import AGENCY_OF, birth_date_for_age, youth_claims
from tests.verifiers.spec_vp_wallet import HeldCredential, answer, fetch_request

CLI = str(Path(sys.executable).with_name("seoul-wallet"))


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result


def _issue_all(
    base: str, http: httpx.Client, platform, claims_by_type: dict[str, dict], subject: str
) -> list[HeldCredential]:
    wallet = []
    tokens: dict[str, str] = {}
    for type_id, claims in claims_by_type.items():
        agency = AGENCY_OF[type_id]
        if agency not in tokens:
            creds = register_client(platform.engine, f"agency:{agency}", ["credentials:offer"])
            token = http.post(
                f"{base}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(creds.client_id, creds.client_secret),
            )
            tokens[agency] = token.json()["access_token"]
        offer = http.post(
            f"{base}/issuers/{agency}/offers",
            json={"subject": subject, "credential_type": type_id, "claims": claims},
            headers={"Authorization": f"Bearer {tokens[agency]}"},
        )
        assert offer.status_code == 201, offer.text
        issuance = receive(offer.json()["offer_link"], http)
        wallet.append(HeldCredential(issuance.credential, issuance.holder.private))
    return wallet


@pytest.mark.parametrize("live_server", [2], indirect=True)
def test_youth_allowance_over_a_live_server(live_server, request, platform) -> None:
    env = request.node.live_server_env
    with httpx.Client(timeout=30) as http:
        anchor = http.get(f"{live_server}/verifiers/rp-ca.pem").content
        outcomes = {}
        for label, claims in {
            "eligible": youth_claims(),
            # 35 today: one year over the 19..34 range.
            "too_old": youth_claims(resident_registration={"birth_date": birth_date_for_age(35)}),
        }.items():
            citizen = f"citizen-live-{label}"
            wallet = _issue_all(live_server, http, platform, claims, citizen)
            # The backend knows its applicant by her pairwise subject (the operator's CLI prints it).
            applicant = _cli(env, "subject", "--verifier", "seoul-youth", "--citizen", citizen).stdout.strip()
            assert len(applicant) == 43 and citizen not in applicant
            started = _cli(
                env,
                "request",
                "--verifier",
                "seoul-youth",
                "--service",
                "seoul_youth_allowance",
                "--applicant",
                applicant,
            )
            link = started.stdout.strip()
            assert link.startswith("openid4vp://") and "\n" not in link  # the link and nothing else
            request_id = started.stderr.strip().rsplit(" ", 1)[1]
            vp_request = fetch_request(link, http, anchor)
            response = answer(vp_request, wallet, http)
            assert response.status_code == 200, response.text
            outcomes[label] = json.loads(_cli(env, "decision", request_id).stdout)
            assert outcomes[label]["decision_claims"]["subject"] == applicant == outcomes[label]["subject"]
            assert citizen not in json.dumps(outcomes[label])

    eligible = outcomes["eligible"]
    assert eligible["status"] == "answered" and eligible["eligible"] is True
    assert eligible["decision_claims"]["eligible"] is True
    too_old = outcomes["too_old"]
    assert too_old["eligible"] is False
    failing = [c for c in too_old["decision_claims"]["conditions"] if c["outcome"] == "not_held"]
    assert [(c["credential"], c["claim"], c["op"]) for c in failing] == [
        ("resident_registration", "birth_date", "age_between")
    ]
