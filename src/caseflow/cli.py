"""The ``caseflow`` command line: validate, deploy, start, inspect and drive processes.

Every command works against ``--database-url`` (or ``CASEFLOW_DATABASE_URL``), by
default a SQLite file ``caseflow.db`` in the working directory. Output is for people;
``--json`` gives the same facts for scripts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import isodate
import typer
from rich.console import Console
from rich.table import Column, Table

from caseflow.errors import CaseflowError, DefinitionError, IllegalState, Problem
from caseflow.runtime import ProcessEngine
from caseflow.runtime.ports import InstanceQuery, TaskQuery, TopicRequest

DEFAULT_DATABASE_URL = "sqlite:///caseflow.db"

app = typer.Typer(
    help="caseflow: a BPMN 2.0 workflow and case-routing engine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
external_app = typer.Typer(
    help="Work external (service) tasks as a worker would.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
app.add_typer(external_app, name="external")
app.add_typer(db_app, name="db")
events_app = typer.Typer(
    help="Event delivery: the outbox to webhooks and brokers.", no_args_is_help=True
)
app.add_typer(events_app, name="events")

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

DatabaseUrl = Annotated[
    str,
    typer.Option(
        "--database-url",
        envvar="CASEFLOW_DATABASE_URL",
        help="SQLite or PostgreSQL URL; default: caseflow.db here.",
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Vars = Annotated[
    list[str] | None,
    typer.Option(
        "--var",
        "-v",
        help="A variable as name=value; the value is read as JSON"
        ' when it parses (42, true, "text", {"a": 1}), else as text.',
    ),
]


def _engine(database_url: str) -> ProcessEngine:
    from caseflow.store import open_store

    return ProcessEngine(open_store(database_url))


def parse_vars(pairs: list[str] | None) -> dict[str, Any]:
    """``name=value`` pairs; values as JSON when they parse (decimals stay exact)."""
    result: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected name=value, got {pair!r}", param_hint="--var")
        try:
            value: Any = json.loads(raw, parse_float=Decimal)
        except ValueError:
            value = raw
        result[name.strip()] = value
    return result


def _plain(value: Any) -> Any:
    """Make records and typed values printable as JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _emit_json(value: Any) -> None:
    out.print_json(json.dumps(_plain(value), ensure_ascii=False))


def _id_column() -> Column:
    """Ids are what people copy into the next command: never cut or wrapped."""
    return Column("id", no_wrap=True, min_width=36)


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _fail(exc: CaseflowError) -> typer.Exit:
    err.print(f"[bold red]error[/]: {exc}", highlight=False, markup=True)
    return typer.Exit(code=1)


def _print_problems(problems: list[Problem]) -> None:
    for problem in sorted(problems, key=lambda p: (p.severity != "error", p.line or 0)):
        colour = "red" if problem.severity == "error" else "yellow"
        where = []
        if problem.line is not None:
            where.append(f"line {problem.line}")
        if problem.element_id:
            where.append(problem.element_id)
        location = f" [dim]{', '.join(where)}[/]" if where else ""
        out.print(
            f"  [{colour}]{problem.severity}[/]{location}: {problem.message}"
            f" [dim]({problem.code})[/]",
            highlight=False,
        )


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    all_processes: Annotated[
        bool,
        typer.Option("--all", help="Also check processes marked isExecutable=\"false\"."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check a BPMN file: parse it, apply the rules, say what caseflow cannot run."""
    engine = ProcessEngine(_memory_store())
    try:
        problems = engine.validate(
            file.read_bytes(), resource_name=file.name, executable_only=not all_processes
        )
    except DefinitionError as exc:
        if as_json:
            _emit_json(
                {
                    "file": str(file),
                    "valid": False,
                    "problems": [_plain(p) for p in exc.problems] or [str(exc)],
                }
            )
        else:
            out.print(f"[bold red]{file.name}: cannot be read[/]", highlight=False)
            out.print(f"  {exc}", highlight=False)
        raise typer.Exit(code=1) from None
    errors = [p for p in problems if p.severity == "error"]
    if as_json:
        _emit_json({"file": str(file), "valid": not errors, "problems": problems})
    else:
        verdict = "[bold red]invalid[/]" if errors else "[bold green]valid[/]"
        out.print(
            f"{file.name}: {verdict} ({len(errors)} error(s),"
            f" {len(problems) - len(errors)} warning(s))",
            highlight=False,
        )
        _print_problems(problems)
    raise typer.Exit(code=1 if errors else 0)


def _memory_store() -> Any:
    from caseflow.store import open_store

    return open_store("memory://")


@app.command()
def deploy(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    as_json: JsonFlag = False,
) -> None:
    """Deploy BPMN files: each changed process becomes its key's next version."""
    engine = _engine(database_url)
    results = []
    for file in files:
        try:
            result = engine.deploy(file.read_bytes(), resource_name=file.name)
        except DefinitionError as exc:
            err.print(f"[bold red]{file.name}: not deployed[/]", highlight=False)
            for problem in exc.problems:
                err.print(f"  {problem}", highlight=False)
            if not exc.problems:
                err.print(f"  {exc}", highlight=False)
            raise typer.Exit(code=1) from None
        results.append(result)
        if not as_json:
            for d in result.definitions:
                out.print(
                    f"deployed [bold]{d.key}[/] version {d.version} ({d.id})", highlight=False
                )
            for d in result.unchanged:
                out.print(f"unchanged [bold]{d.key}[/] version {d.version}", highlight=False)
            _print_problems(list(result.warnings))
    if as_json:
        _emit_json(results)


@app.command()
def definitions(
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL, as_json: JsonFlag = False
) -> None:
    """List deployed process definitions and their versions."""
    found = _engine(database_url).definitions()
    if as_json:
        _emit_json(found)
        return
    table = Table("key", "version", "name", "status", "deployed")
    table.add_column("id", no_wrap=True)
    for d in sorted(found, key=lambda d: (d.key, d.version)):
        table.add_row(d.key, str(d.version), d.name or "", d.status, _when(d.deployed_at), d.id)
    out.print(table)


@app.command()
def start(
    key: str,
    var: Vars = None,
    business_key: Annotated[str | None, typer.Option("--business-key", "-b")] = None,
    case_id: Annotated[str | None, typer.Option("--case-id")] = None,
    version: Annotated[int | None, typer.Option("--version")] = None,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    as_json: JsonFlag = False,
) -> None:
    """Start an instance of the latest deployed version of KEY."""
    engine = _engine(database_url)
    try:
        record = engine.start(
            key,
            business_key=business_key,
            case_id=case_id,
            variables=parse_vars(var),
            version=version,
        )
        view = engine.instance(record.id)
    except CaseflowError as exc:
        raise _fail(exc) from None
    if as_json:
        _emit_json(view)
        return
    out.print(f"started [bold]{record.id}[/] ({key}), status {record.status}", highlight=False)
    _print_open_work(view)


@app.command()
def instances(
    key: Annotated[str | None, typer.Option("--key")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    business_key: Annotated[str | None, typer.Option("--business-key", "-b")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    as_json: JsonFlag = False,
) -> None:
    """List process instances, newest first."""
    found = _engine(database_url).instances(
        InstanceQuery(process_key=key, status=status, business_key=business_key, limit=limit)
    )
    if as_json:
        _emit_json(found)
        return
    table = Table(_id_column(), "process", "business key", "status", "started")
    for i in found:
        table.add_row(i.id, i.process_key, i.business_key or "", i.status, _when(i.started_at))
    out.print(table)


def _print_open_work(view: Any) -> None:
    if view.active_elements:
        out.print("active: " + ", ".join(view.active_elements), highlight=False)
    for task in view.tasks:
        who = task.assignee or ", ".join(task.candidate_groups) or "anyone"
        out.print(
            f"  user task [bold]{task.name or task.element_id}[/] for {who}: {task.id}",
            highlight=False,
        )
    for ext in view.external_tasks:
        out.print(f"  external task on topic [bold]{ext.topic}[/]: {ext.id}", highlight=False)
    for sub in view.subscriptions:
        out.print(f"  waiting for message [bold]{sub.event_name}[/]", highlight=False)
    for incident in view.incidents:
        out.print(
            f"  [red]incident[/] at {incident.element_id}: {incident.message}", highlight=False
        )


@app.command()
def show(
    instance_id: str,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    as_json: JsonFlag = False,
) -> None:
    """Show an instance: status, variables, open work and its history."""
    engine = _engine(database_url)
    try:
        view = engine.instance(instance_id)
        history = engine.history(instance_id)
    except CaseflowError as exc:
        raise _fail(exc) from None
    if as_json:
        _emit_json({"instance": view, "history": history})
        return
    inst = view.instance
    out.print(f"[bold]{inst.id}[/] {inst.process_key} [{inst.status}]", highlight=False)
    out.print(
        f"business key: {inst.business_key or '-'}   started: {_when(inst.started_at)}"
        f"   ended: {_when(inst.ended_at)}",
        highlight=False,
    )
    if inst.end_reason:
        out.print(f"end reason: {inst.end_reason}", highlight=False)
    if view.variables:
        out.print("variables:")
        for name, value in sorted(view.variables.items()):
            out.print(
                f"  {name} = {json.dumps(_plain(value), ensure_ascii=False)}", highlight=False
            )
    _print_open_work(view)
    table = Table("element", "type", "started", "ended", "outcome", title="history")
    for h in sorted(history, key=lambda h: (h.started_at, h.ended_at or h.started_at)):
        table.add_row(
            h.element_name or h.element_id,
            h.element_type,
            _when(h.started_at),
            _when(h.ended_at),
            h.outcome or "active",
        )
    out.print(table)


@app.command()
def tasks(
    instance_id: Annotated[str | None, typer.Option("--instance")] = None,
    assignee: Annotated[str | None, typer.Option("--assignee")] = None,
    group: Annotated[str | None, typer.Option("--group")] = None,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    as_json: JsonFlag = False,
) -> None:
    """List open user tasks."""
    found = _engine(database_url).tasks(
        TaskQuery(instance_id=instance_id, assignee=assignee, candidate_group=group)
    )
    if as_json:
        _emit_json(found)
        return
    table = Table(_id_column(), "task", "business key", "assignee / groups")
    for t in found:
        table.add_row(
            t.id,
            t.name or t.element_id,
            t.business_key or "",
            t.assignee or ", ".join(t.candidate_groups),
        )
    out.print(table)


@app.command()
def complete(
    task_id: str,
    var: Vars = None,
    user: Annotated[str | None, typer.Option("--user")] = None,
    outcome: Annotated[str | None, typer.Option("--outcome")] = None,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    as_json: JsonFlag = False,
) -> None:
    """Complete a user task, optionally setting variables."""
    engine = _engine(database_url)
    try:
        task = engine.task(task_id)
        engine.complete_task(task_id, parse_vars(var), user=user, outcome=outcome)
        view = engine.instance(task.instance_id)
    except CaseflowError as exc:
        raise _fail(exc) from None
    if as_json:
        _emit_json(view)
        return
    out.print(
        f"completed {task.name or task.element_id}; instance {view.instance.id}"
        f" is {view.instance.status}",
        highlight=False,
    )
    _print_open_work(view)


@app.command()
def message(
    name: str,
    var: Vars = None,
    business_key: Annotated[str | None, typer.Option("--business-key", "-b")] = None,
    correlation_key: Annotated[str | None, typer.Option("--correlation-key")] = None,
    all_matches: Annotated[bool, typer.Option("--all")] = False,
    ttl: Annotated[
        str | None,
        typer.Option("--ttl", help="ISO 8601 duration (PT1H): keep it this long if no one waits"),
    ] = None,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Deliver a message to the instance waiting for it (with --ttl, keep it for one that
    comes later)."""
    try:
        engine = _engine(database_url)
        if ttl is None:
            ids = engine.correlate_message(
                name,
                business_key=business_key,
                correlation_key=correlation_key,
                variables=parse_vars(var),
                all_matches=all_matches,
            )
        else:
            published = engine.publish_message(
                name,
                time_to_live=_duration(ttl),
                business_key=business_key,
                correlation_key=correlation_key,
                variables=parse_vars(var),
                all_matches=all_matches,
            )
            if published.buffered_id is not None and published.expires_at is not None:
                out.print(
                    f"no one waits yet: kept as {published.buffered_id} until"
                    f" {published.expires_at.isoformat()}",
                    highlight=False,
                )
                return
            ids = published.instance_ids
    except CaseflowError as exc:
        raise _fail(exc) from None
    out.print(f"delivered to {', '.join(ids)}", highlight=False)


def _duration(text: str) -> dt.timedelta:
    """An ISO 8601 duration of days and time (PT1H, P2D); a clear error otherwise."""
    try:
        value = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError):
        raise _fail(IllegalState(f"'{text}' is not an ISO 8601 duration such as PT1H")) from None
    if not isinstance(value, dt.timedelta):
        raise _fail(IllegalState(f"'{text}': give days and time (P2D, PT1H), not months or years"))
    return value


@app.command("retry-job")
def retry_job(
    job_id: str,
    retries: Annotated[int, typer.Option("--retries")] = 3,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Give a failed job new retries; its incident is resolved."""
    try:
        _engine(database_url).retry_job(job_id, retries)
    except CaseflowError as exc:
        raise _fail(exc) from None
    out.print(f"job {job_id} will run again ({retries} retries)", highlight=False)


@app.command()
def signal(
    name: str,
    var: Vars = None,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Broadcast a signal to every instance waiting for it (and start those it starts)."""
    try:
        reached = _engine(database_url).throw_signal(name, variables=parse_vars(var))
    except CaseflowError as exc:
        raise _fail(exc) from None
    out.print(f"signal {name} reached {reached} receiver(s)", highlight=False)


@app.command()
def terminate(
    instance_id: str,
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Terminate an instance, cancelling all its work."""
    try:
        _engine(database_url).terminate(instance_id, reason)
    except CaseflowError as exc:
        raise _fail(exc) from None
    out.print(f"terminated {instance_id}", highlight=False)


@app.command()
def suspend(instance_id: str, database_url: DatabaseUrl = DEFAULT_DATABASE_URL) -> None:
    """Suspend an instance (and the processes it called)."""
    try:
        _engine(database_url).suspend(instance_id)
    except CaseflowError as exc:
        raise _fail(exc) from None
    out.print(f"suspended {instance_id}", highlight=False)


@app.command()
def resume(instance_id: str, database_url: DatabaseUrl = DEFAULT_DATABASE_URL) -> None:
    """Resume a suspended instance."""
    try:
        _engine(database_url).resume(instance_id)
    except CaseflowError as exc:
        raise _fail(exc) from None
    out.print(f"resumed {instance_id}", highlight=False)


@external_app.command("fetch")
def external_fetch(
    topic: Annotated[list[str], typer.Option("--topic", "-t")],
    worker: Annotated[str, typer.Option("--worker", "-w")] = "cli-worker",
    max_tasks: Annotated[int, typer.Option("--max")] = 1,
    lock_ms: Annotated[int, typer.Option("--lock-ms")] = 300_000,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    as_json: JsonFlag = False,
) -> None:
    """Fetch and lock external tasks of the given topics."""
    locked = _engine(database_url).fetch_and_lock(
        worker, [TopicRequest(t, lock_ms) for t in topic], max_tasks=max_tasks
    )
    if as_json:
        _emit_json(locked)
        return
    if not locked:
        out.print("no task available")
    for item in locked:
        out.print(
            f"locked [bold]{item.task.id}[/] topic {item.task.topic} for {worker}"
            f" until {_when(item.task.lock_expires_at)}",
            highlight=False,
        )
        for name, value in sorted(item.variables.items()):
            out.print(
                f"  {name} = {json.dumps(_plain(value), ensure_ascii=False)}", highlight=False
            )


@external_app.command("complete")
def external_complete(
    task_id: str,
    var: Vars = None,
    worker: Annotated[str, typer.Option("--worker", "-w")] = "cli-worker",
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Complete a locked external task."""
    try:
        _engine(database_url).complete_external_task(task_id, worker, parse_vars(var))
    except CaseflowError as exc:
        raise _fail(exc) from None
    out.print(f"completed external task {task_id}", highlight=False)


@external_app.command("fail")
def external_fail(
    task_id: str,
    message_text: Annotated[str, typer.Option("--message", "-m")],
    retries: Annotated[int, typer.Option("--retries")] = 0,
    retry_timeout_ms: Annotated[int, typer.Option("--retry-timeout-ms")] = 0,
    worker: Annotated[str, typer.Option("--worker", "-w")] = "cli-worker",
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Report a failure; with no retries left the task becomes an incident."""
    try:
        _engine(database_url).handle_failure(
            task_id,
            worker,
            error_message=message_text,
            retries=retries,
            retry_timeout_ms=retry_timeout_ms,
        )
    except CaseflowError as exc:
        raise _fail(exc) from None
    out.print(f"recorded failure of {task_id} ({retries} retries left)", highlight=False)


@external_app.command("error")
def external_error(
    task_id: str,
    code: Annotated[str, typer.Option("--code")],
    message_text: Annotated[str | None, typer.Option("--message", "-m")] = None,
    worker: Annotated[str, typer.Option("--worker", "-w")] = "cli-worker",
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Report a BPMN error, for a boundary event to catch."""
    try:
        _engine(database_url).handle_bpmn_error(
            task_id, worker, error_code=code, error_message=message_text
        )
    except CaseflowError as exc:
        raise _fail(exc) from None
    out.print(f"reported error {code} on {task_id}", highlight=False)


@app.command()
def demo(database_url: DatabaseUrl = DEFAULT_DATABASE_URL) -> None:
    """Load the demo (organisation, two processes, cases in flight), then show the cases.

    Loads nothing twice: run it again to see where the cases stand.
    """
    from caseflow.demo import load_demo
    from caseflow.work import WorkService

    engine = _engine(database_url)
    summary = load_demo(engine, WorkService(engine))
    for deployed in summary.deployed:
        out.print(f"deployed [bold]{deployed}[/]", highlight=False)
    if summary.cases_loaded:
        out.print(f"put {summary.cases.started} demo cases in flight", highlight=False)
    instances(
        key=None, status=None, business_key=None, limit=60, database_url=database_url,
        as_json=False,
    )
    out.print(
        "\nnext: [bold]caseflow serve --demo[/] (log in as an.nguyen, supervisor or admin),"
        " [bold]caseflow tasks[/], [bold]caseflow show INSTANCE_ID[/],"
        " [bold]caseflow external fetch --topic verify-identity[/]",
        highlight=False,
    )


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = DEFAULT_DATABASE_URL) -> None:
    """Bring the database schema to the current version."""
    from caseflow.store.migrate import upgrade

    upgrade(database_url)
    out.print("database schema is up to date")


@app.command("executor")
def executor_command(
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    node_id: Annotated[
        str | None, typer.Option("--node-id", help="Unique per process; default host:pid:random.")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Jobs run at once.")] = 4,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Jobs locked per acquire.")
    ] = 32,
    lock_for: Annotated[
        float, typer.Option("--lock-for", min=0.1, help="Seconds a job may run before another"
                            " node may take it over.")
    ] = 300.0,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", min=0.01, help="Seconds between polls when idle.")
    ] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="Run what is due now, then exit.")] = False,
) -> None:
    """Run due jobs (timers, async continuations, retries) until SIGINT or SIGTERM.

    Start as many as you like, on as many machines, against one PostgreSQL: each job runs
    once. On SIGINT/SIGTERM running jobs finish and locked, unstarted ones are released.
    """
    import logging
    import signal
    import threading

    from caseflow.store.sql import SqlStore
    from caseflow.time.jobs import JobExecutor

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    engine = _engine(database_url)
    runner = JobExecutor(
        engine,
        node_id=node_id,
        batch_size=batch_size,
        max_workers=workers,
        lock_for=dt.timedelta(seconds=lock_for),
        poll_interval=dt.timedelta(seconds=poll_interval),
    )
    if isinstance(engine.store, SqlStore):  # SLA checks and escalations need the work tables
        from caseflow.work import WorkService
        from caseflow.work.escalation import Escalations

        Escalations(WorkService(engine)).register(runner)
    try:
        if once:
            count = runner.run_until_idle()
            out.print(f"{count} job(s) acquired: {runner.stats.as_dict()}", highlight=False)
            return
        stop = threading.Event()
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, lambda _s, _f: stop.set()) for sig in handled}
        out.print(f"job executor {runner.node_id} running; Ctrl-C to stop", highlight=False)
        try:
            runner.run_forever(stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        out.print(f"job executor stopped: {runner.stats.as_dict()}", highlight=False)
    finally:
        engine.store.close()


@app.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option("--host", help="Default 127.0.0.1.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Default 8080.")] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="SQLite or PostgreSQL URL; default: caseflow.db here."),
    ] = None,
    no_executor: Annotated[
        bool, typer.Option("--no-executor", help="Serve the API only; run `caseflow executor`"
                           " elsewhere for timers and async jobs.")
    ] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="A TOML file of settings (see docs/api.md).")
    ] = None,
    demo_data: Annotated[
        bool, typer.Option("--demo", help="Load the demo organisation and cases first.")
    ] = False,
) -> None:
    """Serve the HTTP API (and the web app) with the job executor, until SIGINT/SIGTERM.

    Settings come from CASEFLOW_* environment variables and the --config file; options given
    here win. On shutdown the server stops accepting, lets in-flight requests end, then
    stops the executor (running jobs finish, locked unstarted ones are released).
    """
    import importlib.util

    import uvicorn

    from caseflow.api.app import UnsafeConfiguration, check_configuration, create_app
    from caseflow.api.observability import configure_logging
    from caseflow.api.services import build_services
    from caseflow.api.settings import load_settings

    overrides: dict[str, Any] = {"host": host, "port": port, "database_url": database_url}
    if no_executor:
        overrides["executor"] = False
    settings = load_settings(config, **overrides)
    configure_logging(settings)
    try:
        check_configuration(settings)
    except UnsafeConfiguration as error:
        err.print(f"error: {error}", highlight=False)
        raise typer.Exit(2) from error
    services = build_services(settings)
    try:
        application = create_app(services=services)
        if demo_data:
            if importlib.util.find_spec("caseflow.demo") is None:
                err.print("error: this build has no demo data (caseflow.demo)", highlight=False)
                raise typer.Exit(2)
            import caseflow.demo

            loader = getattr(caseflow.demo, "load_demo", None)
            if loader is None:
                err.print("error: caseflow.demo has no load_demo", highlight=False)
                raise typer.Exit(2)
            loader(services)
        uvicorn.run(
            application,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        )
    finally:
        services.close()


@events_app.command("dispatch")
def events_dispatch_command(
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    node_id: Annotated[
        str | None, typer.Option("--node-id", help="Unique per process; default host:pid:random.")
    ] = None,
    sink: Annotated[
        list[str] | None,
        typer.Option("--sink",
                     help="A broker to publish to: nats://..., amqp://..., redis://... (repeat)."),
    ] = None,
    retention_days: Annotated[
        float, typer.Option("--retention-days", min=0.01,
                            help="Delivered events and deliveries are deleted after this.")
    ] = 7.0,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", min=0.01, help="Seconds between polls when idle.")
    ] = 0.5,
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due now, then exit.")
    ] = False,
) -> None:
    """Deliver outbox events to webhooks and brokers until SIGINT or SIGTERM.

    At least once, in order per process instance; run one per node, on as many nodes as
    you like against one PostgreSQL (see docs/events.md).
    """
    import logging
    import signal
    import threading

    from caseflow.events.dispatcher import Dispatcher, DispatcherConfig
    from caseflow.events.sinks import sink_from_url
    from caseflow.store import open_store
    from caseflow.store.sql import SqlStore
    from caseflow.time.jobs import default_node_id

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    store = open_store(database_url)
    try:
        if not isinstance(store, SqlStore):
            raise typer.BadParameter("event delivery needs SQLite or PostgreSQL")
        config = DispatcherConfig(poll_interval=poll_interval,
                                  retention=dt.timedelta(days=retention_days))
        sinks = [sink_from_url(url) for url in sink or ()]
        dispatcher = Dispatcher(store, node_id=node_id or default_node_id(), config=config,
                                sinks=sinks)
        if once:
            dispatcher.run_until_idle()
            dispatcher.close()
            out.print(f"events: {dispatcher.stats}", highlight=False)
            return
        stop = threading.Event()
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, lambda _s, _f: stop.set()) for sig in handled}
        out.print(f"event dispatcher {dispatcher.node_id} running; Ctrl-C to stop",
                  highlight=False)
        try:
            worker = threading.Thread(target=dispatcher.run_forever, daemon=True)
            worker.start()
            while worker.is_alive() and not stop.wait(0.5):
                pass
            dispatcher.stop()
            worker.join(30)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        out.print(f"event dispatcher stopped: {dispatcher.stats}", highlight=False)
    finally:
        store.close()


api_key_app = typer.Typer(help="API keys of machine clients (shown once, kept hashed).",
                          no_args_is_help=True)
app.add_typer(api_key_app, name="api-key")


def _api_services(database_url: str) -> Any:
    from caseflow.api.services import build_services
    from caseflow.api.settings import Settings

    return build_services(Settings(database_url=database_url, executor=False))


@api_key_app.command("create")
def api_key_create(
    user: Annotated[str, typer.Option("--user", help="The user the key acts as.")],
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    created_by: Annotated[str, typer.Option("--by", help="Who makes it (for the record).")] = (
        "cli"
    ),
) -> None:
    """Make a key and print it: this is the only time it is shown."""
    from caseflow.api.apikeys import create_api_key

    services = _api_services(database_url)
    try:
        created = create_api_key(services, user_id=user, name=name, created_by=created_by)
    finally:
        services.close()
    err.print(f"API key {created.key.id} for user {user} (store it now: it is not kept):")
    print(created.secret)


@api_key_app.command("list")
def api_key_list(database_url: DatabaseUrl = DEFAULT_DATABASE_URL, as_json: JsonFlag = False) -> (
    None
):
    """The keys (never their secrets)."""
    from caseflow.api.apikeys import list_api_keys

    services = _api_services(database_url)
    try:
        keys = list_api_keys(services)
    finally:
        services.close()
    if as_json:
        _emit_json([dataclasses.asdict(k) for k in keys])
        return
    table = Table("id", "name", "user", "created", "last used", "revoked")
    for key in keys:
        table.add_row(
            key.id, key.name, key.user_id, _when(key.created_at),
            _when(key.last_used_at) if key.last_used_at else "",
            _when(key.revoked_at) if key.revoked_at else "",
        )
    out.print(table)


@api_key_app.command("revoke")
def api_key_revoke(key_id: str, database_url: DatabaseUrl = DEFAULT_DATABASE_URL) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from caseflow.api.apikeys import revoke_api_key

    services = _api_services(database_url)
    try:
        key = revoke_api_key(services, key_id)
    except CaseflowError as exc:
        raise _fail(exc) from exc
    finally:
        services.close()
    out.print(f"API key {key.id} ({key.name}) revoked", highlight=False)


def main() -> None:
    try:
        app()
    except CaseflowError as exc:  # anything a command did not report itself
        err.print(f"error: {exc}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
