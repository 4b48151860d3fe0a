"""Verifier commands for operators, scripts and testers: `verifiers add|list`, `request`, `decision`,
`subject`.

Like the issuer commands they work on the database directly, through the same service as the API,
so a link printed here is answered at the running server. `register` receives a factory for the
service from the composition root, so this module never imports it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

import typer

from auth.clients import register_client
from keys.names import check_display_name
from keys.subjects import SubjectError, check_platform_id
from verifiers.service import VerifierError, VerifierService


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def register(app: typer.Typer, service_factory: Callable[[], VerifierService]) -> None:
    """Add the verifier commands to the `seoul-wallet` Typer app."""
    verifiers_app = typer.Typer(help="Verifiers (service backends).")
    app.add_typer(verifiers_app, name="verifiers")

    @verifiers_app.command("add")
    def verifiers_add(
        slug: Annotated[str, typer.Argument(help="short name, e.g. seoul-youth")],
        name_ko: Annotated[str, typer.Option("--name-ko", help="Korean display name")],
        name_en: Annotated[str, typer.Option("--name-en", help="English display name")],
        services: Annotated[list[str], typer.Option("--service", help="a catalog service it operates (repeat)")],
        dns_name: Annotated[
            str | None, typer.Option(help="DNS name for x509_san_dns (default: the public host)")
        ] = None,
        redirect_uri: Annotated[str | None, typer.Option(help="where wallets send the user after answering")] = None,
    ) -> None:
        """Register a verifier: request-signing key, RP certificate, and an OAuth client (secret printed once)."""
        try:
            name_ko, name_en = check_display_name(name_ko, "--name-ko"), check_display_name(name_en, "--name-en")
        except ValueError as exc:
            raise _fail(str(exc)) from None
        service = service_factory()
        try:
            verifier = service.register(slug, name_ko, name_en, services, dns_name, redirect_uri)
        except VerifierError as exc:
            raise _fail(exc.detail) from None
        client = register_client(service.engine, f"verifier:{slug}", ["presentations:request"], name=name_en)
        typer.echo(f"client_id\t{service.client_id(verifier)}")
        typer.echo(f"response_uri\t{service.response_uri(verifier)}")
        typer.echo(f"oauth_client_id\t{client.client_id}")
        typer.echo(f"oauth_client_secret\t{client.client_secret}")

    @verifiers_app.command("list")
    def verifiers_list() -> None:
        """Every verifier: slug, client identifier, services."""
        service = service_factory()
        for verifier in service.list():
            typer.echo(f"{verifier.slug}\t{service.client_id(verifier)}\t{','.join(json.loads(verifier.services))}")

    @app.command("request")
    def request(
        verifier: Annotated[str, typer.Option(help="verifier slug")],
        service_id: Annotated[str, typer.Option("--service", help="catalog service id")],
        callback_url: Annotated[str | None, typer.Option(help="push the decision here")] = None,
        applicant: Annotated[
            str | None, typer.Option(help="the applicant's pairwise subject: only she can answer (`subject`)")
        ] = None,
    ) -> None:
        """Start an eligibility check; prints the openid4vp:// link and nothing else."""
        service = service_factory()
        try:
            created = service.create_request(verifier, service_id, callback_url, applicant=applicant)
        except VerifierError as exc:
            raise _fail(exc.detail) from None
        typer.echo(created.link)
        typer.echo(f"request id: {created.request_id}", err=True)

    @app.command("decision")
    def decision(request_id: Annotated[str, typer.Argument(help="the request id")]) -> None:
        """Print a check's result as JSON, with the signed decision verified and decoded."""
        service = service_factory()
        try:
            result = service.result(service.verifier_of_request(request_id), request_id, backchannel=True)
        except VerifierError as exc:
            raise _fail(exc.detail) from None
        if result.get("decision"):
            result["decision_claims"] = service.verify_decision(result["decision"])
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))

    @app.command("subject")
    def subject(
        verifier: Annotated[str, typer.Option(help="verifier slug")],
        citizen: Annotated[str, typer.Option(help="the citizen's platform id (the `sub` of her credentials)")],
    ) -> None:
        """Print the pairwise subject a verifier's decisions carry for a citizen (OpenID Connect Core §8.1)."""
        service = service_factory()
        platform_id = citizen.removeprefix("citizen:")
        try:
            check_platform_id(platform_id)
            service.get(verifier)
        except SubjectError as exc:
            raise _fail(f"--citizen: {exc}") from None
        except VerifierError as exc:
            raise _fail(exc.detail) from None
        typer.echo(service.subjects.for_verifier(verifier, platform_id))
