"""Applicant binding: one response is about one citizen, and a check made for an applicant accepts
only that applicant.

Every credential discloses `sub`, the citizen's platform id (the DCQL query asks for it in every
credential query). A response is accepted only when each presented credential discloses the same
`sub`, so the credentials of two people never make one decision. The service learns only the
pairwise subject of that `sub` for itself (keys/subjects.py), never `sub`.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from keys.subjects import SUBJECT_CLAIM, PairwiseSubjects, SubjectError, check_platform_id
from vc.sd_jwt import VerifiedSDJWT


class SubjectRefused(Exception):
    """The credentials of a response are not about one citizen, or not about the applicant.

    Details never carry a subject value: they are recorded on the request and logged."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def common_subject(results: Sequence[VerifiedSDJWT]) -> str:
    """The platform id that every presented credential discloses as `sub`."""
    subjects: set[str] = set()
    for position, result in enumerate(results, start=1):
        if SUBJECT_CLAIM not in result.claims:
            raise SubjectRefused(
                "subject_missing", f"credential {position} of {len(results)} does not disclose {SUBJECT_CLAIM}"
            )
        try:
            subjects.add(check_platform_id(result.claims[SUBJECT_CLAIM]))
        except SubjectError as exc:
            raise SubjectRefused("subject_malformed", f"credential {position}: {SUBJECT_CLAIM}: {exc}") from None
    if len(subjects) != 1:
        raise SubjectRefused(
            "subject_mismatch", f"the {len(results)} credentials are about {len(subjects)} different people"
        )
    return subjects.pop()


def check_applicant(pairwise: str, applicant: str | None) -> None:
    """Refuse a response about someone other than the applicant the check was made for."""
    if applicant is not None and not hmac.compare_digest(pairwise.encode(), applicant.encode()):
        raise SubjectRefused("wrong_applicant", "the credentials are not about the applicant this check is for")


__all__ = ["PairwiseSubjects", "SubjectRefused", "check_applicant", "common_subject"]
