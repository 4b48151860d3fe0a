"""My consents: every consent of the citizen, with its full history, from the consent ledger.

The ledger is the source, whichever wallet (or channel) gave the consent: the wallet keeps no copy.
The citizen withdraws one or all, downloads a receipt, and checks it against the ledger's public
endpoints over HTTP as an outsider would (`wallet/receipt_check.py`). Records hold claim names,
never claim values, so nothing here shows a value either.

The wallet's citizen id is the platform id; the ledger's is `citizen:<platform id>`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import httpx

from consent.service import ConsentError, ConsentLedger, ConsentNotFound, ConsentView, StateConflict
from wallet.receipt_check import LedgerUnavailable, check_receipt

STATE_NAMES: dict[str, dict[str, str]] = {
    "requested": {"ko": "요청됨", "en": "requested"},
    "granted": {"ko": "동의함", "en": "granted"},
    "denied": {"ko": "거절함", "en": "denied"},
    "paused": {"ko": "일시 중지됨", "en": "paused"},
    "withdrawn": {"ko": "철회됨", "en": "withdrawn"},
    "revoked": {"ko": "취소됨", "en": "revoked"},
    "expired": {"ko": "만료됨", "en": "expired"},
    "used_up": {"ko": "이미 사용됨", "en": "already used"},
    "erased": {"ko": "삭제됨", "en": "erased"},
}


class ConsentsError(Exception):
    """A refusal of the "my consents" service: HTTP status, stable reason, messages for the citizen."""

    status = 400
    reason = "consent_refused"
    default_messages: ClassVar[dict[str, str]] = {
        "ko": "동의를 처리할 수 없습니다.",
        "en": "The consent could not be processed.",
    }

    def __init__(self, detail: str | None = None, messages: dict[str, str] | None = None, **extra: Any) -> None:
        self.messages = messages or self.default_messages
        super().__init__(detail or self.messages["en"])
        self.extra = extra


class ConsentNotFoundError(ConsentsError):
    """No such consent of this citizen (also for someone else's id: the same answer)."""

    status = 404
    reason = "consent_not_found"
    default_messages: ClassVar[dict[str, str]] = {"ko": "그런 동의가 없습니다.", "en": "No such consent."}


class ReceiptNotFoundError(ConsentsError):
    status = 404
    reason = "receipt_not_found"
    default_messages: ClassVar[dict[str, str]] = {
        "ko": "이 동의는 승인된 적이 없어 영수증이 없습니다.",
        "en": "This consent was never granted, so it has no receipt.",
    }


class ConsentConflict(ConsentsError):
    """The consent's state does not allow the change (already withdrawn, used, denied, …)."""

    status = 409
    reason = "consent_state_conflict"

    def __init__(self, state: str, detail: str | None = None) -> None:
        name = STATE_NAMES.get(state, {"ko": state, "en": state})
        messages = {
            "ko": f"이 동의는 {name['ko']} 상태라 철회할 수 없습니다.",
            "en": f"This consent is {name['en']} and cannot be withdrawn.",
        }
        super().__init__(detail, messages, state=state)


class LedgerUnreachable(ConsentsError):
    status = 502
    reason = "ledger_unreachable"
    default_messages: ClassVar[dict[str, str]] = {
        "ko": "동의 원장에 연결할 수 없어 영수증을 확인하지 못했습니다. 잠시 후 다시 시도하세요.",
        "en": "The consent ledger could not be reached to check the receipt. Try again later.",
    }


def _ledger_id(citizen_id: str) -> str:
    return f"citizen:{citizen_id}"


def _timestamp(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(value).timestamp()
    except (TypeError, ValueError):
        return None


def consent_summary(view: ConsentView, status_list_uri: str) -> dict[str, Any]:
    """A consent as the citizen sees it: who, what for, which claims (names only), for how long,
    and every event of its history."""
    record = view.record
    controller, service, purpose = record["controller"], record["service"], record["purpose"]
    return {
        "id": view.id,
        "state": view.state,
        "verifier_id": view.verifier_id,
        "controller": {"id": controller["id"], "name": {"ko": controller["name_ko"], "en": controller["name_en"]}},
        "service": {"id": service["id"], "name": {"ko": service["name_ko"], "en": service["name_en"]}},
        "purpose": {"code": purpose["code"], "text": {"ko": purpose["text_ko"], "en": purpose["text_en"]}},
        "legal_basis": {"type": record["legal_basis"]["type"], "statute": record["legal_basis"].get("statute")},
        "data_items": record["data_items"],
        "disclosure": record["disclosure"],
        "validity": {"start": record["validity"]["start"], "end": record["validity"]["end"]},
        "frequency": {"kind": record["frequency"]["kind"], "interval_days": record["frequency"].get("interval_days")},
        "retention_days": record["retention_days"],
        "method": record["method"],
        "notice": {"sha256": view.notice["sha256"], "version": view.notice["version"]},
        "created_at": view.history[0].time if view.history else None,
        "has_receipt": view.receipt is not None,
        "status_list": {"uri": status_list_uri, "index": view.status_index},
        "history": [
            {"type": e.type, "time": e.time, "actor": e.actor, "details": e.details, "leaf_index": e.leaf_index}
            for e in view.history
        ],
    }


class WalletConsents:
    """The citizen's consents, read from and changed in the ledger (same operator as the wallet);
    receipts are checked over HTTP against the ledger's public endpoints at `public_url`."""

    def __init__(self, ledger: ConsentLedger, http: httpx.Client, public_url: str, *, development: bool) -> None:
        self.ledger = ledger
        self.http = http
        self.public_url = public_url.rstrip("/")
        self.development = development

    def _summary(self, view: ConsentView) -> dict[str, Any]:
        return consent_summary(view, self.ledger.status_list_uri(view.verifier_id))

    def _view(self, citizen_id: str, record_id: str) -> ConsentView:
        try:
            return self.ledger.get_for_citizen(record_id, _ledger_id(citizen_id))
        except ConsentNotFound:
            raise ConsentNotFoundError() from None

    def list(self, citizen_id: str) -> list[dict[str, Any]]:
        """Every consent of the citizen with its full history, newest first."""
        return [self._summary(v) for v in self.ledger.list_for_citizen(_ledger_id(citizen_id))]

    def get(self, citizen_id: str, record_id: str) -> dict[str, Any]:
        """One consent of the citizen; `ConsentNotFoundError` for an unknown id or anyone else's."""
        return self._summary(self._view(citizen_id, record_id))

    def expiring_within(self, citizen_id: str, seconds: float) -> list[dict[str, Any]]:
        """Granted consents whose validity ends within `seconds`, soonest first (for the inbox).
        One-time consents are left out: they are used at once."""
        horizon = self.ledger.clock() + seconds
        due = []
        for view in self.ledger.list_for_citizen(_ledger_id(citizen_id)):
            end = _timestamp(view.record["validity"]["end"])
            open_ended = view.record["frequency"]["kind"] != "one_time"
            if view.state == "granted" and open_ended and end is not None and end <= horizon:
                due.append((end, self._summary(view)))
        return [summary for _, summary in sorted(due, key=lambda pair: pair[0])]

    def withdraw(self, citizen_id: str, record_id: str) -> dict[str, Any]:
        """Withdraw one consent (its status in the verifier's list flips at once); returns it as now.
        `ConsentConflict` when it is no longer open (withdrawn, used, denied, expired, …)."""
        try:
            self.ledger.withdraw(record_id, _ledger_id(citizen_id))
        except ConsentNotFound:
            raise ConsentNotFoundError() from None
        except StateConflict as exc:
            raise ConsentConflict(exc.state, str(exc)) from None
        except ConsentError as exc:
            raise ConsentsError(str(exc)) from None
        return self.get(citizen_id, record_id)

    def withdraw_all(self, citizen_id: str) -> list[str]:
        """Withdraw every open consent of the citizen at once; returns their ids."""
        return self.ledger.withdraw_all(_ledger_id(citizen_id))

    def receipt(self, citizen_id: str, record_id: str) -> str:
        """The latest receipt (a JWT the ledger signed) of a consent; `ReceiptNotFoundError` if it
        was never granted."""
        view = self._view(citizen_id, record_id)
        if view.receipt is None:
            raise ReceiptNotFoundError()
        return view.receipt

    def check_receipt(self, citizen_id: str, record_id: str) -> dict[str, Any]:
        """Check the consent's receipt against the ledger's public endpoints: its signature, its
        commitment, its inclusion in its own checkpoint, the current checkpoint's signature and the
        consistency of the two. `LedgerUnreachable` when the ledger cannot be asked."""
        view = self._view(citizen_id, record_id)
        if view.receipt is None:
            raise ReceiptNotFoundError()
        try:
            return check_receipt(
                self.http, self.public_url, view.receipt, development=self.development, record=view.record
            )
        except LedgerUnavailable as exc:
            raise LedgerUnreachable(str(exc)) from None

    def export(self, citizen_id: str) -> list[dict[str, Any]]:
        """Every consent with its history, full record and latest receipt (the citizen's data export)."""
        return [
            {**self._summary(v), "record": v.record, "receipt": v.receipt}
            for v in self.ledger.list_for_citizen(_ledger_id(citizen_id))
        ]
