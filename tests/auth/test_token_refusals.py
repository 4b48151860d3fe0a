"""The token endpoint's refusals (issue 14 defect 13): an unknown client and a wrong secret get the
same answer (a different one told anyone which client ids exist), and a client asking for a scope it
does not hold gets `invalid_scope` (RFC 6749 §5.2), not a token with an empty scope."""

from __future__ import annotations

from auth.clients import register_client

GRANT = {"grant_type": "client_credentials"}


def test_an_unknown_client_and_a_wrong_secret_are_refused_alike(client, platform) -> None:
    creds = register_client(platform.engine, "agency:mois", ["credentials:offer"])
    unknown = client.post("/oauth/token", data=GRANT, auth=("c_no-such-client", "whatever"))
    wrong = client.post("/oauth/token", data=GRANT, auth=(creds.client_id, "not-the-secret"))
    malformed = client.post("/oauth/token", data=GRANT, headers={"Authorization": "Basic %%%"})
    assert unknown.status_code == wrong.status_code == malformed.status_code == 401
    assert unknown.json() == wrong.json() == malformed.json()
    assert unknown.json()["error"] == "invalid_client"


def test_a_scope_the_client_does_not_hold_is_invalid_scope(client, platform) -> None:
    creds = register_client(platform.engine, "agency:mois", ["credentials:offer"])
    auth = (creds.client_id, creds.client_secret)
    for scope in ("verifiers:admin", "credentials:offer verifiers:admin"):
        answer = client.post("/oauth/token", data={**GRANT, "scope": scope}, auth=auth)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_scope", answer.text
        assert "access_token" not in answer.json()
    held = client.post("/oauth/token", data={**GRANT, "scope": "credentials:offer"}, auth=auth)
    assert held.status_code == 200 and held.json()["scope"] == "credentials:offer"
    default = client.post("/oauth/token", data=GRANT, auth=auth)
    assert default.status_code == 200 and default.json()["scope"] == "credentials:offer"
