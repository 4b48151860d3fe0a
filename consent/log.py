"""The transparency log in the database: serialised appends, O(log n) proofs, signed checkpoints.

Appends run inside the caller's transaction (`LogAppender`), so a consent event and its leaf
commit together or not at all. The first statement of every appending transaction updates the
single head row: on PostgreSQL that row lock, on SQLite the database write lock (taken by the first
write of a transaction, waiting up to the busy timeout) serialise appenders across processes and
machines. A process killed mid-append leaves an open transaction the database rolls back, so the
log is exactly the last committed head.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.engine import Connection

from consent import merkle
from consent.checkpoint import Checkpoint, sign_checkpoint
from consent.models import LogCheckpoint, LogHead, LogLeaf, LogNode
from vc.canonical_json import canonical_json

_HEAD = LogHead.__table__
_LEAVES = LogLeaf.__table__
_NODES = LogNode.__table__
_CHECKPOINTS = LogCheckpoint.__table__

# The statements of every append, built once: they run under the log lock, and building one
# costs more client CPU than PostgreSQL's answer to it (bench/RESULTS.md, "statements built once").
# A no-op UPDATE as the first statement: it takes the row lock (PostgreSQL) or the write lock
# (SQLite) before anything is read, and returns the latest committed head.
_TAKE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(updated_at=bindparam("now"))
    .returning(_HEAD.c.tree_size, _HEAD.c.frontier)
)
_ADVANCE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1, _HEAD.c.tree_size == bindparam("from"))
    .values(tree_size=bindparam("size"), frontier=bindparam("hashes"))
)
_INSERT_LEAF = insert(_LEAVES)
_INSERT_NODE = insert(_NODES)
_NODES_IN = select(_NODES.c.node_id, _NODES.c.hash).where(_NODES.c.node_id.in_(bindparam("ids", expanding=True)))
_LATEST_CHECKPOINT = (
    select(_CHECKPOINTS.c.tree_size, _CHECKPOINTS.c.root_hash, _CHECKPOINTS.c.note)
    .order_by(_CHECKPOINTS.c.tree_size.desc())
    .limit(1)
)

MAX_ENTRIES_PAGE = 1000
_NODE_SHIFT = 48


class LogError(Exception):
    """Base class of log errors; `status` and `code` say how an API reports it."""

    status = 400
    code = "log_error"


class BadProofRequest(LogError):
    code = "bad_proof_request"


class UnknownLeaf(LogError):
    status = 404
    code = "unknown_leaf"


class LogCorrupted(LogError):
    """The stored log contradicts itself; nothing is signed or served from it."""

    status = 503
    code = "log_corrupted"


def node_id(level: int, index: int) -> int:
    """The integer key of a stored interior node."""
    return (level << _NODE_SHIFT) | index


def make_entry(sequence: int, time_ms: int, event_type: str, commitment: str) -> bytes:
    """A leaf's data: the RFC 8785 canonical JSON of the four public fields of an event."""
    return canonical_json({"sequence": sequence, "time": time_ms, "type": event_type, "commitment": commitment})


@dataclass(frozen=True, slots=True)
class AppendedLeaf:
    index: int
    entry: bytes
    leaf_hash: bytes


class LogAppender:
    """Appends within one transaction that holds the head lock. Obtain it with `lock(connection)`;
    call `flush()` before the transaction commits (it writes the leaves, nodes and new head)."""

    def __init__(self, connection: Connection, frontier: merkle.Frontier) -> None:
        self.connection = connection
        self.frontier = frontier
        self.start_size = frontier.size
        # The head as read under the lock, for `start` (a checkpoint signed after this append
        # extends it by construction).
        self._start_size = frontier.size
        self._start_frontier = merkle.Frontier(frontier.size, list(frontier.hashes))
        self._start_root: bytes | None = None
        self._leaves: list[dict[str, object]] = []
        self._nodes: list[dict[str, object]] = []

    @classmethod
    def lock(cls, connection: Connection) -> LogAppender:
        """Take the log's write lock in `connection`'s transaction and read the head under it."""
        now = int(time.time())
        row = connection.execute(_TAKE_HEAD, {"now": now}).first()
        if row is None:
            # First append ever: create the head; concurrent creators converge on one row.
            connection.execute(
                text(
                    "INSERT INTO consent_log_head (id, tree_size, frontier, updated_at) "
                    "VALUES (1, 0, :empty, :now) ON CONFLICT DO NOTHING"
                ),
                {"empty": b"", "now": now},
            )
            row = connection.execute(_TAKE_HEAD, {"now": now}).one()
        try:
            frontier = merkle.Frontier.from_bytes(row.tree_size, bytes(row.frontier))
        except ValueError as exc:
            raise LogCorrupted(str(exc)) from None
        if row.tree_size == 0 and connection.execute(select(_LEAVES.c.leaf_index).limit(1)).first() is not None:
            raise LogCorrupted("the log head is missing but leaves exist")
        return cls(connection, frontier)

    @property
    def start(self) -> tuple[int, bytes]:
        """The committed head this appender extends: (size, root)."""
        if self._start_root is None:
            self._start_root = merkle.EMPTY_ROOT if self.start_size == 0 else self._start_frontier.root()
        return self._start_size, self._start_root

    def append(self, event_type: str, commitment: str, time_ms: int) -> AppendedLeaf:
        """Add one event leaf (sequence = its index). Written on `flush`."""
        index = self.frontier.size
        entry = make_entry(index, time_ms, event_type, commitment)
        leaf = merkle.leaf_hash(entry)
        self._leaves.append({"leaf_index": index, "entry": entry, "leaf_hash": leaf})
        self._nodes.append({"node_id": node_id(0, index), "hash": leaf})
        for (level, position), digest in self.frontier.append(leaf):
            self._nodes.append({"node_id": node_id(level, position), "hash": digest})
        return AppendedLeaf(index, entry, leaf)

    def flush(self) -> None:
        """Write the pending leaves and nodes and advance the head, in the locked transaction."""
        if not self._leaves:
            return
        self.connection.execute(_INSERT_LEAF, self._leaves)
        self.connection.execute(_INSERT_NODE, self._nodes)
        self.connection.execute(
            _ADVANCE_HEAD, {"size": self.frontier.size, "hashes": self.frontier.to_bytes(), "from": self.start_size}
        )
        self._leaves, self._nodes = [], []
        self.start_size = self.frontier.size


def current_size(connection: Connection) -> int:
    """The committed tree size (0 before the first append)."""
    size = connection.execute(select(_HEAD.c.tree_size).where(_HEAD.c.id == 1)).scalar()
    return int(size or 0)


def read_nodes(connection: Connection, keys: Iterable[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
    """Stored hashes of perfect subtrees, in one indexed `IN` query however large the log.

    Leaf hashes are read from the node table too, not from the leaves: proofs never depend on the
    table an entry lives in, so an entry edited there cannot also bend the proofs an auditor uses
    to pin down which entry changed."""
    wanted = {node_id(level, index): (level, index) for level, index in keys}
    found: dict[merkle.NodeKey, bytes] = {}
    if wanted:
        for row in connection.execute(_NODES_IN, {"ids": list(wanted)}):
            found[wanted[row.node_id]] = bytes(row.hash)
    missing = set(wanted.values()) - found.keys()
    if missing:
        raise LogCorrupted(f"stored subtrees missing: {sorted(missing)[:3]}")
    return found


def _proof(connection: Connection, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    nodes = read_nodes(connection, merkle.nodes_for(ranges))
    return merkle.build_proof(ranges, nodes.__getitem__)


def root_at(connection: Connection, size: int) -> bytes:
    """MTH of the first `size` leaves, from O(log n) stored subtrees."""
    if size == 0:
        return merkle.EMPTY_ROOT
    nodes = read_nodes(connection, merkle.perfect_subtrees(0, size))
    return merkle.range_hash(0, size, nodes.__getitem__)


def _check_size(connection: Connection, size: int) -> None:
    head = current_size(connection)
    if not 0 < size <= head:
        raise BadProofRequest(f"tree size {size} is not between 1 and the current size {head}")


def inclusion_proof(connection: Connection, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) for a committed size."""
    _check_size(connection, size)
    return inclusion_proofs(connection, [index], size)[0]


def inclusion_proofs(connection: Connection, indexes: Sequence[int], size: int) -> list[list[bytes]]:
    """PATH(index, D[0:size]) for each index, from one read of the subtrees they all need. `size`
    is not read again: the caller checked it, or it is the head its own locked transaction just
    wrote (a batch of grants under one checkpoint)."""
    for index in indexes:
        if not 0 <= index < size:
            raise BadProofRequest(f"leaf index {index} is not in a tree of size {size}")
    ranges = [merkle.inclusion_ranges(index, size) for index in indexes]
    nodes = read_nodes(connection, {key for one in ranges for key in merkle.nodes_for(one)})
    return [merkle.build_proof(one, nodes.__getitem__) for one in ranges]


def consistency_proof(connection: Connection, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) for committed sizes."""
    _check_size(connection, new_size)
    if not 0 < old_size <= new_size:
        raise BadProofRequest(f"no consistency proof from size {old_size} to size {new_size}")
    return _proof(connection, merkle.consistency_ranges(old_size, new_size))


def find_leaf(connection: Connection, leaf_hash: bytes) -> int:
    """The index of the leaf with this hash."""
    index = connection.execute(select(_LEAVES.c.leaf_index).where(_LEAVES.c.leaf_hash == leaf_hash)).scalar()
    if index is None:
        raise UnknownLeaf("no leaf has this hash")
    return int(index)


def read_entries(connection: Connection, start: int, limit: int, size: int | None = None) -> list[tuple[int, bytes]]:
    """Entries [start, start + limit) below the committed size, in order."""
    if start < 0 or not 0 < limit <= MAX_ENTRIES_PAGE:
        raise BadProofRequest(f"start must be >= 0 and limit between 1 and {MAX_ENTRIES_PAGE}")
    end = min(start + limit, current_size(connection) if size is None else size)
    rows = connection.execute(
        select(_LEAVES.c.leaf_index, _LEAVES.c.entry)
        .where(_LEAVES.c.leaf_index >= start, _LEAVES.c.leaf_index < end)
        .order_by(_LEAVES.c.leaf_index)
    )
    return [(int(row.leaf_index), bytes(row.entry)) for row in rows]


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: str


def latest_checkpoint(connection: Connection) -> SignedCheckpoint | None:
    """The most recent stored signed checkpoint."""
    row = connection.execute(_LATEST_CHECKPOINT).first()
    if row is None:
        return None
    return SignedCheckpoint(Checkpoint("", int(row.tree_size), bytes(row.root_hash)), row.note)


def checkpoint_at(connection: Connection, size: int) -> str | None:
    """The stored note for exactly this tree size, if one was signed."""
    return connection.execute(select(_CHECKPOINTS.c.note).where(_CHECKPOINTS.c.tree_size == size)).scalar()


def sign_and_store_checkpoint(
    connection: Connection,
    size: int,
    root: bytes,
    origin: str,
    key_name: str,
    private_key: object,
    extends: tuple[int, bytes] | None = None,
) -> str:
    """Sign (origin, size, root) after checking it is consistent with the latest signed checkpoint,
    so the log never signs two inconsistent checkpoints; store it and return the note.

    `extends`: the (size, root) of the committed head the caller's locked transaction appended to.
    When the latest checkpoint is exactly that head, the new tree extends it by construction and
    no proof is read (the common case: every grant signs the checkpoint of its own append)."""
    previous = latest_checkpoint(connection)
    if previous is not None and previous.checkpoint.tree_size >= size:
        existing = checkpoint_at(connection, size)
        if existing is not None:
            return existing
    # The empty tree is a prefix of every tree: nothing to check against a size-0 checkpoint.
    if previous is not None and previous.checkpoint.tree_size > 0 and size > 0:
        old = previous.checkpoint
        if extends is None or (old.tree_size, old.root_hash) != extends or size < old.tree_size:
            # An older size than the latest (a late signer) is checked against the latest instead.
            (small, small_root), (large, large_root) = sorted([(old.tree_size, old.root_hash), (size, root)])
            try:
                proof = consistency_proof(connection, small, large)
                merkle.verify_consistency(small, large, small_root, large_root, proof)
            except merkle.ProofError as exc:
                raise LogCorrupted(f"refusing to sign a checkpoint inconsistent with size {old.tree_size}") from exc
    note = sign_checkpoint(Checkpoint(origin, size, root), key_name, private_key)  # type: ignore[arg-type]
    connection.execute(
        text(
            "INSERT INTO consent_log_checkpoints (tree_size, root_hash, note, created_at) "
            "VALUES (:size, :root, :note, :now) ON CONFLICT DO NOTHING"
        ),
        {"size": size, "root": root, "note": note, "now": int(time.time())},
    )
    return note
