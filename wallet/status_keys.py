"""The key a credential's status list is verified with: the credential's own issuer signs its
status list, so the token's `kid` is looked up in that issuer's JWK Set (from its
`/.well-known/jwt-vc-issuer`, fetched by wallet/oid4vci_client.py `IssuerClient.issuer_jwks`).
Shared by the check at receipt (wallet/receive.py) and the background re-check
(wallet/status_refresh.py), so both trust exactly the same key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keys import jws
from keys.jwk import PublicKey
from vc.sd_jwt_vc import key_from_jwks


def status_list_key(jwks: Mapping[str, Any]) -> jws.KeyResolver:
    """A resolver over the issuer's key set for `verify_status_list_token` / `StatusListClient`."""

    def issuer_key(header: dict[str, Any], _payload: dict[str, Any]) -> PublicKey:
        kid = header.get("kid")
        return key_from_jwks(jwks, kid if isinstance(kid, str) else None)

    return issuer_key
