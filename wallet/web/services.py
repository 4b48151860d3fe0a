"""Pages: services for me — every catalog service's rule evaluated inside the wallet over the
citizen's own credentials (wallet/services_for_me.py, shaped as the JSON API shapes it), and Apply:
the service's verifier opens a check bound to her, and the consent screen shows what it asks.

Applying goes through the same service as the JSON API: the wallet mints a one-minute token for
that one call (scope `services:apply`), so the page needs nothing from her sign-in but who she is.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from wallet.services_api import services_list
from wallet.services_for_me import ApplyFailed
from wallet.web.messages import N_
from wallet.web.rendering import Pages

SERVICE_ID = re.compile(r"^[a-z0-9_]{1,100}$")  # as the JSON API's path parameter
STANDINGS = ("eligible", "close", "not_eligible")  # the page's groups, in this order
BACK_AFTER_SIGN_IN = "/wallet/auth/login?return_to=/wallet/services"


def install(app: FastAPI, pages: Pages) -> None:
    services = pages.services

    @app.get("/wallet/services", include_in_schema=False)
    def services_page(request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return pages.sign_in_first(request)
        listed = services_list(services, citizen)
        groups = {standing: [s for s in listed["services"] if s["standing"] == standing] for standing in STANDINGS}
        return pages.render(
            request,
            "wallet_services.html",
            title=N_("Services for me"),
            listed=listed,
            groups=groups,
        )

    @app.post("/wallet/services/{service_id}/apply", include_in_schema=False)
    async def apply(service_id: str, request: Request) -> Response:
        citizen = pages.citizen(request)
        if citizen is None:
            return RedirectResponse(BACK_AFTER_SIGN_IN, 303)
        form = await request.form()
        if form.get("action") != "apply":
            return pages.message(request, 400, N_("Bad request"), back="/wallet/services")
        if not SERVICE_ID.match(service_id):
            return pages.message(request, 404, N_("No such service"), back="/wallet/services")
        try:
            created = await run_in_threadpool(services.services.apply, service_id, citizen)
        except ApplyFailed as exc:
            title = N_("No such service") if exc.status == 404 else N_("The application could not be started")
            return pages.message(request, exc.status, title, exc.messages, back="/wallet/services")
        query = urlsplit(created["link"]).query
        if not query:
            return pages.message(request, 502, N_("The application could not be started"), back="/wallet/services")
        # The consent screen opens the verifier's request: she sees exactly what it asks first.
        return RedirectResponse(f"/wallet/present?{query}", 303)
