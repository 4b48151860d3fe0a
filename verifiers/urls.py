"""Checking URLs that clients supply (callback, redirect): normalised with w3lib, https only outside
development, and in production never an address on this machine or a private network (SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

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
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeURL("a URL of at most 2000 characters is required")
    normalised = canonicalize_url(safe_url_string(url.strip()), keep_fragments=False)
    parts = urlsplit(normalised)
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
        return normalised
    host = parts.hostname
    try:
        addresses = [host] if _is_ip(host) else _resolve(host, parts.port or 443) if resolve else []
    except OSError:
        raise UnsafeURL(f"the host {host!r} does not resolve") from None
    if host in ("localhost",) or host.endswith((".localhost", ".local", ".internal")):
        raise UnsafeURL("the URL points to a local host")
    for address in addresses:
        if _forbidden(address):
            raise UnsafeURL(f"the host {host!r} resolves to a non-public address")
    return normalised


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int) -> list[str]:
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)})
