"""Bulk issuance for predictive administration: a cohort file becomes offers, streaming.

Rows are read one at a time and written in transactions of `CHUNK_ROWS`, so memory stays flat for
a million-row file. A malformed row becomes a `BatchError` with its line number and never stops or
rolls back its neighbours. Over HTTP a file arrives as several bodies (each under the platform's
body limit) appended to one batch; the CLI streams the file itself.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from issuers.agencies import AgencyInfo
from issuers.credential_types import ClaimError
from issuers.models import Batch, BatchError, Offer
from issuers.offers import OfferError, Offers
from issuers.sealing import new_id

CHUNK_ROWS = 1000
FORMATS = ("jsonl", "csv")
MAX_LINE = 16 * 1024
MAX_STORED_MESSAGE = 500


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
    created_at: int
    updated_at: int


def _progress(row: Batch) -> BatchProgress:
    return BatchProgress(
        batch_id=row.id,
        agency=row.agency,
        credential_type=row.credential_type,
        format=row.format,
        state=row.state,
        lines=row.lines,
        created=row.created,
        failed=row.failed,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class BatchStateError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Bulk:
    def __init__(self, offers: Offers) -> None:
        self.offers = offers
        self.engine = offers.context.engine

    def open(self, agency: AgencyInfo, type_id: Any, fmt: Any) -> BatchProgress:
        """Start a batch of offers of one credential type."""
        self.offers.check_type(agency, type_id)
        if fmt not in FORMATS:
            raise OfferError(422, "format", f"format must be one of {', '.join(FORMATS)}")
        now = int(time.time())
        row = Batch(
            id=new_id(), agency=agency.slug, credential_type=type_id, format=fmt, created_at=now, updated_at=now
        )
        with Session(self.engine) as session:
            session.add(row)
            session.commit()
            session.refresh(row)
            return _progress(row)

    def get(self, agency: str, batch_id: str) -> BatchProgress | None:
        with Session(self.engine) as session:
            row = session.get(Batch, batch_id) if len(batch_id) <= 32 else None
        return _progress(row) if row is not None and row.agency == agency else None

    def close(self, agency: str, batch_id: str) -> BatchProgress:
        with Session(self.engine) as session:
            row = session.get(Batch, batch_id) if len(batch_id) <= 32 else None
            if row is None or row.agency != agency:
                raise BatchStateError(404, "no such batch")
            row.state, row.updated_at = "closed", int(time.time())
            session.add(row)
            session.commit()
            session.refresh(row)
            return _progress(row)

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

    def reserve_lines(self, agency: str, batch_id: str, count: int) -> tuple[Batch, int]:
        """Claim the next `count` line numbers of an open batch; returns the batch and the first."""
        with Session(self.engine) as session:
            row = session.get(Batch, batch_id) if len(batch_id) <= 32 else None
            if row is None or row.agency != agency:
                raise BatchStateError(404, "no such batch")
            result = session.execute(
                update(Batch)
                .where(col(Batch.id) == batch_id, col(Batch.state) == "open")
                .values(lines=col(Batch.lines) + count, updated_at=int(time.time()))
                .returning(col(Batch.lines))
            ).first()
            if result is None:
                raise BatchStateError(409, "the batch is closed")
            session.commit()
            session.refresh(row)
            return row, result[0] - count + 1

    # -- row parsing ----------------------------------------------------------------------------

    def _rows(self, batch: Batch, lines: Iterable[str], first_line: int) -> Iterator[tuple[int, Any]]:
        """(line number, (subject, claims) or ClaimError) per data row."""
        if batch.format == "jsonl":
            for offset, line in enumerate(lines):
                number = first_line + offset
                if not line.strip():
                    continue
                if len(line) > MAX_LINE:
                    yield number, ClaimError("line", f"longer than {MAX_LINE} characters")
                    continue
                try:
                    record = json.loads(line)
                except RecursionError:
                    yield number, ClaimError("line", "not valid JSON: nested too deeply")
                    continue
                except ValueError as exc:
                    yield number, ClaimError("line", f"not valid JSON: {getattr(exc, 'msg', exc)}")
                    continue
                if not isinstance(record, dict):
                    yield number, ClaimError("line", "must be a JSON object with subject and claims")
                    continue
                yield number, (record.get("subject"), record.get("claims"))
            return
        spec = self.offers.context.types[batch.credential_type]
        header: list[str] | None = json.loads(batch.csv_header) if batch.csv_header else None
        iterator = iter(lines)
        reader = csv.reader(iterator, strict=True)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield first_line + reader.line_num - 1, ClaimError("line", f"malformed CSV: {exc}")
                continue
            number = first_line + reader.line_num - 1
            if not cells or all(not c.strip() for c in cells):
                continue
            if header is None:
                if "subject" not in cells:
                    yield number, ClaimError("header", "the CSV header must name a subject column")
                    return
                unknown = [c for c in cells if c != "subject" and c not in spec.claims]
                if unknown:
                    yield number, ClaimError(unknown[0], f"is not a claim of {spec.id}")
                    return
                header = cells
                self._store_header(batch.id, cells)
                continue
            if len(cells) != len(header):
                yield number, ClaimError("line", f"has {len(cells)} cells, the header has {len(header)}")
                continue
            subject = None
            claims: dict[str, Any] = {}
            try:
                for name, cell in zip(header, cells, strict=True):
                    if name == "subject":
                        subject = cell
                    elif cell != "":
                        claims[name] = spec.claims[name].parse_text(cell, f"claims.{name}")
            except ClaimError as exc:
                yield number, exc
                continue
            yield number, (subject, claims)

    def _store_header(self, batch_id: str, cells: list[str]) -> None:
        with Session(self.engine) as session:
            session.execute(update(Batch).where(col(Batch.id) == batch_id).values(csv_header=json.dumps(cells)))
            session.commit()

    # -- processing ----------------------------------------------------------------------------------

    def process(
        self, agency: AgencyInfo, batch: Batch, lines: Iterable[str], first_line: int = 1, *, track_lines: bool = False
    ) -> Iterator[list[dict[str, Any]]]:
        """Create the offers of `lines`, one transaction per `CHUNK_ROWS` rows; yields each chunk's
        results (offer links or errors with line numbers) after it is committed. `track_lines`: the
        batch's line count follows the rows read (a streamed file, whose length is not known ahead)."""
        if batch.format == "csv" and first_line > 1 and batch.csv_header is None:
            raise BatchStateError(409, "send the chunk with the CSV header (line 1) first")
        pending: list[tuple[int, Any]] = []
        for item in self._rows(batch, lines, first_line):
            pending.append(item)
            if len(pending) >= CHUNK_ROWS:
                yield self._commit_chunk(agency, batch, pending, track_lines)
                pending = []
        if pending:
            yield self._commit_chunk(agency, batch, pending, track_lines)

    def _commit_chunk(
        self, agency: AgencyInfo, batch: Batch, items: list[tuple[int, Any]], track_lines: bool = False
    ) -> list[dict[str, Any]]:
        now = int(time.time())
        rows: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for number, item in items:
            if isinstance(item, ClaimError):
                failure = item
            else:
                try:
                    row, _ = self.offers.prepare_row(
                        agency, batch.credential_type, item[0], item[1], now=now, batch_id=batch.id, batch_line=number
                    )
                except ClaimError as exc:
                    failure = exc
                else:
                    rows.append(row)
                    described = self.offers.describe(
                        agency.slug, row["id"], batch.credential_type, None, row["expires_at"], None
                    )
                    results.append(
                        {
                            "line": number,
                            "subject": row["subject"],
                            "offer_id": row["id"],
                            "credential_offer_uri": described.credential_offer_uri,
                            "link": described.link,
                            "expires_at": row["expires_at"],
                        }
                    )
                    continue
            message = failure.message[:MAX_STORED_MESSAGE]
            errors.append({"batch_id": batch.id, "line": number, "field": failure.field[:200], "message": message})
            results.append({"line": number, "error": message, "field": failure.field})
        with Session(self.engine) as session:
            if rows:
                session.execute(insert(Offer), rows)
            if errors:
                session.execute(insert(BatchError), errors)
            counters: dict[str, Any] = {
                "created": col(Batch.created) + len(rows),
                "failed": col(Batch.failed) + len(errors),
                "updated_at": now,
            }
            if track_lines:
                counters["lines"] = max(number for number, _ in items)
            session.execute(update(Batch).where(col(Batch.id) == batch.id).values(**counters))
            session.commit()
        results.sort(key=lambda r: r["line"])
        return results


def iter_text_lines(data: bytes) -> Iterator[str]:
    """The lines of an uploaded chunk, decoded as UTF-8 (a bad byte fails only its own line)."""
    for raw in io.BytesIO(data):
        yield raw.decode("utf-8", errors="replace").rstrip("\r\n")


def count_lines(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
