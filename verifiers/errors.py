"""The verifier party's refusal: one type for the service, the response path and the HTTP layer."""

from __future__ import annotations


class VerifierError(Exception):
    """A refused operation. `reason` is logged and recorded; `error` is the protocol's error code."""

    def __init__(
        self, reason: str, detail: str, *, status: int = 400, error: str = "invalid_request", final: bool = False
    ) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.status, self.error = reason, detail, status, error
        # Final: the holder demonstrably answered this request (a KB-JWT over its nonce verified),
        # so the refusal ends the request. Otherwise anyone who saw the QR code could end it.
        self.final = final
