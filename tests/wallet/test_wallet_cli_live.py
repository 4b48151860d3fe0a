"""The wallet's CLI from a second terminal against a live server: receive the six youth-allowance
credentials from our agencies, list them, and answer a check; the decision is eligible and names the
citizen's pairwise subject. A refused offer exits 1 and stores nothing. Then services for me, the
consents and the export, as the citizen's scripts read them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from auth.clients import register_client
from tests.verifiers.conftest import AGENCY_OF, youth_claims

CLI = str(Path(sys.executable).with_name("seoul-wallet"))
CITIZEN = "citizen-cli-0001"


def cli(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def token(http: httpx.Client, base: str, platform, subject: str, scopes: list[str]) -> dict[str, str]:
    creds = register_client(platform.engine, subject, scopes)
    answer = http.post(
        f"{base}/oauth/token", data={"grant_type": "client_credentials"}, auth=(creds.client_id, creds.client_secret)
    )
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.mark.parametrize("live_server", [2], indirect=True)
def test_the_wallet_cli_receives_and_presents_over_a_live_server(live_server, request, platform) -> None:
    env = request.node.live_server_env
    with httpx.Client(timeout=30) as http:
        links = []
        for type_id, claims in youth_claims().items():
            agency = AGENCY_OF[type_id]
            headers = token(http, live_server, platform, f"agency:{agency}", ["credentials:offer"])
            body = {"subject": CITIZEN, "credential_type": type_id, "claims": claims}
            offer = http.post(f"{live_server}/issuers/{agency}/offers", json=body, headers=headers)
            assert offer.status_code == 201, offer.text
            links.append(offer.json()["offer_link"])
        for link in links:
            (line,) = cli(env, "wallet", "receive", "--citizen", CITIZEN, link).stdout.splitlines()
            stored = json.loads(line)
            assert stored["status"] == "valid" and stored["issuer"].startswith(f"{live_server}/issuers/")
        # The same offer again: the code is spent, the issuer refuses, nothing more is stored.
        again = cli(env, "wallet", "receive", "--citizen", CITIZEN, links[0], ok=False)
        assert again.returncode == 1 and "invalid_grant" in again.stderr and again.stdout == ""
        listed = json.loads(cli(env, "wallet", "credentials", "--citizen", CITIZEN).stdout)["credentials"]
        assert len(listed) == 6

        started = cli(env, "request", "--verifier", "seoul-youth", "--service", "seoul_youth_allowance")
        request_id = started.stderr.strip().rsplit(" ", 1)[1]
        shared = json.loads(
            cli(env, "wallet", "present", "--citizen", CITIZEN, "--approve", started.stdout.strip()).stdout
        )
        assert shared["verifier_status"] == 200 and shared["consent_record_id"]
        assert shared["verifier"]["client_id"].startswith("x509_san_dns:") and shared["verifier"]["verified"]
        assert sorted(shared["shared"]["resident_registration"]) == ["birth_date", "resident_sido", "sub"]
        decision = json.loads(cli(env, "decision", request_id).stdout)
        assert decision["eligible"] is True
        expected = cli(env, "subject", "--verifier", "seoul-youth", "--citizen", CITIZEN).stdout.strip()
        assert decision["decision_claims"]["subject"] == expected

        declined = cli(env, "request", "--verifier", "seoul-youth", "--service", "seoul_youth_allowance")
        denial = json.loads(
            cli(env, "wallet", "present", "--citizen", CITIZEN, "--deny", declined.stdout.strip()).stdout
        )
        assert denial["sent"] == "denial" and denial["verifier_status"] == 200 and denial["shared"] == {}

        services = json.loads(cli(env, "wallet", "services", "--citizen", CITIZEN).stdout)["services"]
        (allowance,) = [s for s in services if s["service_id"] == "seoul_youth_allowance"]
        assert allowance["standing"] == "eligible" and allowance["name"]["ko"] == "서울 청년수당"
        consents = json.loads(cli(env, "wallet", "consents", "--citizen", CITIZEN).stdout)["consents"]
        states = {c["id"]: c["state"] for c in consents}
        assert states[shared["consent_record_id"]] == "used_up" and states[denial["consent_record_id"]] == "denied"
        exported = json.loads(cli(env, "wallet", "export", "--citizen", CITIZEN).stdout)
        assert len(exported["credentials"]) == 6 and exported["credentials"][0]["claims"]
        assert {c["id"] for c in exported["consents"]} == set(states)
