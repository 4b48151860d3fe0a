"""`seoul-wallet clients create|list|revoke` (issue 14, net 1): the printed credentials are a working
client of the real token endpoint, with exactly the scopes asked for; bad input is refused with a
clear message and exit status 2, and creates nothing; a revoked client gets no new token."""

from __future__ import annotations

import json
import shlex

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from auth.models import OAuthClient
from seoul_wallet.cli import app
from tests.seoul_wallet.test_cli_and_serve import cli_env  # noqa: F401  (fixture)

runner = CliRunner()


def create(*arguments: str):
    return runner.invoke(app, ["clients", "create", *arguments])


def token(client, created: dict, scope: str):
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(created["client_id"], created["client_secret"]),
    )


def client_rows(platform) -> list[OAuthClient]:
    with Session(platform.engine) as session:
        return list(session.exec(select(OAuthClient)))


def test_created_credentials_obtain_a_token_with_those_scopes_and_it_opens_the_api(
    cli_env,  # noqa: F811
    platform,
    client,
) -> None:
    result = create("--name", "Operations console", "--subject", "platform:ops", "--scope", "agencies:admin")
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)  # standard output is the JSON document and nothing else
    assert created["subject"] == "platform:ops" and created["scopes"] == ["agencies:admin"]
    assert created["token_endpoint"].endswith("/oauth/token")
    assert created["client_secret"] not in result.stderr

    answer = token(client, created, "agencies:admin")
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "agencies:admin"
    bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    assert client.get("/admin/agencies", headers=bearer).status_code == 200
    # Exactly those scopes: one it was not given is refused at the token endpoint.
    refused = token(client, created, "verifiers:admin")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"


def test_an_agency_client_with_repeated_scopes_acts_for_its_agency(cli_env, platform, client) -> None:  # noqa: F811
    result = create(
        "--name", "MOEL", "--subject", "agency:moel", "--scope", "credentials:offer", "--scope", "credentials:revoke"
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["scopes"] == ["credentials:offer", "credentials:revoke"]
    answer = token(client, created, "credentials:offer credentials:revoke")
    assert answer.status_code == 200, answer.text
    bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    offer = client.post(
        "/issuers/moel/offers",
        headers=bearer,
        json={
            "subject": "citizen-clients-0001",
            "credential_type": "employment_insurance",
            "claims": {"currently_insured": False},
        },
    )
    assert offer.status_code == 201, offer.text
    # Its own agency only.
    assert client.get("/issuers/nts/offers/anything", headers=bearer).status_code == 403


def test_a_citizen_client_gets_a_wallet_token(cli_env, platform, client) -> None:  # noqa: F811
    result = create("--name", "Minji's app", "--subject", "citizen:citizen-minji-0001", "--scope", "wallet")
    assert result.exit_code == 0, result.output
    answer = token(client, json.loads(result.stdout), "wallet")
    assert answer.status_code == 200, answer.text
    bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    assert client.get("/wallet/api/credentials", headers=bearer).status_code == 200


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--subject", "platform:ops", "--scope", "agencies:root"], "--scope: unknown agencies:root"),
        (["--subject", "platform:ops", "--scope", "wallet", "--scope", "everything"], "--scope: unknown everything"),
        (["--subject", "mois", "--scope", "credentials:offer"], "--subject: agency:<slug>"),
        (["--subject", "robot:mois", "--scope", "credentials:offer"], "unknown kind 'robot'"),
        (["--subject", "agency:nowhere", "--scope", "credentials:offer"], "no agency 'nowhere' is registered"),
        (["--subject", "agency:MOIS", "--scope", "credentials:offer"], "--subject: agency:<slug>"),
        (["--subject", "verifier:nobody", "--scope", "presentations:request"], "no verifier 'nobody'"),
        (["--subject", "citizen:900101-1234567", "--scope", "wallet"], "resident registration number"),
        (["--subject", "citizen:short", "--scope", "wallet"], "8 to 64"),
        (["--subject", "platform:", "--scope", "agencies:admin"], "platform:<name>"),
        (["--subject", "platform:ops", "--scope", "wallet", "--name", "a\x00b"], "--name: no control"),
        (["--subject", "platform:ops", "--scope", "wallet", "--name", "   "], "--name: 1 to 200"),
        (["--subject", "platform:ops", "--scope", "wallet", "--name", "x" * 201], "--name: 1 to 200"),
    ],
)
def test_bad_input_is_refused_clearly_with_status_2_and_creates_nothing(
    cli_env,  # noqa: F811
    platform,
    arguments: list[str],
    said: str,
) -> None:
    before = len(client_rows(platform))
    named = arguments if "--name" in arguments else ["--name", "Someone", *arguments]
    result = create(*named)
    assert result.exit_code == 2, result.output
    assert said in result.stderr and result.stdout == ""
    assert len(client_rows(platform)) == before


def test_no_scope_at_all_is_a_usage_error(cli_env, platform) -> None:  # noqa: F811
    result = create("--name", "Someone", "--subject", "platform:ops")
    assert result.exit_code == 2 and result.stdout == ""


def test_list_names_clients_and_scopes_but_never_a_secret(cli_env, platform) -> None:  # noqa: F811
    created = json.loads(
        create("--name", "Youth office", "--subject", "verifier:seoul-youth", "--scope", "presentations:request").stdout
    )
    listed = runner.invoke(app, ["clients", "list", "--subject", "verifier:seoul-youth"])
    assert listed.exit_code == 0, listed.output
    (row,) = [line.split("\t") for line in listed.stdout.splitlines() if line.startswith(created["client_id"])]
    assert row == [created["client_id"], "verifier:seoul-youth", "presentations:request", "active", "Youth office"]
    (stored,) = [c for c in client_rows(platform) if c.client_id == created["client_id"]]
    assert created["client_secret"] not in listed.stdout and stored.client_secret_hash not in listed.stdout


def test_a_revoked_client_gets_no_new_token(cli_env, platform, client) -> None:  # noqa: F811
    created = json.loads(create("--name", "Old tool", "--subject", "platform:ops", "--scope", "agencies:admin").stdout)
    assert token(client, created, "agencies:admin").status_code == 200
    revoked = runner.invoke(app, ["clients", "revoke", created["client_id"]])
    assert revoked.exit_code == 0, revoked.output
    refused = token(client, created, "agencies:admin")
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    listed = runner.invoke(app, ["clients", "list", "--subject", "platform:ops"]).stdout
    assert f"{created['client_id']}\tplatform:ops\tagencies:admin\trevoked" in listed
    # Revoking again changes nothing; an unknown client is an error.
    assert runner.invoke(app, ["clients", "revoke", created["client_id"]]).exit_code == 0
    unknown = runner.invoke(app, ["clients", "revoke", "c_nobody"])
    assert unknown.exit_code == 2 and "no client 'c_nobody'" in unknown.stderr


def test_the_readme_example_runs_as_shown(cli_env, platform, client) -> None:  # noqa: F811
    from tests.seoul_wallet.test_readme_commands import COMMANDS

    (line,) = [c for c in COMMANDS if c.startswith(".venv/bin/seoul-wallet clients create")]
    result = runner.invoke(app, shlex.split(line.split("#", 1)[0])[1:])
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert token(client, created, " ".join(created["scopes"])).status_code == 200
