"""The wallet's side of OpenID4VCI 1.0 (pre-authorized code flow): read an offer, show the citizen
what it is, and on her acceptance receive, verify and store the credentials.

`parse_offer` answers what the citizen must see before accepting (who offers what, and whether a
code is needed); `receive` runs the flow: issuer and authorization server metadata, token request,
and per credential a nonce, a fresh holder key, a key proof and a credential request; then every
credential is verified (wallet/received_credential.py) and its status list must say VALID. Only
when all of that holds are the credentials stored, all in one transaction. Any failure is one
`ReceiveError` (wallet/receive_errors.py) naming its step and reason, and then nothing is stored
(and nothing recorded); a receipt is written to the citizen's history and announced in her inbox.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from keys import jws
from outbound.status_lists import CredentialRevoked, CredentialSuspended, StatusCheckFailed, StatusListClient
from vc.sd_jwt_vc import ISSUED_IN_CLEAR
from wallet.credential_offer import (
    CredentialOffer,
    TxCodePrompt,
    check_tx_code,
    read_offer_reference,
    validate_offer,
)
from wallet.history import CredentialClaims, History
from wallet.inbox import Inbox
from wallet.issuer_metadata import CredentialConfiguration, IssuerMetadata, names_by_locale
from wallet.oid4vci_client import AccessGrant, IssuerClient, key_proof
from wallet.receive_errors import ReceiveError
from wallet.received_credential import VerifiedCredential, claimed_issuer, verify_received
from wallet.status_keys import status_list_key
from wallet.vault import NewCredential, StoredCredential, Vault, new_holder_key

__all__ = ["CredentialReceiver", "Offer", "OfferedCredential", "ReceiveError", "TxCodePrompt"]

log = logging.getLogger("seoul_wallet.wallet")


@dataclass(frozen=True, slots=True)
class OfferedCredential:
    """One offered credential as the citizen is shown it."""

    configuration_id: str
    vct: str
    # {"issuer": {"name": {locale: …}}, "credential": {"name": {…}, "description": {…}, …},
    #  "claims": [{"path": [...], "name": {locale: …}}]}: what is stored beside the credential.
    display: dict[str, Any]


@dataclass(frozen=True)
class Offer:
    """What the citizen must be shown before accepting an offer."""

    credential_issuer: str
    issuer_name: dict[str, str]  # per locale, from the issuer's metadata (may be empty)
    credentials: tuple[OfferedCredential, ...]
    tx_code: TxCodePrompt | None  # not None: ask for the code, with this length, mode and description
    offer: CredentialOffer = field(repr=False)

    @property
    def tx_code_required(self) -> bool:
        return self.tx_code is not None

    @property
    def credential_offer(self) -> dict[str, Any]:
        """The offer object, to carry to the accept step (`parse_offer({"credential_offer": json})`).
        It holds the pre-authorized code: keep it server-side or in a protected form field."""
        return self.offer.raw


@dataclass(frozen=True, slots=True)
class _Received:
    credential: str
    holder_key: Any
    configuration: CredentialConfiguration


class CredentialReceiver:
    def __init__(
        self,
        vault: Vault,
        http: httpx.Client,
        *,
        development: bool = False,
        clock: Callable[[], float] = time.time,
        status_lists: StatusListClient | None = None,
        history: History | None = None,
        inbox: Inbox | None = None,
    ) -> None:
        self.vault = vault
        self.history = history
        self.inbox = inbox
        self.development = development
        self.clock = clock
        self.issuers = IssuerClient(http, development=development)
        self.status_lists = status_lists or StatusListClient(http, allow_http=development, clock=clock)

    # -- the offer -------------------------------------------------------------------------------

    def read_offer(self, link_or_params: str | Mapping[str, Any]) -> CredentialOffer:
        """The validated offer object, fetched first when it comes by reference; no metadata."""
        reference = read_offer_reference(link_or_params)
        value = reference.offer if reference.uri is None else self.issuers.offer_by_reference(reference.uri)
        return validate_offer(value, development=self.development)

    def parse_offer(self, link_or_params: str | Mapping[str, Any]) -> Offer:
        """Read an offer link (`openid-credential-offer://?credential_offer=…` or
        `?credential_offer_uri=…`, or those parameters as given to the wallet's offer endpoint) and
        the issuer's metadata, for the citizen to decide."""
        offer = self.read_offer(link_or_params)
        metadata = self.issuers.issuer_metadata(offer.credential_issuer)
        configurations = [metadata.configuration(i) for i in offer.configuration_ids]
        return Offer(
            credential_issuer=offer.credential_issuer,
            issuer_name=names_by_locale(metadata.display),
            credentials=tuple(OfferedCredential(c.id, c.vct, c.display) for c in configurations),
            tx_code=offer.tx_code,
            offer=offer,
        )

    # -- receiving -------------------------------------------------------------------------------

    def receive(
        self, citizen_id: str, offer: Offer | CredentialOffer, tx_code: str | None = None
    ) -> list[StoredCredential]:
        """Redeem `offer` for the citizen, verify every credential and store them all; `ReceiveError`
        (and nothing stored) otherwise."""
        credential_offer = offer.offer if isinstance(offer, Offer) else offer
        # Refusals that need no request come first: no wallet, or a code missing or mistyped (which
        # would otherwise spend one of the issuer's few attempts).
        if not self.vault.has_account(citizen_id):
            raise ReceiveError("wallet", "no_wallet")
        code = check_tx_code(credential_offer.tx_code, tx_code)
        metadata = self.issuers.issuer_metadata(credential_offer.credential_issuer)
        configurations = [metadata.configuration(i) for i in credential_offer.configuration_ids]
        token_endpoint = self.issuers.token_endpoint(metadata, credential_offer.authorization_server)
        grant = self.issuers.token(token_endpoint, credential_offer.pre_authorized_code, code)
        received = [item for c in configurations for item in self._request_credentials(metadata, grant, c)]
        verified = self._verify_all(citizen_id, credential_offer.credential_issuer, received)
        stored = self.vault.store_all(
            citizen_id,
            [
                NewCredential(
                    sd_jwt=v.sd_jwt,
                    holder_key=v.holder_key,
                    issuer=credential_offer.credential_issuer,
                    vct=v.configuration.vct,
                    configuration_id=v.configuration.id,
                    display=v.configuration.display,
                )
                for v in verified
            ],
        )
        self._announce(citizen_id, metadata, stored, verified)
        return stored

    def _announce(
        self,
        citizen_id: str,
        metadata: IssuerMetadata,
        stored: list[StoredCredential],
        verified: list[VerifiedCredential],
    ) -> None:
        """The history entry and the inbox items of a receipt. The credentials are stored by now:
        a failure here is logged, never turned into a failed receipt (the offer is spent)."""
        issuer_name = names_by_locale(metadata.display)
        try:
            if self.history is not None:
                issued = [
                    # Claim names only: the registered claims (iss, cnf, status, …) are metadata.
                    CredentialClaims(s.configuration_id, s.vct, sorted(set(v.claims) - ISSUED_IN_CLEAR), s.id)
                    for s, v in zip(stored, verified, strict=True)
                ]
                self.history.record_issuance(citizen_id, metadata.credential_issuer, issuer_name, issued)
            if self.inbox is not None:
                for credential in stored:
                    payload = {
                        "credential_id": credential.id,
                        "type": credential.configuration_id,
                        "vct": credential.vct,
                        "issuer": credential.issuer,
                        "issuer_name": issuer_name,
                        "credential_name": credential.display.get("credential", {}).get("name", {}),
                    }
                    self.inbox.add(citizen_id, "credential_received", f"credential_received:{credential.id}", payload)
        except Exception:
            log.exception("receive: history or inbox not written")

    def _request_credentials(
        self, metadata: IssuerMetadata, grant: AccessGrant, configuration: CredentialConfiguration
    ) -> list[_Received]:
        """One Credential Request per credential dataset of the configuration (one, unless the
        token response listed `credential_identifiers`), each bound to a fresh holder key, so two
        credentials can never be linked by their `cnf`."""
        identifiers = grant.identifiers_for(configuration.id)
        targets: list[dict[str, Any]] = (
            [{"credential_identifier": i} for i in identifiers]
            if identifiers
            else [{"credential_configuration_id": configuration.id}]
        )
        out = []
        for target in targets:
            holder_key = new_holder_key()
            credentials = self._request_with_fresh_nonce(metadata, grant, target, holder_key)
            if len(credentials) != 1:  # one proof, one key: at most one credential can be bound to it
                raise ReceiveError("credential", "unexpected_credentials", f"{len(credentials)} for one proof")
            out.append(_Received(credentials[0], holder_key, configuration))
        return out

    def _request_with_fresh_nonce(
        self, metadata: IssuerMetadata, grant: AccessGrant, target: dict[str, Any], holder_key: Any
    ) -> list[str]:
        # §8.3.1.2: on invalid_nonce "the wallet should retrieve a new c_nonce value"; once is enough
        # to get past a nonce that expired while the citizen typed her code.
        for attempt in range(2):
            nonce = self.issuers.nonce(metadata.nonce_endpoint) if metadata.nonce_endpoint else None
            proof = key_proof(holder_key, audience=metadata.credential_issuer, nonce=nonce, iat=int(self.clock()))
            request = {**target, "proofs": {"jwt": [proof]}}
            try:
                return self.issuers.credential(metadata.credential_endpoint, grant.access_token, request)
            except ReceiveError as exc:
                if exc.reason != "invalid_nonce" or attempt or nonce is None:
                    raise
        raise AssertionError("unreachable")

    def _verify_all(self, citizen_id: str, issuer: str, received: list[_Received]) -> list[VerifiedCredential]:
        """Verify every credential, then check every status: all before anything is stored."""
        # `iss` is compared with the offer's issuer before its keys are fetched, so a credential
        # cannot make the wallet fetch keys from anywhere else.
        for item in received:
            if claimed_issuer(item.credential) != issuer:
                raise ReceiveError("verification", "issuer_mismatch", "iss is not the offer's credential_issuer")
        jwks = self.issuers.issuer_jwks(issuer)
        now = int(self.clock())
        verified = [
            verify_received(
                item.credential,
                issuer=issuer,
                jwks=jwks,
                configuration=item.configuration,
                holder_key=item.holder_key,
                citizen_id=citizen_id,
                now=now,
            )
            for item in received
        ]
        for credential in verified:
            if credential.status is not None:
                self._check_status(credential.status, jwks)
        return verified

    def _check_status(self, reference: tuple[int, str], jwks: dict[str, Any]) -> None:
        """The Token Status List entry must say VALID; the list is signed by the same issuer."""
        index, uri = reference
        try:
            self.status_lists.check(uri, index, status_list_key(jwks))
        except CredentialRevoked:
            raise ReceiveError("status", "revoked") from None
        except CredentialSuspended:
            raise ReceiveError("status", "suspended") from None
        except (StatusCheckFailed, jws.JWSError) as exc:
            raise ReceiveError("status", "status_unavailable", str(exc)) from None
