"""Fixtures for the consent ledger: a ledger over the test database with a clock tests can move."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consent.schemas import ConsentRecordIn
from consent.service import ConsentLedger
from seoul_wallet.app import consent_ledger


class Clock:
    """Wall-clock time plus an offset tests can advance."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(platform, clock: Clock) -> ConsentLedger:
    ledger = consent_ledger(platform)
    ledger.clock = clock
    return ledger


def record_data(
    citizen: str = "citizen:alice-0001",
    recipient: str = "verifier:youth-allowance",
    *,
    days: int = 365,
    one_time: bool = False,
    paths: list[list[Any]] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A complete, valid consent record body as the wallet submits it."""
    start = datetime.now(UTC) - timedelta(minutes=1)
    data: dict[str, Any] = {
        "citizen": citizen,
        "recipient": recipient,
        "controller": {"id": "seoul", "name_ko": "서울특별시", "name_en": "Seoul Metropolitan Government"},
        "service": {"id": "youth-allowance", "name_ko": "청년수당", "name_en": "Youth Allowance"},
        "purpose": {
            "code": "ServiceAccessDetermination",
            "text_ko": "청년수당 자격 확인",
            "text_en": "Checking eligibility for the youth allowance",
        },
        "legal_basis": {"type": "consent"},
        "data_items": paths or [["birthdate"], ["address", "region"]],
        "disclosure": "predicate_only",
        "retention_days": 30,
        "validity": {"start": start.isoformat(), "end": (start + timedelta(days=days)).isoformat()},
        "frequency": {"kind": "one_time"} if one_time else {"kind": "periodic", "interval_days": 30},
        "notice": {"sha256": "ab" * 32, "version": "2026-11"},
        "method": "wallet_app",
        "actor": {"role": "citizen"},
        "language": "ko",
        "jurisdiction": "KR-11",
    }
    data.update(overrides)
    return data


def make_record(*args: Any, **kwargs: Any) -> ConsentRecordIn:
    return ConsentRecordIn.model_validate(record_data(*args, **kwargs))
