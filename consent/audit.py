"""Auditing the log from scratch: every entry, the whole tree, the signed checkpoint, and consistency
with the last checkpoint this auditor saw.

The auditor trusts only the note verifier keys it was given (or pinned on first use in its state
file). When the recomputed root differs from a signed one, it finds the first bad index by binary
search with consistency proofs: a proof that the first m recomputed leaves are a prefix of the
signed tree cannot be forged, so "prefix matches" is true exactly up to the first altered entry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from consent import merkle
from consent.checkpoint import Checkpoint, CheckpointError, NoteVerifier, open_checkpoint
from vc.canonical_json import canonical_json

EVENT_TYPES = frozenset(
    {"requested", "granted", "denied", "used", "paused", "resumed", "withdrawn", "revoked", "expired"}
    | {"reconsented", "erased"}
)
_COMMITMENT = re.compile(r"^[A-Za-z0-9_-]{43}$")
PAGE = 1000


class AuditFailure(Exception):
    """The log fails the audit; `index` is the first bad leaf when one can be named."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class LogSource(Protocol):
    """Where an auditor reads a log: the local database or a server over HTTP."""

    def checkpoint(self) -> str: ...

    def entries(self, start: int, end: int) -> Iterator[tuple[int, bytes, bytes | None]]:
        """(index, entry, stored leaf hash or None) for [start, end), in order."""
        ...

    def consistency(self, first: int, second: int) -> list[bytes]: ...

    def verifier_keys(self) -> list[str]: ...


def check_entry(index: int, entry: bytes) -> None:
    """An entry is the canonical JSON of exactly {commitment, sequence, time, type}, sequence = index."""
    try:
        value = json.loads(entry)
    except (ValueError, UnicodeDecodeError):
        raise AuditFailure(f"entry {index} is not JSON", index) from None
    if not isinstance(value, dict) or set(value) != {"commitment", "sequence", "time", "type"}:
        raise AuditFailure(f"entry {index} does not have exactly the four public fields", index)
    if type(value["sequence"]) is not int or value["sequence"] != index:
        raise AuditFailure(f"entry {index} carries sequence {value['sequence']!r}", index)
    if type(value["time"]) is not int or not 0 <= value["time"] < 2**53:
        raise AuditFailure(f"entry {index} has no valid time", index)
    if value["type"] not in EVENT_TYPES:
        raise AuditFailure(f"entry {index} has an unknown event type", index)
    if not isinstance(value["commitment"], str) or not _COMMITMENT.match(value["commitment"]):
        raise AuditFailure(f"entry {index} has no valid commitment", index)
    if canonical_json(value) != entry:
        raise AuditFailure(f"entry {index} is not in canonical form", index)


class _Levels:
    """Every perfect subtree hash of the recomputed tree, one bytearray per level."""

    def __init__(self, leaves: bytearray) -> None:
        self.levels = [leaves]
        current = leaves
        sha = hashlib.sha256
        while len(current) >= 2 * merkle.HASH_SIZE:
            pairs = len(current) // (2 * merkle.HASH_SIZE)
            nxt = bytearray(pairs * merkle.HASH_SIZE)
            view = memoryview(current)
            for i in range(pairs):
                o = 2 * i * merkle.HASH_SIZE
                nxt[i * 32 : i * 32 + 32] = sha(b"\x01" + view[o : o + 64]).digest()
            self.levels.append(nxt)
            current = nxt

    def node(self, key: merkle.NodeKey) -> bytes:
        level, index = key
        return bytes(self.levels[level][index * 32 : index * 32 + 32])

    def root(self, size: int) -> bytes:
        return merkle.EMPTY_ROOT if size == 0 else merkle.range_hash(0, size, self.node)


def first_bad_index(levels: _Levels, size: int, root: bytes, source: LogSource) -> int:
    """The first index whose recomputed leaf differs from the signed tree (size, root), by binary
    search over prefixes that a consistency proof shows to match."""

    def prefix_matches(m: int) -> bool:
        if m == size:
            return levels.root(m) == root
        try:
            merkle.verify_consistency(m, size, levels.root(m), root, source.consistency(m, size))
        except merkle.ProofError:
            return False
        return True

    good, bad = 0, size  # prefix of 0 leaves always matches; the full tree does not
    while bad - good > 1:
        middle = (good + bad) // 2
        if prefix_matches(middle):
            good = middle
        else:
            bad = middle
    return bad - 1


@dataclass(frozen=True, slots=True)
class AuditReport:
    tree_size: int
    root_hash: bytes
    previous_size: int | None


def load_state(path: Path) -> dict[str, Any]:
    """The auditor's memory: pinned keys and the last checkpoint it verified."""
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise AuditFailure(f"the state file {path} is not JSON") from None
    return state if isinstance(state, dict) else {}


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write the state atomically (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(path.suffix + ".tmp")
    scratch.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    scratch.replace(path)


def audit(
    source: LogSource,
    *,
    origin: str | None = None,
    keys: list[str] | None = None,
    state_path: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> AuditReport:
    """Audit a whole log. Trusted keys: `keys`, else those pinned in the state file, else (first
    run) those the source publishes, which are then pinned. Raises `AuditFailure`."""
    state = load_state(state_path) if state_path else {}
    vkeys = keys or state.get("keys") or source.verifier_keys()
    try:
        verifiers = [NoteVerifier.parse(k) for k in vkeys]
    except CheckpointError as exc:
        raise AuditFailure(f"bad verifier key: {exc}") from None
    origin = origin or state.get("origin")
    try:
        checkpoint: Checkpoint = open_checkpoint(source.checkpoint(), verifiers, origin)
    except CheckpointError as exc:
        raise AuditFailure(f"checkpoint rejected: {exc}") from None
    size = checkpoint.tree_size

    leaves = bytearray(size * merkle.HASH_SIZE)
    expected = 0
    sha = hashlib.sha256
    for index, entry, stored in source.entries(0, size):
        if index != expected:
            raise AuditFailure(f"entry {expected} is missing", expected)
        check_entry(index, entry)
        digest = sha(b"\x00" + entry).digest()
        if stored is not None and stored != digest:
            raise AuditFailure(f"entry {index} does not hash to its stored leaf hash", index)
        leaves[index * 32 : index * 32 + 32] = digest
        expected += 1
        if progress is not None and expected % 100_000 == 0:
            progress(expected)
    if expected != size:
        raise AuditFailure(f"entry {expected} is missing (the checkpoint has {size})", expected)

    levels = _Levels(leaves)
    if levels.root(size) != checkpoint.root_hash:
        index = first_bad_index(levels, size, checkpoint.root_hash, source)
        raise AuditFailure(f"entry {index} differs from the signed tree", index)

    previous = state.get("checkpoint") if state.get("origin") == checkpoint.origin else None
    if previous:
        old_size, old_root = int(previous["tree_size"]), base64.b64decode(previous["root_hash"])
        if old_size > size:
            raise AuditFailure(f"the log shrank from {old_size} to {size} leaves", size)
        if old_size and levels.root(old_size) != old_root:
            index = first_bad_index(levels, old_size, old_root, source)
            raise AuditFailure(f"entry {index} differs from the checkpoint of size {old_size} seen before", index)
        if old_size:
            try:
                merkle.verify_consistency(
                    old_size, size, old_root, checkpoint.root_hash, source.consistency(old_size, size)
                )
            except merkle.ProofError as exc:
                raise AuditFailure(f"the server's consistency proof from {old_size} fails: {exc}") from None

    if state_path is not None:
        save_state(
            state_path,
            {
                "origin": checkpoint.origin,
                "keys": list(vkeys),
                "checkpoint": {
                    "tree_size": size,
                    "root_hash": base64.b64encode(checkpoint.root_hash).decode("ascii"),
                },
            },
        )
    return AuditReport(size, checkpoint.root_hash, int(previous["tree_size"]) if previous else None)


# -- sources -----------------------------------------------------------------------------------------


class LocalSource:
    """The log in this deployment's database (with the stored leaf hashes checked too)."""

    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger

    def checkpoint(self) -> str:
        return self.ledger.checkpoint()

    def entries(self, start: int, end: int) -> Iterator[tuple[int, bytes, bytes | None]]:
        from sqlalchemy import select

        from consent.models import LogLeaf

        table = LogLeaf.__table__
        position = start
        # Keyset pages: constant memory and no long-running cursor.
        while position < end:
            with self.ledger.engine.connect() as conn:
                rows = conn.execute(
                    select(table.c.leaf_index, table.c.entry, table.c.leaf_hash)
                    .where(table.c.leaf_index >= position, table.c.leaf_index < min(end, position + 50_000))
                    .order_by(table.c.leaf_index)
                ).all()
            if not rows:
                return
            for row in rows:
                yield int(row.leaf_index), bytes(row.entry), bytes(row.leaf_hash)
            position = int(rows[-1].leaf_index) + 1

    def consistency(self, first: int, second: int) -> list[bytes]:
        return self.ledger.consistency_proof(first, second)

    def verifier_keys(self) -> list[str]:
        return [v.encode() for v in self.ledger.note_verifiers()]


class HttpSource:
    """A ledger served over HTTP at `base_url` (anyone's copy of the public endpoints)."""

    def __init__(self, client: Any, base_url: str = "") -> None:
        self.client = client
        self.base = base_url.rstrip("/") + "/consent"

    def _get(self, path: str, **params: Any) -> Any:
        response = self.client.get(self.base + path, params=params or None)
        if response.status_code != 200:
            raise AuditFailure(f"GET {path} answered {response.status_code}")
        return response

    def checkpoint(self) -> str:
        return self._get("/log/checkpoint").text

    def entries(self, start: int, end: int) -> Iterator[tuple[int, bytes, bytes | None]]:
        position = start
        while position < end:
            page = self._get("/log/entries", start=position, limit=min(PAGE, end - position)).json()
            if not page["entries"]:
                return
            for item in page["entries"]:
                yield int(item["index"]), item["entry"].encode("utf-8"), None
            position = int(page["entries"][-1]["index"]) + 1

    def consistency(self, first: int, second: int) -> list[bytes]:
        response = self.client.get(self.base + "/log/proof/consistency", params={"first": first, "second": second})
        if response.status_code != 200:
            return []
        return [base64.b64decode(p) for p in response.json()["proof"]]

    def verifier_keys(self) -> list[str]:
        return list(self._get("/log/keys").json()["note_verifier_keys"])
