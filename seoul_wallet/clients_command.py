"""`seoul-wallet clients create|list|revoke`: the platform authorization server's OAuth clients, for
operators (a new back office, a replacement secret) and for tests that need a role's credentials.

`create` prints the client's id and secret once, as JSON on standard output; only the secret's hash
is stored (auth/clients.py), so nobody can print it again. A client acts for one subject, which
says which party it is (the resource servers compare it with the URL's agency or verifier):

    agency:<slug>        an issuing agency registered on this platform (`agencies add`)
    verifier:<slug>      a service backend registered on this platform (`verifiers add`)
    citizen:<platform id> a citizen's own app (the wallet's API; pseudonymous, never an RRN)
    platform:<name>      the operator's own tools (admin scopes)

Registered from the composition root with a factory for a prepared platform, like the party CLIs.
"""

# No `from __future__ import annotations`: Typer must see the option types as objects.
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from sqlmodel import Session, select

from auth.clients import register_client
from auth.models import OAuthClient
from auth.server import TOKEN_PATH
from auth.tokens import ACCESS_TOKEN_TTL
from keys.names import check_display_name
from keys.subjects import SubjectError, check_platform_id

if TYPE_CHECKING:
    from seoul_wallet.app import Platform

SUBJECT_MAX = 128  # oauth_clients.subject
PLATFORM_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")


class ClientInputError(ValueError):
    """A subject, scope or name the platform would not accept; the message says which and why."""


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def check_subject(platform: "Platform", subject: str) -> str:
    """`subject` if it names a party this platform knows, in the form its resource servers read."""
    from issuers.agencies import SLUG as AGENCY_SLUG
    from issuers.models import Agency
    from verifiers.api import SLUG_PATTERN as VERIFIER_SLUG
    from verifiers.models import Verifier

    kind, separator, name = subject.partition(":")
    if not separator or len(subject) > SUBJECT_MAX:
        raise ClientInputError(
            "--subject: agency:<slug>, verifier:<slug>, citizen:<platform id> or platform:<name> "
            f"(at most {SUBJECT_MAX} characters)"
        )
    if kind == "citizen":
        try:
            check_platform_id(name)
        except SubjectError as exc:
            raise ClientInputError(f"--subject: {exc}") from None
    elif kind == "platform":
        if not PLATFORM_NAME.fullmatch(name):
            raise ClientInputError("--subject: platform:<name>, a name of lowercase letters, digits and '-'")
    elif kind in ("agency", "verifier"):
        pattern, table, register = (
            (AGENCY_SLUG, Agency, "agencies add")
            if kind == "agency"
            else (re.compile(VERIFIER_SLUG), Verifier, "verifiers add")
        )
        if not pattern.fullmatch(name):
            raise ClientInputError(f"--subject: {kind}:<slug>, a slug of lowercase letters, digits and '-'")
        with Session(platform.engine) as session:
            if session.get(table, name) is None:
                # A client of a party that does not exist would only ever be refused, later and elsewhere.
                raise ClientInputError(f"--subject: no {kind} {name!r} is registered (`seoul-wallet {register}`)")
    else:
        raise ClientInputError(f"--subject: unknown kind {kind!r}: agency, verifier, citizen or platform")
    return subject


def check_scopes(scopes: list[str], known: list[str]) -> list[str]:
    """The scopes, each one the authorization server issues."""
    if not scopes:
        raise ClientInputError("--scope: at least one (repeat --scope for more)")
    unknown = sorted({scope for scope in scopes if scope not in known})
    if unknown:
        raise ClientInputError(f"--scope: unknown {', '.join(unknown)}; known scopes: {', '.join(known)}")
    return sorted(set(scopes))


def check_name(name: str) -> str:
    """A display name: some visible text, no control characters (NUL included), bounded."""
    try:
        return check_display_name(name, "--name")
    except ValueError as exc:
        raise ClientInputError(str(exc)) from None


def register(app: typer.Typer, platform_factory: Callable[[], "Platform"]) -> None:
    """Add `clients create|list|revoke` to the `seoul-wallet` Typer app."""
    clients_app = typer.Typer(help="OAuth clients of the platform authorization server (client credentials).")
    app.add_typer(clients_app, name="clients")

    @clients_app.command("create")
    def clients_create(
        name: Annotated[str, typer.Option(help="who runs it, e.g. 'MOIS back office'")],
        subject: Annotated[
            str, typer.Option(help="who it acts for: agency:<slug>, verifier:<slug>, citizen:<id>, platform:<name>")
        ],
        scopes: Annotated[list[str], typer.Option("--scope", help="a scope it may ask for (repeat)")],
    ) -> None:
        """Register a client; print its id and secret once, as JSON (only the secret's hash is kept)."""
        from seoul_wallet.app import SCOPES

        platform = platform_factory()
        try:
            checked = (check_name(name), check_subject(platform, subject), check_scopes(scopes, SCOPES))
        except ClientInputError as exc:
            raise _fail(str(exc)) from None
        display_name, subject, scopes = checked
        created = register_client(platform.engine, subject, scopes, name=display_name)
        document = {
            "client_id": created.client_id,
            "client_secret": created.client_secret,
            "subject": created.subject,
            "scopes": created.scope.split(),
            "name": display_name,
            "token_endpoint": platform.settings.public_url + TOKEN_PATH,
        }
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
        typer.echo("the secret is shown only this once: keep it (file mode 0600)", err=True)

    @clients_app.command("list")
    def clients_list(
        subject: Annotated[str | None, typer.Option(help="only the clients acting for this subject")] = None,
    ) -> None:
        """Every client: id, subject, scopes, state, name (never a secret)."""
        platform = platform_factory()
        query = select(OAuthClient).order_by(OAuthClient.created_at, OAuthClient.client_id)
        if subject is not None:
            query = query.where(OAuthClient.subject == subject)
        with Session(platform.engine) as session:
            for client in session.exec(query):
                state = "revoked" if client.disabled else "active"
                typer.echo(f"{client.client_id}\t{client.subject}\t{client.scope}\t{state}\t{client.name}")

    @clients_app.command("revoke")
    def clients_revoke(client_id: Annotated[str, typer.Argument(help="the client's id")]) -> None:
        """Refuse the client any new token (its access tokens already issued expire on their own)."""
        platform = platform_factory()
        with Session(platform.engine) as session:
            client = session.get(OAuthClient, client_id)
            if client is None:
                raise _fail(f"no client {client_id!r}")
            if not client.disabled:
                client.disabled = True
                session.add(client)
                session.commit()
        typer.echo(
            f"revoked {client_id}: the token endpoint refuses it from now on; "
            f"access tokens it already holds stay valid until they expire (at most {ACCESS_TOKEN_TTL // 60} minutes)"
        )
