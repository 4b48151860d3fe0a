"""Schemathesis over every operation of openapi.yaml, against a live server, once per role (issue 14,
net 2): anonymous, verifier, agency, citizen, admin. For every answer:

- never a 5xx;
- its status is one the operation declares, its media type one declared for that status, its body
  valid against the declared schema, its declared headers present;
- an invalid request (schemathesis's negative mode: a wrong type, a missing field, a broken format)
  is refused with a 4xx;
- an error is Problem Details (`application/problem+json` with `title` and `status`), or the
  protocol's own error object (`{"error": …}`) where a protocol defines one (OAuth and OpenID
  token, nonce, credential and response endpoints), or an HTML page where the operation declares one.

Examples per operation and mode (valid, invalid) where the role can use the operation (it holds
the scopes the contract names, or the operation is public and the role anonymous): 4 in CI
(`SEOUL_WALLET_FUZZ_PROFILE=ci`, derandomized: the same inputs each run); elsewhere a quarter of
that, at least one (the refusal keeps its contract too). The long profile: 200, fresh inputs:

    SEOUL_WALLET_FUZZ_EXAMPLES=200 .venv/bin/python -m pytest -p no:cacheprovider tests/fuzz

`SEOUL_WALLET_FUZZ_SCHEMA=FILE` fuzzes another copy of the contract (e.g. one just regenerated with
`seoul-wallet openapi --output FILE`). Every finding is listed with a curl command that repeats it.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.core.failures import Failure, FailureGroup, MalformedJson
from schemathesis.specs.openapi import checks as openapi_checks

from seoul_wallet.openapi_errors import SECURITY_SCHEME
from tests.fuzz.answers import (
    JWT_MEDIA_TYPES,
    KNOWN_FINDINGS,
    authentication_problem,
    compact_jws_problem,
    error_format_problem,
    known_as,
    media_type_of,
)
from tests.fuzz.conftest import (
    AGENCY,
    PROJECT_ROOT,
    ROLE_CLIENTS,
    ROLES,
    SUMMARY_KEY,
    VERIFIER,
    FuzzSite,
    record_summary,
)

SCHEMA_PATH = Path(os.environ.get("SEOUL_WALLET_FUZZ_SCHEMA") or PROJECT_ROOT / "openapi.yaml")
SCHEMA = schemathesis.openapi.from_path(SCHEMA_PATH)
SCHEMA.config.output.sanitization.enabled = False  # a finding's curl command must repeat it exactly

_COMMON = {
    "deadline": None,
    "database": None,  # no example database: CI repeats the same inputs, the long run explores
    "phases": [Phase.explicit, Phase.generate],  # no shrinking against a server whose state moves on
    "suppress_health_check": list(HealthCheck),
    "print_blob": False,
}
settings.register_profile("ci", max_examples=4, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=200, **_COMMON)
PROFILE = os.environ.get("SEOUL_WALLET_FUZZ_PROFILE") or (
    "long" if os.environ.get("SEOUL_WALLET_FUZZ_EXAMPLES") else "ci"
)
EXAMPLES = int(os.environ.get("SEOUL_WALLET_FUZZ_EXAMPLES") or settings.get_profile(PROFILE).max_examples)
FUZZ_SETTINGS = settings(settings.get_profile(PROFILE), max_examples=EXAMPLES)
# Where the role is refused anyway (a scope it lacks) or its token is ignored (a public operation,
# fuzzed in depth as the anonymous role), a few examples show the refusal holds its contract too.
LIGHT_EXAMPLES = max(1, EXAMPLES // 4)

RESPONSE_CHECKS = [
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
]
NEGATIVE_CHECKS = [*RESPONSE_CHECKS, openapi_checks.negative_data_rejection]
FINDINGS_SHOWN = 40


def _is_destructive(label: str) -> bool:
    """Operations that end what later ones would read (an account, a trust, a credential): last."""
    return label.startswith("DELETE ") or label.endswith(("/erase", "/withdraw-all"))


OPERATIONS = sorted(
    (result.ok() for result in SCHEMA.get_all_operations()), key=lambda operation: _is_destructive(operation.label)
)


@dataclass
class Finding:
    role: str
    operation: str
    mode: str
    what: str
    status: int
    answer: str
    curl: str

    def __str__(self) -> str:
        return (
            f"[{self.role}] {self.operation} ({self.mode}): {self.what}\n"
            f"    answered {self.status}: {' '.join(self.answer.split())[:200]}\n    {self.curl}"
        )


def problems_of(
    case: Case, response: Any, checks: list, headers: dict[str, str], declared: dict[str, Any], site: FuzzSite
) -> list[str]:
    """Everything wrong with one answer, one line of title each."""
    problems: list[str] = []
    if response.status_code >= 500:
        problems.append(f"server error\n{site.server_error()}")
    try:
        case.validate_response(response, checks=checks, headers=headers)
    except FailureGroup as group:
        failures = list(group.exceptions)
    except Failure as failure:
        failures = [failure]
    else:
        failures = []
    jwt = media_type_of(response) in JWT_MEDIA_TYPES
    for failure in failures:
        if jwt and isinstance(failure, MalformedJson):
            continue  # schemathesis reads application/jwt as JSON; the compact form is checked below
        problems.append(f"{failure.title}: {failure.message}")
    if jwt and response.status_code < 300 and (why := compact_jws_problem(response)) is not None:
        problems.append(why)
    if (why := error_format_problem(case.operation.path, declared, response)) is not None:
        problems.append(why)
    if not headers and (why := authentication_problem(case.operation, response)) is not None:
        problems.append(why)
    return problems


def _seed_path(case: Case, seeds: dict[str, list[str]], pick: int) -> None:
    """Point the case's path parameters at seeded resources (the agency's offers, the verifier's
    checks, the citizen's credentials and consents), so operations reach more than their 404."""
    for name in case.path_parameters or {}:
        if name == "slug":
            case.path_parameters[name] = VERIFIER if case.operation.path.startswith("/verifiers/") else AGENCY
        elif name in seeds:
            values = seeds[name]
            case.path_parameters[name] = values[pick % len(values)]


def _curl(case: Case, site: FuzzSite, headers: dict[str, str]) -> str:
    shown = {name: ("Bearer $TOKEN" if name == "Authorization" else value) for name, value in headers.items()}
    return case.as_curl_command(headers=shown, base_url=site.base_url)[:1500]


@dataclass
class Tally:
    """What one role's run did: examples per operation and mode, statuses by class, findings."""

    role: str
    started: float
    examples: collections.Counter
    statuses: collections.Counter
    findings: dict[tuple[str, str, str, int], Finding]
    in_depth: set[str] = field(default_factory=set)
    http_seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        per_operation: dict[str, int] = collections.Counter()
        for (label, _mode), count in self.examples.items():
            per_operation[label] += count
        found = list(self.findings.values())
        classes = collections.Counter(f"{code // 100}xx" for code in self.statuses.elements())
        return {
            "role": self.role,
            "profile": PROFILE,
            "max_examples_per_mode": EXAMPLES,
            "operations": len(per_operation),
            "operations_in_contract": len(OPERATIONS),
            "operations_in_depth": len(self.in_depth),
            "examples": sum(self.examples.values()),
            "positive": sum(n for (_, mode), n in self.examples.items() if mode == "positive"),
            "negative": sum(n for (_, mode), n in self.examples.items() if mode == "negative"),
            "statuses": dict(sorted(classes.items())),
            "status_codes": {str(code): n for code, n in sorted(self.statuses.items())},
            "server_errors": sum(1 for f in found if f.status >= 500 and known_as(f) is None),
            "violations": sum(1 for f in found if f.status < 500 and known_as(f) is None),
            "known_findings": sum(1 for f in found if known_as(f) is not None),
            "seconds": round(time.monotonic() - self.started, 1),
            "seconds_waiting_for_the_server": round(self.http_seconds, 1),
            "examples_per_operation": dict(sorted(per_operation.items())),
            "findings": [
                {
                    "operation": f.operation,
                    "mode": f.mode,
                    "status": f.status,
                    "what": f.what.splitlines()[0][:200],
                    "known": known_as(f) is not None,
                }
                for f in sorted(found, key=lambda f: (f.operation, f.mode, f.status))
            ],
        }


_CONSTRAINTS = ("pattern", "format", "enum", "const", "minLength", "maxLength", "minimum", "maximum")


def has_invalid_inputs(operation: Any) -> bool:
    """Whether any request to the operation can be invalid by its contract: a body, a query or a
    header parameter, or a constrained path parameter. (An unconstrained string in the path takes
    every value: looking for an invalid one only burns the time budget.)"""
    definition = operation.definition.raw
    if "requestBody" in definition:
        return True
    for parameter in definition.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter.get("in") != "path" or schema.get("type") != "string" or any(c in schema for c in _CONSTRAINTS):
            return True
    return False


def in_depth(operation: Any, role: str) -> bool:
    """Whether the role is the one that can use the operation: it holds every scope the contract
    says the operation needs, or the operation is public and the role anonymous."""
    security = operation.definition.raw.get("security")
    if not security:
        return role == "anonymous"
    needed = {scope for requirement in security for scope in requirement.get(SECURITY_SCHEME, [])}
    return role in ROLE_CLIENTS and needed <= set(ROLE_CLIENTS[role][1])


def fuzz_operation(operation: Any, role: str, site: FuzzSite, tally: Tally, session: requests.Session) -> None:
    modes = [GenerationMode.POSITIVE, *([GenerationMode.NEGATIVE] if has_invalid_inputs(operation) else [])]
    examples = EXAMPLES if in_depth(operation, role) else LIGHT_EXAMPLES
    if examples == EXAMPLES:
        tally.in_depth.add(operation.label)
    for mode in modes:
        with contextlib.suppress(Unsatisfiable):  # no invalid request exists without parameters or body
            fuzz_mode(operation, mode, role, site, tally, session, examples)


def fuzz_mode(
    operation: Any,
    mode: GenerationMode,
    role: str,
    site: FuzzSite,
    tally: Tally,
    session: requests.Session,
    examples: int,
) -> None:
    declared = operation.definition.raw.get("responses", {})
    # Seeded identifiers only where the case is meant to be valid: in a negative case the invalid
    # part may be the path, and replacing it would make the case valid.
    picks = st.integers(min_value=0, max_value=7) if mode is GenerationMode.POSITIVE else st.just(99)
    checks = RESPONSE_CHECKS if mode is GenerationMode.POSITIVE else NEGATIVE_CHECKS

    @settings(FUZZ_SETTINGS, max_examples=examples)
    @given(case=operation.as_strategy(generation_mode=mode), pick=picks)
    def run(case: Case, pick: int) -> None:
        if pick < 4:
            _seed_path(case, site.seeds, pick)
        headers = site.headers(role)
        session.cookies.clear()  # every case on its own: no cookie from an earlier answer
        sent = time.monotonic()
        response = case.call(base_url=site.base_url, headers=headers, session=session, timeout=60)
        tally.http_seconds += time.monotonic() - sent
        tally.examples[operation.label, mode.value] += 1
        tally.statuses[response.status_code] += 1
        for problem in problems_of(case, response, checks, headers, declared, site):
            key = (operation.label, mode.value, problem.split(":", 1)[0], response.status_code)
            finding = Finding(
                role,
                operation.label,
                mode.value,
                problem[:3000],
                response.status_code,
                response.text[:300],
                _curl(case, site, headers),
            )
            tally.findings.setdefault(key, finding)

    run()


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_within_its_contract(role: str, fuzz_site: FuzzSite, record_property) -> None:
    tally = Tally(role, time.monotonic(), collections.Counter(), collections.Counter(), {})
    with requests.Session() as session:
        for operation in OPERATIONS:
            fuzz_operation(operation, role, fuzz_site, tally, session)
    summary = {**tally.summary(), "setup_seconds": fuzz_site.setup_seconds}
    record_property(SUMMARY_KEY, summary)
    record_summary(summary)
    # Every operation of the contract was called as this role, and the run did not stop early.
    assert summary["operations"] == len(OPERATIONS), sorted(
        {o.label for o in OPERATIONS} - set(summary["examples_per_operation"])
    )
    findings = sorted(tally.findings.values(), key=lambda f: (f.status < 500, f.operation))
    new = [finding for finding in findings if known_as(finding) is None]
    shown = "\n\n".join(str(finding) for finding in new[:FINDINGS_SHOWN])
    assert not new, f"{len(new)} findings as {role} ({SCHEMA_PATH.name}):\n\n{shown}"
    gone = {key for key in KNOWN_FINDINGS if key[0] == role} - {known_as(finding) for finding in findings}
    assert not gone, f"known findings no longer found (fixed? remove them from KNOWN_FINDINGS): {sorted(gone)}"
