"""The OpenAPI document states the errors the whole app answers (seoul_wallet/openapi_errors.py):
what the fuzzer holds every answer to. Each rule here is one a route cannot state for itself."""

from __future__ import annotations

import pytest

from seoul_wallet.openapi_errors import SECURITY_SCHEME
from tests.conftest import bearer_for


@pytest.fixture
def document(app) -> dict:
    return app.openapi()


def operation(document: dict, method: str, path: str) -> dict:
    return document["paths"][path][method]


def test_a_bearer_route_states_its_scopes_and_its_401_and_403(document, client) -> None:
    offers = operation(document, "post", "/issuers/{slug}/offers")
    assert offers["security"] == [{SECURITY_SCHEME: ["credentials:offer"]}]
    flows = document["components"]["securitySchemes"][SECURITY_SCHEME]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "/oauth/token"
    for status in ("401", "403"):
        assert "application/problem+json" in offers["responses"][status]["content"]
    # And that is what the app answers without a token.
    answer = client.post("/issuers/mois/offers", json={})
    assert answer.status_code == 401 and answer.headers["content-type"] == "application/problem+json"


def test_a_public_route_states_no_security(document) -> None:
    assert "security" not in operation(document, "get", "/.well-known/jwt-vc-issuer/issuers/{slug}")
    assert "security" not in operation(document, "post", "/oauth/token")


def test_validation_errors_are_problem_details_everywhere(document, client, platform) -> None:
    assert "HTTPValidationError" not in str(document["paths"])
    declared = operation(document, "post", "/issuers/{slug}/offers")["responses"]["422"]["content"]
    assert list(declared) == ["application/problem+json"]
    assert declared["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/ValidationProblem"}
    agency = bearer_for(client, platform, "agency:mois", ["credentials:offer"])
    answer = client.post("/issuers/mois/offers", json={}, headers=agency)
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    assert {"field": "body.subject", "message": "Field required", "type": "missing"} in answer.json()["errors"]


def test_the_text_guard_and_the_size_limit_are_stated_in_the_protocol_format_where_one_applies(document) -> None:
    token = operation(document, "post", "/issuers/{slug}/token")["responses"]
    assert token["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/OAuthError"}
    offers = operation(document, "post", "/issuers/{slug}/offers")["responses"]
    assert offers["400"]["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "413" in offers and "404" in offers


def test_a_route_without_parameters_or_body_states_no_text_or_404_errors(document) -> None:
    assert set(operation(document, "get", "/healthz")["responses"]) == {"200"}
