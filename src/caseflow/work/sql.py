"""The SQL of human work, in one place: SQLAlchemy Core over the transaction's connection.

Grants are checked inside the statements: "may this user see / work / manage this task
now" is an ``EXISTS`` over the user's grants valid at ``:now`` (the engine clock's), so
a query never loads rows to filter them in Python, and an operation checks and changes
a task under the same row lock.

Locking (PostgreSQL; SQLite's single writer needs none): an operation on one task first
locks its claimable-set row (``work_queue_item``), if any, then the task row
(``SELECT ... FOR UPDATE``), and only then decides and writes with a conditional
``UPDATE``; claim-next takes the item with ``FOR UPDATE SKIP LOCKED`` and then the task,
in the same order, in one statement that also writes the history row.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, Literal, cast

import psycopg
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    union,
    update,
)
from sqlalchemy.sql.expression import CompoundSelect

from caseflow.errors import ConcurrencyConflict
from caseflow.events.names import history_events
from caseflow.store import schema as s
from caseflow.store.sql import SqlStore, SqlTransaction
from caseflow.work.model import (
    CLAIMABLE_STATUSES,
    CaseRouting,
    Department,
    Grant,
    Queue,
    QueueAssignment,
    Role,
    RoutingRule,
    Skill,
    TaskHistoryEntry,
    User,
    WorkTask,
)

T = s.user_task
C = s.task_candidate
G = s.work_grant
R = s.work_role
Q = s.work_queue
A = s.work_queue_assignment
U = s.work_user
D = s.work_department
I = s.work_queue_item  # noqa: E741 - the claimable set, beside T, Q, ...
H = s.work_task_history
K = s.work_case
V = s.variable
SK = s.work_skill
US = s.work_user_skill
QS = s.work_queue_skill
RR = s.work_routing_rule

Param = Any  # a bind parameter or a literal value: both are SQL expressions here

# --- who holds what, now ------------------------------------------------------------------


def _grant_valid(user: Param, now: Param, tenant: Param) -> list[ColumnElement[bool]]:
    """The user's grants valid at ``now``, of an active role, the user being active."""
    return [
        G.c.user_id == user,
        G.c.tenant_id == tenant,
        G.c.valid_from <= now,
        or_(G.c.valid_until.is_(None), G.c.valid_until > now),
        R.c.active,
        exists().where(U.c.id == user, U.c.tenant_id == tenant, U.c.active),
    ]


def _grant_join() -> Any:
    return R.join(G, and_(G.c.role_id == R.c.id, G.c.tenant_id == R.c.tenant_id))


def role_codes(user: Param, now: Param, tenant: Param) -> Select[Any]:
    """Codes of the roles the user validly holds (what candidate groups name)."""
    return select(R.c.code).select_from(_grant_join()).where(*_grant_valid(user, now, tenant))


def covered_queues(
    user: Param, now: Param, tenant: Param, *, manage: bool = False
) -> CompoundSelect[Any]:
    """Names of the active queues the user's valid grants cover (bound or assigned);
    ``manage``: only through roles that may manage them."""
    extra = [R.c.can_manage] if manage else []
    bound = (
        select(Q.c.name)
        .select_from(
            _grant_join().join(Q, and_(Q.c.id == R.c.queue_id, Q.c.tenant_id == R.c.tenant_id))
        )
        .where(*_grant_valid(user, now, tenant), Q.c.active, *extra)
    )
    assigned = (
        select(Q.c.name)
        .select_from(
            _grant_join()
            .join(A, and_(A.c.role_id == R.c.id, A.c.tenant_id == R.c.tenant_id))
            .join(Q, and_(Q.c.id == A.c.queue_id, Q.c.tenant_id == A.c.tenant_id))
        )
        .where(*_grant_valid(user, now, tenant), A.c.active, Q.c.active, *extra)
    )
    return union(bound, assigned)


def can_work(user: Param, now: Param, tenant: Param) -> ColumnElement[bool]:
    """May the user see, claim and work the task row ``T``: its queue is covered by a
    valid grant, or a valid grant's role is a candidate group, or the (active) user is
    a candidate user."""
    active = exists().where(U.c.id == user, U.c.tenant_id == tenant, U.c.active)
    candidate = exists().where(
        C.c.task_id == T.c.id,
        C.c.tenant_id == T.c.tenant_id,
        or_(
            and_(C.c.kind == "group", C.c.value.in_(role_codes(user, now, tenant))),
            and_(C.c.kind == "user", C.c.value == user, active),
        ),
    )
    return or_(T.c.queue.in_(covered_queues(user, now, tenant)), candidate)


def can_manage(user: Param, now: Param, tenant: Param) -> ColumnElement[bool]:
    """May the user manage the task row ``T``: a valid grant of a managing role covers
    its queue."""
    return T.c.queue.in_(covered_queues(user, now, tenant, manage=True))


# The checks as statements use them, built once: the acting user, the time the grants
# must be valid at and the tenant are parameters (``actor``, ``now``, ``tid``), so each
# query's text stays the same from call to call (compiled once, prepared by the driver).
ACTOR: Any = bindparam("actor", type_=String())
NOW: Any = bindparam("now", type_=s.UTCDateTime())
TID: Any = bindparam("tid", type_=String())
COVERED = covered_queues(ACTOR, NOW, TID)
CAN_WORK = can_work(ACTOR, NOW, TID)
CAN_MANAGE = can_manage(ACTOR, NOW, TID)


# --- tasks as work items ------------------------------------------------------------------

_TASK_FIELDS = [
    f.name for f in fields(WorkTask) if f.name not in ("candidate_users", "candidate_groups")
]
TASK_COLUMNS = [T.c[name] for name in _TASK_FIELDS]
_N_TASK = len(TASK_COLUMNS)


_SEP = "\x1f"  # between a task's candidates, as one column
CANDIDATES_PG = (
    select(func.string_agg(C.c.kind + ":" + C.c.value, literal(_SEP)))
    .where(C.c.task_id == T.c.id, C.c.tenant_id == T.c.tenant_id)
    .scalar_subquery()
)
CANDIDATES_SQLITE = (
    select(func.group_concat(C.c.kind + ":" + C.c.value, literal(_SEP)))
    .where(C.c.task_id == T.c.id, C.c.tenant_id == T.c.tenant_id)
    .scalar_subquery()
)


def _split_candidates(joined: str | None) -> tuple[list[str], list[str]]:
    users: list[str] = []
    groups: list[str] = []
    for entry in (joined or "").split(_SEP) if joined else ():
        kind, _, value = entry.partition(":")
        (users if kind == "user" else groups).append(value)
    return sorted(users), sorted(groups)


def task_from(
    row: Sequence[Any], users: Sequence[str] = (), groups: Sequence[str] = ()
) -> WorkTask:
    values = dict(zip(_TASK_FIELDS, row[:_N_TASK], strict=True))
    return WorkTask(**values, candidate_users=tuple(users), candidate_groups=tuple(groups))


# constants, not parameters: a planner matches them to the partial indexes' predicates
_OPEN = text(f"user_task.{s.OPEN_TASK_PREDICATE}")
# constants, not parameters: the claim statement is compiled once and run as it is
_CLAIMABLE = text("user_task.status IN ('ESCALATED', 'OPEN')")


def _now() -> Any:
    return bindparam("now", type_=s.UTCDateTime())


# claim-next on PostgreSQL, one statement: take the best claimable item of the user's
# (given) queues with SKIP LOCKED, delete it, claim its task if still claimable, write
# the history row; the final SELECT says which item was taken and what was claimed.
def _claim_next_pg(only: bool) -> Select[Any]:
    actor: Any = bindparam("actor")
    tid: Any = bindparam("tid")
    now = _now()
    where = [I.c.tenant_id == tid, I.c.queue.in_(covered_queues(actor, now, tid))]
    if only:
        where.append(I.c.queue == any_(bindparam("queues", type_=ARRAY(String))))
    picked = (
        select(I.c.task_id, I.c.tenant_id)
        .where(*where)
        .order_by(I.c.priority.desc(), I.c.created_at, I.c.task_id)
        # a constant, not a parameter: a prepared statement's generic plan must know it
        # takes one row (else it plans the delete below as a hash join over the table)
        .limit(literal_column("1", Integer))
        .with_for_update(skip_locked=True)
        .cte("picked")
    )
    gone = (
        delete(I)
        .where(I.c.task_id == picked.c.task_id, I.c.tenant_id == picked.c.tenant_id)
        .returning(I.c.task_id, I.c.tenant_id)
        .cte("gone")
    )
    claimed = (
        update(T)
        .where(
            T.c.id == gone.c.task_id,
            T.c.tenant_id == gone.c.tenant_id,
            T.c.assignee.is_(None),
            _CLAIMABLE,
        )
        .values(
            status=case((T.c.status == "ESCALATED", "ESCALATED"), else_="CLAIMED"),
            assignee=actor,
            claimed_at=now,
            claimed_by=actor,
        )
        .returning(*TASK_COLUMNS)
        .cte("claimed")
    )
    history = insert(H).from_select(
        [
            H.c.id, H.c.tenant_id, H.c.task_id, H.c.instance_id, H.c.action, H.c.action_by,
            H.c.action_at, H.c.old_status, H.c.new_status, H.c.old_assignee, H.c.new_assignee,
            H.c.queue,
        ],
        select(
            bindparam("hid"),
            claimed.c.tenant_id,
            claimed.c.id,
            claimed.c.instance_id,
            literal("CLAIM"),
            actor,
            now,
            case((claimed.c.status == "ESCALATED", "ESCALATED"), else_="OPEN"),
            claimed.c.status,
            null(),
            actor,
            claimed.c.queue,
        ),
    ).cte("history")
    # its outbox event (caseflow.events: TaskClaimed), in the same statement; the history
    # row's id serves as the event's (both UUID v7, each unique in its table)
    E = s.outbox_event
    outbox = insert(E).from_select(
        [E.c.id, E.c.tenant_id, E.c.type, E.c.occurred_at, E.c.payload, E.c.instance_id,
         E.c.task_id, E.c.xid],
        select(
            bindparam("hid"),
            claimed.c.tenant_id,
            literal("TaskClaimed"),
            claimed.c.claimed_at,
            func.jsonb_strip_nulls(func.jsonb_build_object(
                literal("taskId"), claimed.c.id,
                literal("action"), literal("CLAIM"),
                literal("by"), claimed.c.assignee,
                literal("oldStatus"),
                case((claimed.c.status == "ESCALATED", "ESCALATED"), else_="OPEN"),
                literal("status"), claimed.c.status,
                literal("assignee"), claimed.c.assignee,
                literal("queue"), claimed.c.queue,
            )),
            claimed.c.instance_id,
            claimed.c.id,
            literal_column("pg_current_xact_id()::text::bigint"),
        ),
    ).cte("outbox")
    candidates = (
        select(func.array_agg(C.c.kind + ":" + C.c.value))
        .where(C.c.task_id == claimed.c.id, C.c.tenant_id == claimed.c.tenant_id)
        .scalar_subquery()
    )
    return (
        select(gone.c.task_id, *(claimed.c[n] for n in _TASK_FIELDS), candidates)
        .select_from(gone.outerjoin(claimed, claimed.c.id == gone.c.task_id))
        .add_cte(history)
        .add_cte(outbox)
    )


CLAIM_NEXT_PG = _claim_next_pg(only=False)
CLAIM_NEXT_PG_IN = _claim_next_pg(only=True)


# the claim statement's variable parameters, in the order EXECUTE passes them
CLAIM_NEXT_PARAMS = ("tid", "now", "actor", "hid")


def render_pg(statement: Any, variables: Mapping[str, str]) -> str:
    """A Core statement as PostgreSQL text: each of ``variables`` (bind parameter name ->
    how to write it: ``$1`` for ``PREPARE``, a pgbench variable...) as given, every
    other parameter inlined as the constant it is."""
    from sqlalchemy.dialects import postgresql

    compiled = statement.compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
    constants = {
        k: v for k, v in compiled.construct_params(_check=False).items() if k not in variables
    }

    def literal(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"cannot inline {value!r} in a prepared statement")
        return str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"

    def bind(match: re.Match[str]) -> str:
        name = match.group(1)
        return variables[name] if name in variables else literal(constants[name])

    def expand(match: re.Match[str]) -> str:
        return ", ".join(literal(v) for v in constants[match.group(1)])

    text_ = re.sub(r"__\[POSTCOMPILE_(\w+)\]", expand, compiled.string)
    return " ".join(re.sub(r"%\((\w+)\)s", bind, text_).split())


def _numbered(names: Sequence[str]) -> dict[str, str]:
    return {n: f"${i}" for i, n in enumerate(names, 1)}


def render_claim_next(
    only: bool = False, variables: Mapping[str, str] | None = None
) -> str:
    """The claim-next statement as PostgreSQL text with its constants inlined.

    ``variables`` says how each of :data:`CLAIM_NEXT_PARAMS` (and ``queues``) is written:
    ``$1``... for ``PREPARE`` (the default), or pgbench variables for the raw baseline,
    which runs this very text.
    """
    names = [*CLAIM_NEXT_PARAMS, *(["queues"] if only else [])]
    return render_pg(CLAIM_NEXT_PG_IN if only else CLAIM_NEXT_PG, variables or _numbered(names))


_PREPARED = "caseflow_work_prepared"


def _prepare(raw: psycopg.Connection[Any], info: dict[Any, Any], name: str, sql: str) -> None:
    """``PREPARE name AS sql`` once per connection (``info`` is the pooled connection's)."""
    prepared: set[str] = info.setdefault(_PREPARED, set())
    if name in prepared:
        return
    # simple query protocol: in the extended one, $1... would be PREPARE's own
    result = raw.pgconn.exec_(f"PREPARE {name} AS {sql}".encode())
    if result.status != psycopg.pq.ExecStatus.COMMAND_OK:
        raise psycopg.ProgrammingError(f"cannot prepare {name}: {result.get_error_message()}")
    prepared.add(name)


def _execute(raw: psycopg.Connection[Any], name: str, args: Sequence[Any]) -> list[Any]:
    # EXECUTE takes no protocol parameters: psycopg quotes the values into it
    with psycopg.ClientCursor(raw) as cursor:
        cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(args))})", args, prepare=False)
        return cursor.fetchall()


# an operation's first look at its task: the row, locked, and what the actor may do
LOCK_TASK_PARAMS = ("tid", "now", "actor", "task_id")
LOCK_TASK = (
    select(*TASK_COLUMNS, CAN_WORK.label("visible"), CAN_MANAGE.label("manages"))
    .where(T.c.id == bindparam("task_id"), T.c.tenant_id == TID)
)
LockedTask = namedtuple("LockedTask", [*_TASK_FIELDS, "visible", "manages"])  # type: ignore[misc]


def claim_next_pg(
    store: SqlStore,
    tenant: str,
    now: datetime,
    actor: str,
    queues: Sequence[str] | None,
    history_id: str,
) -> tuple[bool, WorkTask | None]:
    """Claim-next on PostgreSQL: the one statement, on its own, in autocommit mode.

    The statement is a transaction by itself (it picks, claims and records, or does
    nothing), so it needs no BEGIN and no COMMIT: one round trip, as a raw client sends
    it. It is prepared once per connection (``PREPARE``) and run with ``EXECUTE``: its
    text, long for a driver to parse on every call, is sent once. Results as
    :meth:`WorkSql.claim_next`.
    """
    only = queues is not None
    name = "caseflow_claim_next_in" if only else "caseflow_claim_next"
    args: list[Any] = [tenant, now, actor, history_id]
    if only:
        args.append(list(queues or ()))
    fairy = store.engine.raw_connection()
    try:
        raw = cast("psycopg.Connection[Any]", fairy.driver_connection)
        raw.autocommit = True
        try:
            if name not in fairy.info.get(_PREPARED, ()):
                _prepare(raw, fairy.info, name, _claim_next_text(only))
            rows = _execute(raw, name, args)
        finally:
            raw.autocommit = False
    except psycopg.errors.InvalidSqlStatementName:
        # the session lost it (DEALLOCATE, a pooler): prepare again next time
        fairy.info.pop(_PREPARED, None)
        fairy.close()
        return claim_next_pg(store, tenant, now, actor, queues, history_id)
    except BaseException:
        fairy.invalidate()
        fairy.close()
        raise
    fairy.close()
    return _claimed(rows)


_RENDERED: dict[str, str] = {}


def _claim_next_text(only: bool) -> str:
    key = "claim_next_in" if only else "claim_next"
    found = _RENDERED.get(key)
    if found is None:
        found = _RENDERED[key] = render_claim_next(only)
    return found


def _rendered(name: str, statement: Any, names: Sequence[str]) -> str:
    found = _RENDERED.get(name)
    if found is None:
        found = _RENDERED[name] = render_pg(statement, _numbered(names))
    return found


def _claimed(rows: Sequence[Any]) -> tuple[bool, WorkTask | None]:
    if not rows:
        return False, None
    row = rows[0]
    if row[1] is None:
        return True, None
    users: list[str] = []
    groups: list[str] = []
    for entry in row[1 + _N_TASK] or ():
        kind, _, value = entry.partition(":")
        (users if kind == "user" else groups).append(value)
    return True, task_from(row[1:], sorted(users), sorted(groups))


# --- variables in queries ---------------------------------------------------------------

VariableOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "like"]


def variable_condition(name: str, op: VariableOp, value: Any) -> ColumnElement[bool]:
    """``EXISTS`` a process-scope variable of the task's instance with this name whose
    typed column compares as asked (see the ``variable`` table's docstring)."""
    from datetime import date
    from decimal import Decimal

    where: list[ColumnElement[bool]] = [
        V.c.instance_id == T.c.instance_id,
        V.c.tenant_id == T.c.tenant_id,
        V.c.scope_id.is_(None),
        V.c.name == name,
    ]
    column: Any
    if value is None:
        if op not in ("eq", "ne"):
            raise ValueError(f"a variable compares with null by eq or ne, not {op}")
        where.append(V.c.type == "null")
        found = exists().where(*where)
        return found if op == "eq" else ~found
    if isinstance(value, bool):
        if op not in ("eq", "ne"):
            raise ValueError(f"a boolean variable compares by eq or ne, not {op}")
        where.append(V.c.type == "boolean")
        column, value = V.c.long_value, int(value)
    elif isinstance(value, int | float | Decimal):
        column, value = V.c.double_value, float(value)
    elif isinstance(value, datetime | date):
        if not isinstance(value, datetime):
            from datetime import UTC, time

            value = datetime.combine(value, time(), UTC)
        column = V.c.time_value
    elif isinstance(value, str):
        where.append(V.c.type == "string")
        column = V.c.text_value
    else:
        raise ValueError(f"cannot compare a variable with {type(value).__name__} {value!r}")
    if op == "like":
        if column is not V.c.text_value:
            raise ValueError("like compares string variables only")
        where.append(column.like(value))
    else:
        compare = {
            "eq": column.__eq__, "ne": column.__ne__, "gt": column.__gt__,
            "gte": column.__ge__, "lt": column.__lt__, "lte": column.__le__,
        }.get(op)
        if compare is None:
            raise ValueError(f"unknown comparison {op!r}")
        where.append(compare(value))
    return exists().where(*where)


# --- the statements' runner ---------------------------------------------------------------


class WorkSql:
    """The human-work statements on one transaction, for one tenant, at one ``now``."""

    def __init__(self, tx: SqlTransaction, tenant_id: str, now: datetime) -> None:
        self.tx = tx
        self.tenant = tenant_id
        self.now = now
        self.pg = tx.store.is_postgres
        self.changed: dict[str, WorkTask] = {}  # tasks as this transaction last wrote them

    @property
    def conn(self) -> Connection:
        return self.tx.conn

    def _rows(self, statement: Any, params: Mapping[str, Any] | None = None) -> list[Any]:
        return list(self.conn.execute(statement, dict(params or {})).all())

    def no_jit(self) -> None:
        """PostgreSQL: no JIT compilation in this transaction. Task lists carry the grant
        check's subplans, which make their cost estimates look large enough to JIT-compile
        (~100 ms at the default ``jit_above_cost``) a query that runs in a millisecond."""
        if self.pg:
            self.conn.exec_driver_sql("SET LOCAL jit = off")

    def _p(self, **extra: Any) -> dict[str, Any]:
        return {"tid": self.tenant, "now": self.now, **extra}

    # --- organisation ---

    def insert(self, table: Any, row: Mapping[str, Any]) -> None:
        self.conn.execute(table.insert(), [dict(row)])

    def update_row(self, table: Any, key: Mapping[str, Any], values: Mapping[str, Any]) -> int:
        where = [table.c[k] == v for k, v in key.items()]
        result = self.conn.execute(
            table.update().where(table.c.tenant_id == self.tenant, *where).values(**values)
        )
        return int(result.rowcount)

    def one(self, table: Any, **key: Any) -> Any | None:
        where = [table.c[k] == v for k, v in key.items()]
        rows = self._rows(select(table).where(table.c.tenant_id == self.tenant, *where))
        return rows[0] if rows else None

    def all(self, table: Any, *order: Any, **key: Any) -> list[Any]:
        where = [table.c[k] == v for k, v in key.items()]
        statement = select(table).where(table.c.tenant_id == self.tenant, *where)
        return self._rows(statement.order_by(*order) if order else statement)

    def lock_user(self, user_id: str) -> Any | None:
        statement = select(U).where(U.c.id == user_id, U.c.tenant_id == self.tenant)
        if self.pg:
            statement = statement.with_for_update()
        rows = self._rows(statement)
        return rows[0] if rows else None

    def lock_queue(self, queue_id: str) -> None:
        if self.pg:
            self._rows(
                select(Q.c.id)
                .where(Q.c.id == queue_id, Q.c.tenant_id == self.tenant)
                .with_for_update()
            )

    def lock_assignment(self, assignment_id: str) -> Any | None:
        statement = select(A).where(A.c.id == assignment_id, A.c.tenant_id == self.tenant)
        if self.pg:
            statement = statement.with_for_update()
        rows = self._rows(statement)
        return rows[0] if rows else None

    def valid_grants(self, user_id: str) -> list[Any]:
        statement = (
            select(G)
            .select_from(_grant_join())
            .where(*_grant_valid(user_id, self.now, self.tenant))
            .order_by(G.c.valid_from, G.c.id)
        )
        return self._rows(statement)

    def clear_primary(self, user_id: str) -> None:
        self.conn.execute(
            G.update()
            .where(G.c.user_id == user_id, G.c.tenant_id == self.tenant, G.c.is_primary)
            .values(is_primary=False)
        )

    def user_skills(self, user_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        if not user_ids:
            return {}
        rows = self._rows(
            select(US.c.user_id, SK.c.code, US.c.level)
            .join(SK, and_(SK.c.id == US.c.skill_id, SK.c.tenant_id == US.c.tenant_id))
            .where(US.c.tenant_id == self.tenant, US.c.user_id.in_(list(user_ids)))
        )
        found: dict[str, dict[str, int]] = {}
        for user_id, code, level in rows:
            found.setdefault(user_id, {})[code] = level
        return found

    def queue_skills(self, queue_id: str) -> dict[str, int]:
        rows = self._rows(
            select(SK.c.code, QS.c.min_level)
            .join(SK, and_(SK.c.id == QS.c.skill_id, SK.c.tenant_id == QS.c.tenant_id))
            .where(QS.c.tenant_id == self.tenant, QS.c.queue_id == queue_id)
        )
        return dict(rows)

    def upsert_user_skill(self, user_id: str, skill_id: str, level: int) -> None:
        key = {"user_id": user_id, "skill_id": skill_id}
        if not self.update_row(US, key, {"level": level}):
            self.insert(US, {**key, "tenant_id": self.tenant, "level": level})

    def upsert_queue_skill(self, queue_id: str, skill_id: str, min_level: int) -> None:
        key = {"queue_id": queue_id, "skill_id": skill_id}
        if not self.update_row(QS, key, {"min_level": min_level}):
            self.insert(QS, {**key, "tenant_id": self.tenant, "min_level": min_level})

    # --- routing support ---

    def active_rules(self) -> list[RoutingRule]:
        rows = self._rows(
            select(RR)
            .where(RR.c.tenant_id == self.tenant, RR.c.active)
            .order_by(RR.c.position, RR.c.created_at, RR.c.id)
        )
        return [routing_rule(r) for r in rows]

    def queues_by(self, *, ids: Iterable[str] = (), names: Iterable[str] = ()) -> list[Queue]:
        ids, names = list(ids), list(names)
        if not ids and not names:
            return []
        rows = self._rows(
            select(Q).where(Q.c.tenant_id == self.tenant, or_(Q.c.id.in_(ids), Q.c.name.in_(names)))
        )
        return [queue(r) for r in rows]

    def assignments(self, *, queue_id: str | None = None, role_id: str | None = None,
                    auto_only: bool = False) -> list[QueueAssignment]:
        statement = select(A).where(A.c.tenant_id == self.tenant, A.c.active)
        if queue_id is not None:
            statement = statement.where(A.c.queue_id == queue_id)
        if role_id is not None:
            statement = statement.where(A.c.role_id == role_id)
        if auto_only:
            statement = statement.where(A.c.auto_assign)
        statement = statement.order_by(A.c.priority_level.desc(), A.c.created_at, A.c.id)
        return [assignment(r) for r in self._rows(statement)]

    def count_open(self, queue_name: str) -> int:
        (count,) = self._rows(
            select(func.count()).where(
                T.c.tenant_id == self.tenant, T.c.queue == queue_name, _OPEN
            )
        )[0]
        return int(count)

    def holders(self, role_id: str) -> list[Any]:
        """Active users with a valid grant of the role now: (id, experience_level)."""
        statement = (
            select(U.c.id, U.c.experience_level)
            .distinct()
            .select_from(
                U.join(G, and_(G.c.user_id == U.c.id, G.c.tenant_id == U.c.tenant_id)).join(
                    R, and_(R.c.id == G.c.role_id, R.c.tenant_id == G.c.tenant_id)
                )
            )
            .where(
                U.c.tenant_id == self.tenant,
                U.c.active,
                R.c.active,
                R.c.id == role_id,
                G.c.valid_from <= self.now,
                or_(G.c.valid_until.is_(None), G.c.valid_until > self.now),
            )
            .order_by(U.c.id)
        )
        return self._rows(statement)

    def assigned_priorities(self, user_ids: Sequence[str]) -> dict[str, list[int]]:
        """Priorities of each user's unfinished assigned tasks (their load)."""
        if not user_ids:
            return {}
        rows = self._rows(
            select(T.c.assignee, T.c.priority).where(
                T.c.tenant_id == self.tenant, T.c.assignee.in_(list(user_ids)), _OPEN
            )
        )
        found: dict[str, list[int]] = {u: [] for u in user_ids}
        for user_id, priority in rows:
            found[user_id].append(priority)
        return found

    def case_for_update(self, case_id: str, instance_id: str) -> Any | None:
        statement = select(K).where(
            K.c.tenant_id == self.tenant, K.c.case_id == case_id, K.c.instance_id == instance_id
        )
        if self.pg:
            statement = statement.with_for_update()
        rows = self._rows(statement)
        return rows[0] if rows else None

    # --- tasks ---

    def lock_task(
        self, task_id: str, actor: str | None, *, lock_item: bool = True
    ) -> Any | None:
        """The task row, locked (its claimable-set row first, unless ``lock_item`` is
        false), with whether ``actor`` may work it and manage it now (``visible``,
        ``manages``; false for no actor)."""
        if self.pg and lock_item:
            self._rows(
                select(I.c.task_id)
                .where(I.c.task_id == task_id, I.c.tenant_id == self.tenant)
                .with_for_update()
            )
        if self.pg:
            # prepared once per connection: the grant check costs more to plan than to run
            rows = self.prepared(
                "caseflow_lock_task",
                LOCK_TASK.with_for_update(of=T),
                LOCK_TASK_PARAMS,
                [self.tenant, self.now, actor or "", task_id],
            )
            return LockedTask(*rows[0]) if rows else None
        if actor is None:
            flags: list[Any] = [false().label("visible"), false().label("manages")]
        else:
            flags = [CAN_WORK.label("visible"), CAN_MANAGE.label("manages")]
        statement = select(*TASK_COLUMNS, *flags).where(T.c.id == task_id, T.c.tenant_id == TID)
        rows = self._rows(statement, self._p(actor=actor))
        return rows[0] if rows else None

    def prepared(
        self, name: str, statement: Any, names: Sequence[str], args: Sequence[Any]
    ) -> list[Any]:
        """PostgreSQL: ``statement`` as a prepared statement of this connection (its
        parameters ``names``, in order), run with ``args`` in this transaction."""
        conn = self.conn
        raw = cast("psycopg.Connection[Any]", conn.connection.driver_connection)
        info = conn.connection.info
        if name not in info.get(_PREPARED, ()):
            _prepare(raw, info, name, _rendered(name, statement, names))
        try:
            return _execute(raw, name, args)
        except psycopg.errors.InvalidSqlStatementName as error:
            # the session lost it (DEALLOCATE ALL): prepare again, from a fresh transaction
            info.pop(_PREPARED, None)
            raise ConcurrencyConflict(f"prepared statement {name} vanished") from error

    def may_work(self, task_id: str, user_id: str) -> bool:
        rows = self._rows(
            select(CAN_WORK).where(T.c.id == task_id, T.c.tenant_id == TID),
            self._p(actor=user_id),
        )
        return bool(rows and rows[0][0])

    def update_task(
        self,
        task_id: str,
        values: Mapping[str, Any],
        *,
        statuses: Sequence[str],
        assignee: str | Literal[False] | None = False,
    ) -> WorkTask | None:
        """A conditional UPDATE: only while the task is in ``statuses`` (and held by
        ``assignee``, ``None`` meaning unassigned, when given). The task as changed, or
        None when it matched no row; kept in :attr:`changed` too."""
        where = [T.c.id == task_id, T.c.tenant_id == self.tenant, T.c.status.in_(list(statuses))]
        if assignee is None:
            where.append(T.c.assignee.is_(None))
        elif assignee is not False:
            where.append(T.c.assignee == assignee)
        candidates = CANDIDATES_PG if self.pg else CANDIDATES_SQLITE
        rows = self._rows(
            update(T).where(*where).values(**values).returning(*TASK_COLUMNS, candidates)
        )
        if not rows:
            return None
        task = task_from(rows[0], *_split_candidates(rows[0][_N_TASK]))
        self.changed[task.id] = task
        return task

    def candidates_of(self, task_ids: Sequence[str]) -> dict[str, tuple[list[str], list[str]]]:
        found: dict[str, tuple[list[str], list[str]]] = {t: ([], []) for t in task_ids}
        if not task_ids:
            return found
        rows = self._rows(
            select(C.c.task_id, C.c.kind, C.c.value)
            .where(C.c.tenant_id == self.tenant, C.c.task_id.in_(list(task_ids)))
            .order_by(C.c.task_id, C.c.kind, C.c.value)
        )
        for task_id, kind, value in rows:
            found[task_id][0 if kind == "user" else 1].append(value)
        return found

    def tasks_from(self, rows: Sequence[Any]) -> list[WorkTask]:
        candidates = self.candidates_of([r[0] for r in rows])
        return [task_from(r, *candidates[r[0]]) for r in rows]

    def task(self, task_id: str) -> WorkTask | None:
        rows = self._rows(
            select(*TASK_COLUMNS).where(T.c.id == task_id, T.c.tenant_id == self.tenant)
        )
        return self.tasks_from(rows)[0] if rows else None

    # --- the claimable set ---

    def put_item(self, task_id: str, queue: str, priority: int, created_at: datetime) -> None:
        self.conn.execute(
            insert(I),
            [{
                "task_id": task_id, "tenant_id": self.tenant, "queue": queue,
                "priority": priority, "created_at": created_at,
            }],
        )

    def drop_items(self, task_ids: Sequence[str]) -> None:
        if task_ids:
            self.conn.execute(
                delete(I).where(I.c.tenant_id == self.tenant, I.c.task_id.in_(list(task_ids)))
            )

    def lock_items(self, task_ids: Sequence[str]) -> None:
        if self.pg and task_ids:
            self._rows(
                select(I.c.task_id)
                .where(I.c.tenant_id == self.tenant, I.c.task_id.in_(list(task_ids)))
                .order_by(I.c.task_id)
                .with_for_update()
            )

    def lock_tasks(self, task_ids: Sequence[str]) -> list[Any]:
        """Rows (id, status, assignee, priority, due_at, follow_up_at, queue, claimed_at) of
        the tasks as committed, locked: what the engine's stale copy must not overwrite."""
        if not task_ids:
            return []
        statement = (
            select(
                T.c.id, T.c.status, T.c.assignee, T.c.priority, T.c.due_at, T.c.follow_up_at,
                T.c.queue, T.c.claimed_at,
            )
            .where(T.c.tenant_id == self.tenant, T.c.id.in_(list(task_ids)))
            .order_by(T.c.id)
        )
        if self.pg:
            statement = statement.with_for_update()
        return self._rows(statement)

    def update_item(self, task_id: str, **values: Any) -> None:
        self.conn.execute(
            update(I).where(I.c.task_id == task_id, I.c.tenant_id == self.tenant).values(**values)
        )

    def claim_next(self, actor: str, queues: Sequence[str] | None, history_id: str) -> (
        tuple[bool, WorkTask | None]
    ):
        """Claim the best claimable task of the actor's (given) queues.

        (False, None): nothing claimable. (True, task): claimed. (True, None): the item
        taken was stale (its task no longer claimable; it is gone now): try again.
        """
        if self.pg:
            statement = CLAIM_NEXT_PG if queues is None else CLAIM_NEXT_PG_IN
            params = self._p(actor=actor, hid=history_id)
            if queues is not None:
                params["queues"] = list(queues)
            return _claimed(self._rows(statement, params))
        where = [I.c.tenant_id == TID, I.c.queue.in_(COVERED)]
        if queues is not None:
            where.append(I.c.queue.in_(list(queues)))
        picked = self._rows(
            select(I.c.task_id)
            .where(*where)
            .order_by(I.c.priority.desc(), I.c.created_at, I.c.task_id)
            .limit(1),
            self._p(actor=actor),
        )
        if not picked:
            return False, None
        (task_id,) = picked[0]
        self.drop_items([task_id])
        rows = self._rows(
            update(T)
            .where(
                T.c.id == task_id,
                T.c.tenant_id == self.tenant,
                T.c.assignee.is_(None),
                T.c.status.in_(CLAIMABLE_STATUSES),
            )
            .values(
                status=case((T.c.status == "ESCALATED", "ESCALATED"), else_="CLAIMED"),
                assignee=actor,
                claimed_at=self.now,
                claimed_by=actor,
            )
            .returning(*TASK_COLUMNS)
        )
        if not rows:
            return True, None
        task = self.tasks_from(rows)[0]
        self.add_history([{
            "id": history_id, "task_id": task.id, "instance_id": task.instance_id,
            "action": "CLAIM", "action_by": actor,
            "old_status": "ESCALATED" if task.status == "ESCALATED" else "OPEN",
            "new_status": task.status, "old_assignee": None, "new_assignee": actor,
            "queue": task.queue,
        }])
        return True, task

    # --- history ---

    def add_history(self, entries: Sequence[Mapping[str, Any]], *, events: bool = True) -> None:
        """History rows; with ``events``, the outbox events of those that are lifecycle
        changes (claimed, delegated...: :func:`caseflow.events.names.history_events`), in
        the same transaction. Routing passes ``events=False``: the engine's recorder
        reports a new task, routed, as TaskCreated and StepAssigned."""
        if not entries:
            return
        rows = []
        for entry in entries:
            row = dict.fromkeys(H.c.keys())
            row.update(entry)
            row["tenant_id"] = self.tenant
            if row.get("action_at") is None:
                row["action_at"] = self.now
            rows.append(row)
        self.conn.execute(insert(H), rows)
        if events:
            found = history_events(rows)
            if found:
                self.tx.add_events(found)

    def history(self, task_id: str) -> list[TaskHistoryEntry]:
        rows = self._rows(
            select(H)
            .where(H.c.task_id == task_id, H.c.tenant_id == self.tenant)
            .order_by(H.c.action_at, H.c.id)
        )
        return [history_entry(r) for r in rows]

    # --- queries ---

    def select_tasks(
        self,
        where: Sequence[ColumnElement[bool]],
        order: Sequence[Any],
        limit: int,
        offset: int = 0,
        *,
        actor: str | None = None,
    ) -> list[WorkTask]:
        """Tasks of this tenant matching ``where`` (grant checks are part of it, for
        ``actor``), with their candidates, in one statement."""
        candidates = CANDIDATES_PG if self.pg else CANDIDATES_SQLITE
        statement = (
            select(*TASK_COLUMNS, candidates)
            .where(T.c.tenant_id == TID, *where)
            .order_by(*order)
            # constants: a prepared statement's plan then knows how few rows it needs
            .limit(literal_column(str(int(limit)), Integer))
            .offset(literal_column(str(int(offset)), Integer))
        )
        rows = self._rows(statement, self._p(actor=actor))
        return [task_from(r, *_split_candidates(r[_N_TASK])) for r in rows]

    def count_tasks(
        self, where: Sequence[ColumnElement[bool]], *, actor: str | None = None
    ) -> int:
        rows = self._rows(
            select(func.count()).where(T.c.tenant_id == TID, *where), self._p(actor=actor)
        )
        return int(rows[0][0])

    def queue_stats(self, actor: str | None, names: Sequence[str] | None) -> list[Any]:
        """Per queue: name, max capacity, and counts of its unfinished tasks by status,
        overdue ones and the oldest's creation time."""
        def count(condition: ColumnElement[bool]) -> Any:
            return func.sum(case((condition, 1), else_=0))

        # the open tasks counted per queue first (one pass, hashed), then the queues
        per_queue = (
            select(
                T.c.queue,
                count(T.c.status == "OPEN").label("open"),
                count(T.c.status == "CLAIMED").label("claimed"),
                count(T.c.status == "DELEGATED").label("delegated"),
                count(T.c.status == "ESCALATED").label("escalated"),
                func.count().label("load"),
                count(and_(T.c.due_at.is_not(None), T.c.due_at < NOW)).label("overdue"),
                func.min(T.c.created_at).label("oldest"),
            )
            .where(T.c.tenant_id == TID, _OPEN)
            .group_by(T.c.queue)
            .subquery("per_queue")
        )
        statement = (
            select(
                Q.c.name,
                Q.c.max_capacity,
                *(
                    func.coalesce(per_queue.c[n], 0)
                    for n in ("open", "claimed", "delegated", "escalated", "load", "overdue")
                ),
                per_queue.c.oldest,
            )
            .select_from(Q.outerjoin(per_queue, per_queue.c.queue == Q.c.name))
            .where(Q.c.tenant_id == TID, Q.c.active)
            .order_by(Q.c.name)
        )
        if names is not None:
            statement = statement.where(Q.c.name.in_(list(names)))
        if actor is not None:
            statement = statement.where(Q.c.name.in_(COVERED))
        return self._rows(statement, self._p(actor=actor))


# --- rows to records ----------------------------------------------------------------------


def _record(cls: type[Any], row: Any) -> Any:
    mapping = row._mapping
    return cls(**{f.name: mapping[f.name] for f in fields(cls) if f.name in mapping})


def department(row: Any) -> Department:
    return _record(Department, row)  # type: ignore[no-any-return]


def user(row: Any) -> User:
    return _record(User, row)  # type: ignore[no-any-return]


def role(row: Any) -> Role:
    return _record(Role, row)  # type: ignore[no-any-return]


def grant(row: Any) -> Grant:
    return _record(Grant, row)  # type: ignore[no-any-return]


def skill(row: Any) -> Skill:
    return _record(Skill, row)  # type: ignore[no-any-return]


def queue(row: Any) -> Queue:
    return _record(Queue, row)  # type: ignore[no-any-return]


def assignment(row: Any) -> QueueAssignment:
    return _record(QueueAssignment, row)  # type: ignore[no-any-return]


def routing_rule(row: Any) -> RoutingRule:
    return _record(RoutingRule, row)  # type: ignore[no-any-return]


def history_entry(row: Any) -> TaskHistoryEntry:
    return _record(TaskHistoryEntry, row)  # type: ignore[no-any-return]


def case_routing(row: Any) -> CaseRouting:
    return _record(CaseRouting, row)  # type: ignore[no-any-return]


__all__ = [
    "CLAIM_NEXT_PG",
    "TASK_COLUMNS",
    "WorkSql",
    "can_manage",
    "can_work",
    "covered_queues",
    "role_codes",
    "task_from",
    "variable_condition",
]
