"""Agencies: credential types, OpenID4VCI issuer endpoints, status lists."""
