"""A citizen applies for a service herself: the verifier operating it opens a check bound to her.

The citizen's own platform token (`citizen:<platform id>`, scope `wallet`) says who applies; the
check's applicant is her pairwise subject for that verifier (keys/subjects.py), so only her own
credentials can answer it (verifiers/applicant.py) and the decision names her. Nothing else about
her is sent or stored: the service learns of the application only when she shares.
"""

from __future__ import annotations

import json

from keys.subjects import SubjectError, check_platform_id
from verifiers.service import CreatedRequest, VerifierError, VerifierService


def operator_of(service: VerifierService, service_id: str) -> str:
    """The registered verifier that operates `service_id` (the first by slug, should two)."""
    if service_id not in service.services:
        raise VerifierError("unknown_service", f"no service {service_id!r}", status=404)
    for verifier in service.list():
        if service_id in json.loads(verifier.services):
            return verifier.slug
    raise VerifierError("service_not_offered", f"no verifier here operates {service_id!r}", status=404)


def apply_for_service(service: VerifierService, service_id: str, token_subject: str) -> tuple[str, CreatedRequest]:
    """Open a check of `service_id` for the citizen the token acts for; returns (verifier slug, request)."""
    if not token_subject.startswith("citizen:"):
        raise VerifierError("not_a_citizen", "only a citizen applies, with her own token", status=403)
    platform_id = token_subject.removeprefix("citizen:")
    try:
        check_platform_id(platform_id)
    except SubjectError as exc:
        raise VerifierError("invalid_citizen", str(exc), status=403) from None
    slug = operator_of(service, service_id)
    applicant = service.subjects.for_verifier(slug, platform_id)
    return slug, service.create_request(slug, service_id, applicant=applicant)
