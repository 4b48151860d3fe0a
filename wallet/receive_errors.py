"""The one error a citizen sees when receiving a credential fails, whatever failed.

`step` says where the flow stopped, `reason` why (a stable code the pages may translate; for a
refusal by the issuer it is the issuer's own OAuth 2.0 / OpenID4VCI error code), and `messages`
say both in Korean and English, with the issuer's description when it gave one. When this is raised
nothing has been stored.
"""

from __future__ import annotations

import re

# Where the flow stopped, in the order the flow runs.
STEPS: dict[str, tuple[str, str]] = {
    "wallet": ("지갑 확인", "opening your wallet"),
    "offer": ("발급 제안 읽기", "reading the credential offer"),
    "issuer_metadata": ("발급 기관 정보 확인", "checking the issuer's metadata"),
    "authorization_server": ("발급 기관 인증 서버 확인", "checking the issuer's authorization server"),
    "token": ("발급 제안 사용(인증번호 확인)", "redeeming the offer (and its code)"),
    "nonce": ("발급 준비", "preparing the request"),
    "credential": ("증명서 발급 요청", "requesting the credential"),
    "verification": ("증명서 검증", "verifying the credential"),
    "status": ("증명서 상태 확인", "checking the credential's status"),
}

# Reasons found by the wallet itself.
WALLET_REASONS: dict[str, tuple[str, str]] = {
    "no_wallet": ("지갑이 아직 없습니다. 먼저 로그인하세요", "you have no wallet yet; sign in first"),
    "malformed_offer": ("발급 제안의 형식이 올바르지 않습니다", "the credential offer is malformed"),
    "unsupported_grant": (
        "이 지갑이 지원하지 않는 발급 방식입니다(사전 승인 코드만 지원)",
        "the offer uses a flow this wallet does not support (pre-authorized code only)",
    ),
    "unsafe_url": (
        "안전하지 않은 주소입니다(https가 아니거나 내부망 주소)",
        "an address is not safe to contact (not https, or a private address)",
    ),
    "issuer_unreachable": ("발급 기관에 연결할 수 없습니다", "the issuer could not be reached"),
    "malformed_metadata": ("발급 기관 정보의 형식이 올바르지 않습니다", "the issuer's metadata is malformed"),
    "metadata_issuer_mismatch": (
        "발급 기관 정보가 제안한 기관의 것이 아닙니다",
        "the issuer's metadata names a different issuer than the offer",
    ),
    "authorization_server_mismatch": (
        "인증 서버 정보가 발급 기관과 맞지 않습니다",
        "the authorization server does not match the issuer's metadata",
    ),
    "unknown_configuration": (
        "발급 기관이 제안한 증명서를 알지 못합니다",
        "the issuer does not describe the offered credential",
    ),
    "unsupported_configuration": (
        "이 지갑이 받을 수 없는 형식의 증명서입니다",
        "the offered credential is of a kind this wallet cannot hold",
    ),
    "tx_code_required": ("인증번호를 입력하세요", "enter the transaction code (PIN)"),
    "tx_code_malformed": (
        "인증번호의 형식이 요청과 다릅니다",
        "the transaction code (PIN) does not have the requested form",
    ),
    "malformed_response": ("발급 기관의 응답 형식이 올바르지 않습니다", "the issuer's answer is malformed"),
    "unsupported_token_type": (
        "발급 기관의 토큰 형식을 지원하지 않습니다",
        "the issuer's access token is of a type this wallet does not support",
    ),
    "deferred_not_supported": (
        "발급 기관이 증명서를 나중에 발급하겠다고 했지만 이 지갑은 지원하지 않습니다",
        "the issuer wants to issue later (deferred), which this wallet does not support",
    ),
    "unexpected_credentials": (
        "발급 기관이 요청과 다른 수의 증명서를 보냈습니다",
        "the issuer sent a different number of credentials than requested",
    ),
    "issuer_mismatch": (
        "증명서의 발급자가 제안한 발급 기관이 아닙니다",
        "the credential names a different issuer than the offer",
    ),
    "issuer_keys_unavailable": (
        "발급 기관의 서명 키를 가져올 수 없습니다",
        "the issuer's signing keys could not be fetched",
    ),
    "issuer_key_unknown": (
        "증명서가 발급 기관이 공개한 키로 서명되지 않았습니다",
        "the credential is signed with a key the issuer does not publish",
    ),
    "signature_invalid": ("증명서의 서명이 올바르지 않습니다", "the credential's signature is not valid"),
    "wrong_typ": ("증명서 형식(typ)이 올바르지 않습니다", "the credential is not of type dc+sd-jwt"),
    "vct_mismatch": ("제안과 다른 종류의 증명서가 왔습니다", "the credential is of a different type than offered"),
    "holder_key_mismatch": (
        "증명서가 이 지갑의 키에 묶여 있지 않습니다",
        "the credential is not bound to the key this wallet proved",
    ),
    "subject_mismatch": (
        "이 증명서는 다른 사람에 대한 것입니다",
        "the credential is about someone else (its sub is not your id)",
    ),
    "expired": ("증명서가 이미 만료되었습니다", "the credential has already expired"),
    "not_yet_valid": ("증명서가 아직 유효하지 않습니다", "the credential is not valid yet"),
    "malformed_credential": ("증명서의 형식이 올바르지 않습니다", "the credential is malformed"),
    "revoked": ("발급 기관이 이 증명서를 폐지했습니다", "the issuer has revoked this credential"),
    "suspended": ("발급 기관이 이 증명서를 정지했습니다", "the issuer has suspended this credential"),
    "status_unavailable": (
        "증명서의 상태(폐지 여부)를 확인할 수 없습니다",
        "the credential's status (revocation) could not be checked",
    ),
}

# Error codes an issuer answers with: RFC 6749 §5.2, RFC 6750 §3.1, OpenID4VCI 1.0 §8.3.1.2.
ISSUER_REASONS: dict[str, tuple[str, str]] = {
    "invalid_request": ("발급 기관이 요청을 거절했습니다", "the issuer refused the request"),
    "invalid_grant": (
        "발급 제안이나 인증번호가 맞지 않거나, 이미 쓰였거나, 만료되었습니다",
        "the offer or its transaction code (PIN) is wrong, already used or expired",
    ),
    "invalid_client": ("발급 기관이 이 지갑을 받아들이지 않습니다", "the issuer does not accept this wallet"),
    "unauthorized_client": ("발급 기관이 이 지갑을 받아들이지 않습니다", "the issuer does not accept this wallet"),
    "unsupported_grant_type": (
        "발급 기관이 이 발급 방식을 지원하지 않습니다",
        "the issuer does not support this flow",
    ),
    "invalid_scope": ("발급 기관이 요청을 거절했습니다", "the issuer refused the request"),
    "invalid_token": ("발급 기관이 접근 토큰을 거절했습니다", "the issuer refused the access token"),
    "insufficient_scope": ("발급 기관이 접근 토큰을 거절했습니다", "the issuer refused the access token"),
    "invalid_credential_request": ("발급 기관이 발급 요청을 거절했습니다", "the issuer refused the credential request"),
    "unknown_credential_configuration": (
        "발급 기관이 이 증명서를 발급하지 않습니다",
        "the issuer does not issue this credential",
    ),
    "unknown_credential_identifier": (
        "발급 기관이 이 증명서를 발급하지 않습니다",
        "the issuer does not issue this credential",
    ),
    "invalid_proof": ("발급 기관이 지갑의 키 증명을 거절했습니다", "the issuer refused the wallet's key proof"),
    "invalid_nonce": ("발급 기관이 지갑의 키 증명을 거절했습니다", "the issuer refused the wallet's key proof"),
    "invalid_encryption_parameters": (
        "발급 기관이 암호화를 요구하지만 이 지갑은 지원하지 않습니다",
        "the issuer requires encryption this wallet does not support",
    ),
    "credential_request_denied": ("발급 기관이 발급을 거부했습니다", "the issuer denied the credential"),
}
ISSUER_ERROR = "issuer_error"  # an issuer error code outside the lists above
_UNKNOWN_ISSUER_REASON = ("발급 기관이 요청을 거절했습니다", "the issuer refused the request")
# OpenID4VCI 1.0 §8.3.1.2 (and RFC 6749 §5.2): error codes and descriptions are printable ASCII
# without '"' and '\'. Anything else from an issuer is not shown to anyone.
_ERROR_TEXT = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]+")
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # every registered code is a token like this
MAX_DESCRIPTION = 300


def issuer_text(value: object, limit: int = MAX_DESCRIPTION) -> str | None:
    """An issuer's error code or description if it is the spec's printable ASCII, cut to `limit`."""
    if not isinstance(value, str) or not _ERROR_TEXT.fullmatch(value):
        return None
    return value[:limit]


class ReceiveError(Exception):
    """Receiving a credential failed at `step` for `reason`; nothing was stored.

    `detail` is technical context (for logs and for the citizen who asks "why?"). For a refusal by
    the issuer, `issuer_error` is its error code and `issuer_description` its description."""

    def __init__(
        self,
        step: str,
        reason: str,
        detail: str = "",
        *,
        issuer_error: str | None = None,
        issuer_description: str | None = None,
    ) -> None:
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}")
        if reason not in WALLET_REASONS and reason not in ISSUER_REASONS and reason != ISSUER_ERROR:
            raise ValueError(f"unknown reason {reason!r}")
        self.step, self.reason, self.detail = step, reason, detail
        self.issuer_error, self.issuer_description = issuer_error, issuer_description
        super().__init__(self.message)

    @classmethod
    def from_issuer(cls, step: str, error: object, description: object, status: int) -> ReceiveError:
        """The issuer's error response, its code as the reason when the spec defines it."""
        code = error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else None
        text = issuer_text(description)
        reason = code if code in ISSUER_REASONS else ISSUER_ERROR
        return cls(step, reason, f"HTTP {status}", issuer_error=code, issuer_description=text)

    @property
    def messages(self) -> dict[str, str]:
        """The citizen-facing message per locale (`ko`, `en`)."""
        step_ko, step_en = STEPS[self.step]
        reason_ko, reason_en = WALLET_REASONS.get(self.reason) or ISSUER_REASONS.get(
            self.reason, _UNKNOWN_ISSUER_REASON
        )
        said = ""
        if self.issuer_error:
            said = f" ({self.issuer_error}" + (f": {self.issuer_description}" if self.issuer_description else "") + ")"
        return {
            "ko": f"'{step_ko}' 단계에서 멈췄습니다: {reason_ko}{said}. 아무것도 저장되지 않았습니다.",
            "en": f"Stopped while {step_en}: {reason_en}{said}. Nothing was stored.",
        }

    @property
    def message(self) -> str:
        messages = self.messages
        return f"{messages['ko']} / {messages['en']}"
