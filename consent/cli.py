"""`seoul-wallet ledger ...`: audit the consent log (locally or over HTTP), expire, erase.

The app registers this sub-app with a factory for the local ledger, so this module needs nothing
from the composition root.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from consent.audit import AuditFailure, HttpSource, LocalSource, audit


def create_ledger_cli(local_ledger: Callable[[], Any], default_state: Callable[[], Path]) -> typer.Typer:
    """The `ledger` command group. `local_ledger()` builds this deployment's ConsentLedger;
    `default_state()` is where the auditor remembers keys and the last checkpoint it verified."""
    cli = typer.Typer(help="Consent ledger: audit the transparency log, expire consents, erase a citizen.")

    @cli.command("audit")
    def audit_command(
        url: Annotated[
            str | None, typer.Option(help="audit the ledger served at this base URL instead of the local database")
        ] = None,
        state: Annotated[
            Path | None, typer.Option(help="state file: pinned keys and the last verified checkpoint")
        ] = None,
        key: Annotated[
            list[str] | None, typer.Option(help="trusted note verifier key (repeatable); pinned on first use if absent")
        ] = None,
        origin: Annotated[str | None, typer.Option(help="the log origin the checkpoint must name")] = None,
    ) -> None:
        """Recompute the whole tree from every entry, verify the signed checkpoint and its consistency
        with the last one seen. Exits 1 naming the first bad index, 2 if the log cannot be read."""
        state_path = state or default_state()
        client = None
        try:
            if url:
                import httpx

                client = httpx.Client(timeout=30.0, follow_redirects=False)
                source: Any = HttpSource(client, url)
            else:
                source = LocalSource(local_ledger())
            report = audit(
                source,
                origin=origin,
                keys=key or None,
                state_path=state_path,
                progress=lambda n: typer.echo(f"  {n} entries checked", err=True),
            )
        except AuditFailure as exc:
            where = f" at index {exc.index}" if exc.index is not None else ""
            typer.echo(f"AUDIT FAILED{where}: {exc}", err=True)
            raise typer.Exit(1) from None
        except Exception as exc:  # network or database trouble: not a verdict on the log
            typer.echo(f"error: cannot read the log: {exc.__class__.__name__}: {exc}", err=True)
            raise typer.Exit(2) from None
        finally:
            if client is not None:
                client.close()
        previous = f", consistent with the size {report.previous_size} seen before" if report.previous_size else ""
        root = base64.b64encode(report.root_hash).decode("ascii")
        typer.echo(f"ok: {report.tree_size} entries, root {root}{previous}")

    @cli.command("expire")
    def expire_command() -> None:
        """Log `expired` for consents past their validity (their status is INVALID already)."""
        total = 0
        ledger = local_ledger()
        while count := ledger.expire_due():
            total += count
        typer.echo(f"expired {total} consents")

    @cli.command("erase")
    def erase_command(
        citizen: Annotated[str, typer.Argument(help="citizen:<pseudonymous id>")],
        yes: Annotated[bool, typer.Option("--yes", help="confirm: this cannot be undone")] = False,
    ) -> None:
        """Erase a citizen's consent records, events and salts (the log stays verifiable)."""
        if not yes:
            typer.echo("refusing without --yes: erasure cannot be undone", err=True)
            raise typer.Exit(2)
        count = local_ledger().erase_citizen(citizen)
        typer.echo(f"erased {count} consent records of {citizen}")

    return cli
