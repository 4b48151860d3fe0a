"""What an evaluation means to the citizen: eligible, close, or not eligible, and why, in plain
Korean and English.

- eligible: the whole rule holds over the credentials given;
- not eligible: a condition fails on a credential the citizen holds (a newer credential might
  change that, but nothing she can fetch today does);
- close: nothing fails, but some conditions cannot be decided: a credential is missing (named,
  with the agency that issues it) or lacks the claim.

Only the conditions that decide the outcome are reasons: an alternative of a satisfied `any` that
does not hold is no reason at all. Pure: the wallet calls it over the vault, no I/O here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from catalog import CredentialType, DemoParty, Service
from eligibility.policies import (
    All,
    Condition,
    ConditionResult,
    Evaluation,
    HeldCredential,
    Not,
    Outcome,
    Policy,
    Rule,
    evaluate,
    full_years,
)

Text = dict[str, str]  # {"ko": …, "en": …}


class Standing(StrEnum):
    ELIGIBLE = "eligible"
    CLOSE = "close"
    NOT_ELIGIBLE = "not_eligible"


@dataclass(frozen=True, slots=True)
class Reason:
    """One condition that decides the outcome, as the citizen reads it."""

    path: str
    credential: str
    claim: str
    op: str
    outcome: Outcome
    excluded: bool  # an exclusion (under `not`) that applies, rather than a requirement not met
    text: Text


@dataclass(frozen=True, slots=True)
class MissingCredential:
    """A credential type the rule needs and the citizen does not hold (usable), and who issues it."""

    type_id: str
    name: Text
    issuer: Text
    agency: str | None  # the issuing agency's slug on this platform, when one is registered
    how_to_get: Text


@dataclass(frozen=True, slots=True)
class Assessment:
    service_id: str
    name: Text
    operator: Text
    benefit: Text
    policy_version: str
    standing: Standing
    reasons: tuple[Reason, ...]  # failing conditions (not eligible) or undecided ones (close)
    missing: tuple[MissingCredential, ...]
    evaluation: Evaluation


# -- which conditions decide ---------------------------------------------------------------------------


def deciding_conditions(policy: Policy, evaluation: Evaluation) -> tuple[list[ConditionResult], list[ConditionResult]]:
    """(failing, undecided): the conditions that make the rule not hold, and those that leave it
    unknown. Under an odd number of `not`s, `all` acts as `any` and the reverse (De Morgan), and the
    evaluation has already negated each condition there, so HELD always means "requirement met"."""
    results = {result.path: result for result in evaluation.conditions}

    def visit(rule: Rule, negated: bool) -> tuple[Outcome, list[ConditionResult], list[ConditionResult]]:
        if isinstance(rule, Condition):
            result = results[rule.path]
            if result.outcome is Outcome.HELD:
                return Outcome.HELD, [], []
            failed = [result] if result.outcome is Outcome.NOT_HELD else []
            return result.outcome, failed, [] if failed else [result]
        if isinstance(rule, Not):
            return visit(rule.rule, not negated)
        children = [visit(child, negated) for child in rule.rules]
        outcomes = [outcome for outcome, _, _ in children]
        every = isinstance(rule, All) != negated  # an `all`, or a negated `any`
        if every:
            outcome = (
                Outcome.NOT_HELD
                if Outcome.NOT_HELD in outcomes
                else Outcome.UNKNOWN
                if Outcome.UNKNOWN in outcomes
                else Outcome.HELD
            )
        else:
            outcome = (
                Outcome.HELD
                if Outcome.HELD in outcomes
                else Outcome.UNKNOWN
                if Outcome.UNKNOWN in outcomes
                else Outcome.NOT_HELD
            )
        if outcome is Outcome.HELD:
            return outcome, [], []
        failed = [r for _, f, _ in children for r in f]
        undecided = [r for _, _, u in children for r in u]
        if not every and outcome is Outcome.UNKNOWN:
            # An `any` left open: what fails among its alternatives is no reason, what is open is.
            failed = []
        return outcome, failed, undecided

    _, failed, undecided = visit(policy.rule, False)
    return failed, undecided


# -- plain words ----------------------------------------------------------------------------------------


def _claim_label(types: Mapping[str, CredentialType], type_id: str, claim: str) -> Text:
    spec = types[type_id].claims.get(claim)
    display = getattr(spec, "display", None) or {}
    fallback = claim.replace("_", " ")
    return {"ko": display.get("ko", fallback), "en": display.get("en", fallback)}


def _value_label(types: Mapping[str, CredentialType], type_id: str, claim: str, value: Any) -> Text:
    if isinstance(value, bool):
        return {"ko": "예" if value else "아니요", "en": "yes" if value else "no"}
    if isinstance(value, dt.date):
        return {"ko": value.isoformat(), "en": value.isoformat()}
    if isinstance(value, tuple | list):
        labels = [_value_label(types, type_id, claim, item) for item in value]
        return {lang: ", ".join(label[lang] for label in labels) for lang in ("ko", "en")}
    spec = types[type_id].claims.get(claim)
    shown = (getattr(spec, "value_display", None) or {}).get(str(value), {})
    return {"ko": shown.get("ko", str(value)), "en": shown.get("en", str(value))}


def _requirement(types: Mapping[str, CredentialType], condition: Condition) -> Text:
    """The condition as a requirement: "만 19세 이상 34세 이하" / "aged 19 to 34"."""
    label = _claim_label(types, condition.credential, condition.claim)
    value = _value_label(types, condition.credential, condition.claim, condition.value)
    op = condition.op
    if op == "age_between":
        low, high = condition.value
        return {"ko": f"만 {low}세 이상 {high}세 이하", "en": f"aged {low} to {high} (full years)"}
    if op == "date_between":
        low, high = (v.isoformat() for v in condition.value)
        return {"ko": f"{label['ko']}: {low} ~ {high}", "en": f"{label['en']} between {low} and {high}"}
    words = {
        "eq": ("{v}", "{v}"),
        "ne": ("{v} 아님", "not {v}"),
        "in": ("{v} 중 하나", "one of {v}"),
        "not_in": ("{v} 아님", "none of {v}"),
        "lt": ("{v} 미만", "below {v}"),
        "le": ("{v} 이하", "at most {v}"),
        "gt": ("{v} 초과", "above {v}"),
        "ge": ("{v} 이상", "at least {v}"),
        "date_on_or_after": ("{v} 이후", "on or after {v}"),
        "date_on_or_before": ("{v} 이전", "on or before {v}"),
        "contains": ("{v} 포함", "includes {v}"),
        "contains_any": ("{v} 중 하나 포함", "includes any of {v}"),
    }
    ko, en = words[op]
    return {"ko": f"{label['ko']}: {ko.format(v=value['ko'])}", "en": f"{label['en']}: {en.format(v=value['en'])}"}


def _matching_held(condition: Condition, held: Sequence[HeldCredential]) -> list[HeldCredential]:
    """The held credentials a condition reads: its type, and its `where` claims."""
    return [
        c
        for c in held
        if c.type_id == condition.credential and all(c.claims.get(name) == value for name, value in condition.where)
    ]


def _actual(
    types: Mapping[str, CredentialType], condition: Condition, held: Sequence[HeldCredential], on: dt.date
) -> Text | None:
    """What the citizen's own credential says, for her eyes only (the wallet never sends it)."""
    for credential in _matching_held(condition, held):
        if condition.claim not in credential.claims:
            continue
        value = credential.claims[condition.claim]
        if condition.op == "age_between" and isinstance(value, str):
            try:
                age = full_years(dt.date.fromisoformat(value), on)
            except ValueError:
                return None
            return {"ko": f"만 {age}세", "en": f"{age} years old"}
        return _value_label(types, condition.credential, condition.claim, value)
    return None


def _reason_text(
    types: Mapping[str, CredentialType],
    condition: Condition,
    result: ConditionResult,
    held: Sequence[HeldCredential],
    on: dt.date,
) -> Text:
    requirement = _requirement(types, condition)
    credential_name = types[condition.credential].name
    if result.outcome is Outcome.UNKNOWN and _matching_held(condition, held):
        return {
            "ko": f"확인할 수 없음: {requirement['ko']} (가진 {credential_name['ko']}에 이 항목이 없음)",
            "en": f"Cannot be checked: {requirement['en']} (your {credential_name['en']} does not state it)",
        }
    if result.outcome is Outcome.UNKNOWN:
        return {
            "ko": f"확인할 수 없음: {requirement['ko']} ({credential_name['ko']} 필요)",
            "en": f"Cannot be checked: {requirement['en']} (needs {credential_name['en']})",
        }
    if result.negated:
        return {
            "ko": f"제외 대상: {requirement['ko']}",
            "en": f"Excluded: {requirement['en']}",
        }
    actual = _actual(types, condition, held, on)
    now = {"ko": f" (현재 {actual['ko']})", "en": f" (you: {actual['en']})"} if actual else {"ko": "", "en": ""}
    return {
        "ko": f"조건 미충족: {requirement['ko']}{now['ko']}",
        "en": f"Not met: {requirement['en']}{now['en']}",
    }


def _missing(
    types: Mapping[str, CredentialType],
    agencies: Sequence[DemoParty],
    conditions: Mapping[str, Condition],
    undecided: Sequence[ConditionResult],
    held: Sequence[HeldCredential],
) -> tuple[MissingCredential, ...]:
    """The credential types the undecided conditions need and no held credential provides (one
    of the right `where`: an income assessment of the parents' household is not the citizen's own)."""
    missing: dict[str, MissingCredential] = {}
    for result in undecided:
        type_id = result.credential
        if type_id in missing or _matching_held(conditions[result.path], held):
            continue  # held, only without the claim: the credential is there, the claim is not
        ctype = types[type_id]
        agency = next((a for a in agencies if type_id in a.issues), None)
        issuer = dict(agency.name) if agency is not None else dict(ctype.issuer)
        missing[type_id] = MissingCredential(
            type_id=type_id,
            name=dict(ctype.name),
            issuer=issuer,
            agency=agency.slug if agency is not None else None,
            how_to_get={
                "ko": f"{issuer['ko']}에서 {ctype.name['ko']} 증명서를 지갑으로 발급받으세요.",
                "en": f"Ask {issuer['en']} to issue your {ctype.name['en']} credential to this wallet.",
            },
        )
    return tuple(missing.values())


def assess(
    policy: Policy,
    service: Service,
    held: Sequence[HeldCredential],
    on: dt.date,
    types: Mapping[str, CredentialType],
    agencies: Sequence[DemoParty] = (),
) -> Assessment:
    """Evaluate `policy` over `held` on `on` and explain the outcome to the citizen."""
    evaluation = evaluate(policy, held, on)
    conditions = {c.path: c for c in policy.conditions()}
    failed, undecided = deciding_conditions(policy, evaluation)
    if evaluation.outcome is Outcome.HELD:
        standing, deciding = Standing.ELIGIBLE, []
    elif evaluation.outcome is Outcome.NOT_HELD:
        standing, deciding = Standing.NOT_ELIGIBLE, failed
    else:
        standing, deciding = Standing.CLOSE, undecided
    reasons = tuple(
        Reason(
            path=result.path,
            credential=result.credential,
            claim=result.claim,
            op=result.op,
            outcome=result.outcome,
            excluded=result.negated and result.outcome is Outcome.NOT_HELD,
            text=_reason_text(types, conditions[result.path], result, held, evaluation.reference_date),
        )
        for result in deciding
    )
    return Assessment(
        service_id=service.id,
        name=dict(service.name),
        operator=dict(service.operator),
        benefit=dict(service.benefit),
        policy_version=policy.version,
        standing=standing,
        reasons=reasons,
        missing=_missing(types, agencies, conditions, undecided, held) if standing is Standing.CLOSE else (),
        evaluation=evaluation,
    )
