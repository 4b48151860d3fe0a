"""Credential offers (OpenID4VCI 1.0 §4.1): creation, the offer object and links, status changes."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import update
from sqlmodel import Session

from issuers.agencies import AgencyInfo
from issuers.context import MAX_OFFER_TTL, OFFER_TTL, IssuerContext
from issuers.credential_types import ClaimError
from issuers.models import Offer
from issuers.sealing import new_id
from keys.subjects import SubjectError, check_platform_id
from vc.status_list import INVALID, SUSPENDED, VALID

PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
OFFER_SCHEME = "openid-credential-offer://"
MAX_TX_ATTEMPTS = 5


class OfferError(ValueError):
    """An offer request the agency must fix: `status` 422 (field named), 403, 404 or 409."""

    def __init__(self, status: int, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


@dataclass(frozen=True, slots=True)
class TxCodeRequest:
    """A transaction code: the agency's own value, or one generated here when `value` is None."""

    length: int = 6
    value: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class CreatedOffer:
    offer_id: str
    credential_offer: dict[str, Any]
    credential_offer_uri: str
    link: str
    link_by_reference: str
    expires_at: int
    tx_code: str | None


def offer_link(offer: dict[str, Any]) -> str:
    """`openid-credential-offer://?credential_offer=<url-encoded compact JSON>`."""
    compact = json.dumps(offer, separators=(",", ":"), ensure_ascii=False)
    return f"{OFFER_SCHEME}?credential_offer={quote(compact, safe='')}"


def offer_link_by_reference(uri: str) -> str:
    return f"{OFFER_SCHEME}?credential_offer_uri={quote(uri, safe='')}"


class Offers:
    def __init__(self, context: IssuerContext) -> None:
        self.context = context

    # -- building --------------------------------------------------------------------------------

    def check_type(self, agency: AgencyInfo, type_id: Any) -> None:
        if not isinstance(type_id, str) or type_id not in self.context.types:
            raise OfferError(422, "credential_type", f"unknown credential type {type_id!r}")
        if not agency.may_issue(type_id):
            raise OfferError(403, "credential_type", f"agency {agency.slug!r} may not issue {type_id!r}")

    def offer_object(self, agency: str, offer_id: str, type_id: str, tx_code_length: int | None) -> dict[str, Any]:
        grant: dict[str, Any] = {"pre-authorized_code": self.context.secrets.pre_authorized_code(offer_id)}
        if tx_code_length is not None:
            grant["tx_code"] = {
                "input_mode": "numeric",
                "length": tx_code_length,
                "description": "발급 기관이 따로 보낸 인증번호를 입력하세요 / Enter the code the agency sent you",
            }
        return {
            "credential_issuer": self.context.issuer_id(agency),
            "credential_configuration_ids": [type_id],
            "grants": {PRE_AUTHORIZED_GRANT: grant},
        }

    def offer_uri(self, agency: str, offer_id: str) -> str:
        reference = self.context.secrets.offer_reference(offer_id)
        return f"{self.context.issuer_id(agency)}/credential-offers/{reference}"

    def describe(
        self, agency: str, offer_id: str, type_id: str, tx_length: int | None, expires_at: int, tx: str | None
    ) -> CreatedOffer:
        offer = self.offer_object(agency, offer_id, type_id, tx_length)
        uri = self.offer_uri(agency, offer_id)
        return CreatedOffer(
            offer_id=offer_id,
            credential_offer=offer,
            credential_offer_uri=uri,
            link=offer_link(offer),
            link_by_reference=offer_link_by_reference(uri),
            expires_at=expires_at,
            tx_code=tx,
        )

    def prepare_row(
        self,
        agency: AgencyInfo,
        type_id: str,
        subject: Any,
        claims: Any,
        *,
        tx_code: TxCodeRequest | None = None,
        expires_in: int = OFFER_TTL,
        now: int | None = None,
        batch_id: str | None = None,
        batch_line: int | None = None,
    ) -> tuple[dict[str, Any], str | None]:
        """Validate and build one offer row (claims sealed); returns the row and the PIN, if any.
        Nothing is written: bulk issuance inserts many rows in one statement."""
        try:
            # The credential's `sub`: the citizen's pseudonymous platform id, which binds the
            # credentials of one response to one person (never a resident registration number).
            check_platform_id(subject)
        except SubjectError as exc:
            raise ClaimError("subject", str(exc)) from None
        valid = self.context.types[type_id].validate_claims(claims)
        if not isinstance(expires_in, int) or not 60 <= expires_in <= MAX_OFFER_TTL:
            raise ClaimError("expires_in", f"must be between 60 and {MAX_OFFER_TTL} seconds")
        now = int(time.time()) if now is None else now
        offer_id = new_id()
        pin: str | None = None
        tx_mac: str | None = None
        tx_length: int | None = None
        if tx_code is not None:
            if tx_code.value is not None:
                if not tx_code.value.isascii() or not tx_code.value.isdigit() or not 4 <= len(tx_code.value) <= 8:
                    raise ClaimError("tx_code.value", "must be 4 to 8 digits")
                pin = tx_code.value
            else:
                if not 4 <= tx_code.length <= 8:
                    raise ClaimError("tx_code.length", "must be between 4 and 8")
                pin = "".join(secrets.choice("0123456789") for _ in range(tx_code.length))
            tx_mac = self.context.secrets.tx_code_mac(offer_id, pin)
            tx_length = len(pin)
        row = {
            "id": offer_id,
            "agency": agency.slug,
            "credential_type": type_id,
            "subject": subject,
            "state": "offered",
            "claims_sealed": self.context.secrets.seal_claims(offer_id, valid),
            "tx_code_mac": tx_mac,
            "tx_code_length": tx_length,
            "tx_attempts": 0,
            "created_at": now,
            "expires_at": now + expires_in,
            "batch_id": batch_id,
            "batch_line": batch_line,
        }
        return row, pin

    def create(
        self,
        agency: AgencyInfo,
        type_id: Any,
        subject: Any,
        claims: Any,
        *,
        tx_code: TxCodeRequest | None = None,
        expires_in: int = OFFER_TTL,
    ) -> CreatedOffer:
        """Validate and store one offer. `OfferError`/`ClaimError` before anything is written."""
        self.check_type(agency, type_id)
        row, pin = self.prepare_row(agency, type_id, subject, claims, tx_code=tx_code, expires_in=expires_in)
        with Session(self.context.engine) as session:
            session.add(Offer(**row))
            session.commit()
        return self.describe(agency.slug, row["id"], type_id, row["tx_code_length"], row["expires_at"], pin)

    # -- reading ---------------------------------------------------------------------------------

    def get(self, agency: str, offer_id: str) -> Offer | None:
        """The agency's offer; another agency's offer is as absent as a missing one."""
        if not isinstance(offer_id, str) or len(offer_id) > 32:
            return None
        with Session(self.context.engine) as session:
            row = session.get(Offer, offer_id)
        return row if row is not None and row.agency == agency else None

    def by_reference(self, agency: str, reference: str) -> dict[str, Any] | None:
        """The offer object behind a `credential_offer_uri`, while it can still be redeemed."""
        offer_id = self.context.secrets.offer_id_from_reference(reference)
        if offer_id is None:
            return None
        row = self.get(agency, offer_id)
        if row is None or row.state != "offered" or row.expires_at <= int(time.time()):
            return None
        return self.offer_object(agency, row.id, row.credential_type, row.tx_code_length)

    # -- status ------------------------------------------------------------------------------------

    def change_status(self, agency: str, offer_id: str, action: str) -> Offer:
        """revoke / suspend / reinstate an issued credential; revoking an unredeemed offer cancels it.
        Only the agency's own credentials are found at all."""
        target = {"revoke": INVALID, "suspend": SUSPENDED, "reinstate": VALID}[action]
        if len(offer_id) > 32:
            raise OfferError(404, None, "no such credential")
        with Session(self.context.engine) as session:
            # A write first: it takes SQLite's write lock (PostgreSQL: this row's lock) before anything
            # is read, so two status changes on one list never write back each other's stale copy.
            session.execute(update(Offer).where(Offer.id == offer_id).values(status=Offer.status))
            row = session.get(Offer, offer_id, populate_existing=True)
            if row is None or row.agency != agency:
                raise OfferError(404, None, "no such credential")
            if row.state in ("offered", "token_issued", "locked"):
                if action != "revoke":
                    raise OfferError(409, None, "the offer has not been redeemed; only revoke (cancel) applies")
                # Cancel atomically: a redemption racing with us either wins first or finds no offer.
                result = session.execute(
                    update(Offer)
                    .where(Offer.id == offer_id, Offer.state == row.state)
                    .values(state="cancelled", claims_sealed=None, access_token_hash=None)
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    raise OfferError(409, None, "the offer changed meanwhile; try again")
                session.commit()
                session.refresh(row)
                return row
            if row.state != "issued" or row.status is None:
                raise OfferError(409, None, f"the offer is {row.state}")
            if row.status == INVALID:
                raise OfferError(409, None, "the credential is revoked; revocation is final")
            if row.status != target:
                assert row.status_list_id is not None and row.status_index is not None
                self.context.status_lists.set_status(session, row.status_list_id, row.status_index, target)
                row.status = target
                session.add(row)
                session.commit()
                session.refresh(row)
            return row
