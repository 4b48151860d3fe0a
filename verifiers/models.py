"""Tables of the verifier party. No claim value is stored in clear: the values a service may receive
are encrypted, and the vp_token itself is not kept unless a retention period is configured."""

from __future__ import annotations

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel


class Verifier(SQLModel, table=True):
    """A service backend registered on the platform (an OpenID4VP relying party)."""

    __tablename__ = "verifiers"

    slug: str = Field(primary_key=True, max_length=64)
    name_ko: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    services: str = Field(description="JSON list of catalog service ids it operates")
    dns_name: str = Field(max_length=253, description="DNS name certified for x509_san_dns")
    redirect_uri: str | None = Field(default=None, max_length=2000)
    created_at: int


class PresentationRequest(SQLModel, table=True):
    """One eligibility check: the OpenID4VP request and, once answered, its decision."""

    __tablename__ = "presentation_requests"

    id: str = Field(primary_key=True, max_length=64)
    verifier: str = Field(index=True, max_length=64, foreign_key="verifiers.slug")
    service_id: str = Field(max_length=100)
    policy_version: str = Field(max_length=32)
    client_id: str = Field(max_length=400)
    nonce: str = Field(max_length=64)
    state: str = Field(unique=True, max_length=64)
    dcql_query: str
    created_at: int
    expires_at: int
    status: str = Field(default="pending", max_length=16, description="pending, answered, rejected")
    callback_url: str | None = Field(default=None, max_length=2000)
    answered_at: int | None = None
    failure_reason: str | None = Field(default=None, max_length=64)
    failure_detail: str | None = Field(default=None, max_length=500)
    decision: str | None = Field(default=None, description="the signed decision JWT")
    eligible: bool | None = None
    consent_record_id: str | None = Field(default=None, max_length=64)
    response_code_sha256: str | None = Field(default=None, max_length=64)
    # Pairwise subjects (keys/subjects.py), never the citizen's platform id: the applicant a
    # check is made for (only that citizen's answer is accepted), and who an answer was about.
    applicant: str | None = Field(default=None, max_length=43)
    subject: str | None = Field(default=None, max_length=43)
    # Claim values the service's policy declares it needs (needs_values), AES-GCM encrypted.
    values_encrypted: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    # The vp_token, only with a retention period configured, encrypted; purged at vp_token_purge_at.
    vp_token_encrypted: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    vp_token_purge_at: int | None = None


class AcceptedPresentation(SQLModel, table=True):
    """Hashes of accepted KB-JWTs: the same presentation is never accepted twice, even for another
    request (the unique key makes two workers racing on one presentation safe)."""

    __tablename__ = "accepted_presentations"

    kb_jwt_hash: str = Field(primary_key=True, max_length=64)
    request_id: str = Field(index=True, max_length=64)
    accepted_at: int


class CallbackDelivery(SQLModel, table=True):
    """A decision to push to the backend's callback URL, retried with backoff."""

    __tablename__ = "callback_deliveries"

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(index=True, max_length=64)
    url: str = Field(max_length=2000)
    status: str = Field(default="pending", max_length=16, description="pending, delivered, failed")
    attempts: int = 0
    next_attempt_at: int = Field(index=True)
    created_at: int


class CallbackAttempt(SQLModel, table=True):
    """The delivery log: one row per attempt."""

    __tablename__ = "callback_attempts"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(index=True, foreign_key="callback_deliveries.id")
    attempted_at: int
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
