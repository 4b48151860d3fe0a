"""Fixtures of the wallet tests: the built-in provider's relying parties and browser (tests/auth)."""

from tests.auth.conftest import back_channel, browser, issuer, wallet_rp  # noqa: F401  (fixtures)
