"""The authorization matrix (issue 14, net 4): every route of the app × every role, each cell a
real request with that role's real credentials, its answer checked against the table,
tests/security/authorization_matrix.yaml (read by authorization_matrix.py).

The cells are generated from the app's own routes (mounted apps included), not from the table: a new
route without an entry fails here with its name, and so does an entry whose route is gone. Every
answer must be below 500; every answer a role other than A's gets with OK must not hold the id of
any of A's resources (credentials, consents, inbox items, offers, batches, checks) that it was not
itself sent. The world is built once (tests/security/authz_support.py); `python -m
tests.security.test_authorization_matrix` prints the matrix's size.
"""

from __future__ import annotations

import functools
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy.engine import Engine
from starlette.routing import BaseRoute, Mount

from tests.security.authorization_matrix import ENTRIES, OK, SIGNIN, Entry, Outcome, value
from tests.security.authz_support import A_SIDE, AGENCIES, ROLES, VERIFIERS, World, module_world

SIGN_IN_PAGES = ("/wallet/auth/login", "/consoles/auth/login")
REDIRECTS = (302, 303, 307)
# The owners whose cells also ask with a token lacking each scope the route requires.
NARROWED = ("citizen_a", "agency_a", "verifier_a", "admin")
OWN_SLUGS = {
    AGENCIES["agency_a"]: ("agency_b", AGENCIES["agency_b"]),
    VERIFIERS["verifier_a"]: ("verifier_b", VERIFIERS["verifier_b"]),
}
PATH_PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")  # {name} or {name:converter}


def _routes_of(routes: list[BaseRoute], prefix: str = "") -> Iterator[str]:
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, Mount):
            path = prefix + (context.path or "")
            inner = list(getattr(route, "routes", []) or [])
            yield from _routes_of(inner, path) if inner else [f"GET {path}/{{path}}"]
            continue
        for method in sorted(context.methods or ()):
            yield f"{method} {prefix}{context.path}"


@functools.cache
def app_routes() -> tuple[str, ...]:
    """Every "METHOD /path" the app serves, from a throwaway app (as the OpenAPI export builds one:
    the routes do not depend on data). Routes that sweep a whole account come last."""
    from seoul_wallet.app import create_app
    from seoul_wallet.settings import Settings

    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(
            data_dir=Path(scratch), database_url=None, master_key=None, master_key_file=None, development=True
        )
        app = create_app(settings)
        found = list(dict.fromkeys(_routes_of(app.routes)))
        app.state.platform.engine.dispose()
    return tuple(sorted(found, key=lambda key: ENTRIES[key].sweep if key in ENTRIES else 0))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "route" not in metafunc.fixturenames:
        return
    params = []
    for key in app_routes():
        entry = ENTRIES.get(key)
        for role in ROLES:
            reason = entry.xfail.get(role) if entry is not None else None
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(key, role, id=f"{key} | {role}", marks=marks))
    metafunc.parametrize(("route", "role"), params)


# -- one cell ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    path: dict[str, str]  # the path parameters
    expected: Outcome
    headers: dict[str, str] | None = None  # other bearer headers than the role's own
    note: str = ""


def _attempts(world: World, entry: Entry, role: str) -> list[Attempt]:
    """Each request the cell sends: for an owner, first its request with a token lacking each scope
    the route requires (403: a route grants nothing its scopes do not); the role's own request; and
    for the B party, A's id under its own slug (404: not one of its ids either)."""
    expected = entry.expect[role]
    attempts = []
    if entry.scopes and expected == OK and role in NARROWED and not entry.browser:
        for scope in entry.scopes:
            attempts.append(Attempt(dict(entry.path), 403, world.without(role, scope), f"without {scope}"))
    attempts.append(Attempt(dict(entry.path), expected))
    party, own = OWN_SLUGS.get(entry.path.get("slug", ""), ("", ""))
    if entry.own_slug and role == party:
        attempts.append(Attempt({**entry.path, "slug": own}, 404, note=f"under {own}"))
    return attempts


def _send(world: World, route: str, entry: Entry, role: str, attempt: Attempt) -> tuple[Any, str]:
    method, template = route.split(" ", 1)
    filled = {name: value(world, item) for name, item in attempt.path.items()}
    path = PATH_PARAMETER.sub(lambda match: filled[match.group(1)], template)
    base = world.public_url if path.startswith("/idp") else "http://testserver"
    kwargs = entry.body(world, role) if entry.body is not None else {}
    headers = dict(kwargs.pop("headers", {}))
    raw_query = entry.query(world, role) if callable(entry.query) else entry.query
    query = {name: value(world, item) for name, item in raw_query.items()}
    if entry.browser:
        client = world.client_as(role, browser=True)
        if method not in ("GET", "HEAD"):
            headers["x-csrftoken"] = world.roles[role].csrf_token(urlsplit(base).hostname or "")
    else:
        client = world.client_as(role, browser=False)
        headers.update(attempt.headers if attempt.headers is not None else world.roles[role].headers)
    response = client.request(method, base + path, params=query, headers=headers, follow_redirects=False, **kwargs)
    return response, f"{attempt.note} {path} {query} {kwargs}".strip()


def _matches(expected: Outcome, response: Any, entry: Entry) -> bool:
    status, location = response.status_code, response.headers.get("location", "")
    to_sign_in = status in REDIRECTS and urlsplit(location).path.startswith(SIGN_IN_PAGES)
    if expected == OK:  # served: not sent to sign in, nor back to a client with an OAuth error
        refused = status in REDIRECTS and "error" in parse_qs(urlsplit(location).query)
        return status < 400 and not to_sign_in and not refused
    if expected == SIGNIN:
        sent_on = status in REDIRECTS and bool(entry.signin_to) and location.startswith(entry.signin_to or "")
        return to_sign_in or sent_on
    return status == expected


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, database_url: str, migrated_engine: Engine) -> Iterator[World]:
    yield from module_world(tmp_path_factory, database_url, migrated_engine)


def test_cell(world: World, route: str, role: str) -> None:
    entry = ENTRIES.get(route)
    assert entry is not None, (
        f"{route} has no entry in tests/security/authorization_matrix.yaml: say who may call it and what "
        "everyone else gets"
    )
    for attempt in _attempts(world, entry, role):
        expected = attempt.expected
        response, sent = _send(world, route, entry, role, attempt)
        said = f"{route} as {role} ({sent}) answered {response.status_code} {response.headers.get('location', '')}"
        assert response.status_code < 500, f"{said}: a server error\n{response.text[:500]}"
        assert _matches(expected, response, entry), f"{said}, not {expected}\n{response.text[:500]}"
        if expected == OK and role not in A_SIDE and not entry.capability:
            leaked = sorted(m for m in world.markers if m in response.text and m not in sent)
            assert not leaked, f"{said}: it names A's resources {leaked}"


# -- the table itself -------------------------------------------------------------------------------


def test_every_entry_names_a_route_of_the_app() -> None:
    stale = sorted(set(ENTRIES) - set(app_routes()))
    assert not stale, f"entries for routes the app no longer has: {stale}"


def matrix_size() -> dict[str, int]:
    """Routes, roles, cells, and the requests the cells send (some send more than one)."""
    routes = app_routes()
    cells = [(ENTRIES[route], role) for route in routes if route in ENTRIES for role in ROLES]
    requests = 0
    for entry, role in cells:
        narrowed = entry.scopes and entry.expect[role] == OK and role in NARROWED and not entry.browser
        own_slug = entry.own_slug and role == OWN_SLUGS.get(entry.path.get("slug", ""), ("",))[0]
        requests += 1 + (len(entry.scopes) if narrowed else 0) + (1 if own_slug else 0)
    return {"routes": len(routes), "roles": len(ROLES), "cells": len(routes) * len(ROLES), "requests": requests}


if __name__ == "__main__":
    size = matrix_size()
    print(
        f"authorization matrix: {size['routes']} routes x {size['roles']} roles = {size['cells']} cells, "
        f"{size['requests']} requests"
    )
