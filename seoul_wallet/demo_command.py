"""`seoul-wallet demo`: a citizen applies for the Seoul youth allowance without documents, against a
running server, over HTTP only, printed step by step (seoul_wallet/demo_steps.py does the work).

Add it to the CLI with `register(app)`. It exits 0 when every step passed, 1 naming the step that
failed and what the server said.
"""

# No `from __future__ import annotations`: Typer must see the option types as objects.
import os
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.text import Text

from seoul_wallet.demo_clients import StepFailed
from seoul_wallet.demo_steps import DEMO_PASSWORD, YOUTH_OFFERS, Journey

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_CITIZEN = "citizen-minji-0001"
HTTP_TIMEOUT = 10.0


def default_clients_path() -> Path:
    """The server's data directory (SEOUL_WALLET_DATA_DIR, default `var`) / demo-clients.json."""
    return Path(os.environ.get("SEOUL_WALLET_DATA_DIR") or "var") / "demo-clients.json"


def run_demo(url: str, clients: Path, citizen: str, password: str, console: Console, errors: Console) -> int:
    """Run every step, printing each as it ends; the exit status (0, or 1 at the first failure, named
    on `errors`)."""
    started = time.monotonic()
    url = url.rstrip("/")
    console.print(Text.assemble(("서울지갑 demo", "bold"), f": {citizen} applies for 서울 청년수당 at {url}"))
    with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as http:
        journey = Journey(url=url, clients_path=clients, citizen=citizen, password=password, http=http)
        steps = journey.steps()
        for number, (title, step) in enumerate(steps, start=1):
            step_started = time.monotonic()
            try:
                facts = step()
            except (StepFailed, KeyError, IndexError, TypeError, AttributeError) as exc:
                # A server that answers in another shape than the contract fails the step too, plainly.
                message = (
                    str(exc) if isinstance(exc, StepFailed) else f"unexpected answer ({type(exc).__name__}: {exc})"
                )
                _header(console, number, title, ok=False, seconds=time.monotonic() - step_started)
                console.print(Text(f"     {message}", style="red"))
                errors.print(
                    Text(f"✗ failed at step {number} ({title}) after {time.monotonic() - started:.2f} s", style="red")
                )
                return 1
            _header(console, number, title, ok=True, seconds=time.monotonic() - step_started)
            for fact in facts:
                console.print(Text(f"     {fact}"))
    elapsed = time.monotonic() - started
    console.print(
        Text(
            f"✓ {citizen} applied for 서울 청년수당 with {len(YOUTH_OFFERS)} credentials and no documents: eligible; "
            f"consent {journey.consent_id} recorded in the ledger and withdrawn — "
            f"{len(steps)} steps in {elapsed:.2f} s",
            style="bold green",
        )
    )
    return 0


def _header(console: Console, number: int, title: str, *, ok: bool, seconds: float) -> None:
    mark, style = ("✓", "green") if ok else ("✗", "red")
    console.print(Text.assemble(f"{number:>2} ", (mark, f"bold {style}"), " ", (title, "bold"), f"  ({seconds:.2f} s)"))


def register(app: typer.Typer) -> None:
    """Add the `demo` command to the `seoul-wallet` CLI."""

    @app.command()
    def demo(
        url: Annotated[str, typer.Option(help="the running server's base URL")] = DEFAULT_URL,
        clients: Annotated[
            Path | None,
            typer.Option(
                help="the demo clients file (default: demo-clients.json in $SEOUL_WALLET_DATA_DIR, else in var/)",
                show_default=False,
            ),
        ] = None,
        citizen: Annotated[str, typer.Option(help="the demo citizen's platform id")] = DEFAULT_CITIZEN,
        password: Annotated[
            str, typer.Option(help="her password at the development provider", show_default=False)
        ] = DEMO_PASSWORD,
    ) -> None:
        """The youth-allowance journey against a running server, over HTTP only, step by step: the
        agencies' offers, the wallet receiving them, services for me, the verifier's request, the
        consent and its receipt, the decision, the ledger's inclusion proof, the withdrawal."""
        console = Console(highlight=False, soft_wrap=True)
        errors = Console(stderr=True, highlight=False, soft_wrap=True)
        status = run_demo(url, clients or default_clients_path(), citizen, password, console, errors)
        if status:
            raise typer.Exit(status)
