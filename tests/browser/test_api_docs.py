"""/docs in a real browser under its own CSP (issue 14 defect 12): Swagger UI renders every operation
of the contract and can call one, the policy blocks nothing the page needs, and the browser asks no
other host for anything."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.browser.conftest import WAIT_MS
from tests.browser.helpers import Site

REPORT_VIOLATIONS = (
    "document.addEventListener('securitypolicyviolation',"
    " e => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`))"
)
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def test_swagger_ui_works_under_its_csp_from_this_origin_only(site: Site, new_context) -> None:
    context = new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto("/docs")
    paths = site.http.get("/openapi.json").json()["paths"].values()
    # Swagger UI shows an operation once under each of its tags.
    operations = sum(len(op.get("tags") or [""]) for item in paths for method, op in item.items() if method in METHODS)
    page.locator(".opblock").nth(operations - 1).wait_for(timeout=WAIT_MS)
    assert page.locator(".opblock").count() == operations
    # Try one out: the page calls the API itself (connect-src 'self') and shows the answer.
    page.locator("#operations-operations-healthz_healthz_get").click()
    page.locator("button.try-out__btn").click()
    page.locator("button.execute").click()
    status = page.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for(timeout=WAIT_MS)
    assert status.inner_text().strip() == "200"

    assert errors == []
    origin = urlsplit(site.base).netloc
    foreign = [url for url in requested if not url.startswith("data:") and urlsplit(url).netloc != origin]
    assert foreign == []
