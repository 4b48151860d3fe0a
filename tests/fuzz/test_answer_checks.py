"""The fuzzer's own checks (tests/fuzz/answers.py) refuse what they are there to catch: each bad
answer here is one the schema checks alone would let through."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace

from tests.fuzz.answers import authentication_problem, compact_jws_problem, error_format_problem

PROBLEM = "application/problem+json"


@dataclass
class Answer:
    status_code: int
    content: bytes
    headers: dict[str, list[str]] = field(default_factory=dict)


def answer(status: int, media_type: str, body: object) -> Answer:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Answer(status, content, {"content-type": [media_type]})


def operation(path: str, *, secured: bool) -> SimpleNamespace:
    raw = {"security": [{"platformOAuth": ["wallet"]}]} if secured else {}
    return SimpleNamespace(path=path, definition=SimpleNamespace(raw=raw))


def test_problem_details_pass_and_an_html_error_page_does_not() -> None:
    good = answer(403, PROBLEM, {"type": "about:blank", "title": "Forbidden", "status": 403})
    assert error_format_problem("/wallet/api/credentials", {}, good) is None
    page = answer(403, "text/html; charset=utf-8", b"<!doctype html><title>Request refused</title>")
    assert "text/html" in error_format_problem("/wallet/api/credentials", {}, page)


def test_an_html_error_is_fine_where_the_operation_declares_one() -> None:
    page = answer(400, "text/html", b"<!doctype html>")
    declared = {"400": {"content": {"text/html": {}}}}
    assert error_format_problem("/idp/authorize", declared, page) is None


def test_problem_details_must_carry_the_answers_status_and_a_title() -> None:
    wrong_status = answer(404, PROBLEM, {"title": "Not Found", "status": 400})
    no_title = answer(404, PROBLEM, {"status": 404})
    assert error_format_problem("/issuers/{slug}/offers/{offer_id}", {}, wrong_status) is not None
    assert error_format_problem("/issuers/{slug}/offers/{offer_id}", {}, no_title) is not None


def test_the_oauth_error_object_only_at_protocol_endpoints() -> None:
    oauth = answer(400, "application/json", {"error": "invalid_request"})
    assert error_format_problem("/oauth/token", {}, oauth) is None
    assert error_format_problem("/issuers/{slug}/credential", {}, oauth) is None
    assert error_format_problem("/admin/agencies", {}, oauth) is not None  # an API route: Problem Details
    assert error_format_problem("/oauth/token", {}, answer(400, "application/json", {"detail": "x"})) is not None


def test_a_jwt_answer_must_be_a_compact_jws() -> None:
    assert compact_jws_problem(answer(200, "application/jwt", b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")) is None
    assert compact_jws_problem(answer(200, "application/jwt", b'{"sub": "x"}')) is not None
    assert compact_jws_problem(answer(200, "application/jwt", b"a.b")) is not None


def test_a_secured_operation_served_without_a_token_is_a_finding() -> None:
    served = answer(200, "application/json", {"credentials": []})
    assert "without a token" in authentication_problem(operation("/wallet/api/credentials", secured=True), served)
    refused = answer(401, PROBLEM, {"title": "Unauthorized", "status": 401})
    assert authentication_problem(operation("/wallet/api/credentials", secured=True), refused) is None


def test_a_token_asked_for_where_the_contract_names_none_is_a_finding() -> None:
    refused = answer(401, PROBLEM, {"title": "Unauthorized", "status": 401})
    assert "no `security`" in authentication_problem(operation("/consent/presentation-grants", secured=False), refused)
    # A token endpoint authenticates its clients by its own rules.
    client_refused = answer(401, "application/json", {"error": "invalid_client"})
    assert authentication_problem(operation("/oauth/token", secured=False), client_refused) is None
