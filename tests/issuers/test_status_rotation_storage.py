"""Status lists (revoke, suspend, reinstate; agency isolation), key rotation, claims at rest, admin API."""

from __future__ import annotations

import itertools
import time

from sqlalchemy import text

from issuers.status_lists import LIST_SIZE
from keys import jws
from keys.permutation import permuted_index
from tests.issuers.conftest import RESIDENT, payload_of, snapshot
from tests.issuers.spec_wallet import HolderKey
from tests.issuers.test_oid4vci_errors import ISSUER, body_with, credential, make_offer, nonce
from vc import sd_jwt_vc
from vc.status_list import INVALID, SUSPENDED, VALID, verify_status_list_token


def issue(client, headers, claims=RESIDENT) -> tuple[str, str]:
    offer = make_offer(client, headers, claims=claims)
    code = offer["credential_offer"]["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
    token = client.post(
        "/issuers/mois/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
            "pre-authorized_code": code["pre-authorized_code"],
        },
    ).json()["access_token"]
    response = credential(client, token, body_with(HolderKey.generate().proof(ISSUER, nonce(client))))
    assert response.status_code == 200, response.text
    return offer["offer_id"], response.json()["credentials"][0]["credential"]


def issuer_resolver(client) -> sd_jwt_vc.StaticIssuerKeyResolver:
    metadata = client.get("/.well-known/jwt-vc-issuer/issuers/mois").json()
    return sd_jwt_vc.StaticIssuerKeyResolver({metadata["issuer"]: metadata})


def fetch_status(client, cred: str, etag: str | None = None):
    reference = payload_of(cred)["status"]["status_list"]
    path = reference["uri"].removeprefix("http://127.0.0.1:8000")
    response = client.get(path, headers={"If-None-Match": etag} if etag else {})
    return reference, response


def status_of(client, cred: str) -> tuple[int, str, int]:
    reference, response = fetch_status(client, cred)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/statuslist+jwt"
    metadata = client.get("/.well-known/jwt-vc-issuer/issuers/mois").json()
    resolver = sd_jwt_vc.StaticIssuerKeyResolver({metadata["issuer"]: metadata})
    verified = verify_status_list_token(
        response.text,
        lambda h, *_: resolver.resolve(metadata["issuer"], h["kid"]),
        expected_uri=reference["uri"],
        now=int(time.time()),
    )
    ttl = verified.payload["ttl"]
    assert response.headers["cache-control"] == f"public, max-age={ttl}"
    return verified.status(reference["idx"]), response.headers["etag"], ttl


def test_revoke_and_suspend_show_in_the_next_fetch(client, mois) -> None:
    revoked_id, revoked = issue(client, mois)
    suspended_id, suspended = issue(client, mois)
    status, etag, _ = status_of(client, revoked)
    assert status == VALID
    _, not_modified = fetch_status(client, revoked, etag)
    assert not_modified.status_code == 304

    response = client.post(f"/issuers/mois/credentials/{revoked_id}/revoke", headers=mois)
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    status, etag_after_revoke, _ = status_of(client, revoked)
    assert status == INVALID and etag_after_revoke != etag
    assert status_of(client, suspended)[0] == VALID

    assert (
        client.post(f"/issuers/mois/credentials/{suspended_id}/suspend", headers=mois).json()["status"] == "suspended"
    )
    assert status_of(client, suspended)[0] == SUSPENDED
    assert client.post(f"/issuers/mois/credentials/{suspended_id}/reinstate", headers=mois).json()["status"] == "valid"
    assert status_of(client, suspended)[0] == VALID
    # Revocation is final.
    assert client.post(f"/issuers/mois/credentials/{revoked_id}/reinstate", headers=mois).status_code == 409
    assert status_of(client, revoked)[0] == INVALID


def test_agency_cannot_revoke_another_agencys_credential(client, mois, ssis, platform) -> None:
    offer_id, cred = issue(client, mois)
    before = snapshot(platform.engine)
    # Through its own issuer path the credential does not exist; through MOIS's path it is forbidden.
    assert client.post(f"/issuers/ssis/credentials/{offer_id}/revoke", headers=ssis).status_code == 404
    assert client.post(f"/issuers/mois/credentials/{offer_id}/revoke", headers=ssis).status_code == 403
    # A token without the revoke scope is refused too.
    assert snapshot(platform.engine) == before
    assert status_of(client, cred)[0] == VALID


def test_revoke_needs_the_revoke_scope(client, platform) -> None:
    from tests.conftest import bearer_for

    offer_only = bearer_for(client, platform, "agency:mois", ["credentials:offer"])
    offer_id, _ = issue(client, offer_only)
    before = snapshot(platform.engine)
    assert client.post(f"/issuers/mois/credentials/{offer_id}/revoke", headers=offer_only).status_code == 403
    assert snapshot(platform.engine) == before


def test_revoking_an_unredeemed_offer_cancels_it(client, mois) -> None:
    offer = make_offer(client, mois)
    assert (
        client.post(f"/issuers/mois/credentials/{offer['offer_id']}/revoke", headers=mois).json()["state"]
        == "cancelled"
    )
    code = offer["credential_offer"]["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
    response = client.post(
        "/issuers/mois/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
            "pre-authorized_code": code["pre-authorized_code"],
        },
    )
    assert response.json()["error"] == "invalid_grant"


def test_status_indexes_are_a_random_looking_permutation() -> None:
    key = b"k" * 32
    first = [permuted_index(key, i, LIST_SIZE) for i in range(2000)]
    assert len(set(first)) == 2000 and all(0 <= i < LIST_SIZE for i in first)
    # Consecutive credentials are not neighbours.
    assert sum(abs(a - b) <= 8 for a, b in itertools.pairwise(first)) < 5
    assert [permuted_index(b"x" * 32, i, LIST_SIZE) for i in range(50)] != first[:50]


def test_status_list_index_allocation_is_unique(client, mois, platform) -> None:
    for _ in range(5):
        issue(client, mois)
    with platform.engine.connect() as connection:
        rows = connection.execute(text("SELECT status_list_id, status_index FROM issuer_offers")).all()
    assert len(set(rows)) == 5


def test_key_rotation_keeps_old_credentials_verifiable(client, mois, admin) -> None:
    _, old = issue(client, mois)
    old_kid = jws.read_header(old.split("~")[0])["kid"]
    rotated = client.post("/admin/agencies/mois/rotate-key", headers=admin)
    assert rotated.status_code == 200 and rotated.json()["kid"] != old_kid
    assert rotated.json()["retire_after_seconds"] >= 90 * 86400
    _, new = issue(client, mois)
    assert jws.read_header(new.split("~")[0])["kid"] == rotated.json()["kid"]
    kids = [k["kid"] for k in client.get("/.well-known/jwt-vc-issuer/issuers/mois").json()["jwks"]["keys"]]
    assert set(kids) == {old_kid, rotated.json()["kid"]}
    resolver = issuer_resolver(client)
    for cred in (old, new):
        result = sd_jwt_vc.verify_sd_jwt_vc(cred, resolver, require_key_binding=False, now=int(time.time()))
        assert result.claims["birth_date"] == RESIDENT["birth_date"]
    # The status list, signed with the new key, still verifies for the old credential.
    assert status_of(client, old)[0] == VALID


def test_a_database_dump_reveals_no_claim_value(client, mois, platform) -> None:
    secret_claims = {**RESIDENT, "resident_sigungu": "11650", "birth_date": "1977-07-17"}
    make_offer(client, mois, claims=secret_claims, tx_code={"value": "918273"})
    issue(client, mois, claims={**secret_claims, "as_of": "2026-09-09"})
    with platform.engine.connect() as connection:
        tables = (
            [r[0] for r in connection.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))]
            if platform.engine.dialect.name == "sqlite"
            else [r[0] for r in connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))]
        )
        dump = "".join(repr(row) for table in tables for row in connection.execute(text(f'SELECT * FROM "{table}"')))
    for value in ("1977-07-17", "11650", "2026-09-09", "918273"):
        assert value not in dump
    with platform.engine.connect() as connection:
        sealed = connection.execute(text("SELECT state, claims_sealed IS NULL FROM issuer_offers ORDER BY state")).all()
    assert sorted(sealed) == [("issued", True), ("offered", False)]


def test_metadata_documents(client) -> None:
    metadata = client.get("/.well-known/openid-credential-issuer/issuers/ssis")
    assert metadata.status_code == 200 and metadata.headers["content-type"] == "application/json"
    body = metadata.json()
    assert body["credential_issuer"] == "http://127.0.0.1:8000/issuers/ssis"
    assert set(body["credential_configurations_supported"]) == {
        "household_income",
        "household_property",
        "welfare_status",
        "program_participation",
    }
    config = body["credential_configurations_supported"]["household_income"]
    assert config["vct"] == "urn:seoul-wallet:vct:household-income:1"
    assert {d["locale"] for d in config["credential_metadata"]["display"]} == {"ko", "en"}
    assert ["income_pct_median"] in [c["path"] for c in config["credential_metadata"]["claims"]]
    assert client.get("/.well-known/openid-credential-issuer/issuers/nobody").status_code == 404


def test_admin_registers_an_agency_that_can_then_issue(client, admin, platform) -> None:
    body = {
        "slug": "seoul-edu",
        "name": {"ko": "서울교육", "en": "Seoul Education"},
        "credential_types": ["education_status"],
    }
    assert client.post("/admin/agencies", json=body).status_code == 401
    created = client.post("/admin/agencies", json=body, headers=admin)
    assert created.status_code == 201, created.text
    creds = created.json()
    assert creds["credential_issuer"] == "http://127.0.0.1:8000/issuers/seoul-edu"
    assert client.post("/admin/agencies", json=body, headers=admin).status_code == 409
    unknown = client.post("/admin/agencies", json={**body, "slug": "x-y", "credential_types": ["tea"]}, headers=admin)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "credential_types[0]"
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "credentials:offer"},
        auth=(creds["client_id"], creds["client_secret"]),
    ).json()["access_token"]
    offer = client.post(
        "/issuers/seoul-edu/offers",
        json={
            "subject": "citizen-s",
            "credential_type": "education_status",
            "claims": {"enrollment_status": "enrolled"},
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert offer.status_code == 201
    qr = client.get(
        offer.json()["qr_png"].removeprefix("http://127.0.0.1:8000"), headers={"Authorization": f"Bearer {token}"}
    )
    assert qr.status_code == 200 and qr.content.startswith(b"\x89PNG")
    svg = client.get(
        offer.json()["qr_svg"].removeprefix("http://127.0.0.1:8000"), headers={"Authorization": f"Bearer {token}"}
    )
    assert svg.status_code == 200 and b"<svg" in svg.content
    by_reference = client.get(offer.json()["credential_offer_uri"].removeprefix("http://127.0.0.1:8000"))
    assert by_reference.json() == offer.json()["credential_offer"]
    assert [a["slug"] for a in client.get("/admin/agencies", headers=admin).json()].count("seoul-edu") == 1
