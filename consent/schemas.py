"""Request and response bodies of the consent ledger, and the consent record itself.

The record carries what ISO/IEC TS 27560 and Korean PIPA / MyData ask a consent record to say.
Every field is bounded, and identifiers follow strict patterns so no resident registration number
(or any other free-form identifier) can be stored as a citizen id.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = "1.0"
MAX_VALIDITY = timedelta(days=5 * 365 + 2)  # five years, leap days included

# W3C DPV purpose concepts this platform's services use (dpv: namespace, https://w3id.org/dpv#).
DPV_PURPOSES = frozenset(
    {
        "ServiceAccessDetermination",
        "ServiceProvision",
        "RequestedServiceProvision",
        "ServiceRegistration",
        "IdentityVerification",
        "AgeVerification",
        "LegalCompliance",
        "FraudPreventionAndDetection",
        "AccountManagement",
        "PublicBenefit",
    }
)

CITIZEN_PATTERN = r"^citizen:[A-Za-z0-9_-]{8,64}$"
PLATFORM_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"  # a citizen's platform id (`sub` in every credential)
HOLDER_KEY_PATTERN = r"^holder-key:[A-Za-z0-9_-]{43}$"  # RFC 7638 thumbprint of a credential's cnf.jwk
VERIFIER_PATTERN = r"^verifier:[a-z0-9][a-z0-9-]{0,62}$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9.-]{0,62}$"
# A resident registration number (주민등록번호): six digits, optional dash, seven digits.
_RRN = re.compile(r"\d{6}-?\d{7}")

ShortText = Annotated[str, Field(min_length=1, max_length=500)]
ClaimPathElement = Annotated[str, Field(min_length=1, max_length=100)] | Annotated[int, Field(ge=0, le=10_000)] | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Party(_Strict):
    id: str = Field(pattern=SLUG_PATTERN, description="identifier of the organisation")
    name_ko: ShortText
    name_en: ShortText


class Service(_Strict):
    # Catalog service ids are snake_case (seoul_youth_allowance).
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")
    name_ko: ShortText
    name_en: ShortText


class Purpose(_Strict):
    code: str = Field(description="a W3C DPV purpose concept, e.g. ServiceAccessDetermination")
    text_ko: ShortText
    text_en: ShortText

    @field_validator("code")
    @classmethod
    def _known_purpose(cls, value: str) -> str:
        if value not in DPV_PURPOSES:
            raise ValueError(f"purpose code must be one of {sorted(DPV_PURPOSES)}")
        return value


class LegalBasis(_Strict):
    type: Literal["consent", "public_task"]
    statute: str | None = Field(default=None, min_length=1, max_length=300, description="required for public_task")

    @model_validator(mode="after")
    def _statute_for_public_task(self) -> LegalBasis:
        if self.type == "public_task" and not self.statute:
            raise ValueError("a public task names its statute")
        return self


class Validity(_Strict):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _bounded(self) -> Validity:
        if self.end <= self.start:
            raise ValueError("validity ends after it starts")
        if self.end - self.start > MAX_VALIDITY:
            raise ValueError("consent is valid for at most five years")
        return self


class Frequency(_Strict):
    kind: Literal["one_time", "periodic"]
    interval_days: int | None = Field(default=None, ge=1, le=366)

    @model_validator(mode="after")
    def _interval(self) -> Frequency:
        if (self.kind == "periodic") != (self.interval_days is not None):
            raise ValueError("a periodic consent has an interval_days; a one-time consent has none")
        return self


class Notice(_Strict):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the exact consent text shown")
    version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,40}$")


class Actor(_Strict):
    role: Literal["citizen", "legal_guardian", "authorised_agent"]
    id: str | None = Field(default=None, pattern=CITIZEN_PATTERN, description="the guardian's or agent's id")

    @model_validator(mode="after")
    def _agent_named(self) -> Actor:
        if (self.role != "citizen") != (self.id is not None):
            raise ValueError("a guardian or agent is named by id; the citizen acting alone is not")
        return self


class PresentationEvidence(_Strict):
    """How a consent given by presenting was shown: the holder's signed acts, not the credentials."""

    holder_keys: list[Annotated[str, Field(pattern=HOLDER_KEY_PATTERN)]] = Field(min_length=1, max_length=50)
    presentation_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the KB-JWT(s)")


class ConsentRecordIn(_Strict):
    """A consent record as the wallet submits it (ISO/IEC TS 27560 shaped)."""

    citizen: str = Field(pattern=CITIZEN_PATTERN, description="pseudonymous id, never a resident registration number")
    citizen_at_recipient: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{43}$",
        description=(
            "the citizen's pairwise subject for the recipient: the record (which reaches the recipient in "
            "every receipt) names her as `pairwise:<subject>`, and `citizen` stays the ledger's own owner "
            "id, so a recipient never learns the platform id that links her across services"
        ),
    )
    recipient: str = Field(pattern=VERIFIER_PATTERN, description="the verifier the data goes to")
    controller: Party
    service: Service
    purpose: Purpose
    legal_basis: LegalBasis
    data_items: list[list[ClaimPathElement]] = Field(
        min_length=1, max_length=50, description="claim paths (DCQL form), e.g. [['birthdate']]"
    )
    disclosure: Literal["values", "predicate_only"] = Field(description="values, or only a yes/no")
    retention_days: int = Field(ge=0, le=3650, description="how long the recipient may keep what it receives")
    validity: Validity
    frequency: Frequency
    notice: Notice
    method: Literal["wallet_app", "web", "paper_scanned", "in_person_assisted"]
    actor: Actor
    language: Literal["ko", "en"]
    jurisdiction: str = Field(default="KR", pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
    evidence: PresentationEvidence | None = Field(
        default=None, description="for a consent recorded by a verifier from a presentation: its key-binding evidence"
    )

    @field_validator("citizen")
    @classmethod
    def _no_rrn(cls, value: str) -> str:
        if _RRN.search(value):
            raise ValueError("a citizen id must be pseudonymous, never a resident registration number")
        return value

    @field_validator("data_items")
    @classmethod
    def _paths(cls, value: list[list[Any]]) -> list[list[Any]]:
        if any(not path or len(path) > 10 for path in value):
            raise ValueError("a claim path has 1 to 10 elements")
        if len({tuple(path) for path in value}) != len(value):
            raise ValueError("claim paths are listed once each")
        return value


def to_timestamp(moment: datetime) -> int:
    """Unix seconds of an aware datetime."""
    return int(moment.timestamp())


# -- responses -------------------------------------------------------------------------------------


class EventOut(BaseModel):
    type: str
    time: int = Field(description="unix milliseconds")
    actor: str
    details: dict[str, Any] | None = None
    leaf_index: int = Field(description="this event's leaf in the transparency log")


class ConsentOut(BaseModel):
    id: str
    state: str = Field(description="current state, derived from the events and the clock")
    status_index: int
    status_list_uri: str
    record: dict[str, Any]
    notice: dict[str, Any] = Field(description="the notice currently in force (changes on re-consent)")
    history: list[EventOut]


class ConsentList(BaseModel):
    consents: list[ConsentOut]


class WithdrawOut(BaseModel):
    withdrawn: list[str]


class VerifierConsentOut(BaseModel):
    id: str
    state: str
    status_index: int
    status_list_uri: str
    record: dict[str, Any]
    receipt: str | None = Field(description="the latest consent receipt (JWT)")


class VerifierConsentList(BaseModel):
    consents: list[VerifierConsentOut]


class ReceiptOut(BaseModel):
    receipt: str


class InclusionProofOut(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str = Field(description="base64")
    proof: list[str] = Field(description="base64 hashes, bottom up (RFC 9162 §2.1.3)")


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    proof: list[str] = Field(description="base64 hashes (RFC 9162 §2.1.4)")


class EntryOut(BaseModel):
    index: int
    entry: str = Field(description="the leaf data: RFC 8785 canonical JSON, hashed exactly as given")


class EntriesOut(BaseModel):
    tree_size: int
    entries: list[EntryOut]
    next: int | None = Field(description="start of the next page, or null at the end")


class LedgerKeysOut(BaseModel):
    origin: str
    note_verifier_keys: list[str] = Field(description="C2SP signed-note verifier keys")
