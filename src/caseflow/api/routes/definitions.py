"""Deployments, process definitions and deployed forms.

A deployment upload may carry several files: BPMN documents (each deployed by the engine,
a new version per changed process) and form-js schemas (``.form``, JSON), kept by their
``id`` as form key, versioned the same way. Everything is checked before anything is
stored, so a bad file in the upload leaves the database as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response
from sqlalchemy import and_, func, select

from caseflow.api.auth import AdminPrincipal, CurrentPrincipal, OperatorPrincipal
from caseflow.api.models import CamelModel, PageOf, PagingParams
from caseflow.api.problems import ApiProblem, definition_errors
from caseflow.api.services import Services, ServicesDep
from caseflow.errors import DefinitionError, NotFound, Problem
from caseflow.model.bpmn import parse_bpmn
from caseflow.model.elements import Lane
from caseflow.runtime.ports import DefinitionRecord
from caseflow.runtime.process_engine import DefinitionMetadata, new_id
from caseflow.store import schema

router = APIRouter(tags=["definitions"])

BPMN_SUFFIXES = (".bpmn", ".bpmn20.xml", ".xml")
FORM_SUFFIX = ".form"
Status = Literal["Draft", "Testing", "Deployed", "Deprecated"]
F = schema.form_resource
D = schema.deployment
PD = schema.process_definition


class DefinitionOut(CamelModel):
    id: str
    key: str
    version: int
    name: str | None
    deployment_id: str
    deployed_at: dt.datetime
    deployed_by: str | None
    resource_name: str | None
    version_tag: str | None
    category: str | None
    procedure_code: str | None
    sla_target_hours: float | None
    status: str


class FormOut(CamelModel):
    id: str
    form_key: str
    version: int
    deployment_id: str
    resource_name: str
    deployed_at: dt.datetime


class WarningOut(CamelModel):
    code: str
    message: str
    element_id: str | None = None
    line: int | None = None


class DeploymentResultOut(CamelModel):
    deployment_id: str | None
    deployment_ids: list[str]
    definitions: list[DefinitionOut]
    unchanged: list[DefinitionOut]
    forms: list[FormOut]
    unchanged_forms: list[FormOut]
    warnings: list[WarningOut]


class DeploymentOut(CamelModel):
    id: str
    name: str
    resource_name: str
    deployed_at: dt.datetime
    deployed_by: str | None
    definitions: list[DefinitionOut] = []
    forms: list[FormOut] = []


def definition_out(record: DefinitionRecord) -> DefinitionOut:
    return DefinitionOut(
        id=record.id,
        key=record.key,
        version=record.version,
        name=record.name,
        deployment_id=record.deployment_id,
        deployed_at=record.deployed_at,
        deployed_by=record.deployed_by,
        resource_name=record.resource_name,
        version_tag=record.version_tag,
        category=record.category,
        procedure_code=record.procedure_code,
        sla_target_hours=record.sla_target_hours,
        status=record.status,
    )


def _form_out(row: Any) -> FormOut:
    return FormOut(
        id=row.id,
        form_key=row.form_key,
        version=row.version,
        deployment_id=row.deployment_id,
        resource_name=row.resource_name,
        deployed_at=row.deployed_at,
    )


def _warning(problem: Problem) -> WarningOut:
    return WarningOut(
        code=problem.code, message=problem.message, element_id=problem.element_id,
        line=problem.line,
    )


# ------------------------------------------------------------------ deploying


def _kind(filename: str) -> str:
    lower = filename.lower()
    if lower.endswith(FORM_SUFFIX):
        return "form"
    if lower.endswith(BPMN_SUFFIXES):
        return "bpmn"
    raise ApiProblem(
        422,
        f"'{filename}': deploy .bpmn, .bpmn20.xml, .xml (BPMN) or .form (form-js) files",
        code="unsupported_resource",
    )


def _form_key(filename: str, content: bytes) -> tuple[str, str]:
    """The form key (the schema's ``id``) and the text of a form-js schema."""
    try:
        text = content.decode("utf-8-sig")
        document = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiProblem(
            422, f"'{filename}' is not a JSON form-js schema: {error}", code="form_invalid"
        ) from error
    if not isinstance(document, dict) or not isinstance(document.get("components"), list):
        raise ApiProblem(
            422, f"'{filename}' is not a form-js schema (no components)", code="form_invalid"
        )
    key = document.get("id")
    if not isinstance(key, str) or not key.strip() or len(key) > 255:
        raise ApiProblem(
            422, f"'{filename}' has no form id (its form key)", code="form_invalid"
        )
    return key, text


def _deploy_form(
    services: Services, key: str, text: str, filename: str, deployment_id: str, user: str
) -> tuple[Any, bool]:
    """Store a form version unless the latest one of ``key`` is the same text."""
    tenant = services.settings.tenant_id
    digest = hashlib.sha256(text.encode()).hexdigest()
    with services.store.transaction() as tx:
        latest = tx.conn.execute(
            select(F)
            .where(F.c.tenant_id == tenant, F.c.form_key == key)
            .order_by(F.c.version.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.content_hash == digest:
            return latest, False
        row = {
            "id": new_id(),
            "tenant_id": tenant,
            "form_key": key,
            "version": (latest.version + 1) if latest is not None else 1,
            "deployment_id": deployment_id,
            "resource_name": filename,
            "content": text,
            "content_hash": digest,
            "deployed_at": services.clock.now(),
            "deployed_by": user,
        }
        tx.conn.execute(F.insert().values(**row))
        return tx.conn.execute(select(F).where(F.c.id == row["id"])).one(), True


@router.post(
    "/deployments",
    response_model=DeploymentResultOut,
    response_model_by_alias=True,
    status_code=201,
    responses={422: {"description": "A file cannot be deployed (errors list why)"}},
)
async def deploy(
    principal: AdminPrincipal,
    services: ServicesDep,
    files: Annotated[list[UploadFile], File(description="BPMN and .form files")],
    name: Annotated[str | None, Form(max_length=255)] = None,
    category: Annotated[str | None, Form(max_length=255)] = None,
    procedure_code: Annotated[str | None, Form(alias="procedureCode", max_length=255)] = None,
    sla_target_hours: Annotated[
        float | None, Form(alias="slaTargetHours", ge=0, le=1_000_000)
    ] = None,
    status: Annotated[Status, Form()] = "Deployed",
) -> Any:
    """Deploy BPMN documents and form-js forms; unchanged ones are reported, not redeployed."""
    import anyio

    uploads: list[tuple[str, str, bytes]] = []
    for upload in files:
        filename = (upload.filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
        if not filename:
            raise ApiProblem(422, "every uploaded file needs a file name")
        uploads.append((filename, _kind(filename), await upload.read()))
    if not uploads:
        raise ApiProblem(422, "upload at least one file")
    metadata = DefinitionMetadata(
        category=category,
        procedure_code=procedure_code,
        sla_target_hours=sla_target_hours,
        status=status,
    )
    return await anyio.to_thread.run_sync(
        _deploy_all, services, principal.user_id, uploads, name, metadata
    )


def _deploy_all(
    services: Services,
    user: str,
    uploads: list[tuple[str, str, bytes]],
    name: str | None,
    metadata: DefinitionMetadata,
) -> DeploymentResultOut:
    engine = services.engine
    forms: list[tuple[str, str, str]] = []
    errors: list[dict[str, Any]] = []
    for filename, kind, content in uploads:
        if kind == "form":
            key, text = _form_key(filename, content)
            forms.append((filename, key, text))
            continue
        try:
            problems = engine.validate(content, resource_name=filename)
        except DefinitionError as error:
            errors.extend({**e, "resource": filename} for e in definition_errors(error))
            if not error.problems:
                errors.append({"code": error.code, "message": str(error), "resource": filename})
            continue
        errors.extend(
            {"code": p.code, "elementId": p.element_id, "line": p.line, "message": p.message,
             "severity": p.severity, "resource": filename}
            for p in problems if p.severity == "error"
        )
    if errors:
        raise ApiProblem(422, "the upload cannot be deployed", code="validation_failed",
                         errors=errors)
    deployment_ids: list[str] = []
    created: list[DefinitionOut] = []
    unchanged: list[DefinitionOut] = []
    warnings: list[WarningOut] = []
    tenant = services.settings.tenant_id
    for filename, kind, content in uploads:
        if kind != "bpmn":
            continue
        result = engine.deploy(
            content, name=name or filename, resource_name=filename, deployed_by=user,
            tenant_id=tenant, metadata=metadata,
        )
        if result.deployment_id is not None:
            deployment_ids.append(result.deployment_id)
        created.extend(definition_out(d) for d in result.definitions)
        unchanged.extend(definition_out(d) for d in result.unchanged)
        warnings.extend(_warning(p) for p in result.warnings)
    form_deployment = deployment_ids[0] if deployment_ids else new_id()
    new_forms: list[FormOut] = []
    same_forms: list[FormOut] = []
    for filename, key, text in forms:
        row, is_new = _deploy_form(services, key, text, filename, form_deployment, user)
        (new_forms if is_new else same_forms).append(_form_out(row))
    if new_forms and not deployment_ids:
        deployment_ids.append(form_deployment)
    return DeploymentResultOut(
        deployment_id=deployment_ids[0] if deployment_ids else None,
        deployment_ids=deployment_ids,
        definitions=created,
        unchanged=unchanged,
        forms=new_forms,
        unchanged_forms=same_forms,
        warnings=warnings,
    )


# ------------------------------------------------------------------ deployments


def _deployment_out(row: Any) -> DeploymentOut:
    return DeploymentOut(
        id=row.id, name=row.name, resource_name=row.resource_name, deployed_at=row.deployed_at,
        deployed_by=row.deployed_by,
    )


@router.get("/deployments", response_model=PageOf[DeploymentOut], response_model_by_alias=True)
def deployments(principal: OperatorPrincipal, services: ServicesDep, paging: PagingParams) -> Any:
    """Deployments, newest first."""
    tenant = services.settings.tenant_id
    with services.store.transaction(read_only=True) as tx:
        total = tx.conn.scalar(select(func.count()).select_from(D).where(D.c.tenant_id == tenant))
        rows = tx.conn.execute(
            select(D.c.id, D.c.name, D.c.resource_name, D.c.deployed_at, D.c.deployed_by)
            .where(D.c.tenant_id == tenant)
            .order_by(D.c.deployed_at.desc(), D.c.id)
            .offset(paging.offset)
            .limit(paging.size)
        ).all()
    return PageOf[DeploymentOut](
        items=[_deployment_out(r) for r in rows], page=paging.page, size=paging.size,
        total=int(total or 0),
    )


def _deployment_row(services: Services, deployment_id: str) -> Any:
    with services.store.transaction(read_only=True) as tx:
        row = tx.conn.execute(
            select(D).where(D.c.id == deployment_id, D.c.tenant_id == services.settings.tenant_id)
        ).first()
        forms = tx.conn.execute(
            select(F).where(F.c.deployment_id == deployment_id,
                            F.c.tenant_id == services.settings.tenant_id)
        ).all()
    if row is None and not forms:
        raise NotFound("deployment", deployment_id)
    return row, forms


@router.get(
    "/deployments/{deployment_id}", response_model=DeploymentOut, response_model_by_alias=True
)
def deployment(deployment_id: str, principal: OperatorPrincipal, services: ServicesDep) -> Any:
    row, forms = _deployment_row(services, deployment_id)
    if row is None:
        first = forms[0]
        out = DeploymentOut(
            id=deployment_id, name=first.resource_name, resource_name=first.resource_name,
            deployed_at=first.deployed_at, deployed_by=first.deployed_by,
        )
    else:
        out = _deployment_out(row)
    out.definitions = [
        definition_out(d)
        for d in services.engine.definitions(tenant_id=services.settings.tenant_id)
        if d.deployment_id == deployment_id
    ]
    out.forms = [_form_out(f) for f in forms]
    return out


@router.get(
    "/deployments/{deployment_id}/resources/{name}",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}, "application/json": {}}}},
)
def deployment_resource(
    deployment_id: str, name: str, principal: OperatorPrincipal, services: ServicesDep
) -> Response:
    """A deployed file as uploaded."""
    row, forms = _deployment_row(services, deployment_id)
    if row is not None and row.resource_name == name:
        return Response(row.source, media_type="application/xml")
    for form in forms:
        if form.resource_name == name:
            return Response(form.content, media_type="application/json")
    raise NotFound("resource", f"{deployment_id}/{name}")


# ------------------------------------------------------------------ definitions


@router.get("/definitions", response_model=PageOf[DefinitionOut], response_model_by_alias=True)
def definitions(
    principal: OperatorPrincipal,
    services: ServicesDep,
    paging: PagingParams,
    key: Annotated[str | None, Query(max_length=255)] = None,
    latest: bool = False,
    status: Status | None = None,
) -> Any:
    """Definitions by key then version; ``latest=true``: the newest version of each key."""
    found = services.engine.definitions(key, services.settings.tenant_id)
    if status is not None:
        found = [d for d in found if d.status == status]
    if latest:
        newest: dict[str, DefinitionRecord] = {}
        for record in found:
            if record.key not in newest or record.version > newest[record.key].version:
                newest[record.key] = record
        found = list(newest.values())
    field, descending = paging.sort_by(
        {"key", "version", "deployedAt", "name"}, "key"
    )
    attribute = {"deployedAt": "deployed_at"}.get(field, field)
    found.sort(key=lambda d: (str(getattr(d, attribute) or ""), d.version), reverse=descending)
    page = found[paging.offset : paging.offset + paging.size]
    return PageOf[DefinitionOut](
        items=[definition_out(d) for d in page], page=paging.page, size=paging.size,
        total=len(found),
    )


def _definition(services: Services, definition_id: str) -> DefinitionRecord:
    record = services.engine.definition(definition_id)
    if record.tenant_id != services.settings.tenant_id:
        raise NotFound("process definition", definition_id)
    return record


@router.get(
    "/definitions/key/{key}/versions",
    response_model=list[DefinitionOut],
    response_model_by_alias=True,
)
def versions(key: str, principal: OperatorPrincipal, services: ServicesDep) -> Any:
    found = services.engine.definitions(key, services.settings.tenant_id)
    if not found:
        raise NotFound("process definition key", key)
    return [definition_out(d) for d in sorted(found, key=lambda d: d.version)]


@router.get(
    "/definitions/{definition_id}", response_model=DefinitionOut, response_model_by_alias=True
)
def definition(definition_id: str, principal: OperatorPrincipal, services: ServicesDep) -> Any:
    return definition_out(_definition(services, definition_id))


@router.get(
    "/definitions/{definition_id}/xml",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}},
)
def definition_xml(
    definition_id: str, principal: CurrentPrincipal, services: ServicesDep
) -> Response:
    """The BPMN document the definition was deployed from (any signed-in user: the web
    pages draw the diagram of a task's process)."""
    _definition(services, definition_id)
    return Response(services.engine.definition_source(definition_id), media_type="application/xml")


class NodeOut(CamelModel):
    id: str
    type: str
    name: str | None
    x: float | None
    y: float | None
    width: float | None
    height: float | None
    lane_id: str | None = None
    scope_id: str | None = None


class FlowOut(CamelModel):
    id: str
    source: str
    target: str
    name: str | None
    waypoints: list[tuple[float, float]]


class LaneOut(CamelModel):
    id: str
    name: str | None
    nodes: list[str]
    x: float | None = None
    y: float | None = None
    width: float | None = None
    height: float | None = None


class GraphOut(CamelModel):
    definition_id: str
    process_key: str
    nodes: list[NodeOut]
    flows: list[FlowOut]
    lanes: list[LaneOut]


def _lanes(lanes: tuple[Lane, ...]) -> list[Lane]:
    found: list[Lane] = []
    for lane in lanes:
        found.append(lane)
        found.extend(_lanes(lane.child_lanes))
    return found


@router.get(
    "/definitions/{definition_id}/graph", response_model=GraphOut, response_model_by_alias=True
)
def definition_graph(
    definition_id: str, principal: CurrentPrincipal, services: ServicesDep
) -> Any:
    """The process as nodes and flows with their diagram positions (null where the
    document has no diagram)."""
    record = _definition(services, definition_id)
    source = services.engine.definition_source(definition_id)
    parsed = parse_bpmn(source, resource_name=record.resource_name).definitions
    process = next((p for p in parsed.processes if p.id == record.key), None)
    if process is None:
        raise NotFound("process in definition", record.key)
    shapes = {s.element_id: s for d in parsed.diagrams for s in d.shapes}
    edges = {e.element_id: e for d in parsed.diagrams for e in d.edges}
    lanes = _lanes(process.lanes)
    lane_of = {node: lane.id for lane in lanes for node in lane.flow_node_refs}
    nodes = []
    for node in process.all_nodes.values():
        shape = shapes.get(node.id)
        bounds = shape.bounds if shape else None
        nodes.append(NodeOut(
            id=node.id, type=node.kind, name=node.name,
            x=bounds.x if bounds else None, y=bounds.y if bounds else None,
            width=bounds.width if bounds else None, height=bounds.height if bounds else None,
            lane_id=lane_of.get(node.id),
            scope_id=node.scope_id if node.scope_id != process.id else None,
        ))
    flows = [
        FlowOut(
            id=flow.id, source=flow.source_ref, target=flow.target_ref, name=flow.name,
            waypoints=list(edges[flow.id].waypoints) if flow.id in edges else [],
        )
        for flow in process.all_flows.values()
    ]
    lane_out = []
    for lane in lanes:
        shape = shapes.get(lane.id)
        bounds = shape.bounds if shape else None
        lane_out.append(LaneOut(
            id=lane.id, name=lane.name, nodes=list(lane.flow_node_refs),
            x=bounds.x if bounds else None, y=bounds.y if bounds else None,
            width=bounds.width if bounds else None, height=bounds.height if bounds else None,
        ))
    return GraphOut(
        definition_id=definition_id, process_key=record.key, nodes=nodes, flows=flows,
        lanes=lane_out,
    )


class StatusChange(CamelModel):
    status: Status


@router.put(
    "/definitions/{definition_id}/status",
    response_model=DefinitionOut,
    response_model_by_alias=True,
)
def set_status(
    definition_id: str, body: StatusChange, principal: AdminPrincipal, services: ServicesDep
) -> Any:
    """Draft / Testing / Deployed / Deprecated: only Deployed (and Testing) ones start."""
    _definition(services, definition_id)
    services.engine.set_definition_status(definition_id, body.status)
    return definition_out(services.engine.definition(definition_id))


class ElementStatistics(CamelModel):
    element_id: str
    active: int
    incidents: int


@router.get(
    "/definitions/{definition_id}/statistics",
    response_model=list[ElementStatistics],
    response_model_by_alias=True,
)
def statistics(definition_id: str, principal: OperatorPrincipal, services: ServicesDep) -> Any:
    """Per element: how many executions wait there now and how many open incidents."""
    _definition(services, definition_id)
    tenant = services.settings.tenant_id
    pi, ex, inc = schema.process_instance, schema.execution, schema.incident
    of_definition = and_(pi.c.definition_id == definition_id, pi.c.tenant_id == tenant)
    with services.store.transaction(read_only=True) as tx:
        active = tx.conn.execute(
            select(ex.c.element_id, func.count())
            .select_from(ex.join(pi, and_(pi.c.id == ex.c.instance_id,
                                          pi.c.tenant_id == ex.c.tenant_id)))
            .where(
                of_definition,
                pi.c.status.in_(("ACTIVE", "SUSPENDED")),
                ex.c.state.in_(("waiting", "joining")),
            )
            .group_by(ex.c.element_id)
        ).all()
        incidents = tx.conn.execute(
            select(inc.c.element_id, func.count())
            .select_from(inc.join(pi, and_(pi.c.id == inc.c.instance_id,
                                           pi.c.tenant_id == inc.c.tenant_id)))
            .where(of_definition, inc.c.resolved_at.is_(None), inc.c.element_id.is_not(None))
            .group_by(inc.c.element_id)
        ).all()
    counts: dict[str, list[int]] = {}
    for element, count in active:
        counts.setdefault(element, [0, 0])[0] = int(count)
    for element, count in incidents:
        counts.setdefault(element, [0, 0])[1] = int(count)
    return [
        ElementStatistics(element_id=e, active=a, incidents=i)
        for e, (a, i) in sorted(counts.items())
    ]


# ------------------------------------------------------------------ forms


@router.get("/forms/{form_key}", responses={200: {"content": {"application/json": {}}}})
def form(
    form_key: str,
    principal: CurrentPrincipal,
    services: ServicesDep,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> Response:
    """A deployed form-js schema by form key (its ``id``; ``camunda-forms:deployment:``
    keys name the file instead), the newest version unless ``version`` is given."""
    tenant = services.settings.tenant_id
    prefix = "camunda-forms:deployment:"
    by_file = form_key.startswith(prefix)
    column = F.c.resource_name if by_file else F.c.form_key
    wanted = form_key[len(prefix):] if by_file else form_key
    query = select(F.c.content).where(F.c.tenant_id == tenant, column == wanted)
    if version is not None:
        query = query.where(F.c.version == version)
    with services.store.transaction(read_only=True) as tx:
        content = tx.conn.scalar(query.order_by(F.c.version.desc(), F.c.deployed_at.desc()))
    if content is None:
        raise NotFound("form", form_key)
    return Response(content, media_type="application/json")
