"""Outbound HTTP to several parties, each an ASGI app under a host name of its own.

`Hosts` is an httpx transport that dispatches each request by its host (`issuer.example`, …) to
that host's app through Starlette's TestClient: real HTTP requests and responses through the ASGI
apps, no network listener. Requests for any other host go to `fallback` (the project's app, e.g.
the `AppTransport` of `platform.http`), or fail as an unreachable host would.

    hosts = Hosts({"issuer.example": spec_issuer.app}, fallback=platform.http._transport)
    http = httpx.Client(transport=hosts)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from starlette.testclient import TestClient


class Hosts(httpx.BaseTransport):
    def __init__(self, apps: Mapping[str, Any], fallback: httpx.BaseTransport | None = None) -> None:
        # base_url only names the host for relative requests; routing is by each request's own URL.
        self.clients = {host: _client(host, app) for host, app in apps.items()}
        self.fallback = fallback
        self.requests: list[httpx.Request] = []  # every request, in order, for tests to inspect

    def add(self, host: str, app: Any) -> None:
        self.clients[host] = _client(host, app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        client = self.clients.get(request.url.host)
        if client is None:
            if self.fallback is None:
                raise httpx.ConnectError(f"no route to {request.url.host}", request=request)
            return self.fallback.handle_request(request)
        request.read()
        response = client.send(request)
        return httpx.Response(response.status_code, headers=response.headers, content=response.content)

    def hosts_called(self) -> list[str]:
        return [r.url.host for r in self.requests]


def _client(host: str, app: Any) -> TestClient:
    # No redirects inside the transport: following them is the caller's decision (the wallet never does).
    return TestClient(app, base_url=f"http://{host}", follow_redirects=False)
