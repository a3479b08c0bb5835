"""Small factories for the rows the store keeps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from caseflow.engine.state import (
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
from caseflow.runtime.ports import DefinitionRecord, DeploymentRecord, Store

T0 = datetime(2025, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def deployment(tenant_id: str = "default", **kw: Any) -> DeploymentRecord:
    return DeploymentRecord(
        id=kw.pop("id", new_id()),
        name=kw.pop("name", "dossier"),
        deployed_at=kw.pop("deployed_at", T0),
        resource_name=kw.pop("resource_name", "dossier.bpmn"),
        source=kw.pop("source", "<definitions/>"),
        content_hash=kw.pop("content_hash", "h1"),
        tenant_id=tenant_id,
        **kw,
    )


def definition(dep: DeploymentRecord, key: str = "dossier", version: int = 1,
               **kw: Any) -> DefinitionRecord:
    return DefinitionRecord(
        id=kw.pop("id", new_id()),
        key=key,
        version=version,
        deployment_id=dep.id,
        content_hash=kw.pop("content_hash", f"{key}-{version}"),
        deployed_at=kw.pop("deployed_at", T0),
        tenant_id=kw.pop("tenant_id", dep.tenant_id),
        **kw,
    )


def deploy(store: Store, key: str = "dossier", tenant_id: str = "default") -> DefinitionRecord:
    dep = deployment(tenant_id)
    d = definition(dep, key)
    with store.transaction() as tx:
        tx.insert_deployment(dep, [d])
    return d


def instance(d: DefinitionRecord, **kw: Any) -> InstanceRecord:
    return InstanceRecord(
        id=kw.pop("id", new_id()),
        definition_id=d.id,
        process_key=d.key,
        status=kw.pop("status", "ACTIVE"),
        started_at=kw.pop("started_at", T0),
        tenant_id=kw.pop("tenant_id", d.tenant_id),
        **kw,
    )


def new_state(d: DefinitionRecord, **kw: Any) -> InstanceState:
    return InstanceState.new(instance(d, **kw))


def execution(inst: InstanceRecord, element_id: str = "task", **kw: Any) -> Execution:
    return Execution(
        id=kw.pop("id", new_id()),
        instance_id=inst.id,
        element_id=element_id,
        state=kw.pop("state", "waiting"),
        created_at=kw.pop("created_at", T0),
        tenant_id=inst.tenant_id,
        **kw,
    )


def variable(inst: InstanceRecord, name: str, value: Any, type_: str, **kw: Any) -> Variable:
    return Variable(
        id=kw.pop("id", new_id()),
        instance_id=inst.id,
        name=name,
        value=value,
        type=type_,  # type: ignore[arg-type]
        tenant_id=inst.tenant_id,
        **kw,
    )


def task(inst: InstanceRecord, ex: Execution, **kw: Any) -> UserTaskRecord:
    return UserTaskRecord(
        id=kw.pop("id", new_id()),
        instance_id=inst.id,
        execution_id=ex.id,
        element_id=kw.pop("element_id", ex.element_id),
        process_key=inst.process_key,
        definition_id=inst.definition_id,
        name=kw.pop("name", "Review"),
        status=kw.pop("status", "OPEN"),
        created_at=kw.pop("created_at", T0),
        tenant_id=inst.tenant_id,
        **kw,
    )


def external_task(inst: InstanceRecord, ex: Execution, topic: str = "verify",
                  **kw: Any) -> ExternalTaskRecord:
    return ExternalTaskRecord(
        id=kw.pop("id", new_id()),
        instance_id=inst.id,
        execution_id=ex.id,
        element_id=ex.element_id,
        process_key=inst.process_key,
        definition_id=inst.definition_id,
        topic=topic,
        created_at=kw.pop("created_at", T0),
        tenant_id=inst.tenant_id,
        **kw,
    )


def subscription(inst: InstanceRecord, ex: Execution, event_name: str = "paid",
                 **kw: Any) -> EventSubscription:
    return EventSubscription(
        id=kw.pop("id", new_id()),
        instance_id=inst.id,
        execution_id=ex.id,
        element_id=ex.element_id,
        kind=kw.pop("kind", "message"),
        event_name=event_name,
        created_at=kw.pop("created_at", T0),
        tenant_id=inst.tenant_id,
        **kw,
    )


def job(inst: InstanceRecord, **kw: Any) -> Job:
    return Job(
        id=kw.pop("id", new_id()),
        kind=kw.pop("kind", "timer"),
        due_at=kw.pop("due_at", at(60)),
        created_at=kw.pop("created_at", T0),
        instance_id=inst.id,
        tenant_id=inst.tenant_id,
        **kw,
    )


def incident(inst: InstanceRecord, **kw: Any) -> Incident:
    return Incident(
        id=kw.pop("id", new_id()),
        instance_id=inst.id,
        kind=kw.pop("kind", "failedExternalTask"),
        message=kw.pop("message", "boom"),
        created_at=kw.pop("created_at", T0),
        tenant_id=inst.tenant_id,
        **kw,
    )


def activity(inst: InstanceRecord, ex: Execution, element_id: str = "task",
             **kw: Any) -> ActivityRecord:
    return ActivityRecord(
        id=kw.pop("id", new_id()),
        instance_id=inst.id,
        execution_id=ex.id,
        element_id=element_id,
        element_type=kw.pop("element_type", "userTask"),
        started_at=kw.pop("started_at", T0),
        tenant_id=inst.tenant_id,
        **kw,
    )


def started(store: Store, d: DefinitionRecord, **kw: Any) -> tuple[InstanceState, Execution]:
    """A saved instance with one waiting execution."""
    state = new_state(d, **kw)
    ex = state.executions.add(execution(state.instance))
    with store.transaction() as tx:
        tx.save(state)
    return state, ex
