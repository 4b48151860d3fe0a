"""Bulk issuance: streaming files, per-line errors that never stop the rest, chunks over HTTP, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from tests.issuers.conftest import RESIDENT, snapshot
from tests.issuers.spec_wallet import PRE_AUTH, parse_offer_link

BAD_LINES = {
    7: "{not json",
    100: json.dumps({"subject": "citizen-s", "claims": {**RESIDENT, "birth_date": "yesterday"}}),
    1500: json.dumps({"subject": "citizen-s", "claims": {k: v for k, v in RESIDENT.items() if k != "as_of"}}),
    2222: json.dumps({"subject": "citizen-s", "claims": {**RESIDENT, "shoe_size": 270}}),
    2999: json.dumps([1, 2]),
}


def cohort(rows: int) -> list[str]:
    lines = []
    for number in range(1, rows + 1):
        lines.append(BAD_LINES.get(number) or json.dumps({"subject": f"citizen-{number}", "claims": RESIDENT}))
    return lines


def test_cli_issue_batch_reports_malformed_rows_and_creates_the_rest(platform, tmp_path: Path, monkeypatch) -> None:
    from seoul_wallet.cli import app

    file = tmp_path / "cohort.jsonl"
    file.write_text("\n".join(cohort(3000)) + "\n", encoding="utf-8")
    output = tmp_path / "offers.jsonl"
    monkeypatch.setenv("SEOUL_WALLET_DATABASE_URL", platform.settings.resolved_database_url)
    monkeypatch.setenv("SEOUL_WALLET_MASTER_KEY", platform.settings.master_key_value)
    monkeypatch.setenv("SEOUL_WALLET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SEOUL_WALLET_DEVELOPMENT", "true")
    result = CliRunner().invoke(
        app,
        ["issue-batch", str(file), "--agency", "mois", "--type", "resident_registration", "--output", str(output)],
    )
    assert result.exit_code == 0, result.output
    results = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    errors = {r["line"]: r for r in results if "error" in r}
    assert set(errors) == set(BAD_LINES)
    assert errors[100]["field"] == "claims.birth_date" and errors[1500]["field"] == "claims.as_of"
    assert errors[2222]["field"] == "claims.shoe_size"
    assert sum("offer_id" in r for r in results) == 3000 - len(BAD_LINES)
    with platform.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM issuer_offers")).scalar() == 3000 - len(BAD_LINES)
        lines, created, failed, state = connection.execute(
            text("SELECT lines, created, failed, state FROM issuer_batches")
        ).one()
    assert (lines, created, failed, state) == (3000, 2995, 5, "closed")
    # A row's link is a working offer.
    offer = parse_offer_link(next(r for r in results if r["line"] == 8)["link"], None)
    assert offer["credential_issuer"] == "http://127.0.0.1:8000/issuers/mois"


def test_http_batch_in_chunks_with_progress_and_errors(client, mois, platform) -> None:
    opened = client.post("/issuers/mois/batches", json={"credential_type": "resident_registration"}, headers=mois)
    assert opened.status_code == 201, opened.text
    batch = opened.json()["batch_id"]
    lines = cohort(3000)
    first_lines = []
    for start in range(0, 3000, 1000):
        body = ("\n".join(lines[start : start + 1000]) + "\n").encode()
        response = client.post(
            f"/issuers/mois/batches/{batch}/rows", content=body, headers={**mois, "Content-Type": "application/jsonl"}
        )
        assert response.status_code == 200, response.text
        first_lines.append(response.json()["first_line"])
        progress = client.get(f"/issuers/mois/batches/{batch}", headers=mois).json()
        assert progress["lines"] == start + 1000
    assert first_lines == [1, 1001, 2001]
    assert progress["created"] == 2995 and progress["failed"] == 5
    errors = client.get(f"/issuers/mois/batches/{batch}/errors", headers=mois).json()
    assert [e["line"] for e in errors] == sorted(BAD_LINES)
    assert client.post(f"/issuers/mois/batches/{batch}/close", headers=mois).json()["state"] == "closed"
    before = snapshot(platform.engine)
    late = client.post(f"/issuers/mois/batches/{batch}/rows", content=lines[0].encode(), headers=mois)
    assert late.status_code == 409
    assert snapshot(platform.engine) == before


def test_csv_batch(client, mois) -> None:
    batch = client.post(
        "/issuers/mois/batches", json={"credential_type": "resident_registration", "format": "csv"}, headers=mois
    ).json()["batch_id"]
    csv_text = (
        "subject,birth_date,nationality_status,resident_sido,as_of,is_household_head,registered_household_size\n"
        "citizen-c1,2001-01-01,citizen,11,2026-11-01,true,3\n"
        "citizen-c2,2001-01-01,citizen,11,2026-11-01,maybe,3\n"
        "citizen-c3,2001-01-01,citizen,11,2026-11-01,false,three\n"
        "citizen-c4,2001-01-01,citizen,11\n"
        'citizen-c5,"2002-02-02",citizen,11,2026-11-01,,\n'
    )
    response = client.post(f"/issuers/mois/batches/{batch}/rows", content=csv_text.encode(), headers=mois)
    assert response.status_code == 200, response.text
    results = {r["line"]: r for r in response.json()["results"]}
    assert "offer_id" in results[2] and "offer_id" in results[6]
    assert results[3]["field"] == "claims.is_household_head"
    assert results[4]["field"] == "claims.registered_household_size"
    assert results[5]["field"] == "line"
    offer = parse_offer_link(results[2]["link"], None)
    assert offer["grants"][PRE_AUTH]["pre-authorized_code"]


def test_batch_of_another_agency_or_forbidden_type(client, mois, ssis, platform) -> None:
    batch = client.post("/issuers/mois/batches", json={"credential_type": "resident_registration"}, headers=mois).json()
    before = snapshot(platform.engine)
    assert client.get(f"/issuers/ssis/batches/{batch['batch_id']}", headers=ssis).status_code == 404
    assert (
        client.post(f"/issuers/ssis/batches/{batch['batch_id']}/rows", content=b"{}", headers=ssis).status_code == 404
    )
    refused = client.post("/issuers/mois/batches", json={"credential_type": "household_income"}, headers=mois)
    assert refused.status_code == 403
    assert snapshot(platform.engine) == before


def test_a_deeply_nested_row_is_reported_and_the_rest_issued(client, mois) -> None:
    batch = client.post(
        "/issuers/mois/batches", json={"credential_type": "resident_registration"}, headers=mois
    ).json()["batch_id"]
    good = cohort(2)
    body = (good[0] + "\n" + "[" * 100_000 + "\n" + good[1] + "\n").encode()
    response = client.post(
        f"/issuers/mois/batches/{batch}/rows", content=body, headers={**mois, "Content-Type": "application/jsonl"}
    )
    assert response.status_code == 200, response.text
    progress = client.get(f"/issuers/mois/batches/{batch}", headers=mois).json()
    assert (progress["lines"], progress["created"], progress["failed"]) == (3, 2, 1)
    errors = client.get(f"/issuers/mois/batches/{batch}/errors", headers=mois).json()
    assert [e["line"] for e in errors] == [2]
