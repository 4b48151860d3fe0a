"""Services for me: every catalog service's eligibility rule evaluated in the wallet, over the
citizen's own valid, unrevoked credentials, with the same policy code the verifiers decide with
(eligibility/). Nothing leaves the wallet while the list is computed: no request to any issuer,
verifier or ledger (a test records the outbound traffic).

Applying is the one step that speaks to a verifier: `apply` asks the verifier operating the service
to open a check bound to this citizen (`POST /verifiers/services/{id}/apply`) and opens the link it
returns, as any sharing request, so she sees exactly what is asked before anything is shared. The
call carries a platform token the wallet mints for that one purpose (scope `services:apply`, one
minute, `citizen:<id>`): never the citizen's own token from her sign-in, which could read and
withdraw her consents, and which an external provider would not issue as a platform token anyway.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx

import catalog
from eligibility.assessment import Assessment, Standing, assess
from eligibility.policies import HeldCredential, Policy, load_policies
from outbound.exchange import post_bounded
from outbound.urls import FetchFailed, UnsafeURL
from wallet.vault import OpenedCredential, Vault

SEOUL = ZoneInfo("Asia/Seoul")  # the verifiers' application date is Seoul's calendar day
_ORDER = {Standing.ELIGIBLE: 0, Standing.CLOSE: 1, Standing.NOT_ELIGIBLE: 2}
MAX_APPLY_RESPONSE = 16 * 1024
APPLY_SCOPE = "services:apply"
APPLY_TOKEN_TTL = 60  # seconds: one call


class ApplyFailed(Exception):
    """The verifier would not open a check; `reason` is stable, `messages` are for the citizen."""

    def __init__(self, reason: str, messages: dict[str, str], status: int = 502) -> None:
        super().__init__(reason)
        self.reason = reason
        self.messages = messages
        self.status = status


@dataclass(frozen=True)
class ServicesView:
    assessments: list[Assessment]
    on: dt.date
    credentials_considered: int
    # Catalog types the citizen holds only in a form that cannot count (revoked, suspended, expired).
    unusable: dict[str, str]


def platform_issuers(public_url: str) -> Callable[[str, str], bool]:
    """Whether a credential of a catalog type comes from the platform agency that issues that type
    (what the platform's verifiers trust): an offer from anyone else can be held, but predicts nothing."""
    base = public_url.rstrip("/")
    by_type: dict[str, set[str]] = {}
    for agency in catalog.demo_parties().agencies:
        for type_id in agency.issues:
            by_type.setdefault(type_id, set()).add(f"{base}/issuers/{agency.slug}")

    def trusted(type_id: str, issuer: str) -> bool:
        return issuer in by_type.get(type_id, set())

    return trusted


class ServicesForMe:
    def __init__(
        self,
        vault: Vault,
        *,
        trusted: Callable[[str, str], bool],
        apply_token: Callable[[str], str] | None = None,
        http: httpx.Client | None = None,
        public_url: str = "",
        development: bool = False,
        policies: Mapping[str, Policy] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.vault = vault
        self.trusted = trusted
        self.apply_token = apply_token
        self.http = http
        self.public_url = public_url.rstrip("/")
        self.development = development
        self.types = catalog.credential_types()
        self.services = catalog.services()
        self.policies = dict(policies) if policies is not None else load_policies(self.services, self.types)
        self.type_of_vct = {ctype.vct: type_id for type_id, ctype in self.types.items()}
        self.clock = clock

    # -- evaluation (local only) ----------------------------------------------------------------------

    def _held(self, opened: Sequence[OpenedCredential]) -> list[HeldCredential]:
        held = []
        for credential in opened:
            type_id = self.type_of_vct.get(credential.stored.vct)
            if type_id is not None and self.trusted(type_id, credential.stored.issuer):
                held.append(HeldCredential(type_id, credential.claims))
        return held

    def view(self, citizen_id: str) -> ServicesView:
        """Every service, eligible first, then close (fewest credentials missing first), then not
        eligible; each with its reasons."""
        now = self.clock()
        on = dt.datetime.fromtimestamp(now, SEOUL).date()
        held = self._held(self.vault.open_usable(citizen_id))
        held_types = {c.type_id for c in held}
        unusable: dict[str, str] = {}
        for stored in self.vault.list(citizen_id):
            type_id = self.type_of_vct.get(stored.vct)
            if type_id is not None and type_id not in held_types and not stored.usable(now):
                unusable.setdefault(type_id, stored.status if stored.status != "valid" else "expired")
        agencies = catalog.demo_parties().agencies
        assessments = [
            assess(policy, self.services[service_id], held, on, self.types, agencies)
            for service_id, policy in self.policies.items()
        ]
        assessments.sort(key=lambda a: (_ORDER[a.standing], len(a.missing), a.service_id))
        return ServicesView(assessments, on, len(held), unusable)

    def eligible_ids(self, citizen_id: str) -> set[str]:
        """The ids of the services the citizen qualifies for now (evaluated locally)."""
        return {a.service_id for a in self.view(citizen_id).assessments if a.standing is Standing.ELIGIBLE}

    # -- applying -------------------------------------------------------------------------------------

    def apply(self, service_id: str, citizen_id: str) -> dict[str, Any]:
        """Ask the platform's verifier for a check of `service_id` bound to this citizen; returns
        the verifier's answer (request id, verifier, wallet link)."""
        if service_id not in self.services:
            raise ApplyFailed("unknown_service", {"ko": "그런 서비스가 없습니다.", "en": "No such service."}, 404)
        if self.http is None or self.apply_token is None:
            raise ApplyFailed("apply_unavailable", _UNREACHABLE)
        citizen_token = self.apply_token(citizen_id)
        url = f"{self.public_url}/verifiers/services/{service_id}/apply"
        try:
            response = post_bounded(
                self.http,
                url,
                development=self.development,
                max_bytes=MAX_APPLY_RESPONSE,
                headers={"Authorization": f"Bearer {citizen_token}"},
            )
        except (UnsafeURL, FetchFailed):
            raise ApplyFailed("verifier_unreachable", _UNREACHABLE) from None
        try:
            body = json.loads(response.body)
        except ValueError:
            body = None
        if response.status_code != 201 or not isinstance(body, dict) or not isinstance(body.get("link"), str):
            said = body.get("detail") if isinstance(body, dict) else None
            raise ApplyFailed(
                "apply_refused",
                {
                    "ko": "서비스 기관이 신청을 받지 않았습니다." + (f" ({str(said)[:200]})" if said else ""),
                    "en": "The service did not accept the application." + (f" ({str(said)[:200]})" if said else ""),
                },
                status=502 if response.status_code >= 500 else 409,
            )
        return body


_UNREACHABLE = {
    "ko": "서비스 기관에 연결할 수 없습니다. 잠시 후 다시 시도하세요.",
    "en": "The service could not be reached. Please try again later.",
}
