"""The trusted-issuer registry: which issuers verifiers accept, for which credential types (`vct`),
and their current public keys, fetched from each issuer's `/.well-known/jwt-vc-issuer` metadata.

An issuer outside the registry is never trusted, whatever key its token names; an issuer in the
registry is trusted only for the `vct` values listed for it.

It lives in verifiers/ rather than keys/ (where DESIGN.md first placed it) because it reads SD-JWT VC
issuer metadata through vc/, and keys/ sits below vc/ in the import order.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from keys import jws
from keys.jwk import PublicKey
from outbound.urls import FetchFailed, UnsafeURL, fetch_bounded
from vc.sd_jwt_vc import (
    IssuerMetadataError,
    jwt_vc_issuer_metadata_url,
    key_from_jwks,
    keys_from_jwt_vc_issuer_metadata,
)

# How long fetched issuer keys are reused. A kid not in the cached set triggers one refetch (at
# most every MIN_REFETCH seconds), so a rotation is picked up at once without letting unknown
# kids force a fetch per request.
KEYS_TTL = 300.0
MIN_REFETCH = 10.0
MAX_METADATA_BYTES = 64 * 1024


class TrustedIssuer(SQLModel, table=True):
    __tablename__ = "trusted_issuers"

    issuer: str = Field(primary_key=True, max_length=300, description="issuer identifier, compared exactly")
    name: str = Field(default="", max_length=200)
    vcts: str = Field(description="JSON list of the vct values this issuer is trusted for")
    added_at: int


@dataclass(frozen=True, slots=True)
class TrustedIssuerInfo:
    issuer: str
    name: str
    vcts: tuple[str, ...]


class IssuerNotTrusted(jws.UnknownKey):
    reason = "issuer_not_trusted"


class IssuerKeysUnavailable(jws.UnknownKey):
    reason = "issuer_keys_unavailable"


class TrustedIssuerRegistry:
    """Implements `vc.sd_jwt_vc.IssuerKeyResolver` over the registry and the issuers' metadata."""

    def __init__(self, engine: Engine, http: httpx.Client, *, allow_http: bool = False) -> None:
        self._engine = engine
        self.http = http
        self._allow_http = allow_http
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[float, dict[str, Any]]] = {}  # iss -> (fetched at, jwks)
        # Imported keys by (iss, kid), valid as long as the JWKS they came from is the cached one.
        self._imported: dict[tuple[str, str | None], tuple[float, PublicKey]] = {}
        self._trusted: tuple[float, dict[str, TrustedIssuerInfo]] | None = None

    # -- the registry ----------------------------------------------------------------------------

    def trust(self, issuer: str, vcts: list[str], name: str = "") -> TrustedIssuerInfo:
        """Add or update an issuer and the vct values it is trusted for."""
        with Session(self._engine, expire_on_commit=False) as session:
            row = session.get(TrustedIssuer, issuer)
            if row is None:
                row = TrustedIssuer(
                    issuer=issuer, name=name, vcts=json.dumps(sorted(set(vcts))), added_at=int(time.time())
                )
            else:
                row.vcts = json.dumps(sorted(set(vcts) | set(json.loads(row.vcts))))
                row.name = name or row.name
            session.add(row)
            session.commit()
            info = TrustedIssuerInfo(row.issuer, row.name, tuple(json.loads(row.vcts)))
        self._trusted = None
        return info

    def distrust(self, issuer: str) -> bool:
        """Remove an issuer; its credentials stop verifying at once in this process."""
        with Session(self._engine, expire_on_commit=False) as session:
            row = session.get(TrustedIssuer, issuer)
            if row is None:
                return False
            session.delete(row)
            session.commit()
        self._trusted = None
        with self._lock:
            self._keys.pop(issuer, None)
        return True

    def trusted(self) -> dict[str, TrustedIssuerInfo]:
        """Every trusted issuer (re-read from the database at most every few seconds)."""
        cached = self._trusted
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        with Session(self._engine, expire_on_commit=False) as session:
            rows = session.exec(select(TrustedIssuer)).all()
        trusted = {r.issuer: TrustedIssuerInfo(r.issuer, r.name, tuple(json.loads(r.vcts))) for r in rows}
        self._trusted = (time.monotonic() + 5.0, trusted)
        return trusted

    def is_trusted_for(self, issuer: str, vct: str) -> bool:
        info = self.trusted().get(issuer)
        return info is not None and vct in info.vcts

    # -- keys --------------------------------------------------------------------------------------

    def _fetch_jwks(self, issuer: str) -> dict[str, Any]:
        try:
            url = jwt_vc_issuer_metadata_url(issuer, allow_http=self._allow_http)
            metadata = json.loads(self._get(url))
            keys = keys_from_jwt_vc_issuer_metadata(metadata, issuer)
            if keys.jwks is not None:
                return keys.jwks
            assert keys.jwks_uri is not None
            jwks = json.loads(self._get(keys.jwks_uri))
            if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
                raise IssuerKeysUnavailable("jwks_uri did not return a JWK Set")
            return jwks
        except (FetchFailed, UnsafeURL, ValueError, RecursionError, IssuerMetadataError) as exc:
            raise IssuerKeysUnavailable(f"cannot fetch the keys of {issuer}: {exc}") from None

    def _get(self, url: str) -> bytes:
        return fetch_bounded(
            self.http, url, development=self._allow_http, max_bytes=MAX_METADATA_BYTES, accept="application/json"
        )

    def _jwks(self, issuer: str, *, refresh_if_older_than: float | None = None) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            cached = self._keys.get(issuer)
        if cached is not None:
            age = now - cached[0]
            fresh = age < KEYS_TTL and (refresh_if_older_than is None or age < refresh_if_older_than)
            if fresh:
                return cached[1]
        jwks = self._fetch_jwks(issuer)
        with self._lock:
            self._keys[issuer] = (now, jwks)
        return jwks

    def resolve(self, iss: str, kid: str | None) -> PublicKey:
        """The public key `kid` of trusted issuer `iss` (IssuerKeyResolver)."""
        if iss not in self.trusted():
            raise IssuerNotTrusted(f"issuer {iss!r} is not in the trusted-issuer registry")
        try:
            jwks = self._jwks(iss)
            fetched_at = self._keys[iss][0]
            imported = self._imported.get((iss, kid))
            if imported is not None and imported[0] == fetched_at:
                return imported[1]
            key = key_from_jwks(jwks, kid)
            self._imported[(iss, kid)] = (fetched_at, key)
            return key
        except IssuerKeysUnavailable:
            raise
        except jws.UnknownKey:
            # Maybe the issuer rotated since we fetched: look again, but not more than every MIN_REFETCH s.
            return key_from_jwks(self._jwks(iss, refresh_if_older_than=MIN_REFETCH), kid)
