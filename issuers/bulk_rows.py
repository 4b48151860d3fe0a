"""The rows of a bulk file: JSON Lines ({subject, claims} per line) or CSV (a header, then one row per
line), each yielded with its line number or as the `ClaimError` that line gets. Pure but for the CSV
header, which the caller stores so that later parts of the batch can be read with it; and the lines
of an uploaded body or a file, counted and named (SHA-256) the way the batch numbers them."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from issuers.credential_types import ClaimError, CredentialType
from issuers.models import Batch

MAX_LINE = 16 * 1024
# No subject, claim name or value holds a NUL or an unpaired UTF-16 surrogate ("\ud800" in JSON):
# sealing cannot encode the one and PostgreSQL refuses the other, which failed the whole body (a 500,
# and a body that could never be finished). Such a row is its own error (issue 14 defect 9).
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
BAD_TEXT = "holds a NUL character or an unpaired surrogate"


def _holds_bad_text(value: Any) -> bool:
    if isinstance(value, str):
        return _BAD_TEXT.search(value) is not None
    if isinstance(value, dict):
        return any(_holds_bad_text(k) or _holds_bad_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_bad_text(v) for v in value)
    return False


def parse_rows(
    spec: CredentialType,
    batch: Batch,
    lines: Iterable[str],
    first_line: int,
    store_header: Callable[[list[str]], None],
) -> Iterator[tuple[int, Any]]:
    """(line number, (subject, claims) or ClaimError) per data row of `lines`, the first numbered
    `first_line`. Blank lines are no rows."""
    if batch.format == "jsonl":
        yield from _jsonl_rows(lines, first_line)
        return
    stored: list[str] | None = json.loads(batch.csv_header) if batch.csv_header else None
    # Line 1 is read as the header every time (a part sent again starts there); later parts use the stored one.
    header = stored if first_line > 1 else None
    reader = csv.reader(iter(lines), strict=True)
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
        if _holds_bad_text(cells):
            yield number, ClaimError("line", BAD_TEXT)
            if header is None:
                return  # a header that cannot be read: no row can be
            continue
        if header is None:
            unknown = [c for c in cells if c != "subject" and c not in spec.claims]
            if "subject" not in cells:
                yield number, ClaimError("header", "the CSV header must name a subject column")
            elif unknown:
                yield number, ClaimError(unknown[0], f"is not a claim of {spec.id}")
            elif stored is not None and cells != stored:
                yield number, ClaimError("header", "differs from the header this batch started with")
            else:
                header = cells
                if stored is None:
                    store_header(cells)
                continue
            return  # without a header no row can be read
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


def _jsonl_rows(lines: Iterable[str], first_line: int) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(lines, first_line):
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
        if _holds_bad_text(record):
            yield number, ClaimError("line", BAD_TEXT)
            continue
        yield number, (record.get("subject"), record.get("claims"))


def iter_text_lines(data: bytes) -> Iterator[str]:
    """The lines of an uploaded chunk, decoded as UTF-8 (a bad byte fails only its own line)."""
    for raw in io.BytesIO(data):
        yield raw.decode("utf-8", errors="replace").rstrip("\r\n")


def count_lines(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def file_digest(file: Path) -> tuple[str, int]:
    """A file's SHA-256 and its line count, read in blocks: what names it as a part, and the line
    numbers it takes."""
    digest, lines, last = hashlib.sha256(), 0, b""
    with file.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            lines += block.count(b"\n")
            last = block
    return digest.hexdigest(), lines + (1 if last and not last.endswith(b"\n") else 0)
