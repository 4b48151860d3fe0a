"""What a console opened at its party (offers, batches, checks), by the party's own ids, per party:
an officer sees her colleagues' too, never another party's."""

from __future__ import annotations

import time

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from consoles.models import ConsoleRecord


class Records:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, party: str, kind: str, remote_id: str, label: str, officer: str, state: str = "") -> None:
        row = ConsoleRecord(
            party=party,
            kind=kind,
            remote_id=remote_id[:64],
            label=label[:100],
            officer=officer[:255],
            created_at=int(time.time()),
            state=state,
        )
        with Session(self.engine) as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # recorded already (a resubmitted form): one record is enough
                session.rollback()

    def recent(self, party: str, kind: str, limit: int = 20) -> list[ConsoleRecord]:
        with Session(self.engine) as session:
            return list(
                session.exec(
                    select(ConsoleRecord)
                    .where(ConsoleRecord.party == party, ConsoleRecord.kind == kind)
                    .order_by(col(ConsoleRecord.created_at).desc(), col(ConsoleRecord.id).desc())
                    .limit(limit)
                )
            )

    def get(self, party: str, kind: str, remote_id: str) -> ConsoleRecord | None:
        with Session(self.engine) as session:
            return session.exec(
                select(ConsoleRecord).where(
                    ConsoleRecord.party == party, ConsoleRecord.kind == kind, ConsoleRecord.remote_id == remote_id
                )
            ).first()

    def set_state(self, party: str, kind: str, remote_id: str, state: str, detail: str = "") -> None:
        with Session(self.engine) as session:
            row = session.exec(
                select(ConsoleRecord).where(
                    ConsoleRecord.party == party, ConsoleRecord.kind == kind, ConsoleRecord.remote_id == remote_id
                )
            ).first()
            if row is not None:
                row.state, row.detail = state, detail[:500]
                session.add(row)
                session.commit()
