"""The wallet's side of OpenID4VP 1.0: open a sharing request, show what it asks, and answer it.

`PresentationService.open_request` reads and authenticates the request (wallet/request_objects.py),
works out who receives it (wallet/recipients.py) and builds the consent view over the citizen's
usable credentials (wallet/consent_view.py). Nothing is sent while opening.

`approve` records the consent in the ledger first (requested and granted; for one of the
platform's verifiers also linked to its request, so the verifier finds the citizen's own grant),
then sends only the disclosures shown, each with a KB-JWT (`aud` = the full client identifier,
`nonce`, `iat`, `sd_hash`), by direct_post. `deny` records a denial and posts `access_denied`.
Outbound calls go through `outbound.urls`: checked, pinned to the checked address, no redirects,
bounded.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from consent.presentations import PRESENTATION_VALIDITY, PresentationLink, link_presentation, release_foreign_link
from consent.schemas import (
    Actor,
    ConsentRecordIn,
    Frequency,
    LegalBasis,
    Notice,
    Party,
    Purpose,
    Service,
    Validity,
)
from consent.service import ConsentError, ConsentLedger, ConsentNotFound
from outbound.exchange import post_bounded
from outbound.urls import FetchFailed, UnsafeURL
from vc.sd_jwt import ClaimPath, PresentationError, create_presentation
from wallet.consent_view import CandidateView, ConsentView, CredentialRequestView, build_view, localized
from wallet.history import CredentialClaims, History
from wallet.present_errors import SharingRefused
from wallet.recipients import PlatformVerifiers, Recipient, identify_recipient
from wallet.request_objects import AuthorizationRequest, load_trust_anchors, read_authorization_request
from wallet.vault import OpenedCredential, Vault, VaultError

__all__ = [
    "PlatformVerifiers",
    "PresentationOutcome",
    "PresentationService",
    "SharingRefused",
    "SharingRequest",
]

log = logging.getLogger("seoul_wallet.wallet")

# The wallet's own consent screen: the record names it with the hash of the request shown.
NOTICE_VERSION = "oid4vp-consent-1"
MAX_RESPONSE_BYTES = 64 * 1024
MAX_DATA_ITEMS = 50  # what a consent record holds (consent.schemas)


@dataclass(frozen=True)
class SharingRequest:
    """An authenticated request and the consent view built for one citizen. It holds no secret:
    approving re-opens the chosen credentials from the vault."""

    citizen_id: str
    request: AuthorizationRequest
    recipient: Recipient
    view: ConsentView
    opened_at: int


@dataclass(frozen=True)
class PresentationOutcome:
    sent: Literal["presentation", "denial"]
    accepted: bool  # the verifier answered 2xx
    status_code: int | None  # None: the verifier could not be reached
    body: dict[str, Any] | None
    error: str | None  # the verifier's OAuth error code, or "verifier_unreachable"
    error_description: str | None
    redirect_uri: str | None  # where the verifier asks the citizen's browser to go next
    consent_record_id: str | None
    linked_to_request: bool  # the consent is linked to the verifier's request id


@dataclass(frozen=True)
class _Presented:
    query_id: str
    credential: OpenedCredential
    disclose: tuple[ClaimPath, ...]


class PresentationService:
    def __init__(
        self,
        vault: Vault,
        ledger: ConsentLedger,
        http: httpx.Client,
        *,
        trust_anchors: Sequence[str | bytes] = (),
        platform: PlatformVerifiers | None = None,
        development: bool = False,
        clock: Callable[[], float] = time.time,
        history: History | None = None,
        subject_for: Callable[[str, str], str] | None = None,
    ) -> None:
        """`trust_anchors`: PEM certificates of the authorities whose verifier certificates the
        wallet accepts (configured files); the platform's relying-party CA is added from
        `platform`. `development` allows http and unsigned `redirect_uri:` requests."""
        self.vault = vault
        self.ledger = ledger
        # (recipient slug, platform id) -> the citizen's pairwise subject there: what the consent
        # record names her by, since it reaches the recipient in every receipt.
        self.subject_for = subject_for
        self.http = http
        self.anchors = load_trust_anchors(trust_anchors)
        self.platform = platform
        self.development = development
        self.clock = clock
        self.history = history

    # -- opening --------------------------------------------------------------------------------------

    def _platform_ca(self) -> list[x509.Certificate]:
        return self.platform.ca_certificates(self.http, self.development) if self.platform else []

    def _anchors(self) -> list[x509.Certificate]:
        # Fetched only when a signed request needs checking: an unreachable platform never blocks
        # refusing an unsigned one.
        return [*self.anchors, *self._platform_ca()]

    def open_request(self, citizen_id: str, link_or_params: str | Mapping[str, str]) -> SharingRequest:
        """Read, fetch and authenticate a request and build the consent view over the citizen's
        usable credentials. Sends nothing; `SharingRefused` when the verifier cannot be verified."""
        now = self.clock()
        request = read_authorization_request(
            link_or_params, http=self.http, anchors=self._anchors, development=self.development, now=now
        )
        recipient = identify_recipient(request, self.platform, self._platform_ca() if request.signed else [])
        view = build_view(request, recipient, self.vault.open_usable(citizen_id), PRESENTATION_VALIDITY)
        log.info(
            "sharing request opened",
            extra={"client_id": request.client_id, "verified": request.signed, "can_share": view.can_share},
        )
        return SharingRequest(citizen_id, request, recipient, view, int(now))

    def reopen(self, citizen_id: str, link_or_params: str | Mapping[str, str], notice_sha256: object) -> SharingRequest:
        """Open the request again to answer it, and refuse (`request_changed`) unless it is still the
        one the citizen was shown: her consent covers only the request she saw. The API and the
        pages answer through this."""
        sharing = self.open_request(citizen_id, link_or_params)
        if sharing.view.notice_sha256 != notice_sha256:
            raise SharingRefused("request_changed")
        return sharing

    # -- approving ------------------------------------------------------------------------------------

    def approve(
        self,
        citizen_id: str,
        sharing: SharingRequest,
        choices: Mapping[str, str] | None = None,
        *,
        language: Literal["ko", "en"] = "ko",
    ) -> PresentationOutcome:
        """Share what the view showed: `choices` maps a credential query id to the credential the
        citizen picked among its candidates (default: the first; all of them for a `multiple`
        query; an optional query only when chosen). The consent is recorded (and linked) before
        anything is posted."""
        self._check(citizen_id, sharing)
        if not sharing.view.can_share:
            missing = [i for m in sharing.view.missing for i in m.query_ids]
            raise SharingRefused("credentials_missing", ", ".join(missing))
        now = int(self.clock())
        presented = self._presented(citizen_id, sharing, choices or {}, now)
        vp_token: dict[str, list[str]] = {}
        request = sharing.request
        for item in presented:
            try:
                presentation = create_presentation(
                    item.credential.parsed,
                    item.disclose,
                    holder_key=item.credential.holder_key,
                    aud=request.client_id,
                    nonce=request.nonce,
                    iat=now,
                )
            except PresentationError:
                raise SharingRefused("credential_unavailable") from None
            vp_token.setdefault(item.query_id, []).append(presentation)
        # Data items name the credential type (its configuration id) and the claim, as the
        # platform's verifiers record them; a credential disclosing no claim is named alone.
        items = [[p.credential.stored.configuration_id, *path] for p in presented for path in (p.disclose or [()])]
        record = self._record(citizen_id, sharing, items, language)
        record_id, linked = self._grant(citizen_id, sharing, record)
        outcome = self._post(request.response_uri, {"vp_token": json.dumps(vp_token), "state": request.state})
        log.info(
            "presentation sent",
            extra={"client_id": request.client_id, "status_code": outcome[0], "consent_record_id": record_id},
        )
        answered = self._outcome("presentation", outcome, record_id, linked)
        shared = [
            CredentialClaims(
                p.credential.stored.configuration_id, p.credential.stored.vct, p.disclose, p.credential.stored.id
            )
            for p in presented
        ]
        self._remember(lambda history: history.record_presentation(citizen_id, sharing, answered, shared))
        return answered

    def _remember(self, record: Callable[[History], object]) -> None:
        """The history entry of an answer already posted: a failure is logged, never raised (the
        verifier has the answer; the citizen must see its outcome)."""
        if self.history is not None:
            try:
                record(self.history)
            except Exception:
                log.exception("presentation: history not written")

    def _check(self, citizen_id: str, sharing: SharingRequest) -> None:
        if sharing.citizen_id != citizen_id:
            # A request opened for someone else is matched over her credentials: never answer it.
            raise SharingRefused("not_your_request")
        expires_at = sharing.request.expires_at
        if expires_at is not None and self.clock() >= expires_at:
            raise SharingRefused("request_expired")

    def _presented(
        self, citizen_id: str, sharing: SharingRequest, choices: Mapping[str, str], now: float
    ) -> list[_Presented]:
        shown = {c.query_id: c for c in sharing.view.credentials}
        unknown = set(choices) - set(shown)
        if unknown:
            raise SharingRefused("invalid_choice", ", ".join(sorted(unknown)))
        presented = []
        for query_id, credential_request in shown.items():
            if credential_request.optional and query_id not in choices:
                continue  # optional: never sent by default
            for candidate in self._chosen(credential_request, choices.get(query_id)):
                try:
                    credential = self.vault.open(citizen_id, candidate.credential_id)
                except VaultError:
                    credential = None
                if credential is None or not credential.stored.usable(now):
                    raise SharingRefused("credential_unavailable")
                # Exactly the paths shown: what the query asked for, never another claim.
                presented.append(_Presented(query_id, credential, tuple(c.path for c in candidate.claims)))
        if not presented:
            raise SharingRefused("nothing_chosen")
        return presented

    @staticmethod
    def _chosen(credential_request: CredentialRequestView, choice: str | None) -> list[CandidateView]:
        candidates = list(credential_request.candidates)
        if choice is None:
            return candidates if credential_request.multiple else candidates[:1]
        picked = [c for c in candidates if c.credential_id == choice]
        if not picked:
            raise SharingRefused("invalid_choice")
        return picked

    # -- the consent ledger ---------------------------------------------------------------------------

    def _record(
        self, citizen_id: str, sharing: SharingRequest, items: list[list[Any]], language: str
    ) -> ConsentRecordIn:
        try:
            return self._build_record(citizen_id, sharing, items, language)
        except ValidationError:
            # The request names claims or parties no consent record can hold (over-long paths, …).
            raise SharingRefused("malformed_request", "the requested claims cannot be recorded") from None

    def _build_record(
        self, citizen_id: str, sharing: SharingRequest, items: list[list[Any]], language: str
    ) -> ConsentRecordIn:
        recipient = sharing.recipient
        items = [list(i) for i in dict.fromkeys(tuple(i) for i in items)]
        if len(items) > MAX_DATA_ITEMS:
            raise SharingRefused("too_many_claims")
        name = recipient.name
        name_ko, name_en = localized(name, "ko")[:500], localized(name, "en")[:500]
        service = recipient.service
        if service is not None:
            service_part = Service(id=service.id, name_ko=service.name["ko"], name_en=service.name["en"])
        else:
            service_part = Service(
                id="openid4vp-presentation", name_ko=f"{name_ko}에 제출"[:500], name_en=f"Sharing with {name_en}"[:500]
            )
        purpose = recipient.purpose or {
            "ko": "요청한 곳이 목적을 밝히지 않음",
            "en": "Purpose not stated by the requester",
        }
        start = datetime.fromtimestamp(self.clock(), UTC)
        return ConsentRecordIn(
            citizen=f"citizen:{citizen_id}",
            citizen_at_recipient=(
                self.subject_for(recipient.verifier_id.removeprefix("verifier:"), citizen_id)
                if self.subject_for is not None
                else None
            ),
            recipient=recipient.verifier_id,
            controller=Party(id=recipient.controller_id, name_ko=name_ko, name_en=name_en),
            service=service_part,
            purpose=Purpose(code=recipient.purpose_code, text_ko=purpose["ko"], text_en=purpose["en"]),
            legal_basis=LegalBasis(type="consent"),
            data_items=items,
            disclosure=sharing.view.disclosure,
            # Not stated: the record assumes the longest period a consent can name (ten years).
            retention_days=recipient.retention_days if recipient.retention_days is not None else 3650,
            validity=Validity(start=start, end=start + PRESENTATION_VALIDITY),
            frequency=Frequency(kind="one_time"),
            notice=Notice(
                sha256=sharing.view.notice_sha256,
                version=service.policy_version if service is not None else NOTICE_VERSION,
            ),
            method="wallet_app",
            actor=Actor(role="citizen"),
            language=language,  # type: ignore[arg-type]
        )

    def _open_record(self, citizen_id: str, sharing: SharingRequest, record: ConsentRecordIn | None) -> str | None:
        """A `requested` record of this citizen for this very request, left by a step that failed
        after recording it: reused rather than left open. For a grant, only one naming the same
        claims (`record`); a denial refuses whatever was requested."""
        items = record.model_dump(mode="json")["data_items"] if record is not None else None
        for consent in self.ledger.list_for_citizen(f"citizen:{citizen_id}"):
            if (
                consent.state == "requested"
                and consent.verifier_id == sharing.recipient.verifier_id
                and consent.record["notice"]["sha256"] == sharing.view.notice_sha256
                and (items is None or consent.record["data_items"] == items)
            ):
                return consent.id
        return None

    def _grant(self, citizen_id: str, sharing: SharingRequest, record: ConsentRecordIn) -> tuple[str, bool]:
        """Record and grant the consent; link it when the verifier's request id is known. Returns
        (record id, linked)."""
        recipient = sharing.recipient
        try:
            if recipient.request_id is not None:
                linked = self._linked_record(citizen_id, sharing, record)
                if linked is not None:
                    return linked, True
            record_id = self._open_record(citizen_id, sharing, record) or self.ledger.request(record)
            if recipient.request_id is not None:
                try:
                    link_presentation(self.ledger, record_id, recipient.verifier_id, recipient.request_id)
                except IntegrityError:  # answered meanwhile, from another session
                    self.ledger.withdraw(record_id, f"citizen:{citizen_id}")
                    raise SharingRefused("already_answered") from None
            self.ledger.grant(record_id, actor="citizen")
        except ConsentError:
            raise SharingRefused("consent_not_recorded") from None
        return record_id, recipient.request_id is not None

    def _linked_record(self, citizen_id: str, sharing: SharingRequest, record: ConsentRecordIn) -> str | None:
        """The consent already linked to this request: this citizen's own, granted and unused for
        the same notice and claims (a retry after the post did not get through), or a refusal."""
        recipient = sharing.recipient
        assert recipient.request_id is not None
        # Another citizen's refused answer may have left its link: it does not speak for this one.
        release_foreign_link(self.ledger, recipient.verifier_id, recipient.request_id, f"citizen:{citizen_id}")
        with Session(self.ledger.engine) as session:
            link = session.get(PresentationLink, (recipient.verifier_id, recipient.request_id))
        if link is None:
            return None
        try:
            consent = self.ledger.get_for_citizen(link.record_id, f"citizen:{citizen_id}")
        except ConsentNotFound:
            consent = None
        if (
            consent is not None
            and consent.state == "granted"
            and consent.record["notice"]["sha256"] == record.notice.sha256
            and consent.record["data_items"] == record.model_dump(mode="json")["data_items"]
        ):
            return consent.id
        raise SharingRefused("already_answered")

    # -- denying ----------------------------------------------------------------------------------------

    def deny(
        self, citizen_id: str, sharing: SharingRequest, *, language: Literal["ko", "en"] = "ko"
    ) -> PresentationOutcome:
        """Record the citizen's refusal and tell the verifier (`error=access_denied`, with `state`)."""
        self._check(citizen_id, sharing)
        try:
            record_id = self._open_record(citizen_id, sharing, None) or self.ledger.request(
                self._record(citizen_id, sharing, self._asked_items(sharing), language)
            )
            self.ledger.deny(record_id, actor="citizen")
        except ConsentError:
            raise SharingRefused("consent_not_recorded") from None
        request = sharing.request
        outcome = self._post(request.response_uri, {"error": "access_denied", "state": request.state})
        log.info("presentation denied", extra={"client_id": request.client_id, "status_code": outcome[0]})
        answered = self._outcome("denial", outcome, record_id, False)
        self._remember(lambda history: history.record_denial(citizen_id, sharing, answered))
        return answered

    @staticmethod
    def _asked_items(sharing: SharingRequest) -> list[list[Any]]:
        """What the request asked for, as data items: the shown candidate's claims where the
        citizen holds one, the query's own claim paths where she does not."""
        shown = {c.query_id: c.candidates[0] for c in sharing.view.credentials if c.candidates}
        items: list[list[Any]] = []
        for query in sharing.request.query.credentials:
            if query.id in shown:
                name, paths = shown[query.id].configuration_id, [c.path for c in shown[query.id].claims]
            else:
                name, paths = query.id, [c.path for c in query.claims or ()]
            items.extend([name, *path] for path in paths or [()])
        return items

    # -- talking to the verifier ------------------------------------------------------------------------

    def _post(self, url: str, form: dict[str, str]) -> tuple[int | None, dict[str, Any] | None]:
        """direct_post (§8.2): a form POST to the response URI, checked again now and connected to
        the checked address (the name may resolve elsewhere than when the request was opened)."""
        try:
            response = post_bounded(
                self.http, url, development=self.development, max_bytes=MAX_RESPONSE_BYTES, data=form
            )
        except (UnsafeURL, FetchFailed):
            return None, None
        try:
            parsed = json.loads(response.body)
        except ValueError:
            parsed = None
        return response.status_code, parsed if isinstance(parsed, dict) else None

    def _outcome(
        self,
        sent: Literal["presentation", "denial"],
        answer: tuple[int | None, dict[str, Any] | None],
        record_id: str | None,
        linked: bool,
    ) -> PresentationOutcome:
        status, body = answer
        said = body or {}
        accepted = status is not None and 200 <= status < 300
        error = description = redirect = None
        if status is None:
            error, description = "verifier_unreachable", "The verifier could not be reached."
        elif not accepted:
            # What the verifier said, bounded: it is shown to the citizen.
            error = str(said.get("error") or f"http_{status}")[:100]
            description = str(said["error_description"])[:500] if "error_description" in said else None
        elif isinstance(said.get("redirect_uri"), str) and self._followable(said["redirect_uri"]):
            redirect = said["redirect_uri"]
        return PresentationOutcome(
            sent=sent,
            accepted=accepted,
            status_code=status,
            body=body,
            error=error,
            error_description=description,
            redirect_uri=redirect,
            consent_record_id=record_id,
            linked_to_request=linked,
        )

    def _followable(self, url: str) -> bool:
        """A redirect the citizen's browser may follow: a web address (https outside development),
        never `javascript:` or a URL with credentials. Its fragment carries the response code."""
        parts = urlsplit(url)
        schemes = ("https", "http") if self.development else ("https",)
        return parts.scheme in schemes and bool(parts.hostname) and not (parts.username or parts.password)
