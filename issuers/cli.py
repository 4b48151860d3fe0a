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

from issuers.agencies import AgencyError, AgencyInfo
from issuers.bulk import PART_LEASE, BatchStateError, Bulk, PartBusy, PartClaim
from issuers.bulk_rows import file_digest
from issuers.context import IssuerContext
from issuers.credential_types import ClaimError
from issuers.offers import OfferError, Offers, TxCodeRequest
from keys.names import check_display_name


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
        try:
            name_ko, name_en = check_display_name(name_ko, "--name-ko"), check_display_name(name_en, "--name-en")
        except ValueError as exc:
            raise _fail(str(exc)) from None
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
        batch_key: Annotated[
            str | None,
            typer.Option(help="names the batch (default: the file's SHA-256); the same key resumes it"),
        ] = None,
    ) -> None:
        """Create one offer per row, streaming, with a progress bar; malformed rows are reported by line.

        Resumable: run the same command again after an interruption and it finishes the same batch,
        creating no offer twice; --output then holds every row's outcome exactly once."""
        context = context_factory()
        info = context.agencies.get(agency)
        if info is None:
            raise _fail(f"no agency {agency!r}")
        fmt = fmt or ("csv" if file.suffix.lower() == ".csv" else "jsonl")
        fingerprint, line_count = file_digest(file)
        bulk = Bulk(Offers(context))
        try:
            progress = bulk.open(info, credential_type, fmt, key=batch_key or f"sha256:{fingerprint}")
            claim = _claim_file(bulk, info, progress.batch_id, fingerprint, line_count)
        except (OfferError, BatchStateError) as exc:
            raise _fail(str(exc)) from None
        started = time.perf_counter()
        out: IO[str] = output.open("w", encoding="utf-8") if output is not None else sys.stdout
        try:
            with (
                file.open("rb") as handle,
                typer.progressbar(length=file.stat().st_size, label="offers", file=sys.stderr) as bar,
            ):
                # Rows settled by an earlier run come first, from the database: the output is whole.
                for chunk in bulk.run_part(info, claim, _lines_with_progress(handle, bar.update)):
                    out.writelines(json.dumps(result, ensure_ascii=False) + "\n" for result in chunk)
        except BatchStateError as exc:
            raise _fail(str(exc)) from None
        finally:
            if output is not None:
                out.close()
        try:
            final = bulk.close(info.slug, progress.batch_id)
        except BatchStateError as exc:  # another run took the batch over meanwhile and is not done
            raise _fail(str(exc)) from None
        elapsed = time.perf_counter() - started
        new = final.created - progress.created
        typer.echo(
            f"batch {final.batch_id}: {final.created} offers, {final.failed} malformed rows "
            f"({new} created by this run, {new / elapsed if elapsed else 0:.0f} offers/s)",
            err=True,
        )


def _claim_file(bulk: Bulk, info: AgencyInfo, batch_id: str, fingerprint: str, line_count: int) -> PartClaim:
    """The file is the batch's one part. A run killed a moment ago still holds it for a few seconds."""
    deadline = time.monotonic() + 10 * PART_LEASE
    while True:
        try:
            return bulk.claim_part(info, batch_id, "file", fingerprint, line_count)
        except PartBusy as busy:
            if time.monotonic() > deadline:
                raise BatchStateError(409, "another run is issuing this batch") from None
            typer.echo(f"another run holds this batch; waiting {busy.retry_after} s", err=True)
            time.sleep(busy.retry_after)
        except BatchStateError as exc:
            if exc.status == 422:
                raise BatchStateError(422, "this batch key was used with another file") from None
            raise
