"""The vocabulary of the authorization matrix (tests/security/authorization_matrix.yaml, which says
what each key means): outcomes, the policies a route's `expect` names, and `ENTRIES`, the table read
into one `Entry` per route, and the request bodies that differ by role (each citizen acts on
something of her own)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml

from tests.security.authz_support import CITIZENS, CLAIMS, JUNHO, MINJI, ROLES, World, query_of

TABLE = Path(__file__).with_name("authorization_matrix.yaml")
OK, SIGNIN = "ok", "signin"
Outcome = str | int
Body = Callable[[World, str], dict[str, Any]]
GROUPS = {
    "citizens": ("citizen_a", "citizen_b"),
    "agencies": ("agency_a", "agency_b"),
    "verifiers": ("verifier_a", "verifier_b"),
}


def policy(default: Outcome, **outcomes: Outcome) -> dict[str, Outcome]:
    """Every role's outcome: `default`, except those named (a group name covers both of its roles)."""
    table = dict.fromkeys(ROLES, default)
    for name, outcome in outcomes.items():
        for role in GROUPS.get(name, (name,)):
            table[role] = outcome
    return table


# Bearer APIs: no token is 401, a token without the scope (or of another kind of party) is 403.
# Pages: only a citizen's browser has a wallet session; officers (and citizens, turned away) have a
# consoles session; the admin's browser has neither.
POLICIES: dict[str, dict[str, Outcome]] = {
    "PUBLIC": policy(OK),
    "CITIZEN": policy(403, anonymous=401, citizens=OK),
    "CITIZEN_OWN": policy(403, anonymous=401, citizen_a=OK, citizen_b=404),
    "AGENCY_OWN": policy(403, anonymous=401, agency_a=OK),
    "VERIFIER": policy(403, anonymous=401, verifiers=OK),
    "VERIFIER_OWN": policy(403, anonymous=401, verifier_a=OK, verifier_b=404),
    "ADMIN": policy(403, anonymous=401, admin=OK),
    # A scope no role's client can obtain: the platform mints it for itself.
    "NOBODY": policy(403, anonymous=401),
    "WALLET_PAGE": policy(SIGNIN, citizens=OK),
    "WALLET_PAGE_OWN": policy(SIGNIN, citizen_a=OK, citizen_b=404),
    "AGENCY_CONSOLE": policy(403, anonymous=SIGNIN, admin=SIGNIN, agencies=OK),
    "AGENCY_CONSOLE_OWN": policy(403, anonymous=SIGNIN, admin=SIGNIN, agency_a=OK, agency_b=404),
    "SERVICE_CONSOLE": policy(403, anonymous=SIGNIN, admin=SIGNIN, verifiers=OK),
    "SERVICE_CONSOLE_OWN": policy(403, anonymous=SIGNIN, admin=SIGNIN, verifier_a=OK, verifier_b=404),
}
# -- request bodies that differ by role: each citizen acts on something of her own ------------------------


def _fresh_offer_link(world: World, role: str) -> str:
    """A new offer of agency A for this citizen (a spare one for the others, who are refused first)."""
    if role not in CITIZENS:
        return world.ids["offer_a_pending_link"]
    return world.offer("mois", CITIZENS[role])["offer_link"]


def _fresh_check_link(world: World, role: str) -> str:
    return world.check(applicant=role)["link"] if role in CITIZENS else world.ids["request_a_pending_link"]


def _notice(world: World, role: str, link: str) -> str:
    if role not in CITIZENS:
        return "0" * 64
    view = world.http.post("/wallet/api/sharing-requests", json={"request": link}, headers=world.roles[role].headers)
    assert view.status_code == 200, view.text
    return view.json()["notice_sha256"]


def receive_api(world: World, role: str) -> dict[str, Any]:
    return {"json": {"offer": _fresh_offer_link(world, role)}}


def receive_page(world: World, role: str) -> dict[str, Any]:
    return {"data": {"credential_offer": query_of(_fresh_offer_link(world, role))["credential_offer"]}}


def approve_api(world: World, role: str) -> dict[str, Any]:
    link = _fresh_check_link(world, role)
    return {"json": {"request": link, "notice_sha256": _notice(world, role, link)}}


def deny_api(world: World, role: str) -> dict[str, Any]:
    return {"json": {"request": _fresh_check_link(world, role)}}


def decline_page(world: World, role: str) -> dict[str, Any]:
    link = _fresh_check_link(world, role)
    form = {"request_query": link.split("?", 1)[1], "notice_sha256": _notice(world, role, link), "action": "decline"}
    return {"data": form}


def officer_issues(world: World, role: str) -> dict[str, Any]:
    claims = {f"claim.{name}": item for name, item in CLAIMS["resident_registration"].items()}
    return {"data": {"type": "resident_registration", "subject": MINJI, "pin": "none", **claims}}


def idp_login(world: World, role: str) -> dict[str, Any]:
    """The development account picker's form for the wallet's authorization request (it signs in
    as citizen B, whoever submits it: development only, tests/auth/test_oidc_development_only.py)."""
    return {"data": {"authorization_request": urlencode(wallet_authorization(world, role)), "account": JUNHO}}


def client_credentials(world: World, role: str) -> dict[str, Any]:
    """The role's own OAuth client, if it has one; citizens and anonymous have none to offer."""
    client = world.roles[role].client
    return {"data": {"grant_type": "client_credentials"}, **({"auth": client} if client else {})}


def authorization_form(world: World, role: str) -> dict[str, Any]:
    return {"data": wallet_authorization(world, role)}


def wallet_authorization(world: World, role: str) -> dict[str, str]:
    """The wallet's authorization request at the provider, with a nonce of its own (the provider
    refuses a nonce it has seen: a replay)."""
    return {
        "response_type": "code",
        "client_id": world.ids["wallet_client_id"],
        "redirect_uri": world.ids["wallet_redirect_uri"],
        "scope": "openid",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }


# The builders above, by the name the table gives them.
BUILDERS: dict[str, Body] = {
    builder.__name__: builder
    for builder in (
        receive_api,
        receive_page,
        approve_api,
        deny_api,
        decline_page,
        officer_issues,
        idp_login,
        client_credentials,
        authorization_form,
        wallet_authorization,
    )
}

KEYS = {"expect", "except", "browser", "path", "query", "json", "data", "jsonl", "body", "scopes"}
KEYS |= {"own_slug", "capability", "sweep", "signin_to", "xfail"}


@dataclass(frozen=True)
class Entry:
    expect: Mapping[str, Outcome]
    browser: bool = False
    path: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] | Body = field(default_factory=dict)
    body: Body | None = None
    scopes: tuple[str, ...] = ()
    own_slug: bool = False
    capability: bool = False
    sweep: int = 0
    signin_to: str | None = None
    xfail: Mapping[str, str] = field(default_factory=dict)  # role -> the defect the cell shows


def value(world: World, text: str) -> str:
    """A parameter as sent: "@name" is a resource of the world, anything else itself."""
    return world.ids[text[1:]] if text.startswith("@") else text


def _resolved(item: Any, world: World) -> Any:
    if isinstance(item, str):
        return value(world, item)
    if isinstance(item, dict):
        return {key: _resolved(part, world) for key, part in item.items()}
    if isinstance(item, list):
        return [_resolved(part, world) for part in item]
    return item


def _fixed_body(raw: Mapping[str, Any]) -> Body | None:
    """The body the same for every role, as httpx keyword arguments."""
    if "json" in raw:
        return lambda world, role: {"json": _resolved(raw["json"], world)}
    if "data" in raw:  # form fields are text: a mapping goes as its JSON
        form = {name: json.dumps(item) if isinstance(item, dict) else item for name, item in raw["data"].items()}
        return lambda world, role: {"data": _resolved(form, world)}
    if "jsonl" in raw:
        lines = "".join(json.dumps(line) + "\n" for line in raw["jsonl"])
        return lambda world, role: {"content": lines, "headers": {"Content-Type": "application/jsonl"}}
    return None


def _entry(route: str, raw: Mapping[str, Any], defects: Mapping[str, str]) -> Entry:
    unknown = set(raw) - KEYS
    assert not unknown, f"{route}: unknown keys {sorted(unknown)} in {TABLE.name}"
    expect = raw["expect"]
    base = POLICIES[expect] if isinstance(expect, str) and expect in POLICIES else policy(expect)
    exceptions = {
        role: outcome for name, outcome in raw.get("except", {}).items() for role in GROUPS.get(name, (name,))
    }
    assert set(exceptions) <= set(ROLES), f"{route}: `except` names no role: {sorted(set(exceptions) - set(ROLES))}"
    outcomes = {*base.values(), *exceptions.values()}
    assert all(o in (OK, SIGNIN) or isinstance(o, int) for o in outcomes), f"{route}: an unknown outcome {outcomes}"
    query = raw.get("query", {})
    return Entry(
        expect={**base, **exceptions},
        browser=raw.get("browser", False),
        path=raw.get("path", {}),
        query=BUILDERS[query] if isinstance(query, str) else query,
        body=BUILDERS[raw["body"]] if "body" in raw else _fixed_body(raw),
        scopes=tuple(raw.get("scopes", ())),
        own_slug=raw.get("own_slug", False),
        capability=raw.get("capability", False),
        sweep=raw.get("sweep", 0),
        signin_to=raw.get("signin_to"),
        xfail={role: defects[name] for role, name in raw.get("xfail", {}).items()},
    )


def load_entries() -> dict[str, Entry]:
    table = yaml.safe_load(TABLE.read_text(encoding="utf-8"))
    return {route: _entry(route, raw, table["defects"]) for route, raw in table["routes"].items()}


ENTRIES = load_entries()
