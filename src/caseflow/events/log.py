"""The outbox read as a log: committed events in commit order, and consumers' positions.

Why not simply "events with a ``seq`` above the last one seen": on PostgreSQL a
transaction takes its ``seq`` values when it inserts and becomes visible when it
commits, so a lower ``seq`` can appear after a higher one was read, and a reader that
moved past it would never see it. Each PostgreSQL row therefore carries the id of the
transaction that wrote it (``xid``, from ``pg_current_xact_id()``), and the log is
ordered by ``(xid, seq)`` and read only below the oldest transaction still running
(``pg_snapshot_xmin(pg_current_snapshot())``): every transaction under that horizon has
ended, and every one that has not yet written gets a larger id, so nothing can appear
behind a reader any more. One instance's events keep their order: a command adds them
in order within its transaction, and two commands on one instance are serialised by its
row lock. The price: a long-running writing transaction holds delivery back while it
runs. SQLite has one writer at a time, so there ``seq`` is commit order (``xid`` 0).

A :class:`Position` names a place in the log (``"<xid>-<seq>"`` as text: SSE ids,
webhook envelopes). Consumers (the webhook fan-out, each broker sink) keep theirs in
``event_consumer``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, literal_column, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from caseflow.runtime.ports import OutboxEvent
from caseflow.store import schema as s
from caseflow.store.sql import SqlTransaction

E = s.outbox_event
C = s.event_consumer


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in the log: after the event at ``(xid, seq)``."""

    xid: int = 0
    seq: int = 0

    def __str__(self) -> str:
        return f"{self.xid}-{self.seq}"

    @classmethod
    def parse(cls, text: str | None) -> Position | None:
        """``"<xid>-<seq>"`` (or a bare ``seq``: xid 0); None when it is neither."""
        if not text:
            return None
        head, _, tail = text.strip().partition("-")
        try:
            if not tail:
                return cls(0, int(head))
            return cls(int(head), int(tail))
        except ValueError:
            return None


START = Position()


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event with its place in the log."""

    position: Position
    event: OutboxEvent

    def envelope(self) -> dict[str, Any]:
        """The event as delivered (webhook body, SSE data, broker message)."""
        e = self.event
        return {
            "id": e.id,
            "type": e.type,
            "occurredAt": e.occurred_at.isoformat(),
            "instanceId": e.instance_id,
            "taskId": e.task_id,
            "tenantId": e.tenant_id,
            "position": str(self.position),
            "data": e.payload,
        }

    def body(self) -> bytes:
        """The envelope as compact JSON bytes (what a signature covers)."""
        return json.dumps(self.envelope(), separators=(",", ":"), default=str).encode()


_COLUMNS = (E.c.xid, E.c.seq, E.c.id, E.c.type, E.c.occurred_at, E.c.payload, E.c.instance_id,
            E.c.task_id, E.c.tenant_id)


def _logged(row: Any) -> LoggedEvent:
    return LoggedEvent(
        Position(int(row[0] or 0), int(row[1])),
        OutboxEvent(
            id=row[2], type=row[3], occurred_at=row[4], payload=row[5] or {},
            instance_id=row[6], task_id=row[7], tenant_id=row[8],
        ),
    )


def _horizon() -> Any:
    """PostgreSQL: the oldest transaction id still running; the log is final below it."""
    return literal_column("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")


def read_after(tx: SqlTransaction, after: Position, limit: int = 500) -> list[LoggedEvent]:
    """Committed events after ``after``, in commit order, up to ``limit``; only final ones
    (on PostgreSQL, below the horizon: see the module docstring)."""
    statement = select(*_COLUMNS)
    if tx.store.is_postgres:
        statement = statement.where(
            tuple_(E.c.xid, E.c.seq) > tuple_(after.xid, after.seq), E.c.xid < _horizon()
        ).order_by(E.c.xid, E.c.seq)
    else:
        statement = statement.where(E.c.seq > after.seq).order_by(E.c.seq)
    return [_logged(r) for r in tx.conn.execute(statement.limit(limit)).all()]


def head(tx: SqlTransaction) -> Position:
    """The position of the newest final event (START when there is none)."""
    if tx.store.is_postgres:
        statement = (
            select(E.c.xid, E.c.seq).where(E.c.xid < _horizon())
            .order_by(E.c.xid.desc(), E.c.seq.desc()).limit(1)
        )
    else:
        statement = select(literal_column("0"), E.c.seq).order_by(E.c.seq.desc()).limit(1)
    row = tx.conn.execute(statement).first()
    return START if row is None else Position(int(row[0] or 0), int(row[1]))


def position_of(tx: SqlTransaction, event_id: str) -> Position | None:
    """Where the event with this id is (None if there is none, or it was pruned)."""
    row = tx.conn.execute(select(E.c.xid, E.c.seq).where(E.c.id == event_id)).first()
    return None if row is None else Position(int(row[0] or 0), int(row[1]))


# --- consumers -----------------------------------------------------------------------------


def ensure_consumer(tx: SqlTransaction, name: str, now: datetime, *,
                    start: Position = START) -> None:
    """The consumer's row, made at ``start`` if it is new."""
    dialect = postgresql if tx.store.is_postgres else sqlite
    tx.conn.execute(
        dialect.insert(C)
        .values(name=name, position_xid=start.xid, position_seq=start.seq, updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )


def lock_consumer(tx: SqlTransaction, name: str) -> Position | None:
    """Lock the consumer's row for this transaction and give its position; None when
    another node holds it (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite: this
    transaction is the only writer anyway)."""
    row = tx.conn.execute(
        select(C.c.position_xid, C.c.position_seq)
        .where(C.c.name == name)
        .with_for_update(skip_locked=True)
    ).first()
    return None if row is None else Position(int(row[0]), int(row[1]))


def lease_consumer(
    tx: SqlTransaction, name: str, owner: str, now: datetime, lease: timedelta
) -> Position | None:
    """Take (or renew) the consumer's lease for ``owner`` until ``now + lease`` and give
    its position; None while another owner's lease runs."""
    row = tx.conn.execute(
        update(C)
        .where(
            C.c.name == name,
            or_(C.c.lease_owner.is_(None), C.c.lease_owner == owner,
                C.c.lease_expires_at <= now),
        )
        .values(lease_owner=owner, lease_expires_at=now + lease, updated_at=now)
        .returning(C.c.position_xid, C.c.position_seq)
    ).first()
    return None if row is None else Position(int(row[0]), int(row[1]))


def advance_consumer(
    tx: SqlTransaction, name: str, position: Position, now: datetime, *,
    owner: str | None = None, lease: timedelta | None = None,
) -> bool:
    """Move the consumer to ``position``; with ``owner``, only while it holds the lease
    (renewed by ``lease``). False: the lease was lost, nothing changed."""
    where = [C.c.name == name]
    values: dict[str, Any] = {
        "position_xid": position.xid, "position_seq": position.seq, "updated_at": now,
    }
    if owner is not None:
        where.append(C.c.lease_owner == owner)
        if lease is not None:
            values["lease_expires_at"] = now + lease
    return bool(tx.conn.execute(update(C).where(*where).values(**values)).rowcount)


def release_consumer(tx: SqlTransaction, name: str, owner: str) -> None:
    tx.conn.execute(
        update(C).where(C.c.name == name, C.c.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )


def consumers(tx: SqlTransaction) -> list[tuple[str, Position, datetime]]:
    rows = tx.conn.execute(
        select(C.c.name, C.c.position_xid, C.c.position_seq, C.c.updated_at).order_by(C.c.name)
    ).all()
    return [(r[0], Position(int(r[1]), int(r[2])), r[3]) for r in rows]


def backlog(tx: SqlTransaction, after: Position) -> tuple[int, datetime | None]:
    """How many events lie after ``after`` (final or not yet) and when the oldest of them
    happened: a consumer's lag, for metrics."""
    if tx.store.is_postgres:
        where = tuple_(E.c.xid, E.c.seq) > tuple_(after.xid, after.seq)
    else:
        where = E.c.seq > after.seq
    row = tx.conn.execute(select(func.count(), func.min(E.c.occurred_at)).where(where)).one()
    return int(row[0]), row[1]


# --- retention ---------------------------------------------------------------------------


def prune(tx: SqlTransaction, older_than: datetime) -> int:
    """Delete events older than ``older_than`` that every consumer has passed. The
    newest event always stays: SQLite would otherwise hand its ``seq`` out again."""
    conditions = [E.c.occurred_at < older_than, E.c.seq < select(func.max(E.c.seq))
                  .scalar_subquery()]
    rows = tx.conn.execute(select(C.c.position_xid, C.c.position_seq)).all()
    for xid, seq in rows:
        if tx.store.is_postgres:
            conditions.append(tuple_(E.c.xid, E.c.seq) <= tuple_(int(xid), int(seq)))
        else:
            conditions.append(E.c.seq <= int(seq))
    return int(tx.conn.execute(delete(E).where(and_(*conditions))).rowcount)


__all__ = [
    "START",
    "LoggedEvent",
    "Position",
    "advance_consumer",
    "backlog",
    "consumers",
    "ensure_consumer",
    "head",
    "lease_consumer",
    "lock_consumer",
    "position_of",
    "prune",
    "read_after",
    "release_consumer",
]
