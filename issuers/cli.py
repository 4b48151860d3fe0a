"""Issuer commands for scripts and testers: `agencies add|list`, `offer`, `issue-batch`.

They work on the database directly (like `keys rotate`), through the same services as the API, so a
link printed here is redeemed by the running server. `register` is called by the composition root
with a factory for the issuer context, so this module never imports it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Annotated

import typer

from issuers.agencies import AgencyError
from issuers.bulk import Bulk
from issuers.context import IssuerContext
from issuers.credential_types import ClaimError
from issuers.models import Batch
from issuers.offers import OfferError, Offers, TxCodeRequest


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _lines_with_progress(handle: IO[bytes], advance: Callable[[int], None]) -> Iterator[str]:
    for raw in handle:
        advance(len(raw))
        yield raw.decode("utf-8", errors="replace").rstrip("\r\n")


def register(app: typer.Typer, context_factory: Callable[[], IssuerContext]) -> None:
    """Add the issuer commands to the `seoul-wallet` Typer app."""
    agencies_app = typer.Typer(help="Issuing agencies.")
    app.add_typer(agencies_app, name="agencies")

    @agencies_app.command("add")
    def agencies_add(
        slug: Annotated[str, typer.Argument(help="short name; the issuer becomes /issuers/SLUG")],
        name_ko: Annotated[str, typer.Option("--name-ko", help="Korean display name")],
        name_en: Annotated[str, typer.Option("--name-en", help="English display name")],
        types: Annotated[list[str], typer.Option("--type", help="a credential type it may issue (repeat)")],
    ) -> None:
        """Register an agency: signing key and an OAuth client whose secret is printed once."""
        context = context_factory()
        try:
            info, client = context.agencies.add(slug, name_ko, name_en, types)
        except AgencyError as exc:
            raise _fail(str(exc)) from None
        assert client is not None
        typer.echo(f"issuer\t{context.issuer_id(info.slug)}")
        typer.echo(f"client_id\t{client.client_id}")
        typer.echo(f"client_secret\t{client.client_secret}")
        typer.echo(f"scope\t{client.scope}")

    @agencies_app.command("list")
    def agencies_list() -> None:
        """Every agency with the credential types it may issue."""
        context = context_factory()
        for info in context.agencies.list():
            typer.echo(f"{info.slug}\t{context.issuer_id(info.slug)}\t{' '.join(info.credential_types)}")

    @app.command("offer")
    def offer(
        agency: Annotated[str, typer.Option(help="agency slug, e.g. mois")],
        credential_type: Annotated[str, typer.Option("--type", help="credential type, e.g. resident_registration")],
        subject: Annotated[str, typer.Option(help="the citizen's platform id (the credential's sub)")],
        claims: Annotated[str, typer.Option(help="the claims as a JSON object")],
        pin: Annotated[str | None, typer.Option(help="require this transaction code (4-8 digits)")] = None,
    ) -> None:
        """Create an offer and print its openid-credential-offer:// link (and nothing else) on stdout."""
        context = context_factory()
        info = context.agencies.get(agency)
        if info is None:
            raise _fail(f"no agency {agency!r}")
        try:
            parsed = json.loads(claims)
        except ValueError as exc:
            raise _fail(f"--claims is not JSON: {exc}") from None
        try:
            created = Offers(context).create(
                info, credential_type, subject, parsed, tx_code=TxCodeRequest(value=pin) if pin is not None else None
            )
        except (OfferError, ClaimError) as exc:
            raise _fail(str(exc)) from None
        typer.echo(created.link)

    @app.command("issue-batch")
    def issue_batch(
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines or CSV cohort file")],
        agency: Annotated[str, typer.Option(help="agency slug")],
        credential_type: Annotated[str, typer.Option("--type", help="credential type of every row")],
        fmt: Annotated[str | None, typer.Option("--format", help="jsonl or csv (default: from the extension)")] = None,
        output: Annotated[
            Path | None, typer.Option(help="write each row's offer link or error as JSON Lines here (default: stdout)")
        ] = None,
    ) -> None:
        """Create one offer per row, streaming, with a progress bar; malformed rows are reported by line."""
        context = context_factory()
        info = context.agencies.get(agency)
        if info is None:
            raise _fail(f"no agency {agency!r}")
        fmt = fmt or ("csv" if file.suffix.lower() == ".csv" else "jsonl")
        bulk = Bulk(Offers(context))
        try:
            progress = bulk.open(info, credential_type, fmt)
        except OfferError as exc:
            raise _fail(str(exc)) from None
        batch = Batch(
            id=progress.batch_id,
            agency=info.slug,
            credential_type=credential_type,
            format=fmt,
            created_at=0,
            updated_at=0,
        )
        started = time.perf_counter()
        out: IO[str] = output.open("w", encoding="utf-8") if output is not None else sys.stdout
        created = failed = 0
        try:
            with (
                file.open("rb") as handle,
                typer.progressbar(length=file.stat().st_size, label="offers", file=sys.stderr) as bar,
            ):
                for chunk in bulk.process(info, batch, _lines_with_progress(handle, bar.update), track_lines=True):
                    for result in chunk:
                        failed += "error" in result
                        created += "error" not in result
                        out.write(json.dumps(result, ensure_ascii=False) + "\n")
        finally:
            if output is not None:
                out.close()
        bulk.close(info.slug, progress.batch_id)
        elapsed = time.perf_counter() - started
        typer.echo(
            f"batch {progress.batch_id}: {created} offers, {failed} malformed rows, "
            f"{created / elapsed if elapsed else 0:.0f} offers/s",
            err=True,
        )
