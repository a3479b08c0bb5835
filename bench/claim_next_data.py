"""The claim-next benchmark's database: organisation, processes, and tasks loaded in bulk.

Tasks are written with ``INSERT ... SELECT generate_series`` as the engine would have
written them (instance, token at the user task, its open activity, the task, its
variables, its claimable-set row), so a worker can claim and complete them through the
real service and engine, and loading a hundred thousand (or a million) takes seconds.
Ids are md5-derived UUIDs: random, like the engine's, to the indexes.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from caseflow.runtime import ProcessEngine
from caseflow.store import open_store
from caseflow.store.schema import metadata
from caseflow.store.sql import SqlStore
from caseflow.work import WorkService

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/caseflow_bench_work"
MILLION_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/caseflow_bench_work_1m"
ROLE = "workers"
RUNTIME = (
    "work_task_history", "work_queue_item", "work_case", "task_candidate", "user_task",
    "variable", "activity_history", "execution", "process_instance", "command_log",
)


def queue_name(i: int) -> str:
    return f"q{i:02d}"


def process_key(i: int) -> str:
    return f"bench_{queue_name(i)}"


def bench_process(i: int) -> str:
    """A user task in queue ``i`` that opens again when completed, unless ``done``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:caseflow="http://caseflow.dev/schema/bpmn"
    id="defs" targetNamespace="http://caseflow.dev/bench">
  <process id="{process_key(i)}" isExecutable="true">
    <startEvent id="s"/>
    <userTask id="work" name="Handle case" caseflow:queue="{queue_name(i)}"/>
    <exclusiveGateway id="again" default="loop"/>
    <endEvent id="e"/>
    <sequenceFlow id="f_s_work" sourceRef="s" targetRef="work"/>
    <sequenceFlow id="f_work_again" sourceRef="work" targetRef="again"/>
    <sequenceFlow id="f_done" sourceRef="again" targetRef="e">
      <conditionExpression xsi:type="tFormalExpression">${{done == true}}</conditionExpression>
    </sequenceFlow>
    <sequenceFlow id="loop" sourceRef="again" targetRef="work"/>
  </process>
</definitions>
"""


def ensure_database(url: str) -> None:
    parsed = make_url(url)
    name = parsed.database or ""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise SystemExit(f"unusable database name {name!r}")
    if name in ("test", "postgres"):
        raise SystemExit(f"refusing to benchmark in the {name!r} database; use a dedicated one")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).scalar()
            if not found:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


@dataclass
class Setup:
    url: str
    queues: int
    workers: int
    definitions: dict[int, str]  # queue index -> definition id


def prepare(url: str, *, queues: int, workers: int) -> Setup:
    """Migrate, empty every caseflow table, deploy the processes, build the organisation:
    ``queues`` queues, a role working all of them, users ``w0`` ... with that role."""
    ensure_database(url)
    store = open_store(url, migrate=True)
    assert isinstance(store, SqlStore)
    try:
        with store.engine.begin() as conn:
            names = ", ".join(t.name for t in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} CASCADE"))
        engine = ProcessEngine(store)
        work = WorkService(engine)
        work.create_role(ROLE, "Workers")
        definitions = {}
        for i in range(queues):
            work.create_queue(queue_name(i))
            work.assign_queue(queue_name(i), ROLE)
            result = engine.deploy(bench_process(i), resource_name=f"{process_key(i)}.bpmn")
            definitions[i] = result.definitions[0].id
        for n in range(max(workers, 64)):
            work.create_user(f"w{n}", f"Worker {n}")
            work.grant(f"w{n}", ROLE, by="bench")
    finally:
        store.close()
    return Setup(url, queues, workers, definitions)


def sql_engine(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT")


def _ids(prefix: str) -> str:
    return f"md5('{prefix}' || g)::uuid::text"


def load_tasks(
    setup: Setup,
    *,
    open_tasks: int,
    closed_tasks: int = 0,
    assigned_open: int = 0,
    assignees: int = 64,
) -> float:
    """Empty the runtime tables and load ``open_tasks`` open tasks (round the queues,
    priorities 30..70, one second apart, oldest first) and ``closed_tasks`` completed
    ones. ``assigned_open`` of the open tasks are claimed, spread over users w0...
    Returns the seconds it took (VACUUM ANALYZE included)."""
    start = time.perf_counter()
    engine = sql_engine(setup.url)
    total = open_tasks + closed_tasks
    q = setup.queues
    case_def = "CASE " + " ".join(
        f"WHEN g % {q} = {i} THEN '{d}'" for i, d in setup.definitions.items()
    ) + " END"
    # g runs 1..total; the first closed_tasks are completed, the rest open; of the open
    # ones, the first assigned_open are claimed
    status = (
        f"CASE WHEN g <= {closed_tasks} THEN 'COMPLETED' "
        f"WHEN g <= {closed_tasks + assigned_open} THEN 'CLAIMED' ELSE 'OPEN' END"
    )
    assignee = (
        f"CASE WHEN g <= {closed_tasks + assigned_open} THEN 'w' || (g % {assignees}) END"
    )
    created = f"now() - make_interval(secs => {total} - g)"
    try:
        with engine.connect() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(RUNTIME)} CASCADE"))
            statements = [
                f"""INSERT INTO process_instance (id, tenant_id, definition_id, process_key,
                    status, started_at, business_key, case_id, root_instance_id, ended_at,
                    revision)
                SELECT {_ids('i')}, 'default', {case_def}, 'bench_q' || lpad((g % {q})::text,
                    2, '0'), CASE WHEN g <= {closed_tasks} THEN 'COMPLETED' ELSE 'ACTIVE' END,
                    {created}, 'BK-' || g, 'CASE-' || (g / 3), {_ids('i')},
                    CASE WHEN g <= {closed_tasks} THEN now() END, 1
                FROM generate_series(1, {total}) g""",
                f"""INSERT INTO activity_history (id, tenant_id, instance_id, execution_id,
                    element_id, element_type, started_at, seq, element_name, ended_at, outcome)
                SELECT {_ids('a')}, 'default', {_ids('i')}, {_ids('x')}, 'work', 'userTask',
                    {created}, 1, 'Handle case',
                    CASE WHEN g <= {closed_tasks} THEN now() END,
                    CASE WHEN g <= {closed_tasks} THEN 'completed' END
                FROM generate_series(1, {total}) g""",
                f"""INSERT INTO execution (id, tenant_id, instance_id, element_id, state,
                    created_at, arrived_via, is_mi_body, history_id)
                SELECT {_ids('x')}, 'default', {_ids('i')}, 'work', 'waiting', {created},
                    'f_s_work', false, {_ids('a')}
                FROM generate_series({closed_tasks + 1}, {total}) g""",
                f"""INSERT INTO variable (id, tenant_id, instance_id, name, type, long_value)
                SELECT {_ids('vd')}, 'default', {_ids('i')}, 'done', 'boolean', 0
                FROM generate_series(1, {total}) g""",
                f"""INSERT INTO variable (id, tenant_id, instance_id, name, type, long_value,
                    double_value)
                SELECT {_ids('va')}, 'default', {_ids('i')}, 'amount', 'integer',
                    (g::bigint * 7919) % 100000, (g::bigint * 7919) % 100000
                FROM generate_series(1, {total}) g""",
                f"""INSERT INTO variable (id, tenant_id, instance_id, name, type, text_value)
                SELECT {_ids('vr')}, 'default', {_ids('i')}, 'region', 'string',
                    (ARRAY['north', 'south', 'east', 'west', 'centre'])[1 + g % 5]
                FROM generate_series(1, {total}) g""",
                f"""INSERT INTO user_task (id, tenant_id, instance_id, execution_id, element_id,
                    process_key, definition_id, name, status, created_at, priority, assignee,
                    queue, business_key, case_id, completed_at, completed_by, claimed_at,
                    claimed_by)
                SELECT {_ids('t')}, 'default', {_ids('i')}, {_ids('x')}, 'work',
                    'bench_q' || lpad((g % {q})::text, 2, '0'), {case_def}, 'Handle case',
                    {status}, {created}, 30 + (g % 5) * 10, {assignee},
                    'q' || lpad((g % {q})::text, 2, '0'), 'BK-' || g, 'CASE-' || (g / 3),
                    CASE WHEN g <= {closed_tasks} THEN now() END,
                    CASE WHEN g <= {closed_tasks} THEN {assignee} END,
                    CASE WHEN g <= {closed_tasks + assigned_open} THEN {created} END,
                    CASE WHEN g <= {closed_tasks + assigned_open} THEN {assignee} END
                FROM generate_series(1, {total}) g""",
                f"""INSERT INTO work_queue_item (task_id, tenant_id, queue, priority, created_at)
                SELECT {_ids('t')}, 'default', 'q' || lpad((g % {q})::text, 2, '0'),
                    30 + (g % 5) * 10, {created}
                FROM generate_series({closed_tasks + assigned_open + 1}, {total}) g""",
            ]
            for statement in statements:
                conn.execute(text(statement))
            for table in RUNTIME:
                conn.execute(text(f"VACUUM ANALYZE {table}"))
    finally:
        engine.dispose()
    return time.perf_counter() - start
