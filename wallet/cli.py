"""`seoul-wallet wallet receive|present|credentials|services|consents|export`: the citizen's wallet
for scripts and testers, on the same code path as the JSON API (wallet/receive.py, wallet/present.py,
wallet/vault.py, wallet/services_for_me.py, wallet/consents.py, wallet/my_data.py).

They work on the data directory (database and master key) of a running server, and reach issuers
and verifiers over HTTP like any wallet. Each prints one JSON line per result; a refusal exits 1
with the citizen-facing message on stderr, and then nothing was stored or shared.
"""

# No `from __future__ import annotations`: Typer must see the option alias (a local) as an object.
import json
from collections.abc import Callable
from typing import Annotated, Any

import typer

from keys.subjects import SubjectError, check_platform_id
from wallet.api import WalletServices, credential_summary, jsonable
from wallet.present_errors import SharingRefused
from wallet.receive import ReceiveError
from wallet.services_api import services_list


def _echo(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _citizen(services: WalletServices, citizen: str) -> str:
    try:
        check_platform_id(citizen)
    except SubjectError as exc:
        raise _fail(f"--citizen: {exc}", 2) from None
    if not services.vault.has_account(citizen):
        if not services.development:
            raise _fail(f"--citizen: no wallet for {citizen} (it is created at the citizen's first sign-in)", 2)
        services.vault.ensure_account(citizen)  # development: a missing account is created
    return citizen


def register(app: typer.Typer, services_factory: Callable[[], WalletServices]) -> None:
    """Add `wallet …` to the `seoul-wallet` Typer app."""
    wallet_app = typer.Typer(
        help="The citizen's wallet: receive, present, credentials, services for me, consents, export."
    )
    app.add_typer(wallet_app, name="wallet")
    Citizen = Annotated[str, typer.Option("--citizen", help="the citizen's platform id")]

    @wallet_app.command("receive")
    def receive(
        citizen: Citizen,
        offer_link: Annotated[str, typer.Argument(help="openid-credential-offer://… link")],
        pin: Annotated[str | None, typer.Option("--pin", help="the transaction code, when the offer asks")] = None,
    ) -> None:
        """Receive, verify and store the credentials of an offer; one JSON line per credential."""
        services = services_factory()
        me = _citizen(services, citizen)
        try:
            offer = services.receiver.parse_offer(offer_link)
            stored = services.receiver.receive(me, offer, pin)
        except ReceiveError as exc:
            raise _fail(exc.message) from None
        for credential in stored:
            _echo({k: credential_summary(credential)[k] for k in ("id", "vct", "issuer", "status")})

    @wallet_app.command("present")
    def present(
        citizen: Citizen,
        request_link: Annotated[str, typer.Argument(help="openid4vp://… link")],
        approve: Annotated[bool, typer.Option("--approve", help="share what the request asks for")] = False,
        deny: Annotated[bool, typer.Option("--deny", help="decline, and tell the verifier")] = False,
        credential_ids: Annotated[
            list[str] | None, typer.Option("--credential", help="use this credential where it fits (repeat)")
        ] = None,
    ) -> None:
        """Answer a sharing request; one JSON line: the verifier, the claims shared per query, the
        verifier's answer and the consent record."""
        if approve == deny:
            raise _fail("give exactly one of --approve and --deny", 2)
        services = services_factory()
        me = _citizen(services, citizen)
        try:
            sharing = services.presenter.open_request(me, request_link)
            if deny:
                outcome = services.presenter.deny(me, sharing)
                shared: dict[str, Any] = {}
            else:
                choices = _choices(sharing, credential_ids or [])
                outcome = services.presenter.approve(me, sharing, choices)
                shared = _shared(sharing, choices)
        except SharingRefused as exc:
            raise _fail(exc.message) from None
        view = sharing.view
        _echo(
            {
                "verifier": {
                    "client_id": view.verifier.client_id,
                    "name": view.verifier.name,
                    "verified": view.verifier.verified,
                },
                "shared": shared,
                "sent": outcome.sent,
                "verifier_status": outcome.status_code,
                "verifier_body": outcome.body,
                "redirect_uri": outcome.redirect_uri,
                "consent_record_id": outcome.consent_record_id,
            }
        )
        if not outcome.accepted:
            raise typer.Exit(1)

    @wallet_app.command("credentials")
    def credentials(citizen: Citizen) -> None:
        """The citizen's credentials as JSON (no claim values)."""
        services = services_factory()
        me = _citizen(services, citizen)
        _echo({"credentials": [jsonable(credential_summary(c)) for c in services.vault.list(me)]})

    @wallet_app.command("services")
    def services_for_me(citizen: Citizen) -> None:
        """Services for me as JSON: every service evaluated in the wallet over the citizen's
        credentials (eligible, close, not eligible, each with its reasons); nothing is sent."""
        services = services_factory()
        me = _citizen(services, citizen)
        _echo(services_list(services, me))

    @wallet_app.command("consents")
    def consents(citizen: Citizen) -> None:
        """The citizen's consents from the ledger as JSON, each with its full history."""
        services = services_factory()
        me = _citizen(services, citizen)
        _echo({"consents": jsonable(services.consents.list(me))})

    @wallet_app.command("export")
    def export(citizen: Citizen) -> None:
        """Everything the wallet and the ledger hold about the citizen, as one JSON document."""
        services = services_factory()
        me = _citizen(services, citizen)
        _echo(services.my_data.export(me))


def _choices(sharing: Any, credential_ids: list[str]) -> dict[str, str]:
    """Each --credential goes to the credential query it is a candidate for."""
    choices: dict[str, str] = {}
    for wanted in credential_ids:
        fits = [r.query_id for r in sharing.view.credentials if any(c.credential_id == wanted for c in r.candidates)]
        if not fits:
            raise SharingRefused("invalid_choice", wanted)
        choices[fits[0]] = wanted
    return choices


def _shared(sharing: Any, choices: dict[str, str]) -> dict[str, list[str]]:
    """The claim names sent per credential query (the default candidate unless chosen)."""
    out: dict[str, list[str]] = {}
    for request in sharing.view.credentials:
        if request.optional and request.query_id not in choices:
            continue
        chosen = choices.get(request.query_id)
        candidate = next((c for c in request.candidates if c.credential_id == chosen), None) or (
            request.candidates[0] if request.candidates else None
        )
        if candidate is not None:
            out[request.query_id] = [".".join(str(p) for p in claim.path) for claim in candidate.claims]
    return out
