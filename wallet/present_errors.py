"""The one error a citizen sees when the wallet will not show or answer a sharing request.

`reason` is stable (pages, logs and tests use it); `messages` say in Korean and English what went
wrong and that nothing was sent, with a technical `detail` (a host name, a parse error) when there
is one. Every refusal happens before anything reaches the verifier.
"""

from __future__ import annotations

REASONS: dict[str, tuple[str, str]] = {
    # reading the request
    "malformed_request": ("요청의 형식이 올바르지 않습니다", "the request is malformed"),
    "unsupported_client_id_prefix": (
        "이 지갑이 확인할 수 없는 방식으로 요청한 곳을 밝혔습니다(x509_san_dns, x509_hash만 지원)",
        "the requester identifies itself in a way this wallet cannot check (x509_san_dns or x509_hash only)",
    ),
    "unsigned_request_not_allowed": (
        "서명되지 않은 요청이라 누가 요청했는지 확인할 수 없습니다",
        "the request is not signed, so the wallet cannot check who is asking",
    ),
    "unsafe_request_uri": (
        "요청을 가져올 주소가 안전하지 않습니다(https가 아니거나 내부망 주소)",
        "the request's address is not safe to fetch (not https, or a private address)",
    ),
    "request_unavailable": (
        "요청을 가져올 수 없습니다. 만료되었을 수 있습니다",
        "the request could not be fetched; it may have expired",
    ),
    "request_expired": (
        "요청이 만료되었습니다. 서비스에 새 요청을 받으세요",
        "the request has expired; ask the service for a new one",
    ),
    # authenticating the verifier
    "malformed_request_object": ("서명된 요청을 읽을 수 없습니다", "the signed request cannot be read"),
    "wrong_request_object_typ": (
        "서명된 요청의 종류가 올바르지 않습니다",
        "the signed request is not of type oauth-authz-req+jwt",
    ),
    "algorithm_not_allowed": (
        "이 지갑이 허용하지 않는 서명 방식입니다",
        "the request is signed with an algorithm this wallet refuses",
    ),
    "certificate_missing": ("요청에 요청한 곳의 인증서가 없습니다", "the request carries no verifier certificate"),
    "certificate_malformed": ("요청한 곳의 인증서를 읽을 수 없습니다", "the verifier's certificate cannot be read"),
    "untrusted_certificate": (
        "요청한 곳의 인증서가 이 지갑이 신뢰하는 기관에서 발급되지 않았거나 유효하지 않습니다",
        "the verifier's certificate is not issued by an authority this wallet trusts, or is not valid now",
    ),
    "trust_anchors_unavailable": (
        "요청한 곳을 확인할 인증 기관 정보를 가져올 수 없습니다",
        "the wallet cannot fetch the certificate authority it checks verifiers against",
    ),
    "invalid_signature": (
        "요청의 서명이 요청한 곳의 인증서와 맞지 않습니다",
        "the request's signature does not match the verifier's certificate",
    ),
    "client_id_mismatch": (
        "링크에 적힌 요청자와 서명된 요청의 요청자가 다릅니다",
        "the link names a different verifier than the request itself",
    ),
    "wrong_audience": ("다른 지갑에 보낸 요청입니다", "the request is addressed to another wallet"),
    "dns_name_not_certified": (
        "요청한 곳의 인증서가 그 이름으로 발급되지 않았습니다",
        "the verifier's certificate is not issued for the name it uses",
    ),
    "response_uri_host_mismatch": (
        "응답을 받을 주소가 인증서에 적힌 요청한 곳의 주소가 아닙니다",
        "the answer would go to a host other than the one the certificate names",
    ),
    "certificate_hash_mismatch": (
        "요청한 곳의 인증서가 요청자 식별자가 가리키는 인증서가 아닙니다",
        "the verifier's certificate is not the one its identifier names",
    ),
    # what is asked
    "unsupported_response_type": ("제출을 요청하지 않는 요청입니다", "the request does not ask for a presentation"),
    "unsupported_response_mode": (
        "이 지갑이 지원하지 않는 응답 방식입니다(direct_post만 지원)",
        "the request wants an answer mode this wallet does not support (direct_post only)",
    ),
    "unsafe_response_uri": (
        "응답을 보낼 주소가 안전하지 않습니다",
        "the address the answer would go to is not acceptable",
    ),
    "invalid_dcql_query": ("요청한 항목 목록의 형식이 올바르지 않습니다", "the list of requested claims is malformed"),
    "unsupported_transaction_data": (
        "이 지갑이 서명할 수 없는 거래 정보가 포함되어 있습니다",
        "the request asks to sign transaction data, which this wallet cannot do",
    ),
    "unsupported_vp_formats": (
        "요청한 곳이 이 지갑의 서명 방식(ES256)을 받지 않습니다",
        "the verifier does not accept this wallet's key binding (ES256)",
    ),
    # answering
    "not_your_request": ("다른 사람에게 열린 요청입니다", "this request was opened for someone else"),
    "credentials_missing": (
        "이 요청에 필요한 증명서가 없습니다",
        "you do not hold every credential this request needs",
    ),
    "nothing_chosen": ("보낼 증명서를 고르지 않았습니다", "no credential was chosen to share"),
    "invalid_choice": ("선택한 증명서가 이 요청에 맞지 않습니다", "the chosen credential does not answer this request"),
    "credential_unavailable": (
        "선택한 증명서를 더 이상 쓸 수 없습니다. 요청을 다시 여세요",
        "a chosen credential can no longer be used; open the request again",
    ),
    "too_many_claims": (
        "동의 기록에 담을 수 있는 것보다 많은 항목을 요청합니다",
        "the request asks for more claims than a consent record can hold",
    ),
    "already_answered": ("이미 응답한 요청입니다", "this request has already been answered"),
    "request_changed": (
        "확인하신 뒤 요청 내용이 바뀌었습니다. 다시 확인하세요",
        "the request changed after you saw it; look at it again",
    ),
    "consent_not_recorded": (
        "동의를 기록하지 못했습니다. 다시 시도하세요",
        "your decision could not be recorded; try again",
    ),
}


class SharingRefused(Exception):
    """The wallet will not show or answer this request; nothing was sent."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown refusal reason {reason!r}")
        self.reason = reason
        self.detail = detail
        super().__init__(self.message)

    @property
    def messages(self) -> dict[str, str]:
        """The citizen-facing message per locale (`ko`, `en`)."""
        ko, en = REASONS[self.reason]
        said = f" ({self.detail})" if self.detail else ""
        return {
            "ko": f"{ko}{said}. 아무것도 보내지 않았습니다.",
            "en": f"{en[0].upper()}{en[1:]}{said}. Nothing was sent.",
        }

    @property
    def message(self) -> str:
        messages = self.messages
        return f"{messages['ko']} / {messages['en']}"
