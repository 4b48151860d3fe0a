"""Consent receipts: a JWT the ledger signs on every grant, verifiable offline with its public keys.

A receipt carries the record, the event with the salt that opens its commitment, the leaf, a signed
checkpoint and the inclusion proof of the leaf in that checkpoint's tree. With only the ledger's
JWKS a holder checks all of it; with a later checkpoint and a consistency proof, anyone turns it
into proof that the grant is in the current log.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from consent import merkle
from consent.checkpoint import Checkpoint, CheckpointError, NoteVerifier, open_checkpoint
from consent.log import make_entry
from keys import jws
from keys.jwk import JWKError, b64url_decode, b64url_encode, load_public_jwk
from vc.canonical_json import canonical_json

RECEIPT_TYP = "consent-receipt+jwt"


class ReceiptError(ValueError):
    """The receipt does not verify; the message says which part failed."""


def commitment(salt: bytes, record: dict[str, Any], event: dict[str, Any]) -> str:
    """The salted hash a leaf carries: SHA-256(salt || JCS({record, event})), base64url.

    Without the salt nobody can test a guess of the record against the leaf; erasing the salt
    unlinks the leaf from the citizen for good."""
    digest = hashlib.sha256(salt + canonical_json({"record": record, "event": event})).digest()
    return b64url_encode(digest)


def note_verifiers(jwks: dict[str, Any], origin: str) -> list[NoteVerifier]:
    """Signed-note verifier keys for the Ed25519 keys of a ledger JWKS (same keys, two encodings)."""
    verifiers = []
    for jwk in jwks.get("keys", []) if isinstance(jwks, dict) else []:
        try:
            key = load_public_jwk({k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")})
        except (JWKError, AttributeError):
            continue
        if isinstance(key, ed25519.Ed25519PublicKey):
            verifiers.append(NoteVerifier.from_public_key(origin, key))
    return verifiers


def _jwks_resolver(jwks: dict[str, Any]) -> jws.KeyResolver:
    by_kid = {jwk.get("kid"): jwk for jwk in jwks.get("keys", []) if isinstance(jwk, dict)}

    def resolve(header: dict[str, Any], payload: dict[str, Any]) -> jws.PublicKey:
        jwk = by_kid.get(header.get("kid"))
        if jwk is None:
            raise jws.UnknownKey("the receipt names no key of the ledger")
        try:
            return load_public_jwk({k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")})
        except JWKError as exc:
            raise jws.UnknownKey(str(exc)) from None

    return resolve


@dataclass(frozen=True, slots=True)
class VerifiedReceipt:
    claims: dict[str, Any]
    checkpoint: Checkpoint
    leaf_index: int
    leaf_hash: bytes


def verify_receipt(token: str, jwks: dict[str, Any], origin: str) -> VerifiedReceipt:
    """Check a receipt offline: signature (ledger JWKS), checkpoint signature (same keys), the
    commitment recomputed from record + event + salt, the leaf, and its inclusion proof."""
    try:
        verified = jws.verify(token, _jwks_resolver(jwks), algorithms={"EdDSA"}, typ=RECEIPT_TYP)
    except jws.JWSError as exc:
        raise ReceiptError(f"receipt signature: {exc}") from None
    claims = verified.payload
    try:
        record, event, log = claims["consent"], claims["event"], claims["log"]
        salt = b64url_decode(event["salt"])
        opened = {k: event[k] for k in ("type", "time", "actor", "details")}
        index = log["leaf_index"]
        proof = [base64.b64decode(p, validate=True) for p in log["inclusion_proof"]]
        note = log["checkpoint"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ReceiptError(f"receipt structure: {exc}") from None
    if not isinstance(record, dict) or type(index) is not int or record.get("id") != claims.get("sub"):
        raise ReceiptError("receipt structure: record, sub and leaf index disagree")
    if commitment(salt, record, opened) != event.get("commitment"):
        raise ReceiptError("the commitment does not open to this record and event")
    entry = make_entry(index, event["time"], event["type"], event["commitment"])
    leaf = merkle.leaf_hash(entry)
    try:
        checkpoint = open_checkpoint(note, note_verifiers(jwks, origin), origin)
        merkle.verify_inclusion(leaf, index, checkpoint.tree_size, proof, checkpoint.root_hash)
    except (CheckpointError, merkle.ProofError) as exc:
        raise ReceiptError(f"log inclusion: {exc}") from None
    return VerifiedReceipt(claims=claims, checkpoint=checkpoint, leaf_index=index, leaf_hash=leaf)


def verify_in_current_log(receipt: VerifiedReceipt, current: Checkpoint, consistency: list[bytes]) -> None:
    """The receipt's leaf is in the log at `current` (a verified checkpoint): its checkpoint is a
    prefix of the current one. Raises `ReceiptError` otherwise."""
    old = receipt.checkpoint
    if current.origin != old.origin:
        raise ReceiptError("the checkpoints are of different logs")
    try:
        merkle.verify_consistency(old.tree_size, current.tree_size, old.root_hash, current.root_hash, consistency)
    except merkle.ProofError as exc:
        raise ReceiptError(f"consistency with the current log: {exc}") from None
