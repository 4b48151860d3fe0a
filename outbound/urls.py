"""Checking URLs that clients supply (callback, redirect): normalised with w3lib, https only outside
development, and in production never an address on this machine or a private network (SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

import httpx
from w3lib.url import canonicalize_url, safe_url_string

MAX_URL_LENGTH = 2000


class UnsafeURL(ValueError):
    """The URL is malformed, not https, or points somewhere a server must not call."""


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_client_url(url: str, *, development: bool, resolve: bool = True) -> str:
    """The normalised URL, or `UnsafeURL`.

    Outside development: https only, and the host (literal or every address it resolves to) must be
    a public address, so a callback cannot be aimed at loopback, link-local or private services."""
    return checked_url(url, development=development, resolve=resolve)[0]


def checked_url(url: str, *, development: bool, resolve: bool = True) -> tuple[str, list[str]]:
    """`check_client_url`, also returning the public addresses the host resolved to (empty in
    development mode), so the caller can connect to exactly the addresses that were checked."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeURL("a URL of at most 2000 characters is required")
    try:
        normalised = canonicalize_url(safe_url_string(url.strip()), keep_fragments=False)
        parts = urlsplit(normalised)
        port = parts.port
    except ValueError as exc:  # w3lib/urllib: a bad port, an invalid IPv6 literal, ...
        raise UnsafeURL(f"the URL is malformed: {exc}") from None
    allowed = ("https", "http") if development else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeURL(f"the URL must use {' or '.join(allowed)}")
    if not parts.hostname:
        raise UnsafeURL("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeURL("the URL must not carry credentials")
    if "#" in url:
        raise UnsafeURL("the URL must not have a fragment")
    if development:
        return normalised, []
    host = parts.hostname
    if host in ("localhost",) or host.endswith((".localhost", ".local", ".internal")):
        raise UnsafeURL("the URL points to a local host")
    try:
        addresses = [host] if _is_ip(host) else _resolve(host, port or 443) if resolve else []
    except (OSError, UnicodeError):
        raise UnsafeURL(f"the host {host!r} does not resolve") from None
    for address in addresses:
        if _forbidden(address):
            raise UnsafeURL(f"the host {host!r} resolves to a non-public address")
    return normalised, addresses


def pinned_request(url: str, addresses: list[str]) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL rewritten to connect to the first checked address, with the Host header and TLS
    server name of the original host: a second DNS answer (rebinding) is never consulted.
    Returns (url, headers, httpx request extensions)."""
    parts = urlsplit(url)
    if not addresses or parts.hostname is None or _is_ip(parts.hostname):
        return url, {}, {}
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = literal + (f":{parts.port}" if parts.port else "")
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    host_header = parts.hostname + (f":{parts.port}" if parts.port else "")
    return pinned, {"Host": host_header}, {"sni_hostname": parts.hostname}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int) -> list[str]:
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)})


def fetch_bounded(http: httpx.Client, url: str, *, development: bool, max_bytes: int, accept: str) -> bytes:
    """GET a document another party publishes (issuer metadata, JWKS, status lists): the URL must pass
    `checked_url` (outside development: https, public addresses only, connected to the checked
    address), no redirects are followed, and at most `max_bytes` are read. Raises `UnsafeURL` for a
    URL that must not be fetched and `FetchFailed` for anything else."""
    try:
        checked, addresses = checked_url(url, development=development)
    except UnsafeURL:
        raise
    target, headers, extensions = pinned_request(checked, addresses)
    try:
        with http.stream(
            "GET",
            target,
            headers={"Accept": accept, **headers},
            extensions=extensions,
            timeout=5.0,
            follow_redirects=False,
        ) as response:
            if response.status_code != 200:
                raise FetchFailed(f"{url}: HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchFailed(f"{url}: larger than {max_bytes} bytes")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise FetchFailed(f"{url}: {type(exc).__name__}") from None


class FetchFailed(Exception):
    """A document could not be fetched (HTTP error, wrong status, too large)."""
