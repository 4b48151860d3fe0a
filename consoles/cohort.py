"""Cohort uploads in the agency console: a JSON Lines file ({"subject", "claims"} per line) or a
CSV file (a header naming `subject` and claim columns) becomes one offer per row, through the
issuer's bulk API: open a batch, send the rows in whole-line parts (each under the platform's
body limit; the issuer numbers lines across parts), close it.

The page takes the file's contents pasted into a text area, not a file input: a file input needs a
multipart form, and the CSRF layer (asgi-csrf 0.11) cannot read one with the python-multipart this
project installs (its `FormParser` lost the `FileClass` argument): every multipart post under
/consoles or /wallet fails there before it reaches the app. The handler already accepts a `file`
part, so once that is fixed the template's text area can become `<input type="file">`.

The upload is answered at once with the progress page; the rows are sent after the answer (a
background task of the same worker), and the page reloads itself without JavaScript
(`<meta http-equiv="refresh">`) until the batch is closed or sending failed. The offers' links
are not kept: each is a capability, and reaching the citizens is the issuer's and the wallet's
business, not the console's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from consoles.agencies import AgencyInfo, signed_in_agency
from consoles.claim_forms import say
from consoles.clients import PartyUnavailable
from consoles.context import Console
from consoles.officers import Officer
from wallet.web.messages import N_

log = logging.getLogger("seoul_wallet.consoles")
BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MEDIA_TYPES = {"jsonl": "application/jsonl", "csv": "text/csv"}
SHOWN_ERRORS = 100
REFRESH_SECONDS = 2


def detect_format(filename: str, data: bytes) -> str:
    """csv or jsonl: by the file's name, else by its first character (a JSON object starts with {)."""
    lowered = filename.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "jsonl" if data.lstrip()[:1] == b"{" else "csv"


def parts(data: bytes, limit: int) -> Iterator[bytes]:
    """Whole lines, at most `limit` bytes a part (a longer line goes alone: the issuer refuses it)."""
    current = bytearray()
    for line in data.splitlines(keepends=True):
        if current and len(current) + len(line) > limit:
            yield bytes(current)
            current = bytearray()
        current += line
    if current:
        yield bytes(current)


def plain(failure: dict[str, Any], gettext: Callable[[str], str]) -> dict[str, Any]:
    """A refused row's reason in the officer's language where we know the issuer's words."""
    message = str(failure.get("message") or "")
    said = say(message, gettext)
    return {**failure, "message": said, "issuer_words": said == message}


def install(app: FastAPI, console: Console, part_bytes: int) -> None:
    pages, parties, records = console.pages, console.parties, console.records

    def guarded(request: Request) -> tuple[Officer, AgencyInfo] | Response:
        return signed_in_agency(console, request)

    def upload_page(request: Request, officer: Officer, info: AgencyInfo, **context: Any) -> Response:
        return pages.render(
            request,
            "console_cohort.html",
            400 if context.get("errors") else 200,
            title=N_("Upload a cohort"),
            officer=officer,
            party_name=info.name,
            agency=info,
            **context,
        )

    @app.get("/consoles/agency/cohort", include_in_schema=False)
    def cohort_page(request: Request) -> Response:
        found = guarded(request)
        return found if isinstance(found, Response) else upload_page(request, *found, chosen=None, pasted="")

    @app.post("/consoles/agency/cohort", include_in_schema=False)
    async def upload(request: Request) -> Response:
        form = await request.form()
        type_id, file, pasted = form.get("type"), form.get("file"), form.get("rows")
        # The file's contents pasted (the page's form), or the file itself (multipart: see the module
        # docstring for why the page does not offer it yet).
        if isinstance(file, UploadFile):
            data, filename = await file.read(), file.filename or ""
        else:
            data, filename = (pasted.encode() if isinstance(pasted, str) else b""), ""
        # The rest calls the issuer over HTTP: never on the event loop (one worker would wait for itself).
        pasted = pasted if isinstance(pasted, str) else ""
        return await run_in_threadpool(upload_submitted, request, type_id, data, filename, pasted)

    def upload_submitted(request: Request, type_id: object, data: bytes, filename: str, pasted: str) -> Response:
        found = guarded(request)
        if isinstance(found, Response):
            return found
        officer, info = found
        gettext = pages.gettext(request)
        errors = []
        if not isinstance(type_id, str) or type_id not in dict(info.types):
            errors.append({"field": "type-1", "message": gettext(N_("Choose the credential type of the cohort"))})
        if not data.strip():
            message = gettext(N_("Paste the rows of a JSON Lines or CSV file"))
            errors.append({"field": "rows", "message": message})
        if errors:
            return upload_page(request, officer, info, errors=errors, chosen=type_id, pasted=pasted)
        assert isinstance(type_id, str)
        fmt = detect_format(filename, data)
        body = {"credential_type": type_id, "format": fmt}
        try:
            opened = parties.call(officer.subject, "POST", f"/issuers/{officer.party}/batches", json=body)
        except PartyUnavailable as exc:
            return console.unavailable(request, officer, exc)
        if opened.status_code != 201:
            return pages.message(
                request,
                502,
                N_("The issuer refused the cohort"),
                N_("Nothing was issued."),
                detail=str(opened.json().get("detail") or ""),
                back="/consoles/agency/cohort",
                officer=officer,
            )
        batch_id = opened.json()["batch_id"]
        records.add(officer.subject, "batch", batch_id, type_id, officer.sub, state="sending")
        task = BackgroundTask(send_rows, officer, batch_id, data, fmt)
        return RedirectResponse(f"/consoles/agency/batches/{batch_id}", 303, background=task)

    def send_rows(officer: Officer, batch_id: str, data: bytes, fmt: str) -> None:
        base = f"/issuers/{officer.party}/batches/{batch_id}"
        try:
            for part in parts(data, part_bytes):
                sent = parties.call(
                    officer.subject, "POST", f"{base}/rows", content=part, headers={"Content-Type": MEDIA_TYPES[fmt]}
                )
                if sent.status_code != 200:
                    raise PartyUnavailable(f"the issuer refused rows ({sent.status_code}): {sent.text[:300]}")
            closed = parties.call(officer.subject, "POST", f"{base}/close")
            if closed.status_code != 200:
                raise PartyUnavailable(f"the issuer did not close the batch ({closed.status_code})")
        except PartyUnavailable as exc:
            log.warning("cohort upload failed", extra={"batch_id": batch_id, "detail": str(exc)[:200]})
            records.set_state(officer.subject, "batch", batch_id, "failed", str(exc))
            return
        records.set_state(officer.subject, "batch", batch_id, "sent")

    @app.get("/consoles/agency/batches/{batch_id}", include_in_schema=False)
    def progress(request: Request, batch_id: str, auto: str | None = None) -> Response:
        found = guarded(request)
        if isinstance(found, Response):
            return found
        officer, info = found
        gettext = pages.gettext(request)
        base = f"/issuers/{officer.party}/batches/{batch_id}"
        try:
            batch = parties.call(officer.subject, "GET", base) if BATCH_ID.fullmatch(batch_id) else None
            if batch is not None and batch.status_code == 200:
                failures = parties.call(officer.subject, "GET", f"{base}/errors", params={"limit": SHOWN_ERRORS})
        except PartyUnavailable as exc:
            return console.unavailable(request, officer, exc)
        if batch is None or batch.status_code != 200:
            # Another agency's batch is as absent as one that does not exist (the issuer says so).
            return pages.message(
                request,
                404,
                N_("No such cohort"),
                N_("Your agency has no cohort with this ID."),
                back="/consoles/agency",
                officer=officer,
            )
        record = records.get(officer.subject, "batch", batch_id)
        sending = record is not None and record.state == "sending"
        failed = record.detail if record is not None and record.state == "failed" else None
        state = batch.json()
        done = state["state"] == "closed" and not sending
        return pages.render(
            request,
            "console_batch.html",
            title=N_("Cohort progress"),
            officer=officer,
            party_name=info.name,
            batch=state,
            type_name=dict(info.types).get(state["credential_type"]),
            failures=[plain(f, gettext) for f in (failures.json() if failures.status_code == 200 else [])],
            shown_errors=SHOWN_ERRORS,
            done=done,
            failed=failed,
            # WCAG 2.2.1: a page that reloads itself must let the officer stop it (?auto=0).
            refresh=REFRESH_SECONDS if not done and failed is None and auto != "0" else None,
        )
