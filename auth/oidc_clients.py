"""Who signs in where at the built-in OpenID provider: accounts, relying parties, and the subject each sees.

Two subject types (OpenID Connect Core §8): a `public` client (first party: the wallet, agency
consoles) sees the citizen's platform id; a `pairwise` client (a service) sees the pairwise subject
of its verifier, `PairwiseSubjects.for_verifier(slug, platform_id)`, which is exactly the `subject`
that verifier's eligibility decisions carry, so a backend can match a decision to its signed-in
applicant without ever learning the platform id.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Protocol
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from w3lib.url import safe_url_string

from auth.oidc_models import SUBJECT_TYPES, OidcClient, ProviderAccount, hash_secret
from auth.passwords import hash_password
from keys.jwk import b64url_encode
from keys.master import derive_key
from keys.subjects import PairwiseSubjects, SubjectError, check_platform_id

# What a citizen grants about herself, and what a first-party client may additionally hold: the
# platform API scopes of the citizen's own data (consent ledger, wallet JSON API).
USER_SCOPES = ("openid", "profile")
FIRST_PARTY_SCOPES = ("consent:read", "consent:withdraw", "wallet")
PROVIDER_SCOPES = (*USER_SCOPES, *FIRST_PARTY_SCOPES)

WALLET_CLIENT_ID = "seoul-wallet-app"
# Development only: every demo account shares it (README, "Signing in").
DEMO_PASSWORD = "seoul-demo"
DEMO_ACCOUNTS = (
    ("citizen-minji-0001", "김민지"),
    ("citizen-junho-0002", "이준호"),
    ("citizen-seoyeon-0003", "박서연"),
    ("citizen-dohyun-0004", "최도현"),
    ("citizen-jiwoo-0005", "정지우"),
)

_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{2,63}")
_VERIFIER_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_MAX_URL_LENGTH = 2000


class ProviderRegistrationError(ValueError):
    """A client or an account cannot be registered as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class OidcClientCredentials:
    client_id: str
    client_secret: str


def subject_for(subjects: PairwiseSubjects, client: OidcClient, platform_id: str) -> str:
    """The `sub` a client sees for a citizen: the platform id for a public client, the verifier's
    pairwise subject for a pairwise one. The only place the provider decides it."""
    if client.subject_type == "pairwise":
        if not client.verifier_slug:
            raise ProviderRegistrationError(f"pairwise client {client.client_id!r} has no verifier slug")
        return subjects.for_verifier(client.verifier_slug, platform_id)
    return platform_id


def service_client_id(verifier_slug: str) -> str:
    """The client id of a verifier's service when it signs citizens in."""
    return f"service-{verifier_slug}"


def check_redirect_uri(uri: object, *, development: bool) -> str:
    """A redirect URI normalised with w3lib, or `ProviderRegistrationError`: absolute, https (http only
    in development), with a host, no credentials and no fragment (RFC 6749 §3.1.2)."""
    if not isinstance(uri, str) or not uri or len(uri) > _MAX_URL_LENGTH:
        raise ProviderRegistrationError(f"a redirect URI is a URL of at most {_MAX_URL_LENGTH} characters")
    normalised = safe_url_string(uri.strip())
    try:
        parts = urlsplit(normalised)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        raise ProviderRegistrationError(f"the redirect URI {uri!r} is malformed") from None
    allowed = ("https", "http") if development else ("https",)
    if parts.scheme not in allowed:
        raise ProviderRegistrationError(f"the redirect URI {uri!r} must use {' or '.join(allowed)}")
    if not parts.hostname or parts.username or parts.password or "#" in uri:
        raise ProviderRegistrationError(f"the redirect URI {uri!r} needs a host, and no credentials or fragment")
    return normalised


def _client_row(
    *,
    client_id: str,
    client_secret: str,
    name: str,
    redirect_uris: Sequence[str],
    post_logout_redirect_uris: Sequence[str],
    subject_type: str,
    verifier_slug: str | None,
    scopes: Iterable[str],
    development: bool,
) -> OidcClient:
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        raise ProviderRegistrationError("a client id is 3 to 64 letters, digits, '.', '_', ':' or '-'")
    if not name or len(name) > 200:
        raise ProviderRegistrationError("a client needs a name of at most 200 characters")
    if subject_type not in SUBJECT_TYPES:
        raise ProviderRegistrationError(f"the subject type must be one of {', '.join(SUBJECT_TYPES)}")
    wanted = list(dict.fromkeys(scopes))
    if "openid" not in wanted:
        raise ProviderRegistrationError("an OpenID Connect client needs the openid scope")
    # A service sees only what a citizen says about herself; the platform API scopes of her own data
    # go to first-party clients only.
    allowed = USER_SCOPES if subject_type == "pairwise" else PROVIDER_SCOPES
    unknown = [scope for scope in wanted if scope not in allowed]
    if unknown:
        raise ProviderRegistrationError(f"a {subject_type} client may not hold: {' '.join(unknown)}")
    if subject_type == "pairwise":
        if not isinstance(verifier_slug, str) or not _VERIFIER_SLUG.fullmatch(verifier_slug):
            raise ProviderRegistrationError("a pairwise client needs the slug of its verifier (its sector)")
    elif verifier_slug is not None:
        raise ProviderRegistrationError("only a pairwise client has a verifier slug")
    if not redirect_uris:
        raise ProviderRegistrationError("a client needs at least one redirect URI")
    redirects = [check_redirect_uri(uri, development=development) for uri in redirect_uris]
    post_logout = [check_redirect_uri(uri, development=development) for uri in post_logout_redirect_uris]
    return OidcClient(
        client_id=client_id,
        client_secret_hash=hash_secret(client_secret),
        name=name,
        redirect_uris=json.dumps(list(dict.fromkeys(redirects))),
        post_logout_redirect_uris=json.dumps(list(dict.fromkeys(post_logout))),
        subject_type=subject_type,
        verifier_slug=verifier_slug,
        scope=" ".join(wanted),
        created_at=int(time.time()),
    )


def register_oidc_client(
    engine: Engine,
    *,
    name: str,
    redirect_uris: Sequence[str],
    subject_type: str,
    scopes: Iterable[str],
    post_logout_redirect_uris: Sequence[str] = (),
    verifier_slug: str | None = None,
    client_id: str | None = None,
    development: bool = False,
) -> OidcClientCredentials:
    """Register a relying party; returns the only copy of its secret. Raises `ProviderRegistrationError`
    for anything invalid (nothing is written then), including a client id that is taken."""
    client_id = client_id or "rp_" + secrets.token_urlsafe(18)
    secret = secrets.token_urlsafe(32)
    row = _client_row(
        client_id=client_id,
        client_secret=secret,
        name=name,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_redirect_uris,
        subject_type=subject_type,
        verifier_slug=verifier_slug,
        scopes=scopes,
        development=development,
    )
    with Session(engine) as session:
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            raise ProviderRegistrationError(f"the client id {client_id!r} is taken") from None
    return OidcClientCredentials(client_id=client_id, client_secret=secret)


def _account_row(platform_id: str, display_name: str, password_hash: str) -> ProviderAccount:
    try:
        check_platform_id(platform_id)
    except SubjectError as exc:
        raise ProviderRegistrationError(str(exc)) from None
    if not display_name.strip() or len(display_name) > 100:
        raise ProviderRegistrationError("a display name has 1 to 100 characters")
    return ProviderAccount(
        platform_id=platform_id,
        display_name=display_name.strip(),
        password_hash=password_hash,
        created_at=int(time.time()),
    )


def register_account(engine: Engine, platform_id: str, display_name: str, password: str) -> None:
    """Create a citizen's account at the provider. `ProviderRegistrationError` if the platform id is
    not pseudonymous (never a resident registration number), the password is too short or too long,
    or the account exists."""
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise ProviderRegistrationError(str(exc)) from None
    row = _account_row(platform_id, display_name, password_hash)
    with Session(engine) as session:
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            raise ProviderRegistrationError(f"an account for {platform_id!r} exists") from None


# -- development ------------------------------------------------------------------------------------


class _DevelopmentSettings(Protocol):
    development: bool


def development_client_secret(master_key: bytes, client_id: str) -> str:
    """The secret of a development client, derived from the master key: the same in every process,
    so the wallet needs no configuration to sign in against the development provider."""
    return b64url_encode(derive_key(master_key, f"seoul-wallet: development OpenID client secret v1: {client_id}"))


def development_wallet_client(settings: _DevelopmentSettings, master_key: bytes) -> tuple[str, str]:
    """(client_id, client_secret) of the wallet at the development provider. Development mode only:
    in production the wallet is a registered client of a real provider."""
    if not settings.development:
        raise RuntimeError("the development wallet client exists only in development mode")
    return WALLET_CLIENT_ID, development_client_secret(master_key, WALLET_CLIENT_ID)


@cache
def _demo_password_hash(platform_id: str) -> str:
    # Each demo account gets its own random salt, computed once per process: the tests re-seed an
    # emptied database before every test, and a scrypt hash per account each time would be slow.
    return hash_password(DEMO_PASSWORD)


_CONVERGED_FIELDS = (
    "client_secret_hash",
    "name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "subject_type",
    "verifier_slug",
    "scope",
)


def _seed(engine: Engine, accounts: Sequence[tuple[str, str]], clients: list[OidcClient]) -> bool:
    """One transaction: create missing demo accounts, create development clients or bring them in line
    with the current public URL and master key. False if another worker inserted a row meanwhile."""
    with Session(engine) as session:
        ids = [platform_id for platform_id, _ in accounts]
        existing = set(
            session.exec(select(ProviderAccount.platform_id).where(col(ProviderAccount.platform_id).in_(ids)))
        )
        current = {
            row.client_id: row
            for row in session.exec(
                select(OidcClient).where(col(OidcClient.client_id).in_([c.client_id for c in clients]))
            )
        }
        # Only now add anything: a query after an add would flush it outside the try below.
        # A password is hashed only for an account that is missing: no scrypt work on a usual start.
        session.add_all(
            _account_row(platform_id, name, _demo_password_hash(platform_id))
            for platform_id, name in accounts
            if platform_id not in existing
        )
        for wanted in clients:
            row = current.get(wanted.client_id)
            if row is None:
                session.add(wanted)
            elif any(getattr(row, name) != getattr(wanted, name) for name in _CONVERGED_FIELDS):
                for name in _CONVERGED_FIELDS:
                    setattr(row, name, getattr(wanted, name))
                session.add(row)
        if not session.new and not session.dirty:
            return True
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True


def seed_development_provider(
    engine: Engine, master_key: bytes, public_url: str, demo_services: Mapping[str, str]
) -> None:
    """The demo accounts, the wallet client and one pairwise client per demo verifier (`demo_services`:
    verifier slug -> the name citizens see when they sign in). Idempotent and safe with several workers
    starting at once; development mode only (the caller checks)."""
    clients = [
        _client_row(
            client_id=WALLET_CLIENT_ID,
            client_secret=development_client_secret(master_key, WALLET_CLIENT_ID),
            name="서울지갑 (Seoul Wallet)",
            redirect_uris=[f"{public_url}/wallet/auth/callback"],
            post_logout_redirect_uris=[f"{public_url}/wallet"],
            subject_type="public",
            verifier_slug=None,
            scopes=PROVIDER_SCOPES,
            development=True,
        )
    ]
    for slug, service_name in demo_services.items():
        client_id = service_client_id(slug)
        clients.append(
            _client_row(
                client_id=client_id,
                client_secret=development_client_secret(master_key, client_id),
                name=service_name,
                redirect_uris=[f"{public_url}/services/{slug}/callback"],
                post_logout_redirect_uris=[f"{public_url}/services/{slug}"],
                subject_type="pairwise",
                verifier_slug=slug,
                scopes=USER_SCOPES,
                development=True,
            )
        )
    # Several workers may start at once: the loser of an insert race reads the winner's rows and converges.
    if not _seed(engine, DEMO_ACCOUNTS, clients):
        _seed(engine, DEMO_ACCOUNTS, clients)


def seed_development_relying_party(
    engine: Engine,
    master_key: bytes,
    *,
    client_id: str,
    name: str,
    redirect_uris: Sequence[str],
    post_logout_redirect_uris: Sequence[str] = (),
    scopes: Iterable[str] = USER_SCOPES,
    accounts: Sequence[tuple[str, str]] = (),
) -> None:
    """Further development accounts (password `DEMO_PASSWORD`; e.g. the consoles' officers) and one
    more first-party (`public`) client whose secret is `development_client_secret(master_key,
    client_id)`. Idempotent and safe with several workers, like `seed_development_provider`; the
    demo citizens of `DEMO_ACCOUNTS` are not touched. Development mode only (the caller checks)."""
    client = _client_row(
        client_id=client_id,
        client_secret=development_client_secret(master_key, client_id),
        name=name,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_redirect_uris,
        subject_type="public",
        verifier_slug=None,
        scopes=scopes,
        development=True,
    )
    if not _seed(engine, accounts, [client]):
        _seed(engine, accounts, [client])
