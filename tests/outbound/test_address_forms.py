"""Every form of an address is normalised before the SSRF check (issue 14 defect 14): IPv6 forms that
embed a loopback or link-local IPv4 address, inet_aton's integer, hex, octal and short forms, and any
port, were accepted for callback and redirect URLs outside development."""

from __future__ import annotations

import pytest

from outbound.urls import UnsafeURL, check_client_url

REFUSED = {
    "mapped loopback": "https://[::ffff:127.0.0.1]/cb",
    "ipv4-compatible loopback": "https://[::127.0.0.1]/cb",
    "6to4 of loopback": "https://[2002:7f00:1::1]/cb",
    "6to4 of metadata": "https://[2002:a9fe:a9fe::1]/cb",
    "teredo client loopback": "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/cb",
    "nat64 of metadata": "https://[64:ff9b::a9fe:a9fe]/cb",
    "integer loopback": "https://2130706433/cb",
    "hex loopback": "https://0x7f000001/cb",
    "dotted hex": "https://0x7f.0.0.1/cb",
    "octal loopback": "https://0177.0.0.1/cb",
    "short loopback": "https://127.1/cb",
    "integer metadata": "https://2852039166/latest/meta-data",
    "private ten": "https://10.1/cb",
    "another port": "https://example.com:8443/cb",
    "ssh port": "https://93.184.216.34:22/",
}


@pytest.mark.parametrize("resolve", [True, False], ids=["resolved", "registered"])
@pytest.mark.parametrize("url", list(REFUSED.values()), ids=list(REFUSED))
def test_every_form_of_a_non_public_address_is_refused_outside_development(url: str, resolve: bool) -> None:
    with pytest.raises(UnsafeURL):
        check_client_url(url, development=False, resolve=resolve)


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.216.34/cb",
        "https://1572395042/cb",
        "https://[2606:4700:4700::1111]/cb",
        "https://example.com:443/cb",
    ],
)
def test_public_addresses_in_any_form_pass(url: str) -> None:
    assert check_client_url(url, development=False, resolve=False).startswith("https://")


def test_development_still_allows_loopback_on_any_port() -> None:
    assert check_client_url("http://127.0.0.1:8000/cb", development=True)
