"""The platform's OAuth 2.0 authorization server (Authlib) and the bearer-token check parties use.

Agencies and verifier backends get access tokens with the client credentials grant; the citizen
app gets tokens bound to a pseudonymous citizen id. Tokens are RFC 9068 JWT access tokens signed
with the platform key, so any party can check them with the platform JWKS alone.
"""
