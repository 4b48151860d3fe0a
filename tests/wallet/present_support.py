"""Test helpers for the presentation tests: credentials put into a citizen's vault the way they
really get there (an agency's backend offers them through our issuer endpoints; the wallet's own
OpenID4VCI client, wallet/receive.py, redeems, verifies and stores them), and what a direct_post to
the platform's verifier carried."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import httpx

from tests.conftest import bearer_for
from tests.verifiers.conftest import AGENCY_OF
from tests.wallet.spec_verifier import Presentation, decode_presentation
from wallet.receive import CredentialReceiver
from wallet.vault import StoredCredential


class Holdings:
    """Issues credentials to a citizen through the real issuers and receives them into her vault."""

    def __init__(self, client, platform, receiver: CredentialReceiver) -> None:
        self.client = client
        self.platform = platform
        self.receiver = receiver
        self._headers: dict[str, dict[str, str]] = {}

    def _agency_headers(self, agency: str) -> dict[str, str]:
        if agency not in self._headers:
            self._headers[agency] = bearer_for(self.client, self.platform, f"agency:{agency}", ["credentials:offer"])
        return self._headers[agency]

    def issue(self, citizen_id: str, claims_by_type: dict[str, dict]) -> list[StoredCredential]:
        stored = []
        for type_id, claims in claims_by_type.items():
            agency = AGENCY_OF[type_id]
            response = self.client.post(
                f"/issuers/{agency}/offers",
                json={"subject": citizen_id, "credential_type": type_id, "claims": claims},
                headers=self._agency_headers(agency),
            )
            assert response.status_code == 201, response.text
            offer = self.receiver.parse_offer(response.json()["offer_link"])
            stored.extend(self.receiver.receive(citizen_id, offer))
        return stored


def posted_presentations(requests: list[httpx.Request], path: str) -> list[dict[str, list[Presentation]]]:
    """Each vp_token POSTed to `path`, decoded the way a verifier reads it."""
    out = []
    for request in requests:
        if request.method == "POST" and request.url.path == path:
            form = dict(parse_qsl(request.content.decode()))
            out.append({q: [decode_presentation(p) for p in ps] for q, ps in json.loads(form["vp_token"]).items()})
    return out
