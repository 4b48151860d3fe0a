"""The platform's OAuth 2.0 authorization server (Authlib), its development OpenID provider, and the
bearer-token check parties use.

Agencies and verifier backends get access tokens with the client credentials grant; the citizen
app gets tokens bound to a pseudonymous citizen id. Tokens are RFC 9068 JWT access tokens signed
with the platform key, so any party can check them with the platform JWKS alone.

The built-in OpenID provider (`oidc_*` modules, served under /idp in development mode only) signs
citizens in: the wallet and other first-party clients see the platform id, services a pairwise
subject (OpenID Connect Core §8).
"""
