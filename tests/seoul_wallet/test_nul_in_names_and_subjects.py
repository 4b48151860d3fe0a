"""A NUL in a name or a subject is refused with a clear error at every door it could come in by
(issue 14 defect 15): the admin API's agency and verifier registration, the commands that register
them (and name their OAuth clients), an offer's subject over the API, in a bulk row (JSON Lines and
CSV) and on the command line. Before, a NUL name was stored as given on SQLite and was a traceback
(or a 500) on PostgreSQL. Nothing is written by a refused request."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from seoul_wallet.cli import app
from tests.conftest import bearer_for
from tests.issuers.conftest import RESIDENT
from tests.seoul_wallet.test_cli_and_serve import cli_env  # noqa: F401  (fixture)

NUL_NAME = "Gangnam\x00Youth"


def _count(platform, table: str) -> int:
    with platform.engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def _post_json(client, path: str, body: object, headers: dict[str, str]):
    # json.dumps escapes the NUL as \u0000, as any client's JSON encoder does.
    return client.post(path, content=json.dumps(body), headers={**headers, "content-type": "application/json"})


def test_the_admin_api_refuses_a_nul_in_an_agency_or_verifier_name(client, platform) -> None:
    admin = bearer_for(client, platform, "platform:admin", ["agencies:admin", "verifiers:admin"])
    agencies, clients = _count(platform, "issuer_agencies"), _count(platform, "oauth_clients")
    body = {
        "slug": "nul-agency",
        "name": {"ko": "강남구", "en": NUL_NAME},
        "credential_types": ["resident_registration"],
    }
    answer = _post_json(client, "/admin/agencies", body, admin)
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"
    assert "NUL" in answer.json()["detail"]
    body = {"slug": "nul-verifier", "name": {"ko": NUL_NAME, "en": "Youth"}, "services": ["seoul_youth_allowance"]}
    answer = _post_json(client, "/admin/verifiers", body, admin)
    assert answer.status_code == 400 and "NUL" in answer.json()["detail"]
    assert (_count(platform, "issuer_agencies"), _count(platform, "oauth_clients")) == (agencies, clients)
    assert "nul-verifier" not in client.get("/admin/verifiers", headers=admin).text


@pytest.mark.parametrize(
    "name", ["Gangnam\u202eYouth", "Gangnam\nYouth", "Gangnam\x1b[31mYouth"], ids=["rtl-override", "newline", "escape"]
)
def test_the_admin_api_refuses_control_characters_in_an_agency_name(client, platform, name) -> None:
    # A bidirectional override makes a name read as another; a newline or an escape breaks the lines
    # `agencies list` prints. The same rule as the commands' (keys/names.py).
    admin = bearer_for(client, platform, "platform:admin", ["agencies:admin"])
    agencies = _count(platform, "issuer_agencies")
    body = {"slug": "ctl-agency", "name": {"ko": "강남구", "en": name}, "credential_types": ["resident_registration"]}
    answer = _post_json(client, "/admin/agencies", body, admin)
    assert 400 <= answer.status_code < 500 and answer.headers["content-type"] == "application/problem+json"
    assert "control characters" in answer.text
    assert _count(platform, "issuer_agencies") == agencies


def test_the_admin_api_refuses_a_bidirectional_override_in_a_verifier_name(client, platform) -> None:
    admin = bearer_for(client, platform, "platform:admin", ["verifiers:admin"])
    body = {
        "slug": "ctl-verifier",
        "name": {"ko": "청년\u202e수당", "en": "Youth"},
        "services": ["seoul_youth_allowance"],
    }
    answer = _post_json(client, "/admin/verifiers", body, admin)
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    assert "control characters" in answer.json()["detail"]
    assert "ctl-verifier" not in client.get("/admin/verifiers", headers=admin).text


AGENCY_ADD = ["agencies", "add", "gangnam", "--name-ko", "강남구", "--name-en", NUL_NAME]
VERIFIER_ADD = ["verifiers", "add", "gangnam-youth", "--name-ko", NUL_NAME, "--name-en", "Gangnam Youth"]


@pytest.mark.parametrize(
    "command",
    [[*AGENCY_ADD, "--type", "resident_registration"], [*VERIFIER_ADD, "--service", "seoul_youth_allowance"]],
    ids=["agencies-add", "verifiers-add"],
)
def test_the_registration_commands_refuse_a_nul_in_a_name(cli_env, platform, command) -> None:  # noqa: F811
    tables = ("issuer_agencies", "verifiers", "oauth_clients")
    before = [_count(platform, table) for table in tables]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2, result.output
    flag = "--name-en" if command[0] == "agencies" else "--name-ko"
    assert f"error: {flag}: no control characters (NUL included)" in result.output
    assert "\x00" not in result.output  # the name is not echoed back
    assert [_count(platform, table) for table in tables] == before


def test_an_offer_subject_with_a_nul_is_refused_in_a_bulk_row_and_on_the_command_line(
    cli_env,  # noqa: F811
    client,
    platform,
) -> None:
    mois = bearer_for(client, platform, "agency:mois", ["credentials:offer"])
    # JSON Lines and CSV rows are not JSON bodies: the row's own check refuses it, by line.
    jsonl = client.post("/issuers/mois/batches", json={"credential_type": "resident_registration"}, headers=mois)
    rows = json.dumps({"subject": "citizen\x00-0001", "claims": RESIDENT}) + "\n"
    answer = client.post(
        f"/issuers/mois/batches/{jsonl.json()['batch_id']}/rows",
        content=rows.encode(),
        headers={**mois, "content-type": "application/jsonl"},
    )
    assert answer.status_code == 200, answer.text
    # Refused by line, with a reason (the row's text check or the subject's pattern), and no offer.
    (result,) = answer.json()["results"]
    assert result["line"] == 1 and result["error"] and "offer_id" not in result
    csv_batch = client.post(
        "/issuers/mois/batches", json={"credential_type": "resident_registration", "format": "csv"}, headers=mois
    )
    header = "subject," + ",".join(RESIDENT)
    row = "citizen\x00-0002," + ",".join(str(value).lower() for value in RESIDENT.values())
    answer = client.post(
        f"/issuers/mois/batches/{csv_batch.json()['batch_id']}/rows",
        content=f"{header}\n{row}\n".encode(),
        headers={**mois, "content-type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    assert [(r["line"], "offer_id" in r, bool(r.get("error"))) for r in answer.json()["results"]] == [(2, False, True)]
    # `seoul-wallet offer` (an argument can hold a NUL when the command is called from a program).
    offer = ["offer", "--agency", "mois", "--type", "resident_registration", "--subject", "citizen\x00-0003"]
    result = CliRunner().invoke(app, [*offer, "--claims", json.dumps(RESIDENT)])
    assert result.exit_code == 2 and "error:" in result.output and "platform id" in result.output
    assert _count(platform, "issuer_offers") == 0
