"""Done-when #1: a wallet written from the spec receives a credential from every demo agency over a
live server, and the credential verifies with the reference `sd-jwt` library using only the key
published in the issuer's `/.well-known/jwt-vc-issuer` metadata."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import httpx
import jwt
import pytest
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier

from tests.issuers.spec_wallet import HolderKey, receive, well_known

DEMO_CLAIMS = {
    ("mois", "resident_registration"): {
        "birth_date": "2001-03-04",
        "nationality_status": "citizen",
        "resident_sido": "11",
        "as_of": "2026-11-01",
        "is_household_head": True,
    },
    ("ssis", "household_income"): {
        "income_basis": "recognized_income",
        "household_scope": "own",
        "household_size": 2,
        "income_pct_median": 48,
        "median_year": 2026,
        "assessed_month": "2026-10",
    },
    ("nts", "personal_income"): {"tax_year": 2025, "annual_total_salary": 21_000_000},
    ("moel", "employment_insurance"): {"currently_insured": False, "employment_start": "2024-02-01"},
    ("sen", "education_status"): {"enrollment_status": "enrolled", "school_level": "high"},
    ("scourt", "family_relation"): {"marital_status": "married", "children_birth_dates": ["2019-05-01", "2022-08-09"]},
    ("mma", "military_service"): {"compulsory_service_completed": True, "service_days": 548},
    ("molit", "lease"): {"deposit": 10_000_000, "monthly_rent": 450_000, "lessee_is_holder": True},
}


def cli_offer(env: dict[str, str], agency: str, type_id: str, claims: dict, pin: str | None = None) -> str:
    command = [str(Path(sys.executable).with_name("seoul-wallet")), "offer", "--agency", agency, "--type", type_id]
    command += ["--subject", f"citizen-{agency}", "--claims", json.dumps(claims)]
    if pin:
        command += ["--pin", pin]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def reference_verify(credential: str, jwt_vc_issuer: dict) -> dict:
    """Verify with the reference implementation, trusting only the jwt-vc-issuer key of `kid`."""

    def issuer_key(iss: str, header: dict) -> JWK:
        assert iss == jwt_vc_issuer["issuer"]
        (key,) = [k for k in jwt_vc_issuer["jwks"]["keys"] if k["kid"] == header["kid"]]
        return JWK.from_json(json.dumps(key))

    return SDJWTVerifier(credential, issuer_key).get_verified_payload()


@pytest.mark.parametrize("live_server", [2], indirect=True)
def test_spec_wallet_receives_a_verifiable_credential_from_each_demo_agency(live_server, request) -> None:
    env = request.node.live_server_env
    with httpx.Client(timeout=30) as http:
        for (agency, type_id), claims in DEMO_CLAIMS.items():
            stdout = cli_offer(env, agency, type_id, claims)
            # The CLI prints the link and nothing else.
            assert stdout.count("\n") == 1 and stdout.startswith("openid-credential-offer://?credential_offer=")
            issued = receive(stdout.strip(), http)
            issuer = issued.offer["credential_issuer"]
            assert issuer == f"{live_server}/issuers/{agency}"

            metadata = http.get(well_known(issuer, "jwt-vc-issuer")).json()
            payload = reference_verify(issued.credential, metadata)
            assert payload["iss"] == issuer
            assert payload["vct"] == issued.metadata["credential_configurations_supported"][type_id]["vct"]
            assert payload["cnf"]["jwk"] == issued.holder.public_jwk
            for name, value in claims.items():
                assert payload[name] == value, name
            # Who it is about: the platform id the offer named, selectively disclosable, and
            # described in the credential configuration's claims like any other claim.
            assert payload["sub"] == f"citizen-{agency}"
            assert "sub" not in jwt.decode(issued.credential.split("~")[0], options={"verify_signature": False})
            configuration = issued.metadata["credential_configurations_supported"][type_id]
            assert ["sub"] in [c["path"] for c in configuration["credential_metadata"]["claims"]]
            # The referenced status list is served and says VALID for this credential.
            reference = payload["status"]["status_list"]
            served = http.get(reference["uri"])
            assert served.headers["content-type"] == "application/statuslist+jwt"
            token = jwt.decode(served.text, options={"verify_signature": False})
            assert token["sub"] == reference["uri"]
            raw = zlib.decompress(jwt.utils.base64url_decode(token["status_list"]["lst"]))
            bits = token["status_list"]["bits"]
            idx = reference["idx"]
            assert (raw[idx * bits // 8] >> (idx * bits % 8)) & ((1 << bits) - 1) == 0


def test_offer_by_reference_and_pin_over_the_live_server(live_server, request) -> None:
    env = request.node.live_server_env
    link = cli_offer(env, "mois", "resident_registration", DEMO_CLAIMS[("mois", "resident_registration")], pin="4821")
    with httpx.Client(timeout=30) as http:
        issued = receive(link.strip(), http, tx_code="4821")
        grant = issued.offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
        assert grant["tx_code"]["length"] == 4 and grant["tx_code"]["input_mode"] == "numeric"
        # Redeeming the same offer a second time is refused.
        again = http.post(
            issued.as_metadata["token_endpoint"],
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
                "pre-authorized_code": grant["pre-authorized_code"],
                "tx_code": "4821",
            },
        )
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        assert HolderKey  # the wallet module is the only client code used here
