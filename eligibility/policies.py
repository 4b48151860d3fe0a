"""Eligibility policies: a small declarative language over credential claims, validated when loaded,
evaluated with three-valued logic so every condition is explained as held, not held or unknown.

Grammar (catalog/services.yaml):
    rule      := {all: [rule, ...]} | {any: [rule, ...]} | {not: rule} | condition
    condition := {credential: TYPE_ID, claim: NAME, op: OP, value: V, where?: {CLAIM: VALUE, ...}}

`where` picks which held credential of a type counts (e.g. the income level of the applicant's own
household, assessed by health-insurance premium). Ages are full years (만 나이) on the reference date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from catalog import ClaimSpec, CredentialType, Service

# op -> (claim types it applies to, kind of value it takes)
OPERATORS: dict[str, tuple[frozenset[str], str]] = {
    "eq": (frozenset({"string", "integer", "boolean", "date", "enum"}), "scalar"),
    "ne": (frozenset({"string", "integer", "boolean", "date", "enum"}), "scalar"),
    "in": (frozenset({"string", "integer", "enum"}), "list"),
    "not_in": (frozenset({"string", "integer", "enum"}), "list"),
    "lt": (frozenset({"integer", "date"}), "scalar"),
    "le": (frozenset({"integer", "date"}), "scalar"),
    "gt": (frozenset({"integer", "date"}), "scalar"),
    "ge": (frozenset({"integer", "date"}), "scalar"),
    "age_between": (frozenset({"date"}), "int_range"),
    "date_between": (frozenset({"date"}), "date_range"),
    "date_on_or_after": (frozenset({"date"}), "date"),
    "date_on_or_before": (frozenset({"date"}), "date"),
    "contains_any": (frozenset({"array"}), "list"),
    "contains": (frozenset({"array"}), "scalar"),
}


class PolicyError(ValueError):
    """A policy is malformed; the message names the place (service id and path in the rule)."""


class Outcome(StrEnum):
    HELD = "held"
    NOT_HELD = "not_held"
    UNKNOWN = "unknown"


# -- the parsed rule tree ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    path: str  # where it sits in the rule, e.g. "all[3].any[1]"
    credential: str
    claim: str
    op: str
    value: Any
    where: tuple[tuple[str, Any], ...] = ()

    @property
    def credential_key(self) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """Conditions with the same key read the same credential (same type, same `where`)."""
        return (self.credential, self.where)


@dataclass(frozen=True, slots=True)
class All:
    path: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    path: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Not:
    path: str
    rule: Rule


Rule = Condition | All | AnyOf | Not


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    version: str
    rule: Rule
    needs_values: tuple[tuple[str, str], ...]  # (credential type, claim) the backend receives as values
    reference_date: str  # "application" or an ISO date

    def conditions(self) -> list[Condition]:
        """Every condition in rule order."""
        return list(_walk(self.rule))


def _walk(rule: Rule) -> Iterable[Condition]:
    if isinstance(rule, Condition):
        yield rule
    elif isinstance(rule, Not):
        yield from _walk(rule.rule)
    else:
        for child in rule.rules:
            yield from _walk(child)


# -- loading and validation -------------------------------------------------------------------------


def _parse_date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise PolicyError(f"{where}: {value!r} is not an ISO date (YYYY-MM-DD)") from None


def _check_scalar(spec: ClaimSpec, value: Any, where: str) -> None:
    kind = spec.type
    if kind == "array":
        item_kind = (spec.items or {}).get("type", "string")
        item_values = (spec.items or {}).get("values")
        spec = ClaimSpec(name=spec.name, type=item_kind, values=tuple(item_values) if item_values else None)
        kind = item_kind
    ok = {
        "string": isinstance(value, str),
        "enum": isinstance(value, str) and (spec.values is None or value in spec.values),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "date": isinstance(value, str | dt.date),
    }.get(kind, False)
    if not ok:
        raise PolicyError(f"{where}: value {value!r} does not fit claim {spec.name!r} of type {spec.type}")
    if kind == "date":
        _parse_date(value, where)


def _parse_condition(raw: Mapping[str, Any], path: str, types: Mapping[str, CredentialType]) -> Condition:
    unknown_keys = set(raw) - {"credential", "claim", "op", "value", "where"}
    if unknown_keys:
        raise PolicyError(f"{path}: unknown keys {sorted(unknown_keys)}")
    type_id, claim, op = raw.get("credential"), raw.get("claim"), raw.get("op")
    if type_id not in types:
        raise PolicyError(f"{path}: unknown credential type {type_id!r}")
    credential_type = types[type_id]
    if claim not in credential_type.claims:
        raise PolicyError(f"{path}: unknown claim {claim!r} of credential type {type_id!r}")
    if op not in OPERATORS:
        raise PolicyError(f"{path}: unknown operator {op!r}")
    spec = credential_type.claims[claim]
    claim_types, value_kind = OPERATORS[op]
    if spec.type not in claim_types:
        raise PolicyError(f"{path}: operator {op!r} does not apply to claim {claim!r} of type {spec.type}")
    value = raw.get("value")
    if value_kind == "scalar":
        _check_scalar(spec, value, path)
    elif value_kind == "list":
        if not isinstance(value, list) or not value:
            raise PolicyError(f"{path}: operator {op!r} takes a non-empty list")
        for item in value:
            _check_scalar(spec, item, path)
        value = tuple(value)
    elif value_kind == "int_range":
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
            raise PolicyError(f"{path}: operator {op!r} takes [min, max] in whole years")
        if value[0] > value[1]:
            raise PolicyError(f"{path}: empty age range {value!r}")
        value = tuple(value)
    elif value_kind == "date_range":
        if not (isinstance(value, list) and len(value) == 2):
            raise PolicyError(f"{path}: operator {op!r} takes [from, to] dates")
        value = (_parse_date(value[0], path), _parse_date(value[1], path))
    elif value_kind == "date":
        value = _parse_date(value, path)
    where_raw = raw.get("where") or {}
    if not isinstance(where_raw, Mapping):
        raise PolicyError(f"{path}: where must be a mapping of claim to value")
    for where_claim, where_value in where_raw.items():
        if where_claim not in credential_type.claims:
            raise PolicyError(f"{path}.where: unknown claim {where_claim!r} of credential type {type_id!r}")
        _check_scalar(credential_type.claims[where_claim], where_value, f"{path}.where.{where_claim}")
    return Condition(
        path=path,
        credential=type_id,
        claim=claim,
        op=op,
        value=value,
        where=tuple(sorted(where_raw.items())),
    )


def _parse_rule(raw: Any, path: str, types: Mapping[str, CredentialType]) -> Rule:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{path}: a rule must be a mapping")
    combinators = [key for key in ("all", "any", "not") if key in raw]
    if len(combinators) > 1 or (combinators and len(raw) != 1):
        raise PolicyError(f"{path}: a combinator must stand alone, found {sorted(raw)}")
    if not combinators:
        return _parse_condition(raw, path, types)
    key = combinators[0]
    if key == "not":
        return Not(path=path, rule=_parse_rule(raw["not"], f"{path}.not" if path else "not", types))
    children = raw[key]
    if not isinstance(children, list) or not children:
        raise PolicyError(f"{path or key}: {key} takes a non-empty list")
    prefix = f"{path}.{key}" if path else key
    rules = tuple(_parse_rule(child, f"{prefix}[{i}]", types) for i, child in enumerate(children))
    return All(path=path, rules=rules) if key == "all" else AnyOf(path=path, rules=rules)


def load_policy(service: Service, types: Mapping[str, CredentialType]) -> Policy:
    """Parse and validate a service's eligibility rule; `PolicyError` names the place of any fault."""
    try:
        rule = _parse_rule(service.eligibility, "", types)
        needs: list[tuple[str, str]] = []
        for item in service.needs_values:
            type_id, _, claim = item.partition(".")
            if type_id not in types or claim not in types[type_id].claims:
                raise PolicyError(f"needs_values: unknown claim {item!r}")
            needs.append((type_id, claim))
        if service.reference_date != "application":
            _parse_date(service.reference_date, "reference_date")
    except PolicyError as exc:
        raise PolicyError(f"service {service.id!r}: {exc}") from None
    policy = Policy(
        id=service.id,
        version=service.policy_version,
        rule=rule,
        needs_values=tuple(needs),
        reference_date=service.reference_date,
    )
    read = {(c.credential, c.claim) for c in policy.conditions()}
    for type_id, claim in policy.needs_values:
        if (type_id, claim) not in read:
            # A value the backend receives must also be read by the rule, or the request would ask
            # for a claim the policy does not use.
            raise PolicyError(f"service {service.id!r}: needs_values {type_id}.{claim} is not read by the rule")
    return policy


def load_policies(services: Mapping[str, Service], types: Mapping[str, CredentialType]) -> dict[str, Policy]:
    """Every service's policy, validated."""
    return {service_id: load_policy(service, types) for service_id, service in services.items()}


# -- evaluation -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeldCredential:
    """The claims of one verified credential (or one held by the wallet), by credential type id."""

    type_id: str
    claims: Mapping[str, Any]


class ConditionResult(NamedTuple):
    """One condition as it counts for eligibility: under an odd number of `not`s (an exclusion),
    `outcome` is already negated, so HELD always means "this requirement is met". (A NamedTuple:
    one is built per condition on every presentation, and it is cheaper than a frozen dataclass.)"""

    path: str
    credential: str
    claim: str
    op: str
    outcome: Outcome
    negated: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Evaluation:
    policy_id: str
    policy_version: str
    reference_date: dt.date
    outcome: Outcome
    conditions: tuple[ConditionResult, ...] = field(default_factory=tuple)

    @property
    def eligible(self) -> bool:
        return self.outcome is Outcome.HELD

    def failing(self) -> list[ConditionResult]:
        """The conditions that were not held or unknown."""
        return [c for c in self.conditions if c.outcome is not Outcome.HELD]


def full_years(birth: dt.date, on: dt.date) -> int:
    """만 나이: completed years on `on` (a 29 February birthday completes a year on 1 March)."""
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _compare(op: str, actual: Any, expected: Any, reference: dt.date) -> bool | None:
    """The comparison, or None when the held value has the wrong shape (treated as unknown)."""
    if op in ("age_between", "date_between", "date_on_or_after", "date_on_or_before"):
        day = _as_date(actual)
        if day is None:
            return None
        if op == "age_between":
            return expected[0] <= full_years(day, reference) <= expected[1]
        if op == "date_between":
            return expected[0] <= day <= expected[1]
        return day >= expected if op == "date_on_or_after" else day <= expected
    if op in ("contains", "contains_any"):
        if not isinstance(actual, list):
            return None
        return expected in actual if op == "contains" else any(item in actual for item in expected)
    if op in ("in", "not_in"):
        return (actual in expected) == (op == "in")
    if op in ("eq", "ne"):
        return (actual == expected and type(actual) is type(expected)) == (op == "eq")
    if isinstance(actual, bool) or not isinstance(actual, int | str):
        return None
    if isinstance(expected, int) and not isinstance(actual, int):
        return None
    if isinstance(expected, str):
        actual_date, expected_date = _as_date(actual), _as_date(expected)
        if actual_date is None or expected_date is None:
            return None
        actual, expected = actual_date, expected_date
    return {"lt": actual < expected, "le": actual <= expected, "gt": actual > expected, "ge": actual >= expected}[op]


def _matching(condition: Condition, held: Sequence[HeldCredential]) -> list[HeldCredential]:
    return [
        credential
        for credential in held
        if credential.type_id == condition.credential
        and all(credential.claims.get(name) == value for name, value in condition.where)
    ]


_NEGATE = {Outcome.HELD: Outcome.NOT_HELD, Outcome.NOT_HELD: Outcome.HELD, Outcome.UNKNOWN: Outcome.UNKNOWN}


def _evaluate_condition(
    condition: Condition, held: Sequence[HeldCredential], reference: dt.date, negated: bool
) -> ConditionResult:
    def result(outcome: Outcome, reason: str) -> ConditionResult:
        if negated:
            outcome = _NEGATE[outcome]
            reason = (
                f"excluded: {condition.claim} {condition.op} {condition.value!r} holds"
                if outcome is Outcome.NOT_HELD
                else ""
            )
        return ConditionResult(
            condition.path, condition.credential, condition.claim, condition.op, outcome, negated, reason
        )

    candidates = [c for c in _matching(condition, held) if condition.claim in c.claims]
    if not candidates:
        return result(Outcome.UNKNOWN, f"no {condition.credential} credential with {condition.claim}")
    outcomes = {_compare(condition.op, c.claims[condition.claim], condition.value, reference) for c in candidates}
    if True in outcomes:
        return result(Outcome.HELD, "")
    if outcomes == {None}:
        return result(Outcome.UNKNOWN, f"{condition.claim} has an unexpected form")
    return result(Outcome.NOT_HELD, f"{condition.claim} {condition.op} {condition.value!r} does not hold")


def _combine_all(outcomes: list[Outcome]) -> Outcome:
    if Outcome.NOT_HELD in outcomes:
        return Outcome.NOT_HELD
    return Outcome.UNKNOWN if Outcome.UNKNOWN in outcomes else Outcome.HELD


def _combine_any(outcomes: list[Outcome]) -> Outcome:
    if Outcome.HELD in outcomes:
        return Outcome.HELD
    return Outcome.UNKNOWN if Outcome.UNKNOWN in outcomes else Outcome.NOT_HELD


def evaluate(policy: Policy, held: Sequence[HeldCredential], application_date: dt.date) -> Evaluation:
    """Evaluate `policy` over `held` credentials. Eligible only when the whole rule is held: a
    condition with no credential to decide it is unknown, and unknown is never eligible."""
    reference = application_date if policy.reference_date == "application" else _parse_date(policy.reference_date, "")
    results: list[ConditionResult] = []

    def visit(rule: Rule, negated: bool = False) -> Outcome:
        # Returns the rule's own outcome; conditions are recorded as they count for eligibility.
        if isinstance(rule, Condition):
            condition_result = _evaluate_condition(rule, held, reference, negated)
            results.append(condition_result)
            return _NEGATE[condition_result.outcome] if negated else condition_result.outcome
        if isinstance(rule, Not):
            return _NEGATE[visit(rule.rule, not negated)]
        outcomes = [visit(child, negated) for child in rule.rules]
        return _combine_all(outcomes) if isinstance(rule, All) else _combine_any(outcomes)

    outcome = visit(policy.rule)
    return Evaluation(policy.id, policy.version, reference, outcome, tuple(results))
