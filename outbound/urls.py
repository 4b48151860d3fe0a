"""Checking URLs that clients supply (callback, redirect): normalised with w3lib, https only outside
development, and in production never an address on this machine or a private network (SSRF)."""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit, urlunsplit

import httpx
from w3lib.url import canonicalize_url, safe_url_string

MAX_URL_LENGTH = 2000


class UnsafeURL(ValueError):
    """The URL is malformed, not https, or points somewhere a server must not call."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# inet_aton's forms of an IPv4 address: 2130706433, 0x7f.1, 0177.0.0.1, 127.1 — all 127.0.0.1.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$", re.IGNORECASE)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries and that a gateway would reach: mapped
    (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), 6to4 (2002::/16), Teredo (2001::/32) and NAT64."""
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _forbidden(address: str | IPAddress) -> bool:
    """Not a public unicast address, itself or through the IPv4 address it embeds."""
    ip = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%", 1)[0])
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        candidates += _embedded_ipv4(ip)
    return any(not c.is_global or c.is_multicast for c in candidates)


def _literal_ip(host: str) -> IPAddress | None:
    """The address a host names literally, in any form a resolver would accept; None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            raise UnsafeURL(f"the host {host!r} is a malformed address") from None
    return None


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
    # A trailing dot names the same host from the DNS root: "localhost." is localhost and
    # "127.0.0.1." is 127.0.0.1 to a resolver, so the checks below must see the host without it.
    host = parts.hostname.rstrip(".")
    if not host:
        raise UnsafeURL("the URL has no host")
    if host in ("localhost",) or host.endswith((".localhost", ".local", ".internal")):
        raise UnsafeURL("the URL points to a local host")
    if port not in (None, 443):
        # Outside development the platform calls https on its standard port only: another port on a
        # public address is most often a service that was never meant to be reached from outside.
        raise UnsafeURL("the URL must use the standard https port (443)")
    literal = _literal_ip(host)
    try:
        addresses = [str(literal)] if literal is not None else _resolve(host, 443) if resolve else []
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
