"""OpenID4VCI 1.0 issuer side, pre-authorized code flow: metadata, token, nonce and credential.

Each endpoint validates everything it can before writing; a request's write is a single conditional
statement (state, and for the credential the spent nonce in a unique column), so double redemption
and nonce replay fail even when two workers race, and nothing is ever half written.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import Connection, Row, bindparam, case, select, update
from sqlalchemy.exc import IntegrityError

from auth.rate_limits import PIN_ADDRESS, current_caller
from issuers.agencies import AgencyInfo
from issuers.context import IssuerContext
from issuers.credential_types import DISPLAY_LOCALES, ClaimSpec
from issuers.models import Offer
from issuers.offers import MAX_TX_ATTEMPTS, PRE_AUTHORIZED_GRANT
from issuers.sealing import sha256_hex
from keys import jws
from keys.jwk import thumbprint
from keys.subjects import SUBJECT_CLAIM
from vc.sd_jwt_vc import SD_JWT_VC_TYP, issue_sd_jwt_vc

PROOF_TYP = "openid4vci-proof+jwt"
PROOF_ALGORITHMS = ("ES256",)
CREDENTIAL_SIGNING_ALGORITHMS = ("ES256",)
ACCESS_TOKEN_TTL = 600
NONCE_TTL = 300
PROOF_MAX_AGE = 300  # a proof's iat may be this old…
PROOF_FUTURE_SKEW = 60  # …or this far in the future (clock skew)
DECOYS = 2  # hide how many claims a credential carries
# Every credential type carries the citizen's platform id as `sub` (OpenID4VCI §12.2.4 claims
# description; SD-JWT VC §3.2.2.2 lets `sub` be selectively disclosable).
SUBJECT_CLAIM_METADATA: dict[str, Any] = {
    "path": [SUBJECT_CLAIM],
    "mandatory": True,
    "display": [
        {"name": "서울지갑 이용자 번호 (가명)", "locale": "ko"},
        {"name": "Seoul Wallet user id (pseudonymous)", "locale": "en"},
    ],
}
_OFFERS = Offer.__table__
_ISSUANCE_COLUMNS = (
    "state",
    "claims_sealed",
    "access_token_hash",
    "issued_at",
    "credential_expires_at",
    "status_list_id",
    "status_index",
    "status",
    "holder_jkt",
    "c_nonce_hash",
)
# The hot statements are built once, with bound parameters: building a statement per request
# costs more Python than executing it does.
_OFFER_BY_ID = select(_OFFERS).where(_OFFERS.c.id == bindparam("b_id"))
_OFFER_BY_TOKEN = select(_OFFERS).where(_OFFERS.c.access_token_hash == bindparam("b_token_hash"))
_REDEEM = (
    update(_OFFERS)
    .where(_OFFERS.c.id == bindparam("b_id"), _OFFERS.c.state == "offered", _OFFERS.c.expires_at > bindparam("b_now"))
    .values(
        state="token_issued",
        access_token_hash=bindparam("b_token_hash"),
        access_token_expires_at=bindparam("b_token_expires_at"),
    )
)
# With a PIN, the redemption also takes one of the attempts left.
_REDEEM_WITH_PIN = _REDEEM.where(_OFFERS.c.tx_attempts < MAX_TX_ATTEMPTS).values(tx_attempts=_OFFERS.c.tx_attempts + 1)
_WRONG_PIN = (
    update(_OFFERS)
    .where(_OFFERS.c.id == bindparam("b_id"), _OFFERS.c.state == "offered", _OFFERS.c.tx_attempts < MAX_TX_ATTEMPTS)
    .values(
        tx_attempts=_OFFERS.c.tx_attempts + 1,
        # SET expressions read the row as it was: the attempt that reaches the limit locks.
        state=case((_OFFERS.c.tx_attempts + 1 >= MAX_TX_ATTEMPTS, "locked"), else_=_OFFERS.c.state),
    )
    .returning(_OFFERS.c.tx_attempts)
)
_ISSUE = (
    update(_OFFERS)
    .where(_OFFERS.c.id == bindparam("b_id"), _OFFERS.c.state == "token_issued")
    .values({name: bindparam(f"b_{name}") for name in _ISSUANCE_COLUMNS})
)


def _claim_display(spec: ClaimSpec) -> list[dict[str, str]]:
    """A claim's display array (§12.2.4 claims description), Korean first: a wallet that takes the
    first entry when it does not know the citizen's locale then shows the Korean name."""
    order = {locale: rank for rank, locale in enumerate(DISPLAY_LOCALES)}
    ranked = sorted(spec.display.items(), key=lambda item: order.get(item[0], len(order)))
    return [{"name": name, "locale": locale} for locale, name in ranked]


class OID4VCIError(Exception):
    """An error response in the spec's terms: `error` code, HTTP status, optional extra headers."""

    def __init__(self, error: str, description: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.error, self.description, self.status, self.headers = error, description, status, headers or {}


class WrongTransactionCode(OID4VCIError):
    """A wrong PIN: it spent one of the offer's attempts, and counts against the caller's address."""


def _invalid_token(description: str) -> OID4VCIError:
    return OID4VCIError(
        "invalid_token",
        description,
        401,
        {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'},
    )


def _redemption_refusal(offer: Row[Any], now: int) -> OID4VCIError | None:
    """Why `offer` cannot be redeemed now, or None if it can: checked before redeeming, and again
    to explain a conditional redemption that found the offer changed."""
    if offer.state == "locked" or (offer.state == "offered" and offer.tx_attempts >= MAX_TX_ATTEMPTS):
        return OID4VCIError("invalid_grant", "the offer is locked after too many wrong transaction codes")
    if offer.state != "offered":
        return OID4VCIError("invalid_grant", "the pre-authorized code has already been used")
    if offer.expires_at <= now:
        return OID4VCIError("invalid_grant", "the pre-authorized code has expired")
    return None


class OID4VCIIssuer:
    def __init__(self, context: IssuerContext) -> None:
        self.context = context

    # -- metadata ----------------------------------------------------------------------------------

    def credential_issuer_metadata(self, agency: AgencyInfo) -> dict[str, Any]:
        """Credential Issuer Metadata (§12.2.4); the issuer is its own authorization server."""
        issuer = self.context.issuer_id(agency.slug)
        configurations: dict[str, Any] = {}
        for type_id in agency.credential_types:
            ctype = self.context.types.get(type_id)
            if ctype is None:
                continue
            configurations[type_id] = {
                "format": "dc+sd-jwt",
                "vct": ctype.vct,
                "cryptographic_binding_methods_supported": ["jwk"],
                "credential_signing_alg_values_supported": list(CREDENTIAL_SIGNING_ALGORITHMS),
                "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": list(PROOF_ALGORITHMS)}},
                "credential_metadata": {
                    "display": [{"name": name, "locale": locale} for locale, name in ctype.name.items()],
                    "claims": [
                        SUBJECT_CLAIM_METADATA,
                        *(
                            {
                                "path": [name],
                                "mandatory": spec.mandatory,
                                "display": _claim_display(spec),
                            }
                            for name, spec in ctype.claims.items()
                        ),
                    ],
                },
            }
        return {
            "credential_issuer": issuer,
            "credential_endpoint": f"{issuer}/credential",
            "nonce_endpoint": f"{issuer}/nonce",
            "display": [{"name": name, "locale": locale} for locale, name in agency.name.items()],
            "credential_configurations_supported": configurations,
        }

    def authorization_server_metadata(self, agency: AgencyInfo) -> dict[str, Any]:
        """RFC 8414 metadata of the issuer acting as its own authorization server (§12.3)."""
        issuer = self.context.issuer_id(agency.slug)
        return {
            "issuer": issuer,
            "token_endpoint": f"{issuer}/token",
            "grant_types_supported": [PRE_AUTHORIZED_GRANT],
            "pre-authorized_grant_anonymous_access_supported": True,
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": ["none"],
        }

    def jwt_vc_issuer_metadata(self, agency: AgencyInfo) -> dict[str, Any]:
        """`/.well-known/jwt-vc-issuer` (SD-JWT VC §4): the keys are inline, every published key."""
        return {"issuer": self.context.issuer_id(agency.slug), "jwks": self.context.keyring.jwks(agency.owner)}

    # -- token endpoint ------------------------------------------------------------------------------

    def token(self, agency: AgencyInfo, form: dict[str, list[str]]) -> dict[str, Any]:
        """Exchange a pre-authorized code (and transaction code) for an access token (§6)."""
        known = ("grant_type", "pre-authorized_code", "tx_code")
        for name in known:
            if len(form.get(name, [])) > 1:
                raise OID4VCIError("invalid_request", f"{name} is repeated")
        single = {name: form[name][0] for name in known if form.get(name)}
        grant_type = single.get("grant_type")
        if grant_type is None:
            raise OID4VCIError("invalid_request", "grant_type is missing")
        if grant_type != PRE_AUTHORIZED_GRANT:
            raise OID4VCIError("unsupported_grant_type", "only the pre-authorized code grant is supported")
        code = single.get("pre-authorized_code")
        if code is None:
            raise OID4VCIError("invalid_request", "pre-authorized_code is missing")
        offer_id = self.context.secrets.offer_id_from_code(code)
        now = int(time.time())
        # PINs are few (a 4-digit one has 10,000 values): an offer locks after MAX_TX_ATTEMPTS wrong
        # ones, and an address that sprays guesses over many offers is stopped by its own count of
        # wrong PINs (checked before any PIN is, so the answer to a guess is never given).
        caller = current_caller() if single.get("tx_code") is not None else None
        refusal = caller.check((PIN_ADDRESS, caller.address)) if caller is not None else None
        if refusal is not None:
            # RFC 6749 §5.2 (which §6.3 uses) has no code for "not now": see auth/server.py.
            wait = refusal.retry_after
            description = f"too many wrong transaction codes from this address; try again in {wait} s"
            raise OID4VCIError("temporarily_unavailable", description, 429, {"Retry-After": str(wait)})
        try:
            return self._redeem(agency, single, offer_id, now)
        except WrongTransactionCode:
            if caller is not None:
                caller.count((PIN_ADDRESS, caller.address))
            raise

    def _redeem(self, agency: AgencyInfo, single: dict[str, str], offer_id: str | None, now: int) -> dict[str, Any]:
        """The checks and the conditional redemption of `token`, on one autocommit connection."""
        with self._autocommit() as connection:
            offer = connection.execute(_OFFER_BY_ID, {"b_id": offer_id}).first() if offer_id is not None else None
            if offer is None or offer.agency != agency.slug:
                raise OID4VCIError("invalid_grant", "the pre-authorized code is not valid")
            refusal = _redemption_refusal(offer, now)
            if refusal is not None:
                raise refusal
            tx_code = single.get("tx_code")
            if offer.tx_code_mac is None and tx_code is not None:
                raise OID4VCIError("invalid_request", "this offer takes no transaction code")
            if offer.tx_code_mac is not None and tx_code is None:
                raise OID4VCIError("invalid_request", "a transaction code (tx_code) is required")
            with_pin = offer.tx_code_mac is not None
            if with_pin and not secrets.compare_digest(
                self.context.secrets.tx_code_mac(offer.id, tx_code).encode(), offer.tx_code_mac.encode()
            ):
                # A wrong PIN spends an attempt, and the last one locks the offer, in one conditional
                # statement. Every answer (a right PIN too) needs an attempt still free, so parallel
                # guesses never get more than MAX_TX_ATTEMPTS answers between them.
                spent = connection.execute(_WRONG_PIN, {"b_id": offer.id}).first()
                if spent is None:
                    raise self._not_redeemable(connection, offer.id, now)
                left = max(MAX_TX_ATTEMPTS - int(spent[0]), 0)
                raise WrongTransactionCode("invalid_grant", f"wrong transaction code; {left} attempt(s) left")
            access_token = secrets.token_urlsafe(32)
            # The redemption is this one conditional statement: it fails when another request
            # redeemed the code first (or, with a PIN, the attempts ran out), even from the other worker.
            result = connection.execute(
                _REDEEM_WITH_PIN if with_pin else _REDEEM,
                {
                    "b_id": offer.id,
                    "b_now": now,
                    "b_token_hash": sha256_hex(access_token),
                    "b_token_expires_at": now + ACCESS_TOKEN_TTL,
                },
            )
            if result.rowcount != 1:
                raise self._not_redeemable(connection, offer.id, now)
        return {"access_token": access_token, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_TTL}

    @staticmethod
    def _not_redeemable(connection: Connection, offer_id: str, now: int) -> OID4VCIError:
        """Why a conditional redemption found no row: another request changed the offer first."""
        offer = connection.execute(_OFFER_BY_ID, {"b_id": offer_id}).first()
        refusal = _redemption_refusal(offer, now) if offer is not None else None
        return refusal or OID4VCIError("invalid_grant", "the pre-authorized code has already been used")

    # -- nonce endpoint ------------------------------------------------------------------------------

    def nonce(self, agency: AgencyInfo) -> dict[str, str]:
        """A fresh single-use `c_nonce` (§7); stateless until it is used."""
        return {"c_nonce": self.context.secrets.c_nonce(agency.slug, int(time.time()) + NONCE_TTL)}

    # -- credential endpoint ---------------------------------------------------------------------------

    def _offer_for_token(self, connection: Connection, agency: AgencyInfo, authorization: str | None) -> Row[Any]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise OID4VCIError(
                "invalid_token", "a bearer access token is required", 401, {"WWW-Authenticate": "Bearer"}
            )
        offer = connection.execute(_OFFER_BY_TOKEN, {"b_token_hash": sha256_hex(token.strip())}).first()
        if offer is None or offer.agency != agency.slug:
            raise _invalid_token("the access token is not valid")
        if offer.state != "token_issued":
            raise _invalid_token("the access token has already been used")
        if offer.access_token_expires_at is None or offer.access_token_expires_at <= int(time.time()):
            raise _invalid_token("the access token has expired")
        return offer

    def _verify_proof(self, agency: AgencyInfo, proof: Any, now: int) -> tuple[dict[str, Any], str]:
        """Check one `jwt` key proof (Appendix F.1); returns the holder JWK and the proof's nonce."""
        if not isinstance(proof, str):
            raise OID4VCIError("invalid_proof", "a jwt proof must be a string")
        try:
            header = jws.read_header(proof)
        except jws.JWSError as exc:
            raise OID4VCIError("invalid_proof", f"the proof is not a JWS: {exc}") from None
        if header.get("typ") != PROOF_TYP:
            raise OID4VCIError("invalid_proof", f"the proof typ must be {PROOF_TYP}")
        if header.get("alg") not in PROOF_ALGORITHMS:
            raise OID4VCIError("invalid_proof", f"the proof alg must be one of {', '.join(PROOF_ALGORITHMS)}")
        named = [name for name in ("jwk", "kid", "x5c") if name in header]
        if named != ["jwk"]:
            raise OID4VCIError("invalid_proof", "the proof header must name its key with jwk (and nothing else)")
        try:
            verified, jwk = jws.verify_with_header_jwk(proof, typ=PROOF_TYP)
        except jws.JWSError as exc:
            raise OID4VCIError("invalid_proof", f"the proof does not verify: {exc}") from None
        payload = verified.payload
        if payload.get("aud") != self.context.issuer_id(agency.slug):
            raise OID4VCIError("invalid_proof", "the proof aud must be the credential issuer identifier")
        iat = payload.get("iat")
        if type(iat) not in (int, float) or not now - PROOF_MAX_AGE <= iat <= now + PROOF_FUTURE_SKEW:
            raise OID4VCIError("invalid_proof", "the proof iat is missing or not recent")
        nonce = payload.get("nonce")
        if not isinstance(nonce, str) or not nonce:
            raise OID4VCIError("invalid_proof", "the proof carries no nonce from the nonce endpoint")
        return {k: jwk[k] for k in ("kty", "crv", "x", "y") if k in jwk}, nonce

    def credential(self, agency: AgencyInfo, authorization: str | None, body: Any) -> dict[str, Any]:
        """Issue the SD-JWT VC the access token's offer describes, bound to the proof's key (§8)."""
        now = int(time.time())
        # The connection goes back to the pool while the proof is checked and the credential
        # signed (which takes a connection of its own for status indexes), so a request never
        # holds two: under load, 40 requests holding one each could otherwise starve the pool.
        with self._autocommit() as connection:
            offer = self._offer_for_token(connection, agency, authorization)
        if not isinstance(body, dict):
            raise OID4VCIError("invalid_credential_request", "the request body must be a JSON object")
        if "credential_identifier" in body:
            # Only valid after a token response with authorization_details, which we never send.
            raise OID4VCIError("invalid_credential_request", "credential_identifier is not used by this issuer")
        config_id = body.get("credential_configuration_id")
        if config_id is None:
            raise OID4VCIError("invalid_credential_request", "credential_configuration_id is missing")
        if not isinstance(config_id, str) or config_id not in agency.credential_types:
            raise OID4VCIError("unknown_credential_configuration", "this issuer has no such credential configuration")
        if config_id != offer.credential_type:
            raise OID4VCIError("invalid_credential_request", "the access token was not granted for this credential")
        proofs = body.get("proofs")
        if proofs is None:
            raise OID4VCIError("invalid_proof", "proofs is missing: this credential is bound to a holder key")
        if not isinstance(proofs, dict) or len(proofs) != 1:
            raise OID4VCIError("invalid_credential_request", "proofs must hold exactly one proof type")
        if "jwt" not in proofs:
            raise OID4VCIError("invalid_proof", "only the jwt proof type is supported")
        jwt_proofs = proofs["jwt"]
        if not isinstance(jwt_proofs, list) or not jwt_proofs:
            raise OID4VCIError("invalid_credential_request", "proofs.jwt must be a non-empty array")
        if len(jwt_proofs) != 1:
            raise OID4VCIError("invalid_credential_request", "batch issuance is not supported: send one proof")
        holder_jwk, nonce = self._verify_proof(agency, jwt_proofs[0], now)

        if not self.context.secrets.check_c_nonce(agency.slug, nonce, now):
            raise OID4VCIError("invalid_nonce", "the nonce is unknown or expired")
        # Sign first, write after. The write is one conditional UPDATE of the offer that records
        # the issuance and spends the nonce together (its unique column makes a replay fail,
        # even from the other worker), so it is all or nothing and on SQLite holds the write
        # lock for that statement only.
        credential, changes = self._sign(agency, offer, holder_jwk, now)
        with self._autocommit() as connection:
            try:
                values = {**changes, "c_nonce_hash": sha256_hex(nonce)}
                result = connection.execute(
                    _ISSUE, {"b_id": offer.id, **{f"b_{name}": values[name] for name in _ISSUANCE_COLUMNS}}
                )
            except IntegrityError:
                raise OID4VCIError("invalid_nonce", "the nonce has already been used") from None
            if result.rowcount != 1:
                raise _invalid_token("the access token has already been used")
        return {"credentials": [{"credential": credential}]}

    def _autocommit(self) -> Connection:
        # Each statement is its own transaction: on SQLite the write lock is taken and released
        # inside one statement's execution, with no Python (and no wait for the GIL) in between,
        # so the two workers' writes queue for microseconds instead of milliseconds.
        return self.context.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def _sign(
        self, agency: AgencyInfo, offer: Row[Any], holder_jwk: dict[str, Any], now: int
    ) -> tuple[str, dict[str, Any]]:
        """The SD-JWT VC for `offer`, and the offer's changes that record its issuance."""
        ctype = self.context.types[offer.credential_type]
        assert offer.claims_sealed is not None
        subject_claims = self.context.secrets.open_claims(offer.id, offer.claims_sealed)
        allocation = self.context.status_lists.take(self.context.engine, agency.slug)
        expires = now + ctype.validity_days * 86400
        claims: dict[str, Any] = {
            "iss": self.context.issuer_id(agency.slug),
            "vct": ctype.vct,
            "iat": now,
            "exp": expires,
            "status": {
                "status_list": {
                    "idx": allocation.index,
                    "uri": self.context.status_lists.uri(agency.slug, allocation.list_id),
                }
            },
            **subject_claims,
            # Who the credential is about, disclosable like any claim: a verifier asks for it in
            # every credential query and accepts a response only when all its credentials share it.
            SUBJECT_CLAIM: offer.subject,
        }
        key = self.context.keyring.active_key(agency.owner)
        credential = issue_sd_jwt_vc(
            claims,
            key.private_key,
            kid=key.kid,
            disclosable=[(SUBJECT_CLAIM,), *ctype.disclosable_paths(subject_claims)],
            holder_jwk=holder_jwk,
            decoys=DECOYS,
        )
        changes = {
            "state": "issued",
            "claims_sealed": None,  # the issuer keeps no copy of what it issued
            "access_token_hash": None,
            "issued_at": now,
            "credential_expires_at": expires,
            "status_list_id": allocation.list_id,
            "status_index": allocation.index,
            "status": 0,
            "holder_jkt": thumbprint(holder_jwk),
        }
        return credential, changes


__all__ = ["SD_JWT_VC_TYP", "OID4VCIError", "OID4VCIIssuer"]
