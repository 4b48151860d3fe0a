"""Cohort uploads: a small file (3 rows, one bad) becomes offers through the issuer's bulk API, and
the progress page shows the counts and the bad row, reloading itself only while there is more."""

from __future__ import annotations

import json
import re

from tests.conftest import bearer_for
from tests.consoles.conftest import MOIS_OFFICER, form_at

GOOD = {"birth_date": "1999-05-01", "nationality_status": "citizen", "resident_sido": "11", "as_of": "2026-11-01"}
JSONL = "\n".join(
    [
        json.dumps({"subject": "citizen-minji-0001", "claims": GOOD}),
        json.dumps({"subject": "citizen-junho-0002", "claims": {**GOOD, "birth_date": "not a date"}}),
        json.dumps({"subject": "citizen-seoyeon-0003", "claims": GOOD}),
    ]
)
CSV = (
    "subject,birth_date,nationality_status,resident_sido,as_of\n"
    "citizen-minji-0001,1999-05-01,citizen,11,2026-11-01\n"
    "citizen-junho-0002,1999-05-01,martian,11,2026-11-01\n"
    "citizen-seoyeon-0003,2000-01-02,citizen,11,2026-11-01\n"
)


def upload(client, content: str, type_id: str | None = "resident_registration", *, as_file: str | None = None):
    """The file's contents pasted into the page's form (or, `as_file`, sent as a multipart file)."""
    page = client.get("/consoles/agency/cohort")
    assert page.status_code == 200, page.text
    token = form_at(page.text, "/consoles/agency/cohort").fields["csrftoken"]
    data = {"csrftoken": token, **({"type": type_id} if type_id else {})}
    if as_file:
        files = {"file": (as_file, content.encode(), "application/octet-stream")}
        return client.post("/consoles/agency/cohort", data=data, files=files, follow_redirects=False)
    # As a browser sends a text area: CRLF line ends.
    data["rows"] = content.replace("\n", "\r\n")
    return client.post("/consoles/agency/cohort", data=data, follow_redirects=False)


def test_a_jsonl_cohort_with_one_bad_row_runs_to_completion(officer) -> None:
    mois = officer(MOIS_OFFICER)
    answered = upload(mois, JSONL)
    assert answered.status_code == 303 and answered.headers["location"].startswith("/consoles/agency/batches/")
    page = mois.get(answered.headers["location"])
    assert page.status_code == 200 and "완료" in page.text
    assert 'http-equiv="refresh"' not in page.text  # done: nothing more to wait for
    counts = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", page.text))
    assert counts["만든 발급 제안"] == "2" and counts["거부된 줄"] == "1" and counts["받은 줄 수"] == "3"
    # The bad row, by its line number and field, in the issuer's words made plain.
    assert re.search(r"<tr><td>2</td><td><code>claims\.birth_date</code></td><td[^>]*>[^<]*YYYY-MM-DD", page.text)
    batch_id = answered.headers["location"].rsplit("/", 1)[1]
    assert f'href="/consoles/agency/batches/{batch_id}"' in mois.get("/consoles/agency").text


def test_a_csv_cohort_too(client, platform, officer) -> None:
    mois = officer(MOIS_OFFICER)
    answered = upload(mois, CSV)
    page = mois.get(answered.headers["location"])
    counts = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", page.text))
    assert counts["만든 발급 제안"] == "2" and counts["거부된 줄"] == "1" and ">CSV<" in page.text
    assert re.search(r"<tr><td>3</td><td><code>claims\.nationality_status</code>", page.text)
    batch_id = answered.headers["location"].rsplit("/", 1)[1]
    headers = bearer_for(client, platform, "agency:mois", ["credentials:offer"])
    assert client.get(f"/issuers/mois/batches/{batch_id}", headers=headers).json()["state"] == "closed"


def test_a_batch_still_open_reloads_its_page_until_it_is_done(client, platform, officer) -> None:
    mois = officer(MOIS_OFFICER)
    headers = bearer_for(client, platform, "agency:mois", ["credentials:offer"])
    opened = client.post("/issuers/mois/batches", json={"credential_type": "resident_registration"}, headers=headers)
    batch_id = opened.json()["batch_id"]
    page = mois.get(f"/consoles/agency/batches/{batch_id}")
    assert '<meta http-equiv="refresh" content="2">' in page.text and 'href="?auto=0"' in page.text
    # WCAG 2.2.1: the officer can stop it.
    stopped = mois.get(f"/consoles/agency/batches/{batch_id}", params={"auto": "0"})
    assert 'http-equiv="refresh"' not in stopped.text and "진행 중" in stopped.text
    client.post(f"/issuers/mois/batches/{batch_id}/close", headers=headers)
    assert 'http-equiv="refresh"' not in mois.get(f"/consoles/agency/batches/{batch_id}").text


def test_an_upload_without_a_file_or_a_type_is_told_what_is_missing(officer) -> None:
    mois = officer(MOIS_OFFICER)
    empty = upload(mois, "", type_id=None)
    assert empty.status_code == 400 and 'class="error-summary"' in empty.text
    assert 'href="#rows"' in empty.text and 'href="#type-1"' in empty.text
    assert 'aria-describedby="rows-hint rows-error"' in empty.text and 'aria-invalid="true"' in empty.text
    # A type the agency does not issue is no type at all.
    other = upload(mois, JSONL, type_id="household_income")
    assert other.status_code == 400 and 'href="#type-1"' in other.text


def test_a_multipart_post_is_refused_clearly_not_a_500(officer, client) -> None:
    # asgi-csrf 0.11 cannot read a multipart form with python-multipart 0.0.34 (it answered 500):
    # the pages send url-encoded forms only, and a multipart post is a clear 415 (seoul_wallet/browser.py).
    mois = officer(MOIS_OFFICER)
    answered = upload(mois, JSONL, as_file="cohort.jsonl")
    assert answered.status_code == 415 and "x-www-form-urlencoded" in answered.text
    assert client.post("/wallet/language", files={"f": ("a", b"x")}).status_code == 415
