"""Every party's tables, imported so that SQLModel.metadata (and Alembic) sees them all."""

from sqlmodel import SQLModel

import auth.models
import auth.oidc_models  # (idp_accounts, idp_clients, idp_authorization_codes, idp_access_tokens)
import auth.rate_limit_storage  # noqa: F401  (rate_limit_counters)
import consent.models
import consent.presentations  # noqa: F401  (consent_presentation_links)
import consoles.models  # noqa: F401  (console_officers, console_records)
import issuers.models  # noqa: F401
import keys.models  # noqa: F401
import verifiers.acceptance  # (presentation_acceptances)
import verifiers.models
import verifiers.rp_ca
import verifiers.trusted_issuers  # noqa: F401  (trusted_issuers)
import wallet.models  # noqa: F401

metadata = SQLModel.metadata
