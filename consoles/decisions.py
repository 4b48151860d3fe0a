"""A check's result as a service officer reads it: the verifier's signed decision verified with its
published keys (`GET /verifiers/jwks.json`, over HTTP like any backend), and each condition of the
policy said in words, with its outcome: held, not held, or unknown."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import catalog
from consoles.clients import PartyClients
from eligibility.assessment import _requirement  # the policy's plain words, as the wallet shows them
from eligibility.policies import Condition, load_policies
from keys import jws
from keys.jwk import PublicKey, load_public_jwk

DECISION_TYP = "eligibility-decision+jwt"
Text = dict[str, str]


@dataclass
class ConditionLine:
    path: str
    requirement: Text
    outcome: str  # held, not_held, unknown
    negated: bool


@dataclass
class Decision:
    verified: bool
    problem: str = ""  # why it could not be verified
    claims: dict[str, Any] = field(default_factory=dict)
    conditions: list[ConditionLine] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for c in self.conditions if c.outcome == outcome)


@cache
def _conditions_by_path(service_id: str) -> dict[str, Condition]:
    policies = load_policies(catalog.services(), catalog.credential_types())
    policy = policies.get(service_id)
    return {c.path: c for c in policy.conditions()} if policy else {}


def requirement_text(service_id: str, line: dict[str, Any]) -> Text:
    """The condition in words from the catalog's policy, when the decision's condition is the one
    at that place of the rule; otherwise its bare terms (a policy version the catalog no longer has)."""
    condition = _conditions_by_path(service_id).get(str(line.get("path")))
    if condition is not None and (condition.credential, condition.claim, condition.op) == (
        line.get("credential"),
        line.get("claim"),
        line.get("op"),
    ):
        return _requirement(catalog.credential_types(), condition)
    bare = f"{line.get('credential')}.{line.get('claim')} {line.get('op')}"
    return {"ko": bare, "en": bare}


def decision_keys(parties: PartyClients) -> list[dict[str, Any]]:
    """The verifier party's published decision keys (read once per page)."""
    answer = parties.public("/verifiers/jwks.json")
    keys = answer.json().get("keys", []) if answer.status_code == 200 else []
    return [k for k in keys if isinstance(k, dict)]


def read_decision(keys: list[dict[str, Any]], verifier: str, request_id: str, token: str) -> Decision:
    """Verify the decision JWT (signature with the verifier's published `keys`, `typ`, that it is
    about this request and this verifier) and put its conditions in words. Unverifiable: said so,
    and no condition is shown as if it were the verifier's word."""
    try:

        def resolve(header: dict[str, Any], payload: dict[str, Any]) -> PublicKey:
            for jwk in keys:
                if jwk.get("kid") == header.get("kid"):
                    return load_public_jwk({k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")})
            raise jws.UnknownKey("no published key has this kid")

        claims = jws.verify(token, resolve, typ=DECISION_TYP).payload
    except Exception as exc:  # any failure to verify is shown, never a crash
        return Decision(verified=False, problem=type(exc).__name__)
    if claims.get("request_id") != request_id or claims.get("verifier") != verifier:
        return Decision(verified=False, problem="the decision is about another check")
    service_id = str(claims.get("service_id"))
    lines = [
        ConditionLine(
            path=str(c.get("path")),
            requirement=requirement_text(service_id, c),
            outcome=str(c.get("outcome")),
            negated=bool(c.get("negated")),
        )
        for c in claims.get("conditions", [])
        if isinstance(c, dict)
    ]
    return Decision(verified=True, claims=claims, conditions=lines)
