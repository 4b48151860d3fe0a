"""Derive the OpenID4VP DCQL query from an eligibility policy: data minimisation by construction.

The query asks for exactly the credential types and claim paths the policy reads, and nothing else:
- one credential query per (credential type, `where`) the policy reads, with every claim it reads
  and the `where` claims as `values` constraints (they select which credential counts);
- an `any` over conditions of one credential becomes `claim_sets` (one set per alternative);
- an `any` over conditions of several credentials becomes a `credential_sets` entry whose options
  are the alternatives, so the wallet presents one qualifying credential, not all of them;
- an equality inside such an `any` becomes a `values` constraint, so the wallet picks the
  alternative the citizen actually meets;
- every credential query also asks for `sub` (in every claim set), the binding claim: the verifier
  accepts a response only when all its credentials are about the same citizen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from catalog import CredentialType
from eligibility.policies import All, AnyOf, Condition, Not, Policy, Rule
from keys.subjects import SUBJECT_CLAIM

CredentialKey = tuple[str, tuple[tuple[str, Any], ...]]


class UnsupportedPolicyShape(ValueError):
    """The rule nests alternatives more deeply than DCQL alternatives can express."""


@dataclass
class _CredentialPlan:
    key: CredentialKey
    query_id: str
    claims: dict[str, list[Any] | None] = field(default_factory=dict)  # claim -> values constraint
    required_claims: set[str] = field(default_factory=set)
    alternative_claim_groups: list[list[str]] = field(default_factory=list)
    mandatory: bool = False

    def add(self, claim: str, values: list[Any] | None = None) -> None:
        if claim in self.claims and self.claims[claim] != values:
            # The same claim read with and without a constraint: ask without, evaluate locally.
            self.claims[claim] = None
        else:
            self.claims.setdefault(claim, values)


def _query_id(key: CredentialKey, taken: set[str]) -> str:
    type_id, where = key
    base = type_id + "".join(f"_{value}" for _, value in where)
    base = re.sub(r"[^A-Za-z0-9_-]", "_", base)
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _leaf(rule: Rule) -> Condition | None:
    """The condition under a chain of `not`s, or None for a combinator."""
    while isinstance(rule, Not):
        rule = rule.rule
    return rule if isinstance(rule, Condition) else None


def derive_dcql(policy: Policy, types: Mapping[str, CredentialType]) -> dict[str, Any]:
    """The DCQL query (a JSON object) that asks for what `policy` reads and nothing more."""
    plans: dict[CredentialKey, _CredentialPlan] = {}
    taken: set[str] = set()
    alternatives: list[list[CredentialKey]] = []  # credential_sets options from multi-credential `any`s

    def plan(key: CredentialKey) -> _CredentialPlan:
        if key not in plans:
            plans[key] = _CredentialPlan(key=key, query_id=_query_id(key, taken))
            for claim, value in key[1]:
                plans[key].add(claim, [value])
                plans[key].required_claims.add(claim)
        return plans[key]

    def mandatory(rule: Rule) -> None:
        leaf = _leaf(rule)
        if leaf is not None:
            credential = plan(leaf.credential_key)
            credential.mandatory = True
            credential.add(leaf.claim)
            credential.required_claims.add(leaf.claim)
        elif isinstance(rule, All):
            for child in rule.rules:
                mandatory(child)
        elif isinstance(rule, AnyOf):
            alternative(rule)
        else:  # not over a combinator: every condition beneath must be known to negate it
            for condition in _conditions(rule):
                mandatory(condition)

    def alternative(rule: AnyOf) -> None:
        leaves = [_leaf(child) for child in rule.rules]
        if any(leaf is None for leaf in leaves):
            raise UnsupportedPolicyShape(f"{policy.id}: {rule.path}: `any` may only hold conditions")
        keys: list[CredentialKey] = []
        for child, leaf in zip(rule.rules, leaves, strict=True):
            assert leaf is not None
            credential = plan(leaf.credential_key)
            # An equality in a positive alternative lets the wallet choose the option that holds.
            positive_eq = child is leaf and leaf.op in ("eq", "in")
            values = ([leaf.value] if leaf.op == "eq" else list(leaf.value)) if positive_eq else None
            credential.add(leaf.claim, values)
            if leaf.credential_key not in keys:
                keys.append(leaf.credential_key)
        for key in keys:
            group = [leaf.claim for leaf in leaves if leaf is not None and leaf.credential_key == key]
            plans[key].alternative_claim_groups.append(group)
        if len(keys) > 1:
            alternatives.append(keys)
        else:
            plans[keys[0]].mandatory = True

    mandatory(policy.rule)

    credentials: list[dict[str, Any]] = []
    for credential in plans.values():
        type_id = credential.key[0]
        claims = [
            {"id": SUBJECT_CLAIM, "path": [SUBJECT_CLAIM]},
            *(
                {"id": _claim_id(name), "path": [name], **({"values": values} if values else {})}
                for name, values in credential.claims.items()
            ),
        ]
        query: dict[str, Any] = {
            "id": credential.query_id,
            "format": "dc+sd-jwt",
            "meta": {"vct_values": [types[type_id].vct]},
            "claims": claims,
        }
        claim_sets = _claim_sets(credential)
        if claim_sets:
            query["claim_sets"] = claim_sets
        credentials.append(query)

    result: dict[str, Any] = {"credentials": credentials}
    if alternatives:
        sets = [{"options": [[plans[key].query_id]], "required": True} for key in plans if plans[key].mandatory]
        for keys in alternatives:
            sets.append({"options": [[plans[key].query_id] for key in keys], "required": True})
        result["credential_sets"] = sets
    return result


def _claim_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _claim_sets(credential: _CredentialPlan) -> list[list[str]] | None:
    """One claim set per combination of alternatives, each with every required claim."""
    groups = [g for g in credential.alternative_claim_groups if len(g) > 1 or credential.mandatory]
    if not groups or all(len(g) == 1 for g in groups):
        return None
    sets: list[list[str]] = [[]]
    for group in groups:
        sets = [[*existing, claim] for existing in sets for claim in group]
    required = [SUBJECT_CLAIM, *(_claim_id(c) for c in credential.claims if c in credential.required_claims)]
    return [required + [_claim_id(c) for c in chosen if c not in credential.required_claims] for chosen in sets]


def _conditions(rule: Rule) -> list[Condition]:
    if isinstance(rule, Condition):
        return [rule]
    if isinstance(rule, Not):
        return _conditions(rule.rule)
    return [c for child in rule.rules for c in _conditions(child)]
