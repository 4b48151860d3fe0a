"""The consent ledger: records, their lifecycle as logged events, receipts, status lists, erasure.

Every change is one database transaction that holds the log lock, writes the record and event
rows and appends their leaves: a change is logged and applied together or not at all. The current
state of a record is derived from its events and the clock (a consent past its validity is expired
whether or not anyone wrote the `expired` event yet).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from consent import log as tlog
from consent import merkle
from consent.checkpoint import Checkpoint, NoteVerifier
from consent.models import ConsentEvent, ConsentRecord
from consent.receipts import RECEIPT_TYP
from consent.schemas import ConsentRecordIn
from consent.status_indexes import StatusIndexReservations, allocate_status_index, list_size
from consent.writes import record_body, record_row, seal_event
from keys import jws
from keys.keyring import KeyRing
from storage.group_commit import GroupCommit
from vc.status_list import INVALID, STATUS_LIST_TYP, SUSPENDED, VALID, StatusList

LEDGER_OWNER = "ledger"
STATUS_BITS = 2
STATUS_LIST_TTL = 30

_RECORDS = ConsentRecord.__table__
_EVENTS = ConsentEvent.__table__

# event type -> (states it may follow, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "granted": (frozenset({"requested"}), "granted"),
    "denied": (frozenset({"requested"}), "denied"),
    "used": (frozenset({"granted"}), "granted"),
    "paused": (frozenset({"granted"}), "paused"),
    "resumed": (frozenset({"paused"}), "granted"),
    # A used one-time consent can still be withdrawn: the citizen takes back what she gave, and the
    # recipient must stop processing and delete what it received under it (PIPA art. 37).
    "withdrawn": (frozenset({"requested", "granted", "paused", "used_up"}), "withdrawn"),
    # The operator can end a used one-time consent too: it stays VALID until its validity ends.
    "revoked": (frozenset({"requested", "granted", "paused", "used_up"}), "revoked"),
    "expired": (frozenset({"requested", "granted", "paused", "used_up"}), "expired"),
    "reconsented": (frozenset({"granted", "paused"}), "granted"),
}
OPEN_STATES = frozenset({"requested", "granted", "paused"})


def origin_from_url(public_url: str) -> str:
    """The log's checkpoint origin (and note key name) for a deployment's public URL: its host and
    path without the scheme, e.g. `wallet.seoul.go.kr/consent`."""
    parts = urlsplit(public_url)
    return f"{parts.netloc}{parts.path.rstrip('/')}/consent"


class ConsentError(Exception):
    """A refused consent operation; `status` and `code` say how the API reports it."""

    status = 400
    code = "consent_error"
    title = "Consent operation refused"


class ConsentNotFound(ConsentError):
    status = 404
    code = "consent_not_found"
    title = "No such consent"


class StateConflict(ConsentError):
    status = 409
    code = "consent_state_conflict"
    title = "The consent's state does not allow this"

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


class LedgerKeyError(ConsentError):
    status = 503
    code = "ledger_key_unavailable"
    title = "The ledger's signing key is unusable"


@dataclass(frozen=True, slots=True)
class EventView:
    type: str
    time: int
    actor: str
    details: dict[str, Any] | None
    leaf_index: int


@dataclass(frozen=True, slots=True)
class ConsentView:
    id: str
    citizen_id: str | None
    verifier_id: str
    state: str
    status_index: int
    record: dict[str, Any]
    notice: dict[str, Any]
    history: list[EventView]
    receipt: str | None


def effective_state(state: str, valid_until: int, now: float) -> str:
    """A consent still open (or used once and still covering what was received) at the end of its
    validity is expired, without anyone acting: then it can no longer be withdrawn or revoked."""
    if (state in OPEN_STATES or state == "used_up") and now >= valid_until:
        return "expired"
    return state


def status_value(state: str, valid_from: int, valid_until: int, now: float) -> int:
    """The Token Status List value of a consent: VALID only while granted and within validity."""
    state = effective_state(state, valid_until, now)
    if state == "granted":
        return VALID if now >= valid_from else SUSPENDED
    if state == "used_up":
        # Spent (the ledger refuses a second use), but it still covers what the recipient received
        # under it until its validity ends, or until the citizen withdraws it. VALID here means
        # "this consent stands", not "it may be used again": record_use refuses a second use.
        return VALID if now >= valid_from else INVALID
    if state == "paused":
        return SUSPENDED
    return INVALID


class ReceiptFor(NamedTuple):
    """An event to sign a receipt for: its record's row (id, verifier_id, status_index) and body,
    its flushed leaf, what the receipt opens of it, and when."""

    row: Any
    body: dict[str, Any]
    leaf: tlog.AppendedLeaf
    opened: dict[str, Any]
    now: float


class ConsentLedger:
    """The ledger over one database; `origin` names the log in checkpoints, `base_url` is where its
    HTTP endpoints (status lists, keys) are served, `status_index_key` (`status_index_key(master
    key)`) permutes the verifiers' status list indexes."""

    def __init__(
        self,
        engine: Engine,
        keyring: KeyRing,
        *,
        origin: str,
        base_url: str,
        status_index_key: bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.status_index_key = status_index_key
        self.status_indexes = StatusIndexReservations(engine, status_index_key)
        self.keyring = keyring
        self.origin = origin
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        # Grants at presentation that queue for the log lock in this process share a transaction.
        self.presentation_commits: GroupCommit[Any, tuple[str, str]] = GroupCommit()

    # -- keys ----------------------------------------------------------------------------------------

    def signing_key(self) -> tuple[str, ed25519.Ed25519PrivateKey]:
        active = self.keyring.active_key(LEDGER_OWNER, "EdDSA")
        if not isinstance(active.private_key, ed25519.Ed25519PrivateKey):
            raise LedgerKeyError("the ledger key must be Ed25519 (signed notes); rotate it with EdDSA")
        return active.kid, active.private_key

    def note_verifiers(self) -> list[NoteVerifier]:
        """The signed-note verifier keys of every published ledger key."""
        from consent.receipts import note_verifiers

        self.signing_key()
        return note_verifiers(self.keyring.jwks(LEDGER_OWNER), self.origin)

    def jwks(self) -> dict[str, Any]:
        """The ledger's JWKS (receipts and status lists verify with it)."""
        self.signing_key()
        return self.keyring.jwks(LEDGER_OWNER)

    def status_list_uri(self, verifier_id: str) -> str:
        """The URI of a verifier's consent status list (its `sub`)."""
        return f"{self.base_url}/consent/status/{verifier_id.removeprefix('verifier:')}"

    # -- writing ----------------------------------------------------------------------------------

    def _append_event(
        self,
        conn: Connection,
        appender: tlog.LogAppender,
        record_id: str,
        body: dict[str, Any],
        event_type: str,
        actor: str,
        details: dict[str, Any] | None,
        now_ms: int,
    ) -> tuple[tlog.AppendedLeaf, dict[str, Any]]:
        event = seal_event(body, event_type, actor, details, now_ms)
        leaf = appender.append(event_type, event.commitment, now_ms)
        conn.execute(insert(_EVENTS).values(event.row(record_id, leaf.index)))
        return leaf, event.opened

    def request(self, record: ConsentRecordIn) -> str:
        """Create a consent record in state `requested` (the wallet, before asking the citizen);
        returns its id. Allocates the record's index in its verifier's status list."""
        now = self.clock()
        with self.engine.begin() as conn:
            appender = tlog.LogAppender.lock(conn)
            record_id = self._insert_requested(conn, appender, record, now)
            appender.flush()
        return record_id

    def _insert_requested(
        self, conn: Connection, appender: tlog.LogAppender, record: ConsentRecordIn, now: float
    ) -> str:
        record_id = str(uuid.uuid4())
        body = record_body(record_id, record)
        # Under the log lock, so concurrent requests never take the same status index.
        status_index = allocate_status_index(conn, self.status_index_key, record.recipient)
        conn.execute(insert(_RECORDS).values(record_row(record_id, record, body, status_index, "requested", now)))
        self._append_event(conn, appender, record_id, body, "requested", record.actor.role, None, int(now * 1000))
        return record_id

    def _load(self, conn: Connection, record_id: str, **owner: str) -> Any:
        query = select(_RECORDS).where(_RECORDS.c.id == record_id, _RECORDS.c.body.is_not(None))
        for column, value in owner.items():
            query = query.where(_RECORDS.c[column] == value)
        row = conn.execute(query).first()
        if row is None:
            # The same answer whether the id does not exist or belongs to someone else.
            raise ConsentNotFound("no such consent")
        return row

    def _transition(
        self,
        record_id: str,
        event_type: str,
        actor: str,
        details: dict[str, Any] | None = None,
        *,
        owner: dict[str, str] | None = None,
        check: Callable[[Connection, Any, float], None] | None = None,
    ) -> str | None:
        """Apply one lifecycle event; returns a receipt for grants and re-consents."""
        # Load the signing key before taking the log lock: a first use may write to the key table.
        signing_key = self.signing_key() if event_type in ("granted", "reconsented") else None
        now = self.clock()
        with self.engine.begin() as conn:
            appender = tlog.LogAppender.lock(conn)
            row = self._load(conn, record_id, **(owner or {}))
            return self._apply(conn, appender, row, event_type, actor, details, check, signing_key, now)

    def _apply(
        self,
        conn: Connection,
        appender: tlog.LogAppender,
        row: Any,
        event_type: str,
        actor: str,
        details: dict[str, Any] | None,
        check: Callable[[Connection, Any, float], None] | None,
        signing_key: tuple[str, ed25519.Ed25519PrivateKey] | None,
        now: float,
    ) -> str | None:
        """One lifecycle event on `row`, inside the caller's locked transaction."""
        allowed, target = TRANSITIONS[event_type]
        state = effective_state(row.state, row.valid_until, now)
        if event_type == "expired":
            if state != "expired" or row.state not in allowed:
                raise StateConflict(f"consent is {state}, not due to expire", state)
        elif state not in allowed:
            raise StateConflict(f"a {state} consent cannot be {event_type}", state)
        if check is not None:
            check(conn, row, now)
        if event_type == "used" and row.one_time:
            target = "used_up"
        body = json.loads(row.body)
        leaf, opened = self._append_event(conn, appender, row.id, body, event_type, actor, details, int(now * 1000))
        appender.flush()
        values: dict[str, Any] = {"state": target, "updated_at": int(now)}
        if event_type == "reconsented" and details is not None:
            values["notice_version"] = details["notice"]["version"]
        receipt = None
        if signing_key is not None:
            receipt = self.receipts(conn, appender, signing_key, [ReceiptFor(row, body, leaf, opened, now)])[0]
            values["receipt"] = receipt
        conn.execute(update(_RECORDS).where(_RECORDS.c.id == row.id).values(**values))
        return receipt

    def receipts(
        self,
        conn: Connection,
        appender: tlog.LogAppender,
        signing_key: tuple[str, ed25519.Ed25519PrivateKey],
        events: list[ReceiptFor],
    ) -> list[str]:
        """The signed receipts of flushed events, under the caller's log lock: the checkpoint of the
        head it just wrote (signed once) and each leaf's inclusion proof (one read for all), each
        checked against that checkpoint before its receipt is signed."""
        kid, key = signing_key
        size, root = appender.frontier.size, appender.frontier.root()
        note = tlog.sign_and_store_checkpoint(conn, size, root, self.origin, self.origin, key, extends=appender.start)
        proofs = tlog.inclusion_proofs(conn, [event.leaf.index for event in events], size)
        receipts = []
        for event, proof in zip(events, proofs, strict=True):
            leaf = event.leaf
            try:
                merkle.verify_inclusion(leaf.leaf_hash, leaf.index, size, proof, root)
            except merkle.ProofError as exc:  # the stored subtrees contradict the head: sign nothing
                raise tlog.LogCorrupted(f"the stored log does not prove leaf {leaf.index}") from exc
            payload = {
                "iss": self.base_url + "/consent",
                "sub": event.row.id,
                "iat": int(event.now),
                "jti": str(uuid.uuid4()),
                "consent": event.body,
                "event": event.opened,
                "log": {
                    "origin": self.origin,
                    "leaf_index": leaf.index,
                    "entry": leaf.entry.decode("utf-8"),
                    "checkpoint": note,
                    "inclusion_proof": [base64.b64encode(p).decode("ascii") for p in proof],
                },
                "status": {
                    "status_list": {"idx": event.row.status_index, "uri": self.status_list_uri(event.row.verifier_id)}
                },
            }
            receipts.append(jws.sign(payload, key, typ=RECEIPT_TYP, kid=kid))
        return receipts

    def grant(self, record_id: str, actor: str = "citizen") -> str:
        """The citizen (or guardian/agent) grants a requested consent; returns the signed receipt."""
        receipt = self._transition(record_id, "granted", actor)
        assert receipt is not None
        return receipt

    def deny(self, record_id: str, actor: str = "citizen") -> None:
        """The citizen declines a requested consent."""
        self._transition(record_id, "denied", actor)

    def record_use(self, record_id: str, verifier_id: str) -> None:
        """A presentation under this consent to its recipient; refused unless the consent is
        granted, within validity, not used up (one-time) and not used too often (periodic)."""
        self._transition(
            record_id,
            "used",
            "verifier",
            {"verifier": verifier_id},
            owner={"verifier_id": verifier_id},
            check=self.check_use,
        )

    @staticmethod
    def check_use(conn: Connection, row: Any, now: float) -> None:
        if now < row.valid_from:
            raise StateConflict("the consent is not valid yet", "granted")
        body = json.loads(row.body)
        interval = body["frequency"].get("interval_days")
        if interval:
            last = conn.execute(
                select(func.max(_EVENTS.c.time_ms)).where(_EVENTS.c.record_id == row.id, _EVENTS.c.type == "used")
            ).scalar()
            if last is not None and now * 1000 - last < interval * 86_400_000:
                raise StateConflict(f"a periodic consent is used at most once every {interval} days", "granted")

    def pause(self, record_id: str, citizen_id: str) -> None:
        """The citizen suspends a granted consent (status SUSPENDED)."""
        self._transition(record_id, "paused", "citizen", owner={"citizen_id": citizen_id})

    def resume(self, record_id: str, citizen_id: str) -> None:
        """The citizen resumes a paused consent."""
        self._transition(record_id, "resumed", "citizen", owner={"citizen_id": citizen_id})

    def withdraw(self, record_id: str, citizen_id: str) -> None:
        """The citizen withdraws a consent; its status flips to INVALID at once."""
        self._transition(record_id, "withdrawn", "citizen", owner={"citizen_id": citizen_id})

    def revoke(self, record_id: str, reason: str) -> None:
        """The operator revokes a consent, saying why."""
        if not reason.strip() or len(reason) > 500:
            raise ConsentError("a revocation states a reason (at most 500 characters)")
        self._transition(record_id, "revoked", "operator", {"reason": reason})

    def reconsent(self, record_id: str, notice: dict[str, str], actor: str = "citizen") -> str:
        """The citizen consents again to a new version of the notice; returns a new receipt."""
        from consent.schemas import Notice

        checked = Notice.model_validate(notice).model_dump()

        def check(conn: Connection, row: Any, now: float) -> None:
            if row.notice_version == checked["version"]:
                raise StateConflict("re-consent is for a new notice version", "granted")

        receipt = self._transition(record_id, "reconsented", actor, {"notice": checked}, check=check)
        assert receipt is not None
        return receipt

    def withdraw_all(self, citizen_id: str) -> list[str]:
        """Withdraw every open or used one-time consent of the citizen in one transaction; returns their ids."""
        now = self.clock()
        withdrawn = []
        with self.engine.begin() as conn:
            appender = tlog.LogAppender.lock(conn)
            rows = conn.execute(
                select(_RECORDS)
                .where(_RECORDS.c.citizen_id == citizen_id, _RECORDS.c.state.in_(TRANSITIONS["withdrawn"][0]))
                .order_by(_RECORDS.c.created_at, _RECORDS.c.id)
            ).all()
            for row in rows:
                if effective_state(row.state, row.valid_until, now) not in TRANSITIONS["withdrawn"][0]:
                    continue
                body = json.loads(row.body)
                self._append_event(conn, appender, row.id, body, "withdrawn", "citizen", None, int(now * 1000))
                withdrawn.append(row.id)
            appender.flush()
            if withdrawn:
                conn.execute(
                    update(_RECORDS).where(_RECORDS.c.id.in_(withdrawn)).values(state="withdrawn", updated_at=int(now))
                )
        return withdrawn

    def expire_due(self, limit: int = 1000) -> int:
        """Log `expired` for open or used consents past their validity (their status is already INVALID:
        this only writes the history). Returns how many were expired."""
        now = self.clock()
        with self.engine.begin() as conn:
            appender = tlog.LogAppender.lock(conn)
            rows = conn.execute(
                select(_RECORDS)
                .where(_RECORDS.c.state.in_(TRANSITIONS["expired"][0]), _RECORDS.c.valid_until <= int(now))
                .order_by(_RECORDS.c.valid_until, _RECORDS.c.id)
                .limit(limit)
            ).all()
            for row in rows:
                body = json.loads(row.body)
                self._append_event(conn, appender, row.id, body, "expired", "system", None, int(now * 1000))
            appender.flush()
            if rows:
                conn.execute(
                    update(_RECORDS)
                    .where(_RECORDS.c.id.in_([r.id for r in rows]))
                    .values(state="expired", updated_at=int(now))
                )
        return len(rows)

    def erase_citizen(self, citizen_id: str) -> int:
        """Erase a citizen: every record's contents, receipts, events and salts are deleted.

        Each record logs a final `erased` event (whose salt is deleted with the rest) and keeps a
        tombstone: its random id, recipient and status index, with state `erased`, so the
        verifier's status list keeps answering INVALID. The log's leaves stay as they are and
        still verify, but without the salts nothing links them to the citizen. Returns the
        number of records erased."""
        now = self.clock()
        with self.engine.begin() as conn:
            appender = tlog.LogAppender.lock(conn)
            rows = conn.execute(select(_RECORDS.c.id, _RECORDS.c.body).where(_RECORDS.c.citizen_id == citizen_id)).all()
            ids = [row.id for row in rows]
            for row in rows:
                self._append_event(
                    conn, appender, row.id, json.loads(row.body), "erased", "operator", None, int(now * 1000)
                )
            appender.flush()
            if ids:
                conn.execute(_EVENTS.delete().where(_EVENTS.c.record_id.in_(ids)))
                conn.execute(
                    update(_RECORDS)
                    .where(_RECORDS.c.id.in_(ids))
                    .values(
                        citizen_id=None,
                        body=None,
                        receipt=None,
                        notice_version=None,
                        one_time=False,
                        valid_from=0,
                        valid_until=0,
                        state="erased",
                        created_at=0,
                        updated_at=int(now),
                    )
                )
        return len(ids)

    # -- reading ------------------------------------------------------------------------------------

    def _views(self, conn: Connection, rows: Iterable[Any], now: float) -> list[ConsentView]:
        rows = list(rows)
        history: dict[str, list[EventView]] = {row.id: [] for row in rows}
        if rows:
            for event in conn.execute(
                select(_EVENTS).where(_EVENTS.c.record_id.in_(list(history))).order_by(_EVENTS.c.leaf_index)
            ):
                details = json.loads(event.details) if event.details is not None else None
                history[event.record_id].append(
                    EventView(event.type, event.time_ms, event.actor, details, event.leaf_index)
                )
        views = []
        for row in rows:
            body = json.loads(row.body)
            notice = body["notice"]
            for event in history[row.id]:
                if event.type == "reconsented" and event.details:
                    notice = event.details["notice"]
            views.append(
                ConsentView(
                    id=row.id,
                    citizen_id=row.citizen_id,
                    verifier_id=row.verifier_id,
                    state=effective_state(row.state, row.valid_until, now),
                    status_index=row.status_index,
                    record=body,
                    notice=notice,
                    history=history[row.id],
                    receipt=row.receipt,
                )
            )
        return views

    def list_for_citizen(self, citizen_id: str) -> list[ConsentView]:
        """Every consent of the citizen with its full history, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_RECORDS)
                .where(_RECORDS.c.citizen_id == citizen_id, _RECORDS.c.body.is_not(None))
                .order_by(_RECORDS.c.created_at.desc(), _RECORDS.c.id)
            )
            return self._views(conn, rows, self.clock())

    def get_for_citizen(self, record_id: str, citizen_id: str) -> ConsentView:
        """One consent of the citizen (404 for anyone else's)."""
        with self.engine.connect() as conn:
            return self._views(conn, [self._load(conn, record_id, citizen_id=citizen_id)], self.clock())[0]

    def list_for_verifier(self, verifier_id: str) -> list[ConsentView]:
        """The consents granted to this verifier (ever granted, in any state since)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_RECORDS)
                .where(
                    _RECORDS.c.verifier_id == verifier_id,
                    _RECORDS.c.body.is_not(None),
                    _RECORDS.c.receipt.is_not(None),
                )
                .order_by(_RECORDS.c.status_index)
            )
            return self._views(conn, rows, self.clock())

    def receipt_for_verifier(self, record_id: str, verifier_id: str) -> str:
        """The latest receipt of a consent granted to this verifier."""
        with self.engine.connect() as conn:
            row = self._load(conn, record_id, verifier_id=verifier_id)
        if row.receipt is None:
            raise ConsentNotFound("this consent was never granted")
        return row.receipt

    def status_list(self, verifier_id: str) -> StatusList:
        """The verifier's consent status list as of now (withdrawal shows at once)."""
        now = self.clock()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_RECORDS.c.status_index, _RECORDS.c.state, _RECORDS.c.valid_from, _RECORDS.c.valid_until).where(
                    _RECORDS.c.verifier_id == verifier_id
                )
            ).all()
        size = list_size(max((row.status_index for row in rows), default=None))
        # Unused indexes read INVALID: no consent exists there.
        status_list = StatusList.from_bytes(b"\x55" * (size * STATUS_BITS // 8), STATUS_BITS)
        for row in rows:
            status_list.set(row.status_index, status_value(row.state, row.valid_from, row.valid_until, now))
        return status_list

    def status_list_token(self, verifier_id: str) -> str:
        """The signed Status List Token (`statuslist+jwt`) of the verifier's consents."""
        status_list = self.status_list(verifier_id)
        kid, key = self.signing_key()
        now = int(self.clock())
        payload = {
            "sub": self.status_list_uri(verifier_id),
            "iat": now,
            "exp": now + 10 * STATUS_LIST_TTL,
            "ttl": STATUS_LIST_TTL,
            "status_list": status_list.to_json(),
        }
        return jws.sign(payload, key, typ=STATUS_LIST_TYP, kid=kid)

    # -- the log, read side -----------------------------------------------------------------------

    def checkpoint(self) -> str:
        """A signed checkpoint note of the current tree (signed now if the tree grew since the last)."""
        with self.engine.begin() as conn:
            size = tlog.current_size(conn)
            existing = tlog.checkpoint_at(conn, size)
            if existing is not None:
                return existing
            _, key = self.signing_key()
            return tlog.sign_and_store_checkpoint(conn, size, tlog.root_at(conn, size), self.origin, self.origin, key)

    def inclusion_proof(self, tree_size: int, index: int | None = None, leaf_hash: bytes | None = None) -> dict:
        """An inclusion proof by leaf index or leaf hash for a committed tree size."""
        with self.engine.connect() as conn:
            if index is None:
                if leaf_hash is None:
                    raise tlog.BadProofRequest("name the leaf by index or by hash")
                index = tlog.find_leaf(conn, leaf_hash)
            proof = tlog.inclusion_proof(conn, index, tree_size)
            leaf = tlog.read_nodes(conn, [(0, index)])[(0, index)]
        return {"leaf_index": index, "tree_size": tree_size, "leaf_hash": leaf, "proof": proof}

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """A consistency proof between two committed tree sizes."""
        with self.engine.connect() as conn:
            return tlog.consistency_proof(conn, first, second)

    def entries(self, start: int, limit: int) -> tuple[int, list[tuple[int, bytes]]]:
        """(tree size, entries [start, start + limit) below it)."""
        with self.engine.connect() as conn:
            size = tlog.current_size(conn)
            return size, tlog.read_entries(conn, start, limit, size)

    def verified_checkpoint(self, note: str) -> Checkpoint:
        """Parse a note signed by this ledger."""
        from consent.checkpoint import open_checkpoint

        return open_checkpoint(note, self.note_verifiers(), self.origin)
