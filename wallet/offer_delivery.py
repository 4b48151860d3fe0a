"""Credential offers delivered to a citizen's wallet inbox over HTTP, by the agency that made them.

An agency creates an offer (`POST /issuers/{slug}/offers`) and, instead of printing a QR code,
hands the link to the citizen's wallet: `POST /wallet/offers/deliveries` with its own platform token
(scope `credentials:offer`, subject `agency:<slug>`). The wallet reads the offer the way it reads any
offer (`CredentialReceiver.parse_offer`: the offer object, then the issuer's metadata for the names
the citizen is shown), and puts one `credential_offered` item in her inbox. Nothing is redeemed:
the citizen accepts from her inbox, on the receive page, exactly as if she had pasted the link.

What is checked, and why:
- the subject is a platform id (never a resident registration number): it names a wallet account,
  created if needed, as the provider's sign-in would create it;
- the offer's `credential_issuer` is the calling agency's own issuer (`{public_url}/issuers/{slug}`),
  so no agency can put an offer in the citizen's inbox in another agency's name; an offer by
  reference must also live under that issuer before the wallet fetches it;
- the inbox item's dedupe key is derived from the issuer and the pre-authorized code, so an agency
  retrying a delivery (a timeout, a second worker) leaves one item, by value or by reference alike.

The wallet cannot tell whom an offer was made for (the issuer keeps the subject): delivering a
citizen's offer to the right inbox is the agency's responsibility, as handing her a QR code is.
"""

# No `from __future__ import annotations`: FastAPI must see the dependency (a local) as an object.
import hashlib
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select

from auth.dependencies import BearerAuth
from auth.tokens import AccessToken
from keys.subjects import SubjectError, check_platform_id
from wallet.api import MAX_LINK, PROBLEM, WalletServices, problem_response
from wallet.credential_offer import read_offer_reference, validate_offer
from wallet.models import WalletInboxItem
from wallet.receive import ReceiveError

KIND = "credential_offered"
OFFER_PARAMS = ("credential_offer", "credential_offer_uri")  # what the receive page reads
_AGENCY_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
# Refusals where the agency's offer itself is wrong (the rest: its issuer could not be read).
_OFFER_FAULTS = ("unknown_configuration", "unsupported_configuration")


class DeliveryIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    subject: str = Field(
        min_length=1, max_length=64, description="the citizen's platform id (8 to 64 of A-Z a-z 0-9 - _)"
    )
    offer: str = Field(
        min_length=1,
        max_length=MAX_LINK,
        description="the openid-credential-offer:// link POST /issuers/{slug}/offers returned (by value or reference)",
    )
    tx_code_sent: bool = Field(
        default=False, description="the agency sent the citizen the offer's code (PIN) by another channel"
    )
    note: str | None = Field(default=None, max_length=300, description="a short note the citizen sees with the offer")


class DeliveryOut(BaseModel):
    item_id: str = Field(description="the inbox item's id")
    kind: Literal["credential_offered"] = KIND
    created: bool = Field(description="false when this offer had been delivered before: the same item")


class DeliveryRefused(Exception):
    """A delivery the wallet will not make; `reason` is stable, `messages` say it in Korean and English."""

    def __init__(self, status: int, reason: str, ko: str, en: str) -> None:
        super().__init__(en)
        self.status, self.reason, self.messages = status, reason, {"ko": ko, "en": en}


@dataclass(frozen=True, slots=True)
class Delivered:
    item_id: str
    created: bool


def agency_of(token: AccessToken) -> str:
    """The slug of the agency the token acts for, or `not_an_agency`."""
    slug = token.subject.removeprefix("agency:")
    if not token.subject.startswith("agency:") or not _AGENCY_SLUG.fullmatch(slug):
        raise DeliveryRefused(403, "not_an_agency", "기관의 토큰이 아닙니다.", "This token does not act for an agency.")
    return slug


def _not_yours() -> DeliveryRefused:
    return DeliveryRefused(
        403,
        "not_your_issuer",
        "다른 기관의 발급 제안은 전달할 수 없습니다.",
        "An agency can deliver only its own issuer's offers.",
    )


def dedupe_key(issuer: str, pre_authorized_code: str) -> str:
    """One key per offer, whichever form (by value, by reference) it was delivered in; a hash, so the
    code itself is not in the key."""
    digest = hashlib.sha256(f"{len(issuer)}:{issuer}|{pre_authorized_code}".encode()).hexdigest()
    return f"{KIND}:{digest[:48]}"


class OfferDelivery:
    def __init__(self, services: WalletServices, public_url: str) -> None:
        self.services = services
        self.public_url = public_url

    def issuer_of(self, slug: str) -> str:
        return f"{self.public_url}/issuers/{slug}"

    def _check_before_fetching(self, link: str, issuer: str) -> None:
        """Refuse someone else's offer before any request: by value, its issuer; by reference, where
        the wallet would fetch it (only under the agency's own issuer)."""
        reference = read_offer_reference(link)
        if reference.uri is None:
            offer = validate_offer(reference.offer, development=self.services.development)
            if offer.credential_issuer != issuer:
                raise _not_yours()
        elif not reference.uri.startswith(f"{issuer}/"):
            raise _not_yours()

    def deliver(self, slug: str, subject: str, link: str, *, tx_code_sent: bool, note: str | None) -> Delivered:
        try:
            check_platform_id(subject)
        except SubjectError as exc:
            raise DeliveryRefused(422, "invalid_subject", "시민 식별자가 올바르지 않습니다.", str(exc)) from None
        issuer = self.issuer_of(slug)
        try:
            self._check_before_fetching(link, issuer)
            offer = self.services.receiver.parse_offer(link)
        except ReceiveError as exc:
            status = 400 if exc.step == "offer" or exc.reason in _OFFER_FAULTS else 502
            raise DeliveryRefused(status, exc.reason, exc.messages["ko"], exc.messages["en"]) from None
        # Compared again after the fetch: an offer by reference names its issuer only once fetched.
        if offer.credential_issuer != issuer:
            raise _not_yours()
        query = urlencode([(k, v) for k, v in parse_qsl(urlsplit(link.strip()).query) if k in OFFER_PARAMS])
        payload: dict[str, Any] = {
            "agency": slug,
            "issuer": offer.credential_issuer,
            "issuer_name": offer.issuer_name,
            "configuration_ids": [c.configuration_id for c in offer.credentials],
            # Each offered credential's name as the issuer publishes it (its id when it has none).
            "credential_names": [
                c.display.get("credential", {}).get("name") or {"ko": c.configuration_id, "en": c.configuration_id}
                for c in offer.credentials
            ],
            "offer": link.strip(),
            "offer_query": query,  # the receive page's own query: /wallet/receive?<offer_query>
            "tx_code_required": offer.tx_code is not None,
            "tx_code_sent": tx_code_sent,
            "note": note.strip() if note and note.strip() else None,
        }
        key = dedupe_key(offer.credential_issuer, offer.offer.pre_authorized_code)
        self.services.vault.ensure_account(subject)
        created = self.services.inbox.add(subject, KIND, key, payload)
        return Delivered(self._item_id(subject, key), created)

    def _item_id(self, citizen_id: str, key: str) -> str:
        with Session(self.services.inbox.engine) as session:
            found = session.exec(
                select(WalletInboxItem.id).where(
                    WalletInboxItem.citizen_id == citizen_id, WalletInboxItem.dedupe_key == key
                )
            ).first()
        if found is None:  # added a moment ago, so only an erasure in between gets here
            raise DeliveryRefused(409, "delivery_conflict", "잠시 후 다시 시도하세요.", "Try the delivery again.")
        return found


def create_router(services: WalletServices, bearer: BearerAuth, public_url: str) -> APIRouter:
    """`POST /wallet/offers/deliveries`, behind the platform's bearer check for scope
    `credentials:offer` (401/403 Problem Details without it)."""
    delivery = OfferDelivery(services, public_url)
    require_offer = bearer.require("credentials:offer")
    router = APIRouter(prefix="/wallet/offers", tags=["wallet (agencies)"])
    problem = {"content": {PROBLEM: {}}}

    @router.post(
        "/deliveries",
        status_code=201,
        summary="Deliver one of my agency's credential offers to a citizen's wallet inbox (scope credentials:offer)",
        response_model=DeliveryOut,
        responses={
            200: {"description": "Delivered before: the same inbox item", "model": DeliveryOut},
            400: problem,
            403: problem,
            422: problem,
            502: problem,
        },
    )
    def deliver(body: DeliveryIn, token: Annotated[AccessToken, Depends(require_offer)]) -> Any:
        # Sync: FastAPI runs it in its thread pool, where the wallet reads the issuer's metadata.
        try:
            slug = agency_of(token)
            done = delivery.deliver(slug, body.subject, body.offer, tx_code_sent=body.tx_code_sent, note=body.note)
        except DeliveryRefused as exc:
            extra = {"field": "subject"} if exc.reason == "invalid_subject" else {}
            return problem_response(exc.status, exc.reason, exc.messages, **extra)
        out = DeliveryOut(item_id=done.item_id, created=done.created)
        return JSONResponse(out.model_dump(), status_code=201 if done.created else 200)

    return router
