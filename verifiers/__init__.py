"""Verifiers: clients, eligibility policies, OpenID4VP verifier endpoints, signed decisions."""
