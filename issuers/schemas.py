"""Request and response bodies of the agency-facing API (the OpenID4VCI bodies are the spec's own)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from issuers.context import OFFER_TTL


class LocalizedName(BaseModel):
    ko: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)


class AgencyCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    slug: str = Field(description="lowercase letters, digits, '-'; becomes /issuers/{slug}")
    name: LocalizedName
    credential_types: list[str] = Field(description="catalog credential type ids the agency may issue")


class AgencyOut(BaseModel):
    slug: str
    name: dict[str, str]
    credential_issuer: str
    credential_types: list[str]


class AgencyCreated(AgencyOut):
    client_id: str = Field(description="OAuth client for POST /oauth/token (client credentials)")
    client_secret: str = Field(description="shown once; stored hashed")
    scope: str


class KeyRotated(BaseModel):
    kid: str
    retire_after_seconds: int


class TxCodeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    length: int = Field(default=6, ge=4, le=8, description="digits of a generated code")
    value: str | None = Field(
        default=None, description="the agency's own code (4-8 digits), sent to the citizen by the agency"
    )


class OfferCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    subject: str = Field(
        description=(
            "the citizen's pseudonymous platform id (8 to 64 of A-Z a-z 0-9 - _; never a resident registration "
            "number); the credential carries it as its selectively disclosable `sub`"
        )
    )
    credential_type: str
    claims: dict[str, Any]
    tx_code: TxCodeIn | None = Field(default=None, description="require a transaction code (PIN)")
    expires_in: int = Field(default=OFFER_TTL, description="seconds until the offer expires (default 7 days)")


class OfferCreated(BaseModel):
    offer_id: str
    credential_offer: dict[str, Any]
    credential_offer_uri: str
    offer_link: str = Field(description="openid-credential-offer:// by value")
    offer_link_by_reference: str = Field(description="openid-credential-offer:// with credential_offer_uri")
    qr_png: str
    qr_svg: str
    expires_at: int
    tx_code: str | None = Field(default=None, description="the generated code, returned only here")


class OfferState(BaseModel):
    offer_id: str
    credential_type: str
    subject: str
    state: str
    created_at: int
    expires_at: int
    issued_at: int | None
    credential_expires_at: int | None
    status: str | None = Field(description="valid, revoked or suspended once issued")
    status_list_uri: str | None
    status_index: int | None


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    credential_type: str
    format: str = Field(
        default="jsonl", description="jsonl ({subject, claims} per line) or csv (header: subject, claim names)"
    )


class BatchOut(BaseModel):
    batch_id: str
    credential_type: str
    format: str
    state: str
    lines: int = Field(description="rows settled, always created + failed (blank lines and a CSV header are no rows)")
    created: int
    failed: int
    pending_lines: int = Field(
        description="lines received, not settled: a body still being processed, or cut off by a crash (send it again)"
    )
    created_at: int
    updated_at: int


class BatchChunkResult(BaseModel):
    batch: BatchOut
    first_line: int
    results: list[dict[str, Any]] = Field(
        description="per row: the offer (line, offer_id, link, …) or its error (line, field, error)"
    )


class BatchErrorOut(BaseModel):
    line: int
    field: str | None
    message: str
