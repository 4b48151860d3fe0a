"""A bulk row holding a NUL or an unpaired surrogate (issue 14 defect 9: "batch rows" answered 500)
is that row's error: the rest of the body is issued, the batch's counts stay exact, and nothing of
the bad row is stored (PostgreSQL refuses a NUL, the sealing a surrogate)."""

from __future__ import annotations

import json

from sqlalchemy import text

from tests.issuers.conftest import RESIDENT


def test_rows_with_a_nul_or_a_lone_surrogate_are_refused_one_by_one(client, mois, platform) -> None:
    batch = client.post(
        "/issuers/mois/batches", json={"credential_type": "resident_registration"}, headers=mois
    ).json()["batch_id"]
    surrogate = json.dumps({"subject": "citizen-s-0002", "claims": RESIDENT}).replace('"11110"', '"\\ud800"')
    rows = [
        json.dumps({"subject": "citizen-s-0001", "claims": RESIDENT}),
        surrogate,
        json.dumps({"subject": "citizen-s-0003", "claims": {**RESIDENT, "resident_sigungu": "11\x0010"}}),
        json.dumps({"subject": "citizen-s-0004", "claims": {**RESIDENT, "shoe\ud800": 1}}),
        json.dumps({"subject": "citizen-s-0005", "claims": RESIDENT}),
    ]
    body = ("\n".join(rows) + "\n").encode()
    headers = {**mois, "Content-Type": "application/jsonl"}
    response = client.post(f"/issuers/mois/batches/{batch}/rows", content=body, headers=headers)
    assert response.status_code == 200, response.text
    results = {r["line"]: r for r in response.json()["results"]}
    assert {n for n, r in results.items() if "offer_id" in r} == {1, 5}
    for line in (2, 3, 4):
        assert results[line]["field"] == "line" and "surrogate" in results[line]["error"]
    progress = response.json()["batch"]
    assert (progress["lines"], progress["created"], progress["failed"], progress["pending_lines"]) == (5, 2, 3, 0)
    errors = client.get(f"/issuers/mois/batches/{batch}/errors", headers=mois)
    assert errors.status_code == 200 and [e["line"] for e in errors.json()] == [2, 3, 4]
    with platform.engine.connect() as connection:
        assert (
            connection.execute(text("SELECT count(*) FROM issuer_offers WHERE batch_id = :b"), {"b": batch}).scalar()
            == 2
        )


def test_a_csv_header_or_cell_with_a_nul_is_refused_by_line(client, mois) -> None:
    """A NUL in a header cell reached the error table as the field's name (PostgreSQL: a 500)."""
    headers = {**mois, "Content-Type": "text/csv"}
    rows_of = {}
    header = b"subject,birth_date,nationality_status,resident_sido,as_of\n"
    row = b"citizen-c1,2001-01-01,citizen,11,2026-11-01\n"
    for name, body in {
        "header": header.replace(b"birth_date", b"birth\x00_date") + row,
        "cell": header + row.replace(b"c1", b"c\x001"),
    }.items():
        batch = client.post(
            "/issuers/mois/batches", json={"credential_type": "resident_registration", "format": "csv"}, headers=mois
        ).json()["batch_id"]
        response = client.post(f"/issuers/mois/batches/{batch}/rows", content=body, headers=headers)
        assert response.status_code == 200, response.text
        rows_of[name] = response.json()["results"]
    assert rows_of["header"] == [
        {"line": 1, "field": "line", "error": "holds a NUL character or an unpaired surrogate"}
    ]
    assert rows_of["cell"] == [{"line": 2, "field": "line", "error": "holds a NUL character or an unpaired surrogate"}]


def test_a_line_number_past_what_the_database_holds_is_a_422(client, mois) -> None:
    # Found by the contract fuzzing: after_line=8690205954 overflowed the query (500 on PostgreSQL,
    # and on SQLite for larger numbers).
    batch = client.post(
        "/issuers/mois/batches", json={"credential_type": "resident_registration"}, headers=mois
    ).json()["batch_id"]
    for query in ({"after_line": 8690205954}, {"after_line": 10**30}, {"after_line": -1}, {"limit": 0}):
        refused = client.get(f"/issuers/mois/batches/{batch}/errors", params=query, headers=mois)
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert (
        client.get(f"/issuers/mois/batches/{batch}/errors", params={"after_line": 2**31 - 1}, headers=mois).json() == []
    )
