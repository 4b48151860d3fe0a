"""Checking a consent receipt against the ledger the way an outsider would.

Everything the check trusts comes over HTTP from the ledger's public endpoints at the platform's
public URL: its JWKS (`/consent/jwks.json`), its log origin and signed-note verifier keys
(`/consent/log/keys`), its current checkpoint (`/consent/log/checkpoint`) and a consistency proof
(`/consent/log/proof/consistency`). The cryptography is the ledger's published verification code
(`consent.receipts`, pure functions). Each step is reported by name, in order, up to the first that
fails:

1. `receipt_signature`: the ledger signed the receipt (EdDSA, a key of its JWKS);
2. `receipt_structure`: the receipt holds a record, an event, a leaf and a proof that agree;
3. `commitment`: the record and event, with the salt, open the leaf's commitment;
4. `receipt_checkpoint`: the checkpoint in the receipt is signed by the ledger's key for its log;
5. `inclusion`: the leaf is in that checkpoint's tree (inclusion proof);
6. `this_consent`: the receipt is for this consent record as the ledger shows it;
7. `current_checkpoint`: the ledger's current checkpoint is signed by its published note key;
8. `consistency`: the current log extends the receipt's checkpoint (consistency proof), so the
   grant is in today's log and the ledger did not show the citizen a different history.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import httpx

from consent.checkpoint import MAX_NOTE_BYTES, Checkpoint, CheckpointError, NoteVerifier, open_checkpoint
from consent.receipts import ReceiptError, VerifiedReceipt, note_verifiers, verify_in_current_log, verify_receipt
from keys import jws
from outbound.urls import FetchFailed, UnsafeURL, fetch_bounded

MAX_DOCUMENT_BYTES = 64 * 1024

LABELS: dict[str, dict[str, str]] = {
    "receipt_signature": {"ko": "영수증 서명", "en": "Receipt signature"},
    "receipt_structure": {"ko": "영수증 구성", "en": "Receipt structure"},
    "commitment": {"ko": "기록과 로그 항목의 일치", "en": "Record matches the log entry"},
    "receipt_checkpoint": {"ko": "영수증 속 체크포인트 서명", "en": "Signature of the receipt's checkpoint"},
    "inclusion": {"ko": "로그 포함 증명", "en": "Inclusion in the log"},
    "this_consent": {"ko": "이 동의의 영수증", "en": "Receipt of this consent"},
    "current_checkpoint": {"ko": "현재 체크포인트 서명", "en": "Signature of the current checkpoint"},
    "consistency": {"ko": "현재 로그와의 일관성", "en": "Consistency with the current log"},
}
_RECEIPT_STEPS = ("receipt_signature", "receipt_structure", "commitment", "receipt_checkpoint", "inclusion")
_PASSED = {
    "receipt_signature": "signed by a key the ledger publishes",
    "receipt_structure": "record, event, leaf and proof are present and agree",
    "commitment": "the salted commitment opens to this record and event",
    "receipt_checkpoint": "signed by the ledger's key for its log",
    "inclusion": "the leaf is in the tree of the receipt's checkpoint",
}
# verify_receipt's messages say which part failed (consent/receipts.py ReceiptError).
_FAILED_STEP = (
    ("receipt signature", "receipt_signature"),
    ("receipt structure", "receipt_structure"),
    ("the commitment", "commitment"),
    ("log inclusion", "inclusion"),
)
_HTTP_STATUS = re.compile(r"HTTP (\d{3})$")


class LedgerUnavailable(Exception):
    """The ledger's public endpoints could not be reached, or answered with something unreadable."""


class _Report:
    def __init__(self) -> None:
        self.checks: list[dict[str, Any]] = []
        self.failed = False

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append({"name": name, "ok": ok, "detail": detail, "label": LABELS[name]})
        self.failed = self.failed or not ok
        return ok


class _Ledger:
    """The ledger's public endpoints, read with the same bounded, checked fetch as any other party's."""

    def __init__(self, http: httpx.Client, public_url: str, development: bool) -> None:
        self.http = http
        self.base = public_url.rstrip("/") + "/consent"
        self.development = development

    def fetch(self, path: str, accept: str, max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes:
        try:
            return fetch_bounded(
                self.http, self.base + path, development=self.development, max_bytes=max_bytes, accept=accept
            )
        except (UnsafeURL, FetchFailed) as exc:
            raise LedgerUnavailable(str(exc)) from None

    def json(self, path: str) -> dict[str, Any]:
        try:
            value = json.loads(self.fetch(path, "application/json"))
        except (ValueError, RecursionError):
            raise LedgerUnavailable(f"{self.base}{path}: not JSON") from None
        if not isinstance(value, dict):
            raise LedgerUnavailable(f"{self.base}{path}: not a JSON object")
        return value


def check_receipt(
    http: httpx.Client,
    public_url: str,
    receipt: str,
    *,
    development: bool,
    record: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Check `receipt` against the ledger at `public_url`. `record`: the consent record the ledger
    shows for it (the receipt must be its own). Returns {valid, checks, receipt_tree_size,
    current_tree_size, leaf_index}; raises `LedgerUnavailable` when the ledger cannot be asked."""
    ledger = _Ledger(http, public_url, development)
    jwks = ledger.json("/jwks.json")
    keys = ledger.json("/log/keys")
    origin = keys.get("origin")
    vkeys = keys.get("note_verifier_keys")
    if not isinstance(jwks.get("keys"), list) or not isinstance(origin, str) or not origin:
        raise LedgerUnavailable("the ledger's keys are not a JWKS and a log origin")
    if not isinstance(vkeys, list) or not all(isinstance(k, str) for k in vkeys):
        raise LedgerUnavailable("the ledger's note verifier keys are not a list of keys")

    report = _Report()
    result: dict[str, Any] = {"receipt_tree_size": None, "current_tree_size": None, "leaf_index": None}
    verified = _verify_receipt(report, receipt, jwks, origin)
    if verified is not None:
        result["receipt_tree_size"] = verified.checkpoint.tree_size
        result["leaf_index"] = verified.leaf_index
        if _this_consent(report, verified, record):
            current = _current_checkpoint(report, ledger, vkeys, origin)
            if current is not None:
                result["current_tree_size"] = current.tree_size
                _consistency(report, ledger, verified, current)
    return {"valid": not report.failed, "checks": report.checks, **result}


def _verify_receipt(report: _Report, receipt: str, jwks: dict[str, Any], origin: str) -> VerifiedReceipt | None:
    try:
        verified = verify_receipt(receipt, jwks, origin)
    except ReceiptError as exc:
        message = str(exc)
        failed = next((step for prefix, step in _FAILED_STEP if message.startswith(prefix)), "receipt_signature")
        if failed == "inclusion":
            unsigned = _checkpoint_refused(receipt, jwks, origin)
            if unsigned is not None:
                failed, message = "receipt_checkpoint", unsigned
        for step in _RECEIPT_STEPS[: _RECEIPT_STEPS.index(failed)]:
            report.add(step, True, _PASSED[step])
        report.add(failed, False, message)
        return None
    for step in _RECEIPT_STEPS:
        report.add(step, True, _PASSED[step])
    return verified


def _checkpoint_refused(receipt: str, jwks: dict[str, Any], origin: str) -> str | None:
    """Why the receipt's checkpoint note does not verify, if it is the note rather than the inclusion
    proof that failed (the receipt's signature has verified by then, so its payload is the ledger's)."""
    try:
        note = jws.read_unverified(receipt)[1]["log"]["checkpoint"]
        open_checkpoint(note, note_verifiers(jwks, origin), origin)
    except (jws.JWSError, KeyError, TypeError) as exc:
        return f"the receipt's checkpoint is unreadable: {exc}"
    except CheckpointError as exc:
        return f"the receipt's checkpoint: {exc}"
    return None


def _this_consent(report: _Report, verified: VerifiedReceipt, record: dict[str, Any] | None) -> bool:
    if record is None:
        return True
    if verified.claims.get("sub") != record.get("id") or verified.claims.get("consent") != record:
        return report.add("this_consent", False, "the receipt is for another consent record")
    return report.add("this_consent", True, "the receipt's record is this consent's")


def _current_checkpoint(report: _Report, ledger: _Ledger, vkeys: list[str], origin: str) -> Checkpoint | None:
    note = ledger.fetch("/log/checkpoint", "text/plain", max_bytes=MAX_NOTE_BYTES)
    try:
        verifiers = [NoteVerifier.parse(k) for k in vkeys]
        current = open_checkpoint(note.decode("utf-8"), verifiers, origin)
    except (UnicodeDecodeError, CheckpointError) as exc:
        report.add("current_checkpoint", False, str(exc))
        return None
    report.add("current_checkpoint", True, f"signed by the ledger's published note key; tree size {current.tree_size}")
    return current


def _consistency(report: _Report, ledger: _Ledger, verified: VerifiedReceipt, current: Checkpoint) -> None:
    old = verified.checkpoint.tree_size
    if old > current.tree_size:
        report.add("consistency", False, f"the current log ({current.tree_size}) is smaller than the receipt's ({old})")
        return
    proof: list[bytes] = []
    if old < current.tree_size:
        try:
            answer = ledger.json(f"/log/proof/consistency?first={old}&second={current.tree_size}")
        except LedgerUnavailable as exc:
            status = _HTTP_STATUS.search(str(exc))
            if status is None or not status.group(1).startswith("4"):
                raise
            # The ledger is up and signed this size, yet refuses to prove its own history.
            report.add("consistency", False, f"the ledger gives no consistency proof ({exc})")
            return
        try:
            proof = [base64.b64decode(p, validate=True) for p in answer["proof"]]
        except (KeyError, TypeError, ValueError, binascii.Error):
            report.add("consistency", False, "the ledger's consistency proof is malformed")
            return
    try:
        verify_in_current_log(verified, current, proof)
    except ReceiptError as exc:
        report.add("consistency", False, str(exc))
        return
    report.add("consistency", True, f"the log of size {current.tree_size} extends the receipt's of size {old}")
