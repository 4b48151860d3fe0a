"""The citizen's web app: server-rendered pages under /wallet, Korean first, no JavaScript needed.

Each module installs the routes of one group of pages and renders through `rendering.Pages`; each
has its own Korean catalog (wallet/locale/ko/LC_MESSAGES/<module>.po). The pages are a second face
of the wallet's services: every page calls the same code as the JSON API.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from wallet.api import WalletServices
from wallet.web import activity, consents, credentials, home, my_data, receive, services, sharing
from wallet.web.messages import PACKAGE
from wallet.web.rendering import Pages

MODULES = (home, credentials, receive, sharing, services, consents, activity, my_data)


def install_pages(app: FastAPI, services_: WalletServices, csrf_token: Callable[[Request], str]) -> Pages:
    pages = Pages(services_, csrf_token)
    app.state.wallet_pages = pages
    app.mount("/wallet/static", StaticFiles(directory=PACKAGE / "static"), name="wallet-static")
    for module in MODULES:
        module.install(app, pages)
    return pages
