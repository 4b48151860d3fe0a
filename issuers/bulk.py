"""Bulk issuance for predictive administration: a cohort file becomes offers, streaming, idempotently.

A batch receives its rows in parts: bodies over HTTP (each under the platform's body limit), or the
whole file from the CLI. A part is named by a key (the request's Idempotency-Key, or derived from its
bytes) and gets its line numbers once, so a part sent again, because its response was lost or the
server died under it, maps to the same lines. A line is the identity of its row: one offer per
(batch, line), enforced by a unique index, so no retry can create a second offer.

Rows are settled in transactions of `CHUNK_ROWS`: the offers, the error rows, the batch's counters and
the part's progress (`done_through`) commit together, so after any crash `lines == created + failed`
and a retry resumes after the last committed row, first returning the stored outcome of those before.
A malformed row becomes a `BatchError` with its line number and never stops or rolls back its
neighbours.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from issuers.agencies import AgencyInfo
from issuers.bulk_rows import parse_rows
from issuers.credential_types import ClaimError
from issuers.models import Batch, BatchError, BatchPart, Offer
from issuers.offers import OfferError, Offers
from issuers.sealing import new_id

CHUNK_ROWS = 1000
FORMATS = ("jsonl", "csv")
MAX_STORED_MESSAGE = 500
MAX_STORED_FIELD = 200
MAX_KEY = 255
# How long a claim on a part keeps a retry out (409) without news; renewed at every transaction of
# rows, so it only runs out when the request died. Safety never rests on it: the part's row lock does.
PART_LEASE = 5
STORED_PAGE = 5000
# RFC 8941 §3.3.3 sf-string: printable ASCII in double quotes, with \" and \\ escaped.
_SF_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_BARE_KEY = re.compile(r"[A-Za-z0-9._~:+/=-]+")


@dataclass(frozen=True, slots=True)
class BatchProgress:
    batch_id: str
    agency: str
    credential_type: str
    format: str
    state: str
    lines: int
    created: int
    failed: int
    pending_lines: int
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class PartClaim:
    """A part's place in its batch; `owned`: this caller holds the lease and settles what is left."""

    batch_id: str
    key: str
    first_line: int
    last_line: int
    done_through: int
    owned: bool


class BatchStateError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class PartBusy(BatchStateError):
    """Another request is processing this part (draft-ietf-httpapi-idempotency-key-header: 409)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(409, "a request with this Idempotency-Key is still being processed; retry later")
        self.retry_after = retry_after


def parse_idempotency_key(value: str) -> str:
    """The `Idempotency-Key` header: an RFC 8941 String (draft-ietf-httpapi-idempotency-key-header
    §2.1). A bare token (how Stripe and others document it) is taken as that same key."""
    value = value.strip(" ")  # RFC 8941 §4.2: leading and trailing spaces are discarded
    match = _SF_STRING.fullmatch(value)
    if match is not None:
        key = re.sub(r'\\(["\\])', r"\1", match.group(1))
    elif _BARE_KEY.fullmatch(value):
        key = value
    else:
        raise BatchStateError(400, 'Idempotency-Key must be one Structured Field String (RFC 8941), e.g. "8e03978e"')
    if not 1 <= len(key) <= MAX_KEY:
        raise BatchStateError(400, f"Idempotency-Key must hold 1 to {MAX_KEY} characters")
    return key


class Bulk:
    def __init__(self, offers: Offers, lease_seconds: int = PART_LEASE) -> None:
        self.offers = offers
        self.engine = offers.context.engine
        self.lease_seconds = lease_seconds

    @staticmethod
    def fingerprint(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    # -- batches ----------------------------------------------------------------------------------

    def open(self, agency: AgencyInfo, type_id: Any, fmt: Any, key: str | None = None) -> BatchProgress:
        """Start a batch of offers of one credential type; with `key`, the batch that key names."""
        self.offers.check_type(agency, type_id)
        if fmt not in FORMATS:
            raise OfferError(422, "format", f"format must be one of {', '.join(FORMATS)}")
        if key is not None and not 1 <= len(key) <= MAX_KEY:
            raise BatchStateError(422, f"a batch key holds 1 to {MAX_KEY} characters")
        if key is not None and (existing := self._by_key(agency.slug, key, type_id, fmt)) is not None:
            return existing
        now = int(time.time())
        row = Batch(
            id=new_id(),
            agency=agency.slug,
            credential_type=type_id,
            format=fmt,
            idempotency_key=key,
            created_at=now,
            updated_at=now,
        )
        with Session(self.engine) as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # a concurrent open with this key won
                session.rollback()
                existing = self._by_key(agency.slug, key or "", type_id, fmt)
                if existing is None:
                    raise
                return existing
            session.refresh(row)
            return _progress(row, 0)

    def _by_key(self, agency: str, key: str, type_id: str, fmt: str) -> BatchProgress | None:
        with Session(self.engine) as session:
            row = session.exec(select(Batch).where(Batch.agency == agency, Batch.idempotency_key == key)).first()
            if row is None:
                return None
            if (row.credential_type, row.format) != (type_id, fmt):
                raise BatchStateError(422, f"the key already names a batch of {row.credential_type} ({row.format})")
            return _progress(row, _pending(session, row.id))

    def get(self, agency: str, batch_id: str) -> BatchProgress | None:
        with Session(self.engine) as session:
            row = session.get(Batch, batch_id) if len(batch_id) <= 32 else None
            if row is None or row.agency != agency:
                return None
            return _progress(row, _pending(session, batch_id))

    def close(self, agency: str, batch_id: str) -> BatchProgress:
        """No more parts. Refused while a part has lines not settled: they would never be."""
        with Session(self.engine) as session:
            row = _own(session, agency, batch_id)
            if row.state == "open":
                # The batch's row first: a part claimed meanwhile is either counted below or finds
                # the batch closed.
                session.execute(update(Batch).where(col(Batch.id) == batch_id).values(updated_at=int(time.time())))
                pending = _pending(session, batch_id)
                if pending:
                    session.rollback()
                    raise BatchStateError(
                        409,
                        f"{pending} lines of parts are not settled (a request still running, or cut off): "
                        "send those parts again (the same bytes or Idempotency-Key), then close",
                    )
                session.execute(update(Batch).where(col(Batch.id) == batch_id).values(state="closed"))
                session.commit()
                session.refresh(row)
            return _progress(row, 0)

    def errors(self, agency: str, batch_id: str, after_line: int, limit: int) -> list[BatchError]:
        with Session(self.engine) as session:
            return list(
                session.exec(
                    select(BatchError)
                    .where(BatchError.batch_id == batch_id, BatchError.line > after_line)
                    .order_by(col(BatchError.line))
                    .limit(limit)
                )
            )

    # -- parts ------------------------------------------------------------------------------------

    def claim_part(self, agency: AgencyInfo, batch_id: str, key: str, fingerprint: str, line_count: int) -> PartClaim:
        """The part named `key`: its lines, given out once; and the lease to settle the rest of it.
        422 for a key seen with other bytes, `PartBusy` while another request holds the lease."""
        for _attempt in range(3):
            now = int(time.time())
            with Session(self.engine) as session:
                batch = _own(session, agency.slug, batch_id)
                part = session.get(BatchPart, (batch_id, key))
                if part is not None:
                    return self._reclaim(session, part, fingerprint, now)
                if batch.state != "open":
                    raise BatchStateError(409, "the batch is closed")
                if batch.format == "csv" and batch.csv_header is None and batch.received_lines > 0:
                    raise BatchStateError(409, "the batch has no CSV header yet: its line 1 must be the header")
                reserved = session.execute(
                    update(Batch)
                    .where(col(Batch.id) == batch_id, col(Batch.state) == "open")
                    .values(received_lines=col(Batch.received_lines) + line_count, updated_at=now)
                    .returning(col(Batch.received_lines))
                ).first()
                if reserved is None:
                    raise BatchStateError(409, "the batch is closed")
                first = reserved[0] - line_count + 1
                session.add(
                    BatchPart(
                        batch_id=batch_id,
                        idempotency_key=key,
                        fingerprint=fingerprint,
                        first_line=first,
                        last_line=first + line_count - 1,
                        done_through=first - 1,
                        claimed_until=now + self.lease_seconds,
                        created_at=now,
                    )
                )
                try:
                    session.commit()
                except IntegrityError:  # a concurrent request with this key claimed it first
                    session.rollback()
                    continue
                return PartClaim(batch_id, key, first, first + line_count - 1, first - 1, owned=True)
        raise BatchStateError(409, "this part is being claimed concurrently; retry")

    def _reclaim(self, session: Session, part: BatchPart, fingerprint: str, now: int) -> PartClaim:
        if part.fingerprint != fingerprint:
            raise BatchStateError(422, "this Idempotency-Key was used with another body; a new part needs a new key")
        pk = (part.batch_id, part.idempotency_key)
        if part.done_through >= part.last_line:
            return PartClaim(*pk, part.first_line, part.last_line, part.done_through, owned=False)
        taken = session.execute(
            update(BatchPart)
            .where(*_part_is(pk), col(BatchPart.claimed_until) <= now)
            .values(claimed_until=now + self.lease_seconds)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            raise PartBusy(min(max(1, part.claimed_until - now), self.lease_seconds or 1))
        session.commit()
        return PartClaim(*pk, part.first_line, part.last_line, part.done_through, owned=True)

    def run_part(self, agency: AgencyInfo, claim: PartClaim, lines: Iterable[str]) -> Iterator[list[dict[str, Any]]]:
        """Every row's outcome in line order: the stored outcome of the lines already settled, then,
        holding the lease, each transaction's as it commits. `lines` are the part's, from its first."""
        with Session(self.engine) as session:
            batch = session.get(Batch, claim.batch_id)
        assert batch is not None
        settled = claim.done_through
        if settled >= claim.first_line:
            yield from self._stored(batch, claim.first_line, settled)
        if not claim.owned:
            return
        finished = False
        try:
            if batch.format == "csv" and settled >= 1 and batch.csv_header is None:
                raise BatchStateError(409, "the batch has no CSV header: its line 1 must be the header")
            rest = itertools.islice(lines, settled - claim.first_line + 1, claim.last_line - claim.first_line + 1)
            pending: list[tuple[int, Any]] = []
            start = settled + 1
            spec = self.offers.context.types[batch.credential_type]
            for item in parse_rows(spec, batch, rest, settled + 1, lambda cells: self._store_header(batch.id, cells)):
                pending.append(item)
                if len(pending) >= CHUNK_ROWS:
                    yield self._settle(agency, batch, claim, pending, start, pending[-1][0], final=False)
                    start, pending = pending[-1][0] + 1, []
            yield self._settle(agency, batch, claim, pending, start, claim.last_line, final=True)
            finished = True
        finally:
            if not finished:  # an error, not a crash: let a retry in at once
                with Session(self.engine) as session:
                    session.execute(update(BatchPart).where(*_part_is(claim)).values(claimed_until=0))
                    session.commit()

    def _settle(
        self,
        agency: AgencyInfo,
        batch: Batch,
        claim: PartClaim,
        items: list[tuple[int, Any]],
        start: int,
        end: int,
        *,
        final: bool,
    ) -> list[dict[str, Any]]:
        """Commit the outcome of lines `start..end` (`items`: their data rows) in one transaction."""
        now = int(time.time())
        outcomes: list[tuple[int, dict[str, Any] | None, dict[str, Any]]] = []  # line, offer row, result
        for number, item in items:
            failure = item if isinstance(item, ClaimError) else None
            if failure is None:
                try:
                    row, _ = self.offers.prepare_row(
                        agency, batch.credential_type, item[0], item[1], now=now, batch_id=batch.id, batch_line=number
                    )
                except ClaimError as exc:
                    failure = exc
                else:
                    result = self._offer_result(batch, number, row["subject"], row["id"], row["expires_at"])
                    outcomes.append((number, row, result))
                    continue
            outcomes.append((number, None, _error_result(number, failure.field, failure.message)))
        with Session(self.engine) as session:
            # The part's row first (PostgreSQL: its lock; SQLite: the write lock): a request that took
            # over an expired lease never settles these lines at the same time as this one.
            lease = 0 if final else now + self.lease_seconds
            session.execute(update(BatchPart).where(*_part_is(claim)).values(claimed_until=lease))
            done = session.execute(select(BatchPart.done_through).where(*_part_is(claim))).scalar_one()
            fresh = [o for o in outcomes if o[0] > done]
            offers = [row for _, row, _ in fresh if row is not None]
            errors = [
                {"batch_id": batch.id, "line": n, "field": r["field"], "message": r["error"]}
                for n, row, r in fresh
                if row is None
            ]
            try:
                if offers:
                    session.execute(insert(Offer), offers)
                if errors:
                    session.execute(insert(BatchError), errors)
            except IntegrityError:  # only if the lock above were bypassed; the unique index holds
                session.rollback()
                raise BatchStateError(409, "these rows were settled concurrently; send the part again") from None
            session.execute(
                update(Batch)
                .where(col(Batch.id) == batch.id)
                .values(
                    created=col(Batch.created) + len(offers),
                    failed=col(Batch.failed) + len(errors),
                    lines=col(Batch.lines) + len(fresh),
                    updated_at=now,
                )
            )
            session.execute(update(BatchPart).where(*_part_is(claim)).values(done_through=max(done, end)))
            session.commit()
        results = [r for page in self._stored(batch, start, min(done, end)) for r in page]
        results.extend(result for _, _, result in fresh)
        results.sort(key=lambda r: r["line"])
        return results

    def _stored(self, batch: Batch, first: int, last: int) -> Iterator[list[dict[str, Any]]]:
        """The outcome of lines `first..last` as stored, page by page: exactly what settling returned."""
        for low in range(first, last + 1, STORED_PAGE):
            high = min(last, low + STORED_PAGE - 1)
            with Session(self.engine) as session:
                offers = session.exec(
                    select(Offer.batch_line, Offer.subject, Offer.id, Offer.expires_at).where(
                        Offer.batch_id == batch.id, col(Offer.batch_line).between(low, high)
                    )
                ).all()
                errors = session.exec(
                    select(BatchError).where(BatchError.batch_id == batch.id, col(BatchError.line).between(low, high))
                ).all()
            page = [self._offer_result(batch, line or 0, *rest) for line, *rest in offers]
            page.extend(_error_result(e.line, e.field or "", e.message) for e in errors)
            if page:
                yield sorted(page, key=lambda r: r["line"])

    def _store_header(self, batch_id: str, cells: list[str]) -> None:
        with Session(self.engine) as session:
            session.execute(update(Batch).where(col(Batch.id) == batch_id).values(csv_header=json.dumps(cells)))
            session.commit()

    def _offer_result(self, batch: Batch, line: int, subject: str, offer_id: str, expires_at: int) -> dict[str, Any]:
        described = self.offers.describe(batch.agency, offer_id, batch.credential_type, None, expires_at, None)
        return {
            "line": line,
            "subject": subject,
            "offer_id": offer_id,
            "credential_offer_uri": described.credential_offer_uri,
            "link": described.link,
            "expires_at": expires_at,
        }


def _own(session: Session, agency: str, batch_id: str) -> Batch:
    row = session.get(Batch, batch_id) if len(batch_id) <= 32 else None
    if row is None or row.agency != agency:
        raise BatchStateError(404, "no such batch")
    return row


def _part_is(part: PartClaim | tuple[str, str]) -> tuple[Any, Any]:
    batch_id, key = (part.batch_id, part.key) if isinstance(part, PartClaim) else part
    return col(BatchPart.batch_id) == batch_id, col(BatchPart.idempotency_key) == key


def _pending(session: Session, batch_id: str) -> int:
    """Lines received in parts but not settled: a part still running, or one a crash cut off."""
    total = session.execute(
        select(func.coalesce(func.sum(BatchPart.last_line - BatchPart.done_through), 0)).where(
            BatchPart.batch_id == batch_id
        )
    ).scalar_one()
    return int(total)


def _progress(row: Batch, pending: int) -> BatchProgress:
    return BatchProgress(
        batch_id=row.id,
        agency=row.agency,
        credential_type=row.credential_type,
        format=row.format,
        state=row.state,
        lines=row.lines,
        created=row.created,
        failed=row.failed,
        pending_lines=pending,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _error_result(line: int, field: str, message: str) -> dict[str, Any]:
    # Cut to what the error table stores, so a retry returns exactly what the first answer held.
    return {"line": line, "error": message[:MAX_STORED_MESSAGE], "field": field[:MAX_STORED_FIELD]}
