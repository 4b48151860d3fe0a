"""The `seoul-wallet` command line (Typer)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError
from rich.console import Console

from consent.cli import create_ledger_cli
from issuers.cli import register as register_issuer_commands
from keys.master import MasterKeyError
from seoul_wallet.clients_command import register as register_clients_commands
from seoul_wallet.demo_command import register as register_demo
from seoul_wallet.settings import Settings
from verifiers.cli import register as register_verifier_commands
from wallet.cli import register as register_wallet_commands

app = typer.Typer(help="Seoul Wallet (서울지갑): citizen data wallet, issuers, verifiers and consent ledger.")
db_app = typer.Typer(help="Database schema.")
keys_app = typer.Typer(help="Signing keys.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(
    create_ledger_cli(lambda: _consent_ledger(), lambda: Settings().data_dir / "ledger-audit.json"), name="ledger"
)


def _settings() -> Settings:
    """The configuration, or a clear message and exit status 2 (never a traceback)."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())
        typer.echo(f"error: configuration: {problems}", err=True)
        raise typer.Exit(2) from None


def _platform():
    from seoul_wallet.app import build_platform

    try:
        return build_platform(_settings())
    except MasterKeyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _consent_ledger():
    from seoul_wallet.app import consent_ledger

    return consent_ledger(_platform())


def _issuer_context():
    """The issuer services over a prepared database (migrated, demo agencies seeded)."""
    from issuers.context import build_context
    from seoul_wallet.bootstrap import prepare

    platform = _platform()
    prepare(platform)
    return build_context(platform.engine, platform.keyring, platform.master_key, platform.settings.public_url)


register_issuer_commands(app, _issuer_context)


def _verifier_service():
    """The verifier service over a prepared database (migrated, demo verifiers seeded)."""
    from seoul_wallet.app import verifier_service
    from seoul_wallet.bootstrap import prepare

    platform = _platform()
    prepare(platform)
    return verifier_service(platform)


register_verifier_commands(app, _verifier_service)


def _wallet_services():
    """The wallet over a prepared database; issuers and verifiers are reached over HTTP."""
    from seoul_wallet.bootstrap import prepare
    from seoul_wallet.wallet_party import wallet_services

    platform = _platform()
    prepare(platform)
    return wallet_services(platform)


register_wallet_commands(app, _wallet_services)
register_demo(app)


def _prepared_platform():
    """The platform over a prepared database (migrated, demo agencies and verifiers seeded)."""
    from seoul_wallet.bootstrap import prepare

    platform = _platform()
    prepare(platform)
    return platform


register_clients_commands(app, _prepared_platform)


# What the start banner points a newcomer to: (path, Korean, English).
BANNER_URLS = (
    ("/", "첫 화면", "landing page"),
    ("/wallet", "시민 지갑", "citizen app"),
    ("/consoles/agency", "기관 콘솔", "agency console"),
    ("/consoles/service", "서비스 콘솔", "service console"),
    ("/docs", "API 문서", "API docs"),
    ("/consent/log/checkpoint", "동의 원장", "consent ledger"),
)


def print_banner(
    settings: Settings,
    *,
    clients_file: Path,
    pin: str,
    bind: tuple[str, int] | None = None,
    console: Console | None = None,
) -> None:
    """What `serve` prints in development mode before uvicorn's logs: where to go, who to sign in
    as, where the demo OAuth clients are. Readable by a person; the logs stay JSON lines."""
    from rich.markup import escape
    from rich.rule import Rule
    from rich.table import Table

    from auth.oidc_clients import DEMO_PASSWORD
    from seoul_wallet.demo_data import demo_citizens

    console = console or Console()
    base = escape(settings.public_url)
    # URLs and ids never wrap or shorten (they are copied from here); the prose around them may.
    urls = Table.grid(padding=(0, 2))
    urls.add_column()
    urls.add_column(no_wrap=True, overflow="ignore")
    for path, ko, en in BANNER_URLS:
        urls.add_row(f"{ko} ({en})", f"[link={base}{path}]{base}{path}[/link]")
    accounts = Table(title=f"데모 계정 · demo accounts — password [bold]{DEMO_PASSWORD}[/bold]", title_justify="left")
    accounts.add_column("platform id", no_wrap=True)
    accounts.add_column("이름 · name", no_wrap=True)
    accounts.add_column("이야기 · story", overflow="fold")
    for citizen in demo_citizens():
        accounts.add_row(citizen.platform_id, citizen.name, f"{citizen.story['ko']}\n{citizen.story['en']}")
    console.print(Rule("서울지갑 Seoul Wallet · 개발 모드 development mode"))
    console.print(urls)
    console.print(accounts)
    console.print(f"PIN of citizen-minji-0001's resident registration offer (인증번호): [bold]{pin}[/bold]")
    console.print(f"Demo OAuth clients (client credentials, file mode 0600): {escape(str(clients_file))}")
    console.print(f"Token endpoint: {base}/oauth/token")
    public = urlsplit(settings.public_url)
    if bind is not None and public.hostname in ("127.0.0.1", "localhost", "::1") and public.port != bind[1]:
        # The demo agencies deliver their offers through the public URL: on this machine, it must be this server.
        console.print(f"[yellow]SEOUL_WALLET_PUBLIC_URL is {base}, but this server listens on {bind[0]}:{bind[1]}[/]")
    console.print("Development mode (SEOUL_WALLET_DEVELOPMENT=true): demo data, http://, the built-in sign-in.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
) -> None:
    """Migrate the database, make sure the platform keys exist, and serve the API. In development
    mode also the demo clients (and their file), and a banner saying where to go."""
    import uvicorn

    from seoul_wallet.bootstrap import prepare
    from seoul_wallet.http_limits import PROTOCOL
    from seoul_wallet.logging_setup import configure_logging

    settings = _settings()
    configure_logging(settings.log_level)
    platform = _platform()
    prepare(platform)
    if settings.development:
        from seoul_wallet.demo_data import demo_pin, prepare_demo

        print_banner(
            settings, clients_file=prepare_demo(platform), pin=demo_pin(platform.master_key), bind=(host, port)
        )
    uvicorn.run(
        "seoul_wallet.app:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        proxy_headers=True,
        # uvicorn's httptools protocol with bounds on the request head's size, field count and time
        # (SEOUL_WALLET_MAX_HEADER_BYTES, _MAX_HEADER_COUNT, _HEADER_TIMEOUT_SECONDS): unbounded,
        # eight unterminated 64 MiB headers grew a worker by ~570 MB and were never dropped.
        http=PROTOCOL,
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from seoul_wallet.migrate import upgrade

    platform = _platform()
    upgrade(platform.engine)
    typer.echo(f"database at {platform.engine.url.render_as_string(hide_password=True)} is up to date")


@keys_app.command("list")
def keys_list(owner: Annotated[str | None, typer.Option(help="only this owner's keys")] = None) -> None:
    """List signing keys: owner, kid, algorithm, state."""
    platform = _platform()
    for key in platform.keyring.list_keys(owner):
        state = "active" if key.active else f"rotated, published until {key.retire_at}"
        typer.echo(f"{key.owner}\t{key.kid}\t{key.alg}\tgeneration {key.generation}\t{state}")


@keys_app.command("rotate")
def keys_rotate(
    owner: Annotated[str, typer.Option(help="owner, e.g. platform, ledger, agency:mois")],
    retire_after_days: Annotated[
        int, typer.Option(min=0, help="keep the old public key published this long (cover what it signed)")
    ] = 400,
) -> None:
    """Make a new key active at once; the old public key stays published until its retirement."""
    platform = _platform()
    info = platform.keyring.rotate(owner, retire_after=retire_after_days * 86400)
    typer.echo(f"{owner}: new active key {info.kid} ({info.alg})")


@app.command()
def openapi(
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write; - for standard output")] = Path(
        "openapi.yaml"
    ),
) -> None:
    """Write the OpenAPI document the app generates (openapi.yaml)."""
    from seoul_wallet.openapi_export import render_openapi

    document = render_openapi()
    if str(output) == "-":
        sys.stdout.write(document)
    else:
        output.write_text(document, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


if __name__ == "__main__":
    app()
