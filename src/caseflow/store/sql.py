"""The storage port over SQLite and PostgreSQL, with SQLAlchemy Core.

Round trips are the cost that matters, so reads and writes are batched:

* ``load_instance``: the instance joined to its executions, and its variables; the
  other tables of the instance are read on first use, in the same transaction (user
  tasks with their candidates in one join).
* ``save``: the revision check first (``UPDATE ... WHERE revision = :seen``; no row means
  another transaction won: :class:`~caseflow.errors.ConcurrencyConflict`), then one
  ``executemany`` per table and kind of change, then the history batch.

On PostgreSQL the hot statements (compiled from the Core statements once per store) go
to psycopg in pipeline mode: ``load_instance`` is one round trip, ``save`` is one round
trip however many tables it touches (the server still runs the revision check first and
takes the instance's row lock there; if it matched no row the statement fails before
anything else is written and the transaction is rolled back), and ``get_task`` /
``get_external_task`` lock and read the owning instance, its variables and its tasks in
the same round trip, which the following ``load_instance`` takes. A save of a state read
that way, or of a new instance, waits for the next round trip, the COMMIT's usually: a
task completion is two round trips (BEGIN with the lookup, then the save with the
COMMIT), and so is a start (the definition, then the save with the COMMIT). External
tasks are claimed with one
``UPDATE ... WHERE (id, tenant_id) IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``.

SQLite serialises writers: every transaction starts with ``BEGIN IMMEDIATE`` (so a
second writer waits on ``busy_timeout`` instead of failing half-way; ``read_only``
transactions use a plain ``BEGIN``), in WAL mode so readers never wait, with foreign
keys on. There the revision check runs alone and nothing else is written unless it
matched.
"""

from __future__ import annotations

import re
import select as io_select
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import MISSING, fields
from datetime import datetime, timedelta
from operator import attrgetter, itemgetter
from typing import Any, Generic, NamedTuple, TypeVar, cast

import psycopg
import uuid_utils
from psycopg import pq
from psycopg.abc import Transformer as TransformerProtocol
from psycopg.adapt import PyFormat, Transformer
from psycopg.errors import error_from_result
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb
from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Integer,
    Row,
    Select,
    Table,
    and_,
    any_,
    bindparam,
    case,
    create_engine,
    event,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import StaticPool

from caseflow.engine.state import (
    DEFAULT_TENANT,
    ActivityRecord,
    EventSubscription,
    Execution,
    ExternalTaskRecord,
    Incident,
    InstanceRecord,
    InstanceState,
    Job,
    UserTaskRecord,
    Variable,
)
from caseflow.engine.state import (
    Table as StateTable,
)
from caseflow.errors import ConcurrencyConflict, NotFound
from caseflow.runtime.ports import (
    BufferedMessage,
    CommandRecord,
    DefinitionRecord,
    DefinitionStatus,
    DeploymentRecord,
    InstanceQuery,
    OutboxEvent,
    Store,
    SubscriptionQuery,
    TaskQuery,
    TopicRequest,
    Transaction,
)
from caseflow.store import codec
from caseflow.store import schema as s

R = TypeVar("R")

SQLITE_BUSY_TIMEOUT_S = 30.0
DOOMED = "rolled back: a write in this transaction lost a race (ConcurrencyConflict)"


# --- engines ----------------------------------------------------------------------------


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3; everything else as given."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_engine_for(
    url: str,
    *,
    echo: bool = False,
    schema: str | None = None,
    pool_size: int = 10,
    max_overflow: int = 20,
) -> Engine:
    """An engine set up the way caseflow needs it (see the module docstring).

    ``schema`` (PostgreSQL only) puts caseflow's tables in that schema through the
    connection's ``search_path``; the schema must exist.
    """
    parsed = make_url(normalise_url(url))
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if schema is not None:
            raise ValueError("SQLite has no schemas; use a separate database file")
        memory = parsed.database in (None, "", ":memory:")
        if memory:
            engine = create_engine(
                parsed,
                echo=echo,
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
                json_serializer=codec.dumps_json,
                json_deserializer=codec.loads_json,
            )
        else:
            engine = create_engine(
                parsed,
                echo=echo,
                pool_size=pool_size,
                max_overflow=max_overflow,
                connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
                json_serializer=codec.dumps_json,
                json_deserializer=codec.loads_json,
            )
        _setup_sqlite(engine, wal=not memory)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise ValueError(
                f"caseflow talks to PostgreSQL through psycopg 3, not {parsed.drivername}"
            )
        # options given in the URL (?options=-csearch_path%3Dx) are kept, ours come first
        given = parsed.query.get("options", "")
        options = " ".join(["-c timezone=UTC", *([given] if isinstance(given, str) else given)])
        # psycopg prepares nothing on its own: the hot statements are prepared by the
        # store (see _Wire), and psycopg would deallocate them all on any ROLLBACK
        if schema is not None:
            if not schema.replace("_", "").isalnum():
                raise ValueError(f"schema name {schema!r}: letters, digits and _ only")
            options += f" -c search_path={schema}"
        return create_engine(
            parsed.difference_update_query(["options"]),
            echo=echo,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_use_lifo=True,  # the warmest connection first; idle ones can time out
            json_serializer=codec.dumps_json,
            json_deserializer=codec.loads_json,
            connect_args={"options": options, "prepare_threshold": None},
        )
    raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}")


def _setup_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # take transaction control away from the driver: BEGIN is ours (see _begin)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get("caseflow_read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


# --- rows <-> records -------------------------------------------------------------------


class _Map(Generic[R]):
    """One record class as the columns of one table, with its statements built once.

    Columns are named like the fields, in field order, so a row becomes a record with
    ``cls(*row)`` and a record becomes parameters with one ``attrgetter`` call.
    """

    def __init__(self, cls: type[R], table: Table, *, skip: tuple[str, ...] = ()) -> None:
        self.cls = cls
        self.table = table
        self.names = [f.name for f in fields(cls) if f.name not in skip]  # type: ignore[arg-type]
        self._get = attrgetter(*self.names)
        # skipped fields in the middle would shift positional arguments: their defaults
        # are put in their places (or, without defaults, the fields go by name)
        every = list(fields(cls))  # type: ignore[arg-type]
        self._positional = [f.name for f in every[: len(self.names)]] == self.names
        self._gaps: list[tuple[int, Any]] | None = [
            (i, f.default) for i, f in enumerate(every) if f.name in skip
        ]
        if any(default is MISSING for _, default in self._gaps):
            self._gaps = None
        self.columns = [table.c[n] for n in self.names]
        self.tenant_at = self.names.index("tenant_id")
        self.select: Select[Any] = select(*self.columns)
        self.insert: Insert = table.insert()
        keyed = "id" in table.c and "tenant_id" in table.c
        if keyed:
            where = and_(
                table.c.id == bindparam("k_id"), table.c.tenant_id == bindparam("k_tenant")
            )
            self.update = table.update().where(where).values(
                {n: bindparam(n) for n in self.names if n not in ("id", "tenant_id")}
            )
            self.delete = table.delete().where(where)

    def params(self, record: R) -> dict[str, Any]:
        return dict(zip(self.names, self._get(record), strict=True))

    def values(self, record: R) -> tuple[Any, ...]:
        """The record's fields, in ``names`` order."""
        found: tuple[Any, ...] = self._get(record)
        return found

    def update_params(self, record: R) -> dict[str, Any]:
        p = self.params(record)
        p["k_id"] = p.pop("id")
        p["k_tenant"] = p.pop("tenant_id")
        return p

    def record(self, row: Sequence[Any]) -> R:
        if self._positional:
            return self.cls(*row)
        if self._gaps is not None:
            values = list(row)
            for at, default in self._gaps:
                values.insert(at, default)
            return self.cls(*values)
        return self.cls(**dict(zip(self.names, row, strict=True)))


def _key(record: Any) -> dict[str, Any]:
    return {"k_id": record.id, "k_tenant": record.tenant_id}


M_DEPLOYMENT = _Map(DeploymentRecord, s.deployment)
M_DEFINITION = _Map(DefinitionRecord, s.process_definition)
M_INSTANCE = _Map(InstanceRecord, s.process_instance)
M_EXECUTION = _Map(Execution, s.execution)
M_TASK = _Map(UserTaskRecord, s.user_task, skip=("candidate_users", "candidate_groups"))
# user_task also has the columns caseflow.work keeps (schema.WORK_TASK_COLUMNS): the
# compiled INSERT must name only the record's, the rest take their defaults
M_TASK.insert = s.user_task.insert().values({n: bindparam(n) for n in M_TASK.names})
_TASK_FIELDS = tuple(n for n in M_TASK.names if n not in ("id", "tenant_id"))
_TASK_UPDATES: dict[tuple[str, ...], Any] = {_TASK_FIELDS: M_TASK.update}


def _task_update(names: tuple[str, ...]) -> Any | None:
    """The UPDATE of a task's ``names`` columns by its key, one statement object per set
    of columns (the combined write is planned per statement); None past a few dozen
    sets: a rarer one writes every column."""
    found = _TASK_UPDATES.get(names)
    if found is None:
        if len(_TASK_UPDATES) >= _MAX_TASK_UPDATES:
            return None
        u = s.user_task
        found = _TASK_UPDATES[names] = (
            u.update()
            .where(u.c.id == bindparam("k_id"), u.c.tenant_id == bindparam("k_tenant"))
            .values({n: bindparam(n) for n in names})
        )
    return found


_MAX_TASK_UPDATES = 64
M_EXTERNAL = _Map(ExternalTaskRecord, s.external_task)
M_SUBSCRIPTION = _Map(EventSubscription, s.event_subscription)
M_JOB = _Map(Job, s.job)
M_INCIDENT = _Map(Incident, s.incident)
M_ACTIVITY = _Map(ActivityRecord, s.activity_history)
M_COMMAND = _Map(CommandRecord, s.command_log)
M_OUTBOX = _Map(OutboxEvent, s.outbox_event)
M_BUFFERED = _Map(BufferedMessage, s.buffered_message)
# the outbox's own columns only: ``seq`` and ``xid`` come from the database
INS_OUTBOX = (
    s.outbox_event.insert().inline().values({n: bindparam(n) for n in M_OUTBOX.names})
)

_VAR_KEYS = ("id", "tenant_id", "instance_id", "scope_id", "name", "type")
_VAR_COLUMNS = (*_VAR_KEYS, *codec.VALUE_COLUMNS)
SEL_VARIABLE = select(*(s.variable.c[n] for n in _VAR_COLUMNS))
_var_where = and_(
    s.variable.c.id == bindparam("k_id"), s.variable.c.tenant_id == bindparam("k_tenant")
)
UPD_VARIABLE = s.variable.update().where(_var_where).values(
    {n: bindparam(n) for n in _VAR_COLUMNS if n not in ("id", "tenant_id")}
)
DEL_VARIABLE = s.variable.delete().where(_var_where)


def _variable_params(var: Variable) -> dict[str, Any]:
    text, long_text, long_value, double, instant, json_value = codec.encode(var)
    return {
        "id": var.id,
        "tenant_id": var.tenant_id,
        "instance_id": var.instance_id,
        "scope_id": var.scope_id,
        "name": var.name,
        "type": var.type,
        "text_value": text,
        "long_text": long_text,
        "long_value": long_value,
        "double_value": double,
        "time_value": instant,
        "json_value": json_value,
    }


def _variable(row: Sequence[Any]) -> Variable:
    vid, tenant, instance_id, scope_id, name, kind = row[:6]
    return Variable(vid, instance_id, name, codec.decode(kind, row[6:]), kind, scope_id, tenant)


# user tasks come with their candidates: one LEFT JOIN, folded in Python
_TC = s.task_candidate
SEL_TASK_WITH_CANDIDATES = select(*M_TASK.columns, _TC.c.kind, _TC.c.value).outerjoin(
    _TC, and_(_TC.c.task_id == s.user_task.c.id, _TC.c.tenant_id == s.user_task.c.tenant_id)
)
_N_TASK = len(M_TASK.names)
DEL_CANDIDATES = _TC.delete().where(
    _TC.c.task_id == bindparam("k_id"), _TC.c.tenant_id == bindparam("k_tenant")
)


def _fold_tasks(rows: Sequence[Sequence[Any]]) -> list[tuple[UserTaskRecord, list[str], list[str]]]:
    found: dict[tuple[str, str], tuple[UserTaskRecord, list[str], list[str]]] = {}
    record, n, tenant_at = M_TASK.record, _N_TASK, M_TASK.tenant_at
    folded = False
    for row in rows:
        key = (row[0], row[tenant_at])
        entry = found.get(key)
        if entry is None:
            entry = found[key] = (record(row[:n]), [], [])
        kind = row[n]
        if kind == "user":
            entry[1].append(row[n + 1])
            folded = True
        elif kind == "group":
            entry[2].append(row[n + 1])
            folded = True
    if folded:  # a task without candidates keeps the record's empty tuples
        for task, users, groups in found.values():
            task.candidate_users = tuple(sorted(users))
            task.candidate_groups = tuple(sorted(groups))
    return list(found.values())


def _candidate_rows(task: UserTaskRecord) -> list[dict[str, Any]]:
    rows = [
        {"task_id": task.id, "tenant_id": task.tenant_id, "kind": "user", "value": v}
        for v in dict.fromkeys(task.candidate_users)
    ]
    rows += [
        {"task_id": task.id, "tenant_id": task.tenant_id, "kind": "group", "value": v}
        for v in dict.fromkeys(task.candidate_groups)
    ]
    return rows


_I = s.process_instance
_E = s.execution
SEL_INSTANCE_WITH_EXECUTIONS = (
    select(*M_INSTANCE.columns, *M_EXECUTION.columns)
    .select_from(_I)
    .outerjoin(_E, and_(_E.c.instance_id == _I.c.id, _E.c.tenant_id == _I.c.tenant_id))
    .where(_I.c.id == bindparam("id"))
)
_N_INSTANCE = len(M_INSTANCE.names)
INS_INSTANCE = _I.insert()
INS_VARIABLE = s.variable.insert()
INS_CANDIDATE = _TC.insert()
# what of an instance's row can change after it is written: its status with its times and
# reason, its keys, and the revision (its definition, start and parents stay as they began)
_INSTANCE_CHANGES = (
    "status", "ended_at", "end_reason", "suspended_at", "business_key", "case_id", "revision",
)
UPD_INSTANCE = (
    _I.update()
    .where(
        _I.c.id == bindparam("k_id"),
        _I.c.tenant_id == bindparam("k_tenant"),
        _I.c.revision == bindparam("k_revision"),
    )
    .values({n: bindparam(n) for n in _INSTANCE_CHANGES})
)

_H = s.activity_history
INS_ACTIVITY = _H.insert()
UPD_ACTIVITY = (
    _H.update()
    .where(_H.c.id == bindparam("k_id"), _H.c.tenant_id == bindparam("k_tenant"))
    .values(
        ended_at=bindparam("ended_at"),
        outcome=bindparam("outcome"),
        called_instance_id=bindparam("called_instance_id"),
        element_name=bindparam("element_name"),
    )
)


def _by_instance(m: _Map[Any]) -> Select[Any]:
    t = m.table
    return m.select.where(t.c.instance_id == bindparam("iid"), t.c.tenant_id == bindparam("tid"))


# by instance id alone: load_instance reads it together with the instance (one round trip)
SEL_VARIABLES_OF_INSTANCE = SEL_VARIABLE.where(s.variable.c.instance_id == bindparam("iid"))
# an instance's open tasks (InstanceState.tasks); the statuses are constants, not
# parameters: a planner can match them to a partial index's predicate
_OPEN_TASK = text(f"user_task.{s.OPEN_TASK_PREDICATE}")
SEL_TASKS_OF = SEL_TASK_WITH_CANDIDATES.where(
    s.user_task.c.instance_id == bindparam("iid"),
    s.user_task.c.tenant_id == bindparam("tid"),
    _OPEN_TASK,
)
SEL_EXTERNAL_OF = _by_instance(M_EXTERNAL)
SEL_SUBSCRIPTIONS_OF = _by_instance(M_SUBSCRIPTION)
SEL_JOBS_OF = _by_instance(M_JOB)
SEL_INCIDENTS_OF = _by_instance(M_INCIDENT)

# table name in InstanceState.tables() -> how it is written
_SIMPLE_TABLES: dict[str, _Map[Any]] = {
    "executions": M_EXECUTION,
    "external_tasks": M_EXTERNAL,
    "subscriptions": M_SUBSCRIPTION,
    "jobs": M_JOB,
    "incidents": M_INCIDENT,
}


def _is_unique_violation(error: IntegrityError | psycopg.Error) -> bool:
    orig = error.orig if isinstance(error, IntegrityError) else error
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == _UNIQUE_VIOLATION)
    return "UNIQUE constraint failed" in str(orig)


def _is_retryable(error: DBAPIError | psycopg.Error) -> bool:
    """Serialisation failures and deadlocks: the runtime's retry is the cure."""
    orig = error.orig if isinstance(error, DBAPIError) else error
    return getattr(orig, "sqlstate", None) in ("40001", "40P01")


# --- the store --------------------------------------------------------------------------


class SqlStore(Store):
    """Caseflow's state in SQLite (``sqlite:///caseflow.db``) or PostgreSQL.

    The schema must exist (:func:`caseflow.store.migrate.upgrade`, or
    :func:`caseflow.store.open_store` with ``migrate=True``).
    """

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        schema: str | None = None,
        pool_size: int = 10,
        max_overflow: int = 20,
    ) -> None:
        self.url = normalise_url(url)
        self.engine = create_engine_for(
            url, echo=echo, schema=schema, pool_size=pool_size, max_overflow=max_overflow
        )
        self.dialect = self.engine.dialect.name
        self.is_postgres = self.dialect == "postgresql"
        # an in-memory SQLite database is one shared connection: one transaction at a time
        self._lock = threading.Lock() if isinstance(self.engine.pool, StaticPool) else None
        # PostgreSQL: hot statements go straight to psycopg as SQL compiled once, several
        # to a network round trip (pipeline mode); see SqlTransaction._fetch and _write
        self._compiled: dict[Any, tuple[str, dict[str, Any]]] = {}
        self._pg_sql: dict[Any, _PgSql] = {}
        self._write_plans: dict[Any, _WritePlan | None] = {}
        # PostgreSQL: connections kept between transactions (see _pg_transaction)
        self._idle: list[Any] = []
        self._idle_lock = threading.Lock()
        self._idle_max = pool_size
        self._closed = False
        insert_command = (
            postgresql.insert(s.command_log) if self.is_postgres else sqlite.insert(s.command_log)
        )
        # RETURNING tells "inserted" from "a twin was there" without aborting the transaction
        self.insert_command = insert_command.on_conflict_do_nothing(
            index_elements=["tenant_id", "key"]
        ).returning(s.command_log.c.key)

    def compiled(self, statement: Any) -> tuple[str, dict[str, Any]]:
        """A module-level statement as this dialect's SQL text and its fixed parameters."""
        hit = self._compiled.get(statement)
        if hit is None:
            compiled = statement.compile(dialect=self.engine.dialect)
            fixed = {k: v for k, v in compiled.params.items() if v is not None}
            hit = self._compiled[statement] = (compiled.string, fixed)
        return hit

    def write_plan(self, head: Any, batches: tuple[tuple[Any, bool], ...]) -> _WritePlan | None:
        """The one statement that writes ``head`` and a non-empty batch of each of the
        given statements (with whether it is a single row; see SqlTransaction._write),
        built once per combination; None when one of them cannot be combined (it then
        runs statement by statement).

        One row comes as typed parameters, several as one JSON parameter (see _member):
        the statement is the same however many rows a batch has, so psycopg and the
        server parse and plan it once per connection. Each write is a CTE; the statement
        answers ``1 / count(*)`` of the head's rows. The server runs the head first
        (taking the instance's row lock), for that answer, and the other writes after
        it; had the head matched no row, the division fails before any other write ran,
        and the transaction is rolled back (see SqlTransaction._write and _run).
        """
        key = (head, batches)
        if key in self._write_plans:
            return self._write_plans[key]
        plan: _WritePlan | None
        dialect = self.engine.dialect
        parts: list[tuple[str, _RowParams | None] | None] = []
        position = 1
        for i, (statement, single) in enumerate(((head, True), *batches)):
            part = _member(dialect, statement, head=i == 0, single=single, position=position)
            parts.append(part)
            if part is None:
                break
            position += 1 if part[1] is None else len(part[1].names)
        if any(p is None for p in parts):
            plan = None
        else:
            members = [p for p in parts if p is not None]
            ctes = [f"h AS ({members[0][0]})"]
            ctes += [f"w{i} AS ({sql})" for i, (sql, _) in enumerate(members[1:])]
            # identifiers from the schema, values as parameters: nothing from a caller
            sql = "WITH " + ", ".join(ctes) + " SELECT 1 / count(*) FROM h"  # noqa: S608
            plan = _WritePlan(sql.encode(), [row for _, row in members])
        if len(self._write_plans) < _MAX_WRITE_PLANS:
            self._write_plans[key] = plan
        return plan

    def pg(self, statement: Any) -> _PgSql:
        """A module-level statement as psycopg runs it: SQL bytes, fixed parameters, and
        whether it only reads (a plain SELECT needs no BEGIN; see SqlTransaction)."""
        hit = self._pg_sql.get(statement)
        if hit is None:
            sql, fixed = self.compiled(statement)
            reads = isinstance(statement, Select) and (
                getattr(statement, "_for_update_arg", None) is None
            )
            numbered, names = _numbered(sql)
            hit = self._pg_sql[statement] = _PgSql(numbered.encode(), names, fixed, reads)
        return hit

    def migrate(self) -> None:
        """Bring the schema to the newest revision."""
        from caseflow.store.migrate import upgrade

        upgrade(self.engine)

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[SqlTransaction]:
        if self.is_postgres:
            with self._pg_transaction(read_only=read_only) as tx:
                yield tx
            return
        if self._lock is not None:
            self._lock.acquire()
        try:
            with self.engine.connect() as connection:
                if read_only:
                    connection.execution_options(caseflow_read_only=True)
                tx = SqlTransaction(self, connection)
                try:
                    with connection.begin():
                        yield tx
                        if tx.doomed:
                            # the caller swallowed a conflict; on PostgreSQL the losing
                            # save's statements ran, so this transaction must not commit
                            raise ConcurrencyConflict(DOOMED)
                except (DBAPIError, psycopg.Error) as error:
                    if _is_retryable(error):
                        raise ConcurrencyConflict(f"the database refused: {error}") from error
                    raise
                finally:
                    tx.closed = True
        finally:
            if self._lock is not None:
                self._lock.release()

    @contextmanager
    def _pg_transaction(self, *, read_only: bool) -> Iterator[SqlTransaction]:
        """PostgreSQL: a pooled psycopg connection, driven directly.

        The connection runs in autocommit mode and the transaction opens lazily: plain
        SELECTs before the first write run on their own (one round trip, no BEGIN and
        no COMMIT for a transaction that only reads), and the first write or locking
        statement sends BEGIN in the same round trip. Under READ COMMITTED, the default,
        every statement reads from its own snapshot either way. SQLAlchemy's Connection
        (``tx.conn``) is made only if a caller asks for it; the transaction begins first.

        Between transactions the store keeps up to ``pool_size`` connections checked out
        of SQLAlchemy's pool, in autocommit mode, ready: taking one is a list pop, not a
        pool checkout and checkin (with its reset and events) and two mode switches.
        """
        fairy = None
        with self._idle_lock:
            if self._idle:
                fairy = self._idle.pop()
        if fairy is None:
            fairy = self.engine.raw_connection()
            try:
                cast("psycopg.Connection[Any]", fairy.driver_connection).autocommit = True
            except BaseException:
                fairy.invalidate()
                fairy.close()
                raise
        tx = SqlTransaction(self, None, fairy)
        tx.read_only = read_only
        committed = False
        try:
            try:
                yield tx
                if tx.doomed:
                    # the caller swallowed a conflict; the losing save's statements ran,
                    # so this transaction must not commit
                    raise ConcurrencyConflict(DOOMED)
                tx._commit()
                committed = True
            except (DBAPIError, psycopg.Error) as error:
                if tx.doomed:  # the server failed the transaction with the lost race
                    raise ConcurrencyConflict(DOOMED) from error
                if _is_retryable(error):
                    raise ConcurrencyConflict(f"the database refused: {error}") from error
                raise
        finally:
            tx.closed = True
            tx._release(rollback=not committed)

    def _keep(self, fairy: Any) -> None:
        """A connection back from a transaction, IDLE, in autocommit mode: kept ready, or
        given back to SQLAlchemy's pool when enough are kept."""
        with self._idle_lock:
            if len(self._idle) < self._idle_max and not self._closed:
                self._idle.append(fairy)
                return
        _give_back(fairy)

    def close(self) -> None:
        with self._idle_lock:
            idle, self._idle = self._idle, []
            self._closed = True
        for fairy in idle:
            _give_back(fairy)
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"SqlStore({make_url(self.url).render_as_string(hide_password=True)!r})"


class SqlTransaction(Transaction):
    """One transaction on one connection; see :class:`SqlStore`."""

    def __init__(
        self, store: SqlStore, connection: Connection | None, fairy: Any = None
    ) -> None:
        self.store = store
        self._sa = connection
        # PostgreSQL: the pooled connection (SQLAlchemy's proxy) and psycopg's under it
        self._fairy = fairy
        self._pg: psycopg.Connection[Any] | None = (
            None if fairy is None else fairy.driver_connection
        )
        self._began = False  # PostgreSQL: BEGIN sent (see SqlStore._pg_transaction)
        self.read_only = False
        # PostgreSQL: instance id -> revision, for the instance rows this transaction
        # holds locked (or writes new), and the writes of saves that wait for the next
        # round trip, with the instance each is for, and which of those are new
        self._locked: dict[str, int] = {}
        self._pending: list[tuple[bytes, Sequence[Any], str]] = []
        self._created: set[str] = set()
        # PostgreSQL: outbox rows not yet sent; the next instance save writes them with its
        # own statement, or they go with the next round trip (see add_events)
        self._events: list[dict[str, Any]] = []
        self.closed = False
        self.doomed = False
        # instance id -> (instance+executions, variables, {table: rows}) read ahead
        self._prefetched: dict[str, tuple[Any, Any, dict[str, Any]]] = {}
        # candidates of the tasks read in this transaction, to write only what changed
        self._candidates: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        # the tasks read (or last written) in this transaction, field by field (M_TASK's
        # names): an update writes the columns the command changed, no others
        self._task_values: dict[tuple[str, str], tuple[Any, ...]] = {}

    def _conflict(self, message: str) -> ConcurrencyConflict:
        self.doomed = True  # see SqlStore.transaction
        return ConcurrencyConflict(message)

    @property
    def conn(self) -> Connection:
        """SQLAlchemy's Connection for this transaction (PostgreSQL: made on first use,
        after the transaction has begun)."""
        sa = self._sa
        if sa is None:
            if self._fairy is None or self.closed:
                raise RuntimeError("this transaction has ended")
            self._begin_now()
            sa = self._sa = Connection(self.store.engine, self._fairy)
        return sa

    def _rows(self, statement: Any, params: dict[str, Any] | None = None) -> Sequence[Row[Any]]:
        """Run a statement built for this call (SQLAlchemy compiles and caches it)."""
        return self.conn.execute(statement, params).all()

    def _many(self, statement: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(statement, rows)

    def _raw(self) -> psycopg.Connection[Any] | None:
        """psycopg's connection on PostgreSQL, in the begun transaction; None on SQLite."""
        if self._pg is None:
            return None
        self._begin_now()
        return self._pg

    def _begin_now(self) -> None:
        self._flush_events()
        if self._pending:
            _, error = self._run([])
            if error is not None:
                raise error
        if not self._began:
            self._wire().command(b"BEGIN")
            self._began = True

    def _run(
        self, statements: Sequence[tuple[bytes, Sequence[Any]]], *, begin: bool = False,
        commit: bool = False,
    ) -> tuple[list[Any], psycopg.Error | None]:
        """``statements`` through the wire, after the writes of deferred saves (and, with
        ``commit``, the COMMIT after them): one round trip. A deferred write that fails
        is raised here (its transaction is then rolled back). A doomed transaction sends
        nothing more: the server has already failed it."""
        if self.doomed:
            raise ConcurrencyConflict(DOOMED)
        self._flush_events()
        pending = self._pending
        if pending:
            self._pending = []
            statements = [*((sql, args) for sql, args, _ in pending), *statements]
            begin = begin or not self._began  # events added before anything else wrote
        if commit:
            statements = [*statements, (b"COMMIT", ())]
        fresh = not self._began  # nothing of this transaction on the server yet
        self._began = self._began or begin or bool(pending)
        results, error = self._wire().run(statements, begin=begin, retry=fresh)
        if pending:
            if error is not None and error.sqlstate in (_DIVISION_BY_ZERO, _UNIQUE_VIOLATION):
                # a combined write divides by its count of instance rows written; a new
                # instance's may find its row taken. The first statement without a
                # result is the one that failed
                failed = next(i for i, r in enumerate(results) if r is None)
                instance_id = pending[failed][2] if failed < len(pending) else None
                if error.sqlstate == _DIVISION_BY_ZERO and instance_id is not None:
                    raise self._conflict(
                        f"process instance {instance_id!r} changed under its lock"
                    ) from error
                if instance_id in self._created:
                    raise self._conflict(
                        f"process instance {instance_id!r} was created twice"
                    ) from error
            results = results[len(pending) :]
        return results, error

    def _commit(self) -> None:
        """PostgreSQL: the deferred writes and the COMMIT, in one round trip."""
        raw = cast("psycopg.Connection[Any]", self._pg)
        if self._pending or self._events:
            _, error = self._run([], commit=True)
            if error is not None:
                raise error
        elif raw.pgconn.transaction_status != _IDLE:
            self._wire().command(b"COMMIT")

    def _wire(self) -> _Wire:
        """The connection's _Wire, kept with it between transactions."""
        raw = cast("psycopg.Connection[Any]", self._pg)
        info = self._fairy.info
        wire: _Wire | None = info.get("caseflow_wire")
        if wire is None or wire.raw is not raw:
            wire = info["caseflow_wire"] = _Wire(raw)
        return wire

    def _release(self, *, rollback: bool) -> None:
        """PostgreSQL: end what is still open and give the connection back to the pool."""
        raw, fairy, sa = cast("psycopg.Connection[Any]", self._pg), self._fairy, self._sa
        self._pending = []  # never sent: rolled back with the rest
        self._events = []
        healthy = True
        try:
            wire = self._wire()
            if wire.broken:
                healthy = False
            else:
                if rollback and raw.pgconn.transaction_status != _IDLE:
                    wire.command(b"ROLLBACK")
                healthy = raw.pgconn.transaction_status == _IDLE
                if sa is not None:
                    raw.autocommit = False  # SQLAlchemy's pool takes it back, as it gave it
        except Exception:  # noqa: BLE001 - a broken connection is discarded, not reused
            healthy = False
        if sa is not None:
            if not healthy:
                sa.invalidate()
            sa.close()
        elif healthy:
            self.store._keep(fairy)
        else:
            fairy.invalidate()
            fairy.close()

    def _fetch(
        self, *queries: tuple[Any, dict[str, Any]]
    ) -> list[Sequence[Sequence[Any]]]:
        """Run module-level statements; on PostgreSQL all in one round trip (with the
        BEGIN, when one of them writes or locks and the transaction has not begun)."""
        raw = self._pg
        if raw is None:
            return [self.conn.execute(q, p).all() for q, p in queries]
        pg = self.store.pg
        compiled = [pg(q) for q, _ in queries]
        begin = not self._began and not all(c.reads for c in compiled)
        statements = [(c.sql, c.args(p)) for c, (_, p) in zip(compiled, queries, strict=True)]
        results, error = self._run(statements, begin=begin)
        if error is not None:
            raise error
        return [r if isinstance(r, list) else [] for r in results]

    def _write(
        self,
        head: tuple[Any, dict[str, Any]],
        batches: list[tuple[Any, list[dict[str, Any]]]],
        *,
        defer: str | None = None,
    ) -> int:
        """The head statement, then each batch; the head's row count.

        SQLite: the head runs alone first, and nothing else runs unless it hit one row.
        PostgreSQL: one statement does it all, with the BEGIN in the same round trip
        (see SqlStore.write_plan): the server runs the head first (taking the
        instance's row lock), and if it hit no row the statement fails before anything
        else is written; the caller raises and the transaction is rolled back.
        Rewritten candidates (a delete, then inserts that may repeat a deleted row)
        follow as statements of their own.
        """
        raw = self._pg
        if raw is None:
            count = self.conn.execute(*head).rowcount
            if count == 1:
                for statement, rows in batches:
                    self._many(statement, rows)
            return count
        live = [(statement, rows) for statement, rows in batches if rows]
        # candidates deleted and written again (a row may come back): in that order, after
        rewritten = any(statement is DEL_CANDIDATES for statement, _ in live)
        together: list[tuple[Any, list[dict[str, Any]]]] = []
        after: list[tuple[Any, list[dict[str, Any]]]] = []
        for batch in live:
            candidates = batch[0] is DEL_CANDIDATES or batch[0] is INS_CANDIDATE
            (after if rewritten and candidates else together).append(batch)
        plan = self.store.write_plan(head[0], tuple((b[0], len(b[1]) == 1) for b in together))
        args: list[Any] | None = None
        if plan is not None:
            try:
                args = []
                sources: list[Sequence[dict[str, Any]]] = [(head[1],)]
                sources += [batch for _, batch in together]
                for row, given in zip(plan.members, sources, strict=True):
                    if row is None:
                        args.append(_json_rows(given))
                    else:
                        row.add(given[0], args)
            except (TypeError, ValueError) as problem:
                if "naive datetime" in str(problem):
                    raise
                args = None  # a value JSON cannot carry exactly: statement by statement
        if plan is None or args is None:
            return self._write_each(head, live)
        statements: list[tuple[bytes, Sequence[Any]]] = [(plan.sql, args)]
        for statement, rows in after:
            c = self.store.pg(statement)
            statements += [(c.sql, c.args(r)) for r in rows]
        if defer is not None:
            # this transaction holds the instance's row: nothing can change its revision,
            # so the write waits for the next round trip (the COMMIT's, usually); if it
            # matched no row after all, its statement fails and the transaction with it
            self._pending += [(sql, a, defer) for sql, a in statements]
            return 1
        results, error = self._run(statements, begin=not self._began)
        if error is not None:
            if error.sqlstate == _DIVISION_BY_ZERO and results[0] is None:
                return 0  # lost the race: the head matched no row, and nothing was written
            raise error
        head_rows = results[0]
        return int(head_rows[0][0]) if isinstance(head_rows, list) and head_rows else 0

    def _write_each(
        self, head: tuple[Any, dict[str, Any]], batches: list[tuple[Any, list[dict[str, Any]]]]
    ) -> int:
        """PostgreSQL, statement by statement in one round trip (see _write)."""
        pg = self.store.pg
        c = pg(head[0])
        statements: list[tuple[bytes, Sequence[Any]]] = [(c.sql, c.args(head[1]))]
        for statement, rows in batches:
            c = pg(statement)
            statements += [(c.sql, c.args(r)) for r in rows]
        results, error = self._run(statements, begin=not self._began)
        written = results[0] if isinstance(results[0], int) else None
        if error is not None:
            if written == 0:
                return 0  # lost the race; what failed after it was built on a stale read
            raise error
        return 0 if written is None else written

    # --- definitions ---

    def insert_deployment(
        self, deployment: DeploymentRecord, definitions: Sequence[DefinitionRecord]
    ) -> None:
        try:
            self.conn.execute(M_DEPLOYMENT.insert, M_DEPLOYMENT.params(deployment))
            self._many(M_DEFINITION.insert, [M_DEFINITION.params(d) for d in definitions])
        except IntegrityError as error:
            if _is_unique_violation(error):
                raise self._conflict(
                    f"deployment {deployment.id!r}: a definition version was taken meanwhile"
                ) from error
            raise

    def _definition(self, statement: Any, params: dict[str, Any]) -> DefinitionRecord | None:
        (rows,) = self._fetch((statement, params))
        return M_DEFINITION.record(rows[0]) if rows else None

    def latest_definition(
        self, key: str, tenant_id: str = DEFAULT_TENANT
    ) -> DefinitionRecord | None:
        return self._definition(_SEL_LATEST_DEFINITION, {"key": key, "tid": tenant_id})

    def get_definition(self, definition_id: str) -> DefinitionRecord | None:
        return self._definition(_SEL_DEFINITION, {"id": definition_id})

    def definition_version(
        self, key: str, version: int, tenant_id: str = DEFAULT_TENANT
    ) -> DefinitionRecord | None:
        return self._definition(
            _SEL_DEFINITION_VERSION, {"key": key, "version": version, "tid": tenant_id}
        )

    def list_definitions(
        self, key: str | None = None, tenant_id: str | None = None
    ) -> list[DefinitionRecord]:
        statement = _LIST_DEFINITIONS[(key is not None, tenant_id is not None)]
        (rows,) = self._fetch((statement, {"key": key, "tid": tenant_id}))
        return [M_DEFINITION.record(r) for r in rows]

    def set_definition_status(self, definition_id: str, status: DefinitionStatus) -> None:
        d = s.process_definition
        result = self.conn.execute(
            d.update().where(d.c.id == definition_id).values(status=status)
        )
        if result.rowcount == 0:
            raise NotFound("process definition", definition_id)

    def deployment_source(self, deployment_id: str) -> DeploymentRecord | None:
        row = self.conn.execute(
            M_DEPLOYMENT.select.where(s.deployment.c.id == deployment_id)
        ).first()
        return None if row is None else M_DEPLOYMENT.record(row)

    # --- instances ---

    def load_instance(self, instance_id: str) -> InstanceState | None:
        ahead = self._prefetched.pop(instance_id, None)
        if ahead is not None:
            rows, variable_rows, lazy_rows = ahead
        else:
            rows, variable_rows = self._fetch(
                (SEL_INSTANCE_WITH_EXECUTIONS, {"id": instance_id}),
                (SEL_VARIABLES_OF_INSTANCE, {"iid": instance_id}),
            )
            lazy_rows = {}
        if not rows:
            return None
        instance = M_INSTANCE.record(rows[0][:_N_INSTANCE])
        executions = [
            M_EXECUTION.record(row[_N_INSTANCE:]) for row in rows if row[_N_INSTANCE] is not None
        ]
        key = {"iid": instance.id, "tid": instance.tenant_id}
        variables = [_variable(r) for r in variable_rows if r[1] == instance.tenant_id]
        return InstanceState(
            instance=instance,
            executions=_loaded(executions),
            variables=_loaded(variables),
            tasks=StateTable(self._lazy(self._tasks_of, key, lazy_rows.get("tasks"))),
            external_tasks=StateTable(
                self._lazy(
                    self._records_of, key, SEL_EXTERNAL_OF, M_EXTERNAL,
                    lazy_rows.get("external_tasks"),
                )
            ),
            subscriptions=StateTable(
                self._lazy(
                    self._records_of, key, SEL_SUBSCRIPTIONS_OF, M_SUBSCRIPTION,
                    lazy_rows.get("subscriptions"),
                )
            ),
            jobs=StateTable(
                self._lazy(self._records_of, key, SEL_JOBS_OF, M_JOB, lazy_rows.get("jobs"))
            ),
            incidents=StateTable(self._lazy(self._records_of, key, SEL_INCIDENTS_OF, M_INCIDENT)),
        )

    def _lazy(self, loader: Callable[..., list[Any]], *args: Any) -> Callable[[], list[Any]]:
        def load() -> list[Any]:
            if self.closed:
                raise RuntimeError(
                    "an instance's rows were first touched after its transaction ended; "
                    "load and use an InstanceState within one transaction"
                )
            return loader(*args)

        return load

    def _records_of(
        self,
        key: dict[str, Any],
        statement: Any,
        m: _Map[R],
        ahead: Sequence[Sequence[Any]] | None = None,
    ) -> list[R]:
        if ahead is None:
            (ahead,) = self._fetch((statement, key))
        tenant, at = key["tid"], m.tenant_at
        return [m.record(r) for r in ahead if r[at] == tenant]

    def _tasks_of(
        self, key: dict[str, Any], ahead: Sequence[Sequence[Any]] | None = None
    ) -> list[UserTaskRecord]:
        if ahead is None:
            (ahead,) = self._fetch((SEL_TASKS_OF, key))
        tenant, at = key["tid"], M_TASK.tenant_at
        return self._remember([r for r in ahead if r[at] == tenant])

    def _read_ahead(
        self,
        ahead: _Ahead,
        record_id: str,
        *,
        tables: Sequence[str] | None = None,
        **params: Any,
    ) -> dict[str, Sequence[Sequence[Any]]]:
        """The rows (by table name: ``tables``, else the ahead's own) of the instance
        owning ``record_id`` (a task, an external task or a job), with that instance,
        its executions and its variables, in one round trip. ``params``: what the
        ahead's reads take besides ``rid``.

        A command that looks up such a row goes on to load its instance and touch its
        rows next; on PostgreSQL that is several round trips made one. ``load_instance``
        takes what was read here (once); the rows are as current as a load at this
        moment. Unless the transaction is ``read_only``, the instance's row is locked
        first (``FOR NO KEY UPDATE``): a concurrent command on the same instance waits
        for this one instead of failing on its revision and starting again.
        """
        key = {"rid": record_id, **params}
        names = ahead.tables if tables is None else tables
        reads = [(ahead.instance, key), (ahead.variables, key)]
        reads += [(ahead.reads[name], key) for name in names]
        if self.read_only:
            results = self._fetch(*reads)
        else:
            # the command will write what it read: lock the instance's row first (the
            # reads after it then see its latest state), and its save can wait for the
            # COMMIT's round trip (see save)
            locked, *results = self._fetch((ahead.lock, key), *reads)
            if locked:
                self._locked[locked[0][0]] = locked[0][1]
        instance_rows, variable_rows, *table_rows = results
        rows = dict(zip(names, table_rows, strict=True))
        if instance_rows:
            self._prefetched[instance_rows[0][0]] = (instance_rows, variable_rows, rows)
        return rows

    def _remember(self, rows: Sequence[Sequence[Any]]) -> list[UserTaskRecord]:
        tasks = []
        values = M_TASK.values
        for task, _users, _groups in _fold_tasks(rows):
            key = (task.id, task.tenant_id)
            self._candidates[key] = (task.candidate_users, task.candidate_groups)
            self._task_values[key] = values(task)
            tasks.append(task)
        return tasks

    def save(self, state: InstanceState) -> None:
        changes = {name: table.changes() for name, table in state.tables().items()}
        if not (
            state.is_new
            or state.instance_changed
            or state.history
            or state.history_updates
            or any(any(c) for c in changes.values())
        ):
            return
        instance = state.instance
        self._prefetched.pop(instance.id, None)  # read ahead of this write: stale now
        revision = instance.revision + 1
        head: tuple[Any, dict[str, Any]]
        if state.is_new:
            params = M_INSTANCE.params(instance)
            params["revision"] = revision
            head = (INS_INSTANCE, params)
        else:
            head = (UPD_INSTANCE, {
                "status": instance.status,
                "ended_at": instance.ended_at,
                "end_reason": instance.end_reason,
                "suspended_at": instance.suspended_at,
                "business_key": instance.business_key,
                "case_id": instance.case_id,
                "revision": revision,
                "k_id": instance.id,
                "k_tenant": instance.tenant_id,
                "k_revision": instance.revision,
            })

        batches: list[tuple[Any, list[dict[str, Any]]]] = []
        for name, m in _SIMPLE_TABLES.items():
            inserted, updated, deleted = changes[name]
            batches.append((m.delete, [_key(r) for r in deleted]))
            batches.append((m.update, [m.update_params(r) for r in updated]))
            batches.append((m.insert, [m.params(r) for r in inserted]))

        inserted, updated, deleted = changes["variables"]
        batches.append((DEL_VARIABLE, [_key(v) for v in deleted]))
        batches.append((UPD_VARIABLE, [_with_key(_variable_params(v)) for v in updated]))
        batches.append((INS_VARIABLE, [_variable_params(v) for v in inserted]))

        remembered = self._tasks_batches(batches, *changes["tasks"])
        if self._events:
            # the outbox rows go with this write (its column default stamps ``xid``)
            events, self._events = self._events, []
            batches.append((INS_OUTBOX, events))

        if state.history:
            batches.append((
                INS_ACTIVITY,
                [{**M_ACTIVITY.params(a), "seq": i} for i, a in enumerate(state.history)],
            ))
        if state.history_updates:
            written = {id(a) for a in state.history}
            batches.append((
                UPD_ACTIVITY,
                [
                    {
                        "k_id": a.id,
                        "k_tenant": a.tenant_id,
                        "ended_at": a.ended_at,
                        "outcome": a.outcome,
                        "called_instance_id": a.called_instance_id,
                        "element_name": a.element_name,
                    }
                    for a in state.history_updates.values()
                    if id(a) not in written  # inserted above with its final values
                ],
            ))

        # PostgreSQL: a state read under this transaction's lock on its row, or a new
        # one (no one else can have its row), is written with the next round trip (see
        # _read_ahead and _write)
        defer = (
            instance.id
            if self._pg is not None
            and (state.is_new or self._locked.get(instance.id) == instance.revision)
            else None
        )
        if defer is not None and state.is_new:
            self._created.add(instance.id)
        try:
            count = self._write(head, batches, defer=defer)
        except (IntegrityError, psycopg.errors.UniqueViolation) as error:
            if state.is_new and _is_unique_violation(error):
                raise self._conflict(
                    f"process instance {instance.id!r} was created twice"
                ) from error
            raise
        if count != 1:
            raise self._conflict(
                f"process instance {instance.id!r} changed after revision "
                f"{instance.revision} was read"
            )
        self._candidates.update(remembered[0])
        self._task_values.update(remembered[1])
        instance.revision = revision
        if defer is not None:
            self._locked[instance.id] = revision
        state.reset_journal()

    def _tasks_batches(
        self,
        batches: list[tuple[Any, list[dict[str, Any]]]],
        inserted: list[UserTaskRecord],
        updated: list[UserTaskRecord],
        deleted: list[UserTaskRecord],
    ) -> tuple[
        dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]],
        dict[tuple[str, str], tuple[Any, ...]],
    ]:
        """Write tasks, and their candidates where they changed; what to remember after
        (candidates, field values).

        An updated task read in this transaction is written column by column where the
        command changed it: the work layer changes a task's other columns (a claim, a
        new priority) in transactions of its own, and writing back what this command
        read would undo one that committed in between."""
        remembered = self._candidates
        batches.append((M_TASK.delete, [_key(t) for t in deleted]))  # candidates cascade
        for t in deleted:
            remembered.pop((t.id, t.tenant_id), None)
            self._task_values.pop((t.id, t.tenant_id), None)
        written: dict[tuple[str, str], tuple[Any, ...]] = {}
        by_statement: dict[Any, list[dict[str, Any]]] = {}
        for t in updated:
            key = (t.id, t.tenant_id)
            values = written[key] = M_TASK.values(t)
            before = self._task_values.get(key)
            names = (
                _TASK_FIELDS if before is None
                else tuple(
                    n for n, now, was in zip(M_TASK.names, values, before, strict=True)
                    if now != was
                )
            )
            if names:
                statement = _task_update(names)
                if statement is None:
                    names, statement = _TASK_FIELDS, M_TASK.update
                row = {n: v for n, v in zip(M_TASK.names, values, strict=True) if n in names}
                row["k_id"], row["k_tenant"] = key
                by_statement.setdefault(statement, []).append(row)
        batches.extend(by_statement.items())
        batches.append((M_TASK.insert, [M_TASK.params(t) for t in inserted]))
        written.update(((t.id, t.tenant_id), M_TASK.values(t)) for t in inserted)
        changed = [
            t for t in updated
            if remembered.get((t.id, t.tenant_id)) != (t.candidate_users, t.candidate_groups)
        ]
        batches.append((DEL_CANDIDATES, [_key(t) for t in changed]))
        batches.append(
            (INS_CANDIDATE, [row for t in (*changed, *inserted) for row in _candidate_rows(t)])
        )
        return {
            (t.id, t.tenant_id): (t.candidate_users, t.candidate_groups)
            for t in (*changed, *inserted)
        }, written

    def query_instances(self, query: InstanceQuery) -> list[InstanceRecord]:
        i = _I
        statement = M_INSTANCE.select
        for column, value in (
            (i.c.process_key, query.process_key),
            (i.c.definition_id, query.definition_id),
            (i.c.status, query.status),
            (i.c.business_key, query.business_key),
            (i.c.case_id, query.case_id),
            (i.c.parent_instance_id, query.parent_instance_id),
            (i.c.tenant_id, query.tenant_id),
        ):
            if value is not None:
                statement = statement.where(column == value)
        statement = (
            statement.order_by(i.c.started_at.desc(), i.c.id)
            .limit(query.limit)
            .offset(query.offset)
        )
        return [M_INSTANCE.record(r) for r in self._rows(statement)]

    def instance_variables(self, instance_id: str) -> list[Variable]:
        (rows,) = self._fetch((_SEL_INSTANCE_VARIABLES, {"iid": instance_id}))
        return [_variable(r) for r in rows]

    def activity_history(self, instance_id: str) -> list[ActivityRecord]:
        (rows,) = self._fetch((_SEL_ACTIVITY_HISTORY, {"iid": instance_id}))
        return [M_ACTIVITY.record(r) for r in rows]

    # --- lookups that lead to an instance ---

    def get_task(self, task_id: str) -> UserTaskRecord | None:
        if self.store.is_postgres:
            rows = self._read_ahead(_AHEAD_OF_TASK, task_id)["tasks"]
            return next((t for t in self._remember(rows) if t.id == task_id), None)
        (rows,) = self._fetch((_SEL_TASK, {"id": task_id}))
        tasks = self._remember(rows)
        return tasks[0] if tasks else None

    def query_tasks(self, query: TaskQuery) -> list[UserTaskRecord]:
        q = query
        values = (
            q.instance_id, q.process_key, q.element_id, q.assignee, q.business_key,
            q.tenant_id, q.candidate_group, q.candidate_user,
        )
        shape = (*(v is not None for v in values), q.include_closed)
        statement = _TASK_QUERIES.get(shape)
        if statement is None:
            statement = _TASK_QUERIES[shape] = _task_query(shape)
        params: dict[str, Any] = {f"q{i}": v for i, v in enumerate(values) if v is not None}
        params["lim"] = q.limit
        params["off"] = q.offset
        (rows,) = self._fetch((statement, params))
        return self._remember(rows)

    def get_external_task(self, external_task_id: str) -> ExternalTaskRecord | None:
        if self.store.is_postgres:
            rows = self._read_ahead(_AHEAD_OF_EXTERNAL, external_task_id)["external_tasks"]
            return next(
                (M_EXTERNAL.record(r) for r in rows if r[0] == external_task_id), None
            )
        (rows,) = self._fetch((_SEL_EXTERNAL_TASK, {"id": external_task_id}))
        return M_EXTERNAL.record(rows[0]) if rows else None

    def lock_external_tasks(
        self,
        worker_id: str,
        topics: Sequence[TopicRequest],
        max_tasks: int,
        now: datetime,
        tenant_ids: Sequence[str] | None = None,
    ) -> list[ExternalTaskRecord]:
        if max_tasks <= 0 or not topics:
            return []
        x = s.external_task
        until: dict[str, datetime] = {}
        for request in topics:
            until.setdefault(request.topic, now + timedelta(milliseconds=request.lock_duration_ms))
        candidates = (
            select(x.c.id, x.c.tenant_id)
            .where(
                x.c.topic.in_(list(until)),
                ~x.c.suspended,
                or_(x.c.retries.is_(None), x.c.retries > 0),
                or_(x.c.lock_expires_at.is_(None), x.c.lock_expires_at <= now),
            )
            .order_by(x.c.priority.desc(), x.c.created_at)
            .limit(max_tasks)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite's writer lock suffices
        )
        if tenant_ids is not None:
            candidates = candidates.where(x.c.tenant_id.in_(list(tenant_ids)))
        if len(set(until.values())) == 1:
            expires: Any = literal(next(iter(until.values())), s.UTCDateTime())
        else:
            expires = case(
                {topic: literal(t, s.UTCDateTime()) for topic, t in until.items()},
                value=x.c.topic,
            )
        statement = (
            x.update()
            .where(tuple_(x.c.id, x.c.tenant_id).in_(candidates))
            .values(lock_owner=worker_id, lock_expires_at=expires)
            .returning(*M_EXTERNAL.columns)
        )
        locked = [M_EXTERNAL.record(r) for r in self._rows(statement)]
        locked.sort(key=lambda t: (-t.priority, t.created_at, t.id))
        return locked

    def extend_external_task_lock(
        self, external_task_id: str, worker_id: str, until: datetime
    ) -> bool:
        x = s.external_task
        result = self.conn.execute(
            x.update()
            .where(x.c.id == external_task_id, x.c.lock_owner == worker_id)
            .values(lock_expires_at=until)
        )
        return result.rowcount > 0

    def find_subscriptions(self, query: SubscriptionQuery) -> list[EventSubscription]:
        e = s.event_subscription
        statement = M_SUBSCRIPTION.select.where(
            e.c.tenant_id == query.tenant_id,
            e.c.kind == query.kind,
            e.c.event_name == query.event_name,
        )
        if query.correlation_key is not None:
            statement = statement.where(e.c.correlation_key == query.correlation_key)
        if query.instance_id is not None:
            statement = statement.where(e.c.instance_id == query.instance_id)
        if query.business_key is not None:
            statement = statement.join(
                _I, and_(_I.c.id == e.c.instance_id, _I.c.tenant_id == e.c.tenant_id)
            ).where(_I.c.business_key == query.business_key)
        statement = statement.order_by(e.c.created_at, e.c.id)
        return [M_SUBSCRIPTION.record(r) for r in self._rows(statement)]

    def open_incidents(self, instance_id: str | None = None) -> list[Incident]:
        i = s.incident
        statement = M_INCIDENT.select.where(i.c.resolved_at.is_(None))
        if instance_id is not None:
            statement = statement.where(i.c.instance_id == instance_id)
        statement = statement.order_by(i.c.created_at, i.c.id)
        return [M_INCIDENT.record(r) for r in self._rows(statement)]

    # --- jobs ---

    def acquire_jobs(
        self,
        node_id: str,
        now: datetime,
        limit: int,
        lock_for: timedelta,
        kinds: Sequence[str] | None = None,
        tenant_ids: Sequence[str] | None = None,
    ) -> list[Job]:
        if limit <= 0:
            return []
        j = s.job
        due = s.job.alias("due")
        suspended = (
            select(literal(1))
            .where(
                _I.c.id == due.c.instance_id,
                _I.c.tenant_id == due.c.tenant_id,
                _I.c.status == "SUSPENDED",
            )
            .exists()
        )
        candidates = (
            select(due.c.id, due.c.tenant_id)
            .where(
                due.c.due_at <= now,
                due.c.retries > 0,
                or_(due.c.lock_expires_at.is_(None), due.c.lock_expires_at <= now),
                ~suspended,
            )
            .order_by(due.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite's writer lock suffices
        )
        if kinds is not None:
            candidates = candidates.where(due.c.kind.in_(list(kinds)))
        if tenant_ids is not None:
            candidates = candidates.where(due.c.tenant_id.in_(list(tenant_ids)))
        statement = (
            j.update()
            .where(tuple_(j.c.id, j.c.tenant_id).in_(candidates))
            .values(lock_owner=node_id, lock_expires_at=now + lock_for)
            .returning(*M_JOB.columns)
        )
        acquired = [M_JOB.record(r) for r in self._rows(statement)]
        acquired.sort(key=lambda job: (job.due_at, job.id))
        return acquired

    def lock_job_for_execution(
        self,
        job_id: str,
        node_id: str,
        now: datetime,
        *,
        read_ahead: Collection[str] | None = None,
    ) -> Job | None:
        params = {"id": job_id, "node": node_id, "now": now}
        if read_ahead is None or not self.store.is_postgres:
            (rows,) = self._fetch((_SEL_JOB_FOR_EXECUTION, params))
            return M_JOB.record(rows[0]) if rows else None
        # the instance's lock, then its rows, in one round trip, and the save waits for
        # the COMMIT's (see _read_ahead); taking the instance first is the order of every
        # other command on it, which may delete this job. Its jobs are read locked, this
        # one only while this node's lock holds (_AHEAD_OF_JOB)
        tables = ("jobs", *(t for t in read_ahead if t != "jobs"))
        ahead = self._read_ahead(_AHEAD_OF_JOB, job_id, tables=tables, node=node_id, now=now)
        mine = next((r for r in ahead["jobs"] if r[0] == job_id), None)
        if mine is None:
            self._prefetched.clear()  # not executed: nothing of it is loaded
            return None
        return M_JOB.record(mine)

    def record_job_failure(
        self, job_id: str, node_id: str, message: str, next_due_at: datetime, now: datetime
    ) -> Job | None:
        j = s.job
        row = self.conn.execute(
            j.update()
            .where(j.c.id == job_id, j.c.lock_owner == node_id)
            .values(
                retries=case((j.c.retries > 0, j.c.retries - 1), else_=0),
                error_message=message,
                due_at=next_due_at,
                lock_owner=None,
                lock_expires_at=None,
            )
            .returning(*M_JOB.columns)
        ).first()
        if row is None:
            return None
        failed = M_JOB.record(row)
        if failed.retries == 0 and failed.instance_id is not None:
            incident = _job_incident(failed, failed.instance_id, now)
            self.conn.execute(M_INCIDENT.insert, M_INCIDENT.params(incident))
        return failed

    def set_job_retries(self, job_id: str, retries: int, now: datetime) -> bool:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, not {retries}")
        j, i = s.job, s.incident
        row = self.conn.execute(
            j.update()
            .where(j.c.id == job_id)
            .values(retries=retries, lock_owner=None, lock_expires_at=None)
            .returning(j.c.instance_id, j.c.tenant_id)
        ).first()
        if row is None:
            return False
        if retries > 0 and row[0] is not None:
            self.conn.execute(
                i.update()
                .where(
                    i.c.instance_id == row[0],
                    i.c.tenant_id == row[1],
                    i.c.job_id == job_id,
                    i.c.resolved_at.is_(None),
                )
                .values(resolved_at=now)
            )
        return True

    def release_job(self, job_id: str, node_id: str) -> None:
        j = s.job
        self.conn.execute(
            j.update()
            .where(j.c.id == job_id, j.c.lock_owner == node_id)
            .values(lock_owner=None, lock_expires_at=None)
        )

    def get_job(self, job_id: str) -> Job | None:
        (rows,) = self._fetch((_SEL_JOB, {"id": job_id}))
        return M_JOB.record(rows[0]) if rows else None

    def query_jobs(
        self,
        *,
        instance_id: str | None = None,
        kind: str | None = None,
        definition_id: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        j = s.job
        statement = M_JOB.select
        for column, value in (
            (j.c.instance_id, instance_id),
            (j.c.kind, kind),
            (j.c.definition_id, definition_id),
        ):
            if value is not None:
                statement = statement.where(column == value)
        statement = statement.order_by(j.c.due_at, j.c.id).limit(limit)
        return [M_JOB.record(r) for r in self._rows(statement)]

    def insert_jobs(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            if job.instance_id is not None:
                raise ValueError(
                    f"job {job.id!r} belongs to instance {job.instance_id!r}:"
                    " write it through InstanceState.jobs"
                )
        try:
            self._many(M_JOB.insert, [M_JOB.params(job) for job in jobs])
        except IntegrityError as error:
            if _is_unique_violation(error):
                raise self._conflict("a job with one of these ids exists") from error
            raise

    def delete_jobs(self, job_ids: Sequence[str]) -> None:
        if not job_ids:
            return
        raw = self._raw()
        if raw is None:
            self.conn.execute(s.job.delete().where(s.job.c.id.in_(list(job_ids))))
            return
        # the executor deletes each job it ran: one compiled statement, an array parameter
        raw.cursor().execute(self.store.compiled(_DEL_JOBS)[0], {"ids": list(job_ids)})

    # --- idempotency ---

    def get_command(self, key: str, tenant_id: str = DEFAULT_TENANT) -> CommandRecord | None:
        (rows,) = self._fetch((_SEL_COMMAND, {"key": key, "tid": tenant_id}))
        return M_COMMAND.record(rows[0]) if rows else None

    def insert_command(self, record: CommandRecord) -> None:
        (inserted,) = self._fetch((self.store.insert_command, M_COMMAND.params(record)))
        if not inserted:
            raise self._conflict(
                f"command {record.key!r} (tenant {record.tenant_id!r}) was already recorded"
            )

    # --- buffered messages ---

    def lock_message_name(self, name: str, tenant_id: str, *, exclusive: bool) -> None:
        if self._pg is None:
            return  # SQLite: BEGIN IMMEDIATE already makes writers take turns
        lock = _LOCK_MESSAGE_NAME if exclusive else _SHARE_MESSAGE_NAME
        self._begin_now()  # held until this transaction ends: it must have begun
        self._fetch((lock, {"key": _message_lock_key(name, tenant_id)}))

    def buffer_message(self, message: BufferedMessage) -> None:
        b = s.buffered_message
        self.conn.execute(
            b.delete().where(
                b.c.tenant_id == message.tenant_id, b.c.expires_at <= message.published_at
            )
        )
        self.conn.execute(M_BUFFERED.insert, M_BUFFERED.params(message))

    def take_buffered_message(
        self,
        name: str,
        tenant_id: str,
        correlation_key: str | None,
        business_key: str | None,
        now: datetime,
    ) -> BufferedMessage | None:
        params = {"name": name, "tid": tenant_id, "ck": correlation_key, "bk": business_key,
                  "now": now}
        if self._pg is not None:
            # a receiver looks under the name's shared lock (see lock_message_name); the
            # lock and the look in one round trip
            key = {"key": _message_lock_key(name, tenant_id)}
            _, rows = self._fetch((_SHARE_MESSAGE_NAME, key), (_TAKE_BUFFERED, params))
        else:
            (rows,) = self._fetch((_TAKE_BUFFERED, params))
        if not rows:
            return None
        message = M_BUFFERED.record(rows[0])
        if self._pg is not None:
            self._fetch((M_BUFFERED.delete, _key(message)))
        else:
            self.conn.execute(M_BUFFERED.delete, _key(message))
        return message

    def buffered_messages(
        self, tenant_id: str, now: datetime, name: str | None = None, limit: int = 100
    ) -> list[BufferedMessage]:
        b = s.buffered_message
        statement = M_BUFFERED.select.where(b.c.tenant_id == tenant_id, b.c.expires_at > now)
        if name is not None:
            statement = statement.where(b.c.name == name)
        statement = statement.order_by(b.c.published_at, b.c.id).limit(limit)
        return [M_BUFFERED.record(r) for r in self._rows(statement)]

    def discard_buffered_message(self, message_id: str, tenant_id: str) -> bool:
        result = self.conn.execute(
            M_BUFFERED.delete, {"k_id": message_id, "k_tenant": tenant_id}
        )
        return bool(result.rowcount)

    # --- the outbox ---

    def add_events(self, events: Sequence[OutboxEvent]) -> None:
        """SQLite: one executemany. PostgreSQL: written with the next instance save, as a
        member of its one write statement (see SqlStore.write_plan); with no save to take
        them, one statement (the rows as one JSON parameter) sent with the transaction's
        next round trip (its COMMIT, usually): events cost no round trip of their own (in a
        transaction already driven through SQLAlchemy's Connection, one pipelined
        executemany). There each row also gets the writing transaction's id (``xid``, the
        column's default), by which readers order what has committed (see
        :mod:`caseflow.events.log`)."""
        if not events:
            return
        rows = [M_OUTBOX.params(event) for event in events]
        if self._pg is None or self._sa is not None:
            # SQLite; or a transaction driven through SQLAlchemy (the work layer's): with
            # its statements (PostgreSQL: the column's default stamps ``xid``)
            self._many(M_OUTBOX.insert, rows)
            return
        if self.closed:
            raise RuntimeError("this transaction has ended")
        self._events += rows

    def _flush_events(self) -> None:
        """Outbox rows no save took along: one statement, with the next round trip."""
        if self._events:
            rows, self._events = self._events, []
            self._pending.append((_INSERT_OUTBOX_PG, [_json_rows(rows)], "outbox"))

    def events_after(self, seq: int, limit: int = 100) -> list[tuple[int, OutboxEvent]]:
        rows = self._rows(
            select(s.outbox_event.c.seq, *M_OUTBOX.columns)
            .where(s.outbox_event.c.seq > seq)
            .order_by(s.outbox_event.c.seq)
            .limit(limit)
        )
        return [(row[0], M_OUTBOX.record(row[1:])) for row in rows]


def _pg_params(params: dict[str, Any]) -> dict[str, Any]:
    """What SQLAlchemy's types would do on the way to psycopg, for the hot path."""
    for value in params.values():
        if type(value) is datetime and value.tzinfo is None:
            raise ValueError(
                f"naive datetime {value!r}: caseflow stores aware timestamps only"
            )
    return _pg_json(params)


def _pg_json(params: dict[str, Any]) -> dict[str, Any]:
    for name in _JSON_PARAMS:
        value = params.get(name)
        if value is not None:
            params[name] = Jsonb(value)
    return params


_JSON_PARAMS = ("json_value", "payload", "result")
_JSON_NAMES = frozenset(_JSON_PARAMS)

# the outbox's rows as one JSON parameter, each stamped with its transaction's id
_INSERT_OUTBOX_PG = (
    b"INSERT INTO outbox_event"
    b" (id, tenant_id, type, occurred_at, payload, instance_id, task_id, xid)"
    b" SELECT r.id, r.tenant_id, r.type, r.occurred_at, r.payload, r.instance_id,"
    b" r.task_id, pg_current_xact_id()::text::bigint"
    b" FROM json_to_recordset($1::json) AS r(id varchar, tenant_id varchar, type varchar,"
    b" occurred_at timestamptz, payload jsonb, instance_id varchar, task_id varchar)"
)


_IDLE = TransactionStatus.IDLE


def _give_back(fairy: Any) -> None:
    """A kept connection back to SQLAlchemy's pool, in the mode the pool gave it out."""
    try:
        fairy.driver_connection.autocommit = False
    except Exception:  # noqa: BLE001 - a broken connection is discarded, not reused
        fairy.invalidate()
    fairy.close()
_MAX_WRITE_PLANS = 512  # combinations kept (and prepared); a rarer one is built each time
_KEY_COLUMNS = {"k_id": "id", "k_tenant": "tenant_id", "k_revision": "revision"}
_BIND = re.compile(r"%\((\w+)\)s")


def _short_type(column: Any, dialect: Any) -> str:
    """A column's type, as the record definition of json_to_recordset needs it."""
    name: str = column.type.compile(dialect=dialect)
    if name.startswith(("VARCHAR", "TEXT")):
        return "text"  # the target column still checks the length
    return _SHORT_TYPES.get(name, name)


_SHORT_TYPES = {
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTEGER": "int4",
    "BIGINT": "int8",
    "BOOLEAN": "bool",
    "FLOAT": "float8",
    "DOUBLE PRECISION": "float8",
}


def _member(
    dialect: Any, statement: Any, *, head: bool, single: bool, position: int
) -> tuple[str, _RowParams | None] | None:
    """``statement`` (one of the module's INSERTs, or UPDATE/DELETE by id and tenant) as
    a member of the combined write, its parameters from ``$position`` on; None if it is
    not of that form. One row comes as typed parameters in place (the names given, in
    order): its plan is the plain statement's, one row inserted or looked up by key.
    Several come as one JSON array of objects (``json_to_recordset``; names None). The
    head returns a row if it wrote.
    """
    compiled = statement.compile(dialect=dialect)
    if compiled.params and any(v is not None for v in compiled.params.values()):
        return None
    sql = compiled.string
    names = tuple(_BIND.findall(sql))
    table = statement.table
    if not isinstance(table, Table) or len(set(names)) != len(names):
        return None
    columns = {n: table.c.get(_KEY_COLUMNS.get(n, n)) for n in names}
    if any(c is None for c in columns.values()):
        return None
    preparer = dialect.identifier_preparer
    target = preparer.format_table(table)

    def typed(n: str, column: Any) -> str:
        is_json = column.type.compile(dialect=dialect) == "JSONB"
        return "jsonb" if is_json else _short_type(column, dialect)

    source = ""
    if single:
        value = {n: f"${position + i}::{typed(n, columns[n])}" for i, n in enumerate(names)}
    else:
        # a jsonb column's value comes nested in its row (see _json_rows); the rest typed
        record = ", ".join(f"{preparer.quote(n)} {typed(n, c)}" for n, c in columns.items())
        source = f"json_to_recordset(${position}::json) AS r({record})"
        value = {n: f"r.{preparer.quote(n)}" for n in names}
    given = _RowParams(names, [typed(n, columns[n]) for n in names]) if single else None
    returning = " RETURNING 1" if head else ""
    if isinstance(statement, Insert):
        if not sql.startswith("INSERT INTO ") or " ON CONFLICT" in sql or "RETURNING" in sql:
            return None
        listed = ", ".join(preparer.quote(n) for n in names)
        values = ", ".join(value[n] for n in names)
        # identifiers from the schema, values as parameters
        rows = f"VALUES ({values})" if single else f"SELECT {values} FROM {source}"  # noqa: S608
        return f"INSERT INTO {target} ({listed}) {rows}{returning}", given
    keys = [n for n in names if n in _KEY_COLUMNS]
    # UPDATE/DELETE ... WHERE id = :k_id AND tenant_id = :k_tenant [AND revision = ...]
    expected = ["k_id", "k_tenant", "k_revision"][: len(keys)]
    if keys != expected or len(keys) < 2 or list(names[-len(keys) :]) != keys:
        return None
    match = " AND ".join(f"t.{preparer.quote(_KEY_COLUMNS[k])} = {value[k]}" for k in keys)
    if not single:
        # the planner guesses 100 rows for a set-returning function and may join them by
        # hashing a scan of the whole table; the ids as an array make it look them up
        elements = f"json_array_elements(${position}::json)"
        match += f" AND t.id = ANY (ARRAY(SELECT e->>'k_id' FROM {elements} e))"  # noqa: S608
    where_sql = sql[sql.index(" WHERE ") :] if " WHERE " in sql else ""
    if where_sql.count(" AND ") != len(keys) - 1 or " OR " in where_sql or "RETURNING" in sql:
        return None
    if sql.startswith("UPDATE "):
        sets = ", ".join(f"{preparer.quote(n)} = {value[n]}" for n in names if n not in keys)
        using = "" if single else f" FROM {source}"
        return (  # identifiers from the schema, values as parameters
            f"UPDATE {target} AS t SET {sets}{using} WHERE {match}{returning}"  # noqa: S608
        ), given
    if sql.startswith("DELETE FROM ") and len(names) == len(keys):
        using = "" if single else f" USING {source}"
        return (
            f"DELETE FROM {target} AS t{using} WHERE {match}{returning}"  # noqa: S608
        ), given
    return None


class _RowParams:
    """A member of the combined write that takes one row as typed parameters: their
    names in ``$n`` order, and which of them are instants (which must be aware) and
    JSON (which psycopg must send as jsonb)."""

    __slots__ = ("get", "instants", "jsons", "names")

    def __init__(self, names: tuple[str, ...], types: Sequence[str]) -> None:
        self.names = names
        # every parameter of the row is one of the names: the statement was built from them
        self.get = itemgetter(*names) if len(names) > 1 else lambda p: (p[names[0]],)
        self.instants = tuple(i for i, t in enumerate(types) if t == "timestamptz")
        self.jsons = tuple(i for i, t in enumerate(types) if t == "jsonb")

    def add(self, params: dict[str, Any], out: list[Any]) -> None:
        """The row's parameters, in order, onto ``out``."""
        values = self.get(params)
        for i in self.instants:
            value = values[i]
            if value is not None and getattr(value, "tzinfo", False) is None:
                raise ValueError(
                    f"naive datetime {value!r}: caseflow stores aware timestamps only"
                )
        if self.jsons:
            at = len(out)
            out.extend(values)
            for i in self.jsons:
                if values[i] is not None:
                    out[at + i] = Jsonb(values[i])
        else:
            out.extend(values)


def _json_row(params: dict[str, Any]) -> dict[str, Any]:
    """One row as JSON takes it: instants as ISO text (aware ones only, as the typed
    columns demand); a JSON column's value as it is, nested (see _json_rows)."""
    return {
        k: _iso(v) if type(v) is datetime and k not in _JSON_NAMES else v
        for k, v in params.items()
    }


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: caseflow stores aware timestamps only")
    return value.isoformat()


def _json_rows(rows: Sequence[dict[str, Any]]) -> str:
    """Several rows as the JSON parameter of their member of the combined write, encoded
    once: a JSON column's value is nested in its row, and read as ``jsonb`` by the member
    (codec.dumps_json: decimals in it exact)."""
    return codec.dumps_json([_json_row(r) for r in rows])


class _Wire:
    """One PostgreSQL connection driven at the libpq level (psycopg's ``pq``), for the
    hot statements: a batch of statements goes out in pipeline mode and its results come
    back in one round trip, each statement prepared once per connection under a name of
    ours, parameters dumped and rows loaded by psycopg's own adapters (the connection's,
    JSON settings included), as its cursors would. psycopg's cursor and pipeline
    machinery costs several times more CPU per statement than the work itself.

    psycopg never deallocates these statements: the store's connections do not let it
    prepare its own (``prepare_threshold=None``), so it has nothing to discard on a
    ROLLBACK. Should one vanish anyway (someone ran ``DEALLOCATE ALL``), a batch that
    began no transaction of its own is sent again; otherwise the error goes up.
    """

    __slots__ = (
        "broken", "formats", "names", "numbered", "pgconn", "poll", "raw", "readers",
        "transformer",
    )

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        self.pgconn = raw.pgconn
        self.transformer = Transformer(raw)
        self.names: dict[bytes, bytes] = {}  # SQL -> prepared statement name
        # prepared statement name -> a Transformer holding the loaders of its columns, which
        # never change: they are looked up once, not for every result
        self.readers: dict[bytes, TransformerProtocol] = {}
        self.numbered = 0  # names given so far
        self.formats: dict[int, list[PyFormat]] = {}
        self.poll = io_select.poll()
        self.poll.register(self.pgconn.socket, io_select.POLLIN)
        self.broken = False

    def command(self, sql: bytes) -> None:
        """A statement without parameters or rows (BEGIN, COMMIT, ROLLBACK)."""
        _, error = self.run([(sql, ())], prepare=False)
        if error is not None:
            raise error

    def run(
        self,
        statements: Sequence[tuple[bytes, Sequence[Any]]],
        *,
        begin: bool = False,
        prepare: bool = True,
        retry: bool = False,
    ) -> tuple[list[list[tuple[Any, ...]] | int | None], psycopg.Error | None]:
        """Send ``statements`` (after a BEGIN if ``begin``) in one round trip; each one's
        rows (a SELECT, or RETURNING) or row count (None: not run), and the first error.
        """
        results, error = self._round_trip(statements, begin, prepare)
        if retry and error is not None and error.sqlstate == _UNKNOWN_STATEMENT:
            self.names.clear()
            self.readers.clear()
            if self.pgconn.transaction_status != _IDLE:
                self.command(b"ROLLBACK")
            results, error = self._round_trip(statements, begin, prepare)
        return results, error

    def _round_trip(
        self, statements: Sequence[tuple[bytes, Sequence[Any]]], begin: bool, prepare: bool
    ) -> tuple[list[list[tuple[Any, ...]] | int | None], psycopg.Error | None]:
        pgconn = self.pgconn
        transformer = self.transformer
        names = self.names
        readers = self.readers
        # what each result answers: -1 BEGIN, -2 a PREPARE (with its name), i: statement i
        expect: list[tuple[int, bytes]] = []
        if self.broken:
            raise psycopg.OperationalError("the connection was left in an unknown state")
        self.broken = True  # until the round trip is over
        pgconn.enter_pipeline_mode()
        if begin:
            pgconn.send_query_params(b"BEGIN", None)
            expect.append((-1, b""))
        for i, (sql, args) in enumerate(statements):
            n = len(args)
            formats = self.formats.get(n)
            if formats is None:
                formats = self.formats[n] = [PyFormat.TEXT] * n
            params = transformer.dump_sequence(args, formats) if n else None
            name = names.get(sql) if prepare else None
            if name is None and prepare and len(names) < _MAX_PREPARED:
                self.numbered += 1
                name = b"caseflow_%d" % self.numbered
                pgconn.send_prepare(name, sql)
                expect.append((-2, name))
                names[sql] = name  # taken back below unless the server made it
            if name is None:
                pgconn.send_query_params(sql, params, result_format=_BINARY)
                expect.append((i, b""))
            else:
                pgconn.send_query_prepared(name, params, result_format=_BINARY)
                expect.append((i, name))
        pgconn.pipeline_sync()
        while pgconn.flush():
            io_select.select((), (pgconn.socket,), ())
        results: list[list[tuple[Any, ...]] | int | None] = [None] * len(statements)
        error: psycopg.Error | None = None
        at = 0
        poll = self.poll.poll
        while True:
            while pgconn.is_busy():
                poll()
                pgconn.consume_input()
            result = pgconn.get_result()
            if result is None:
                continue
            status = result.status
            if status == _SYNC:
                break
            what, name = expect[at]
            at += 1
            if status == _TUPLES_OK:
                reader = readers.get(name) if name else None
                if reader is not None:
                    reader.set_pgresult(result, set_loaders=False)
                elif name:
                    reader = readers[name] = Transformer(self.raw)
                    reader.set_pgresult(result)
                else:
                    reader = transformer
                    reader.set_pgresult(result)
                results[what] = reader.load_rows(0, result.ntuples, tuple)
                reader.set_pgresult(None, set_loaders=False)  # the rows are out: let it go
            elif status == _COMMAND_OK:
                if what >= 0:
                    results[what] = result.command_tuples or 0
            else:
                if what == -2:
                    names.pop(next(k for k, v in names.items() if v == name), None)
                if error is None and status == _FATAL_ERROR:
                    error = error_from_result(result, encoding=self.raw.info.encoding)
        pgconn.exit_pipeline_mode()
        self.broken = False
        return results, error


_SYNC = pq.ExecStatus.PIPELINE_SYNC
# rows come back in binary: nothing is formatted as text by the server and parsed here
# (psycopg's binary loaders give the same values, JSON through the same loads)
_BINARY = pq.Format.BINARY
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_FATAL_ERROR = pq.ExecStatus.FATAL_ERROR
_UNKNOWN_STATEMENT = "26000"  # invalid_sql_statement_name: a prepared statement is gone
_DIVISION_BY_ZERO = "22012"
_UNIQUE_VIOLATION = "23505"
_MAX_PREPARED = 400  # statements prepared per connection; beyond, sent unprepared


class _PgSql:
    """A statement compiled for PostgreSQL once (see SqlStore.pg): SQL with its own
    ``$n`` placeholders, sent through _Wire (nothing is parsed per call)."""

    __slots__ = ("fixed", "names", "reads", "sql")

    def __init__(
        self, sql: bytes, names: tuple[str, ...], fixed: dict[str, Any], reads: bool
    ) -> None:
        self.sql = sql
        self.names = names
        self.fixed = fixed
        self.reads = reads

    def args(self, params: dict[str, Any]) -> list[Any]:
        """The parameters in ``$n`` order (``params`` may be changed: see _pg_params)."""
        if self.fixed:
            params = {**self.fixed, **params}
        _pg_params(params)
        return [params[n] for n in self.names]


_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """psycopg's ``%(name)s`` placeholders as ``$n`` (a name used twice is one ``$n``),
    and ``%%`` as ``%``; with the names in ``$n`` order."""
    names: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        return f"${names.setdefault(name, len(names) + 1)}"

    return _PLACEHOLDER.sub(number, sql), tuple(names)


class _WritePlan:
    """One combined write statement (see SqlStore.write_plan), and for each member (the
    head first) its row's typed parameters, or None: one JSON parameter."""

    __slots__ = ("members", "sql")

    def __init__(self, sql: bytes, members: list[_RowParams | None]) -> None:
        self.sql = sql
        self.members = members


@contextmanager
def _pipeline(raw: psycopg.Connection[Any], statements: int) -> Iterator[None]:
    """Pipeline mode when it saves a round trip: several statements, or a BEGIN to send."""
    if statements > 1 or raw.info.transaction_status == TransactionStatus.IDLE:
        with raw.pipeline():
            yield
    else:
        yield


def _loaded(rows: list[R]) -> StateTable[R]:
    table: StateTable[R] = StateTable()
    for row in rows:
        table.rows[row.id] = row  # type: ignore[attr-defined]
    return table


def _with_key(params: dict[str, Any]) -> dict[str, Any]:
    params["k_id"] = params.pop("id")
    params["k_tenant"] = params.pop("tenant_id")
    return params


_D = s.process_definition
_SEL_DEFINITION = M_DEFINITION.select.where(_D.c.id == bindparam("id"))
_SEL_DEFINITION_VERSION = M_DEFINITION.select.where(
    _D.c.key == bindparam("key"),
    _D.c.version == bindparam("version"),
    _D.c.tenant_id == bindparam("tid"),
)
_SEL_LATEST_DEFINITION = (
    M_DEFINITION.select.where(_D.c.key == bindparam("key"), _D.c.tenant_id == bindparam("tid"))
    .order_by(_D.c.version.desc())
    .limit(1)
)
def _task_query(shape: tuple[bool, ...]) -> Select[Any]:
    """The task query for one combination of filters (see query_tasks), with its values,
    limit and offset as parameters: built, compiled and prepared once per combination."""
    t = s.user_task
    (instance, key, element, assignee, business_key, tenant, group, user, closed) = shape
    page = select(t.c.id, t.c.tenant_id)
    for i, (column, given) in enumerate((
        (t.c.instance_id, instance),
        (t.c.process_key, key),
        (t.c.element_id, element),
        (t.c.assignee, assignee),
        (t.c.business_key, business_key),
        (t.c.tenant_id, tenant),
    )):
        if given:
            page = page.where(column == bindparam(f"q{i}"))
    if not closed:
        page = page.where(_OPEN_TASK)
    for i, kind, given in ((6, "group", group), (7, "user", user)):
        if given:
            candidates = select(_TC.c.task_id, _TC.c.tenant_id).where(
                _TC.c.kind == kind, _TC.c.value == bindparam(f"q{i}")
            )
            if tenant:
                candidates = candidates.where(_TC.c.tenant_id == bindparam("q5"))
            page = page.where(tuple_(t.c.id, t.c.tenant_id).in_(candidates))
    order = (t.c.priority.desc(), t.c.created_at, t.c.id)
    page_ = (
        page.order_by(*order)
        .limit(bindparam("lim", type_=Integer))
        .offset(bindparam("off", type_=Integer))
        .subquery("page")
    )
    return SEL_TASK_WITH_CANDIDATES.join(
        page_, and_(page_.c.id == t.c.id, page_.c.tenant_id == t.c.tenant_id)
    ).order_by(*order)


_TASK_QUERIES: dict[tuple[bool, ...], Select[Any]] = {}


def _definitions_query(by_key: bool, by_tenant: bool) -> Select[Any]:
    statement = M_DEFINITION.select
    if by_key:
        statement = statement.where(_D.c.key == bindparam("key"))
    if by_tenant:
        statement = statement.where(_D.c.tenant_id == bindparam("tid"))
    return statement.order_by(_D.c.tenant_id, _D.c.key, _D.c.version)


_LIST_DEFINITIONS = {
    (k, t): _definitions_query(k, t) for k in (False, True) for t in (False, True)
}
_SEL_INSTANCE_VARIABLES = SEL_VARIABLE.where(s.variable.c.instance_id == bindparam("iid")).order_by(
    s.variable.c.scope_id.is_not(None), s.variable.c.scope_id, s.variable.c.name
)
_SEL_ACTIVITY_HISTORY = M_ACTIVITY.select.where(_H.c.instance_id == bindparam("iid")).order_by(
    _H.c.started_at, _H.c.seq, _H.c.id
)
_SEL_EXTERNAL_TASK = M_EXTERNAL.select.where(s.external_task.c.id == bindparam("id"))
_SEL_TASK = SEL_TASK_WITH_CANDIDATES.where(s.user_task.c.id == bindparam("id"))
_SEL_COMMAND = M_COMMAND.select.where(
    s.command_log.c.key == bindparam("key"), s.command_log.c.tenant_id == bindparam("tid")
)
_SEL_JOB = M_JOB.select.where(s.job.c.id == bindparam("id"))
_DEL_JOBS = s.job.delete().where(s.job.c.id == any_(bindparam("ids")))  # PostgreSQL
# the executing transaction's check: still ours, still unexpired; then the row is held
_SEL_JOB_FOR_EXECUTION = _SEL_JOB.where(
    s.job.c.lock_owner == bindparam("node"), s.job.c.lock_expires_at > bindparam("now")
).with_for_update()


# buffered messages: one advisory lock per tenant and message name (PostgreSQL), shared by
# receivers looking in the buffer, exclusive for a publisher about to buffer
_SHARE_MESSAGE_NAME = select(
    func.pg_advisory_xact_lock_shared(func.hashtextextended(bindparam("key"), 0))
)
_LOCK_MESSAGE_NAME = select(
    func.pg_advisory_xact_lock(func.hashtextextended(bindparam("key"), 0))
)
_B = s.buffered_message
_TAKE_BUFFERED = (
    M_BUFFERED.select.where(
        _B.c.tenant_id == bindparam("tid"),
        _B.c.name == bindparam("name"),
        _B.c.expires_at > bindparam("now"),
        or_(_B.c.correlation_key.is_(None), _B.c.correlation_key == bindparam("ck")),
        or_(_B.c.business_key.is_(None), _B.c.business_key == bindparam("bk")),
    )
    .order_by(_B.c.published_at, _B.c.id)
    .limit(1)
    .with_for_update(skip_locked=True)  # a message another receiver is taking is its
)


def _message_lock_key(name: str, tenant_id: str) -> str:
    return f"caseflow.message:{tenant_id}:{name}"


def _job_incident(job: Job, instance_id: str, now: datetime) -> Incident:
    """The incident of a job of an instance that ran out of retries."""
    return Incident(
        id=str(uuid_utils.uuid7()),
        instance_id=instance_id,
        kind="failedJob",
        message=job.error_message or "job failed",
        created_at=now,
        execution_id=job.execution_id,
        element_id=job.element_id,
        job_id=job.id,
        tenant_id=job.tenant_id,
    )




class _Ahead(NamedTuple):
    """The statements of a read-ahead (see SqlTransaction._read_ahead), each taking the
    id of one row (``rid``) of a table that belongs to an instance."""

    lock: Any  # the owning instance's row, FOR NO KEY UPDATE
    instance: Any  # the instance with its executions
    variables: Any
    reads: dict[str, Any]  # InstanceState table name -> the read of its rows
    tables: tuple[str, ...]  # the tables read when the caller names none


def _ahead_of(table: Table, *tables: str) -> _Ahead:
    """Statements reading an instance and its rows from the id of one row of ``table``;
    ``tables`` (as InstanceState names them) are read unless the caller names others."""
    owner = (
        select(table.c.instance_id).where(table.c.id == bindparam("rid")).limit(1)
    ).scalar_subquery()
    lock = (
        select(_I.c.id, _I.c.revision).where(_I.c.id == owner).with_for_update(key_share=True)
    )
    instance = (
        select(*M_INSTANCE.columns, *M_EXECUTION.columns)
        .select_from(_I)
        .outerjoin(_E, and_(_E.c.instance_id == _I.c.id, _E.c.tenant_id == _I.c.tenant_id))
        .where(_I.c.id == owner)
    )
    variables = SEL_VARIABLE.where(s.variable.c.instance_id == owner)
    reads = {
        # its open tasks, and the one looked up (whatever its status: see get_task)
        "tasks": SEL_TASK_WITH_CANDIDATES.where(
            s.user_task.c.instance_id == owner,
            or_(_OPEN_TASK, s.user_task.c.id == bindparam("rid")),
        ),
        "external_tasks": M_EXTERNAL.select.where(s.external_task.c.instance_id == owner),
        "subscriptions": M_SUBSCRIPTION.select.where(
            s.event_subscription.c.instance_id == owner
        ),
        "jobs": M_JOB.select.where(s.job.c.instance_id == owner),
    }
    if table is s.job:
        # a job about to run: the instance's other jobs, and this one only while the
        # node's lock on it holds, all locked (SqlTransaction.lock_job_for_execution)
        j = s.job
        held = and_(
            j.c.id == bindparam("rid"),
            j.c.lock_owner == bindparam("node"),
            j.c.lock_expires_at > bindparam("now"),
        )
        others = and_(j.c.instance_id == owner, j.c.id != bindparam("rid"))
        reads["jobs"] = M_JOB.select.where(or_(held, others)).with_for_update()
    return _Ahead(lock, instance, variables, reads, tables)


_AHEAD_OF_TASK = _ahead_of(s.user_task, "tasks")
_AHEAD_OF_EXTERNAL = _ahead_of(s.external_task, "external_tasks")
# the tables read along with a job are named by the caller (lock_job_for_execution)
_AHEAD_OF_JOB = _ahead_of(s.job)

__all__ = ["SqlStore", "SqlTransaction", "create_engine_for", "normalise_url"]
