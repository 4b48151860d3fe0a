"""The presentation grant a verifier posts to the consent ledger (`PresentationGrantIn`), built one way
for the consent tests, the verifier tests and bench/bench_grants.py.

The defaults are a youth-allowance check by one fixed citizen over one fixed presentation: the
tests assert on those values (the citizen's record, its evidence). A caller that needs another
grant says what differs: another request id, subject or presentation (`evidence`), or another
service (`fields`, e.g. the K-Pass check of tests/verifiers/test_ledger_call.py)."""

from __future__ import annotations

from typing import Any

from consent.presentations import PresentationGrantIn

REQUEST_ID = "req-0123456789"
SUBJECT = "citizen-grants-1"
EVIDENCE = "a" * 64  # the SHA-256 of the KB-JWT(s): any 64 hex digits stand for one presentation
HOLDER_KEY = "holder-key:" + "A" * 43


def grant_body(
    request_id: str = REQUEST_ID, *, subject: str = SUBJECT, evidence: str = EVIDENCE, **fields: Any
) -> PresentationGrantIn:
    """A valid grant; `fields` override any other field of it (validated like the rest)."""
    # The model ignores unknown keys (extra="ignore"), so a misspelt override would pass unnoticed.
    unknown = fields.keys() - PresentationGrantIn.model_fields.keys()
    if unknown:
        raise TypeError(f"not fields of a presentation grant: {sorted(unknown)}")
    body: dict[str, Any] = {
        "request_id": request_id,
        "client_id": "x509_san_dns:127.0.0.1",
        "verifier_name_ko": "서울 청년수당",
        "verifier_name_en": "Seoul Youth Allowance",
        "service_id": "seoul_youth_allowance",
        "service_name_ko": "청년수당",
        "service_name_en": "Youth allowance",
        "purpose": "ServiceProvision",
        "data_items": [["resident_registration", "birth_date"]],
        "values_shared": False,
        "retention_days": 0,
        "subject": subject,
        "holder_keys": [HOLDER_KEY],
        "evidence_sha256": evidence,
        "notice_sha256": "b" * 64,
        "notice_version": "1",
    }
    return PresentationGrantIn(**{**body, **fields})
