"""``POST /deployment/create``: Camunda's multipart deployment.

Form fields ``deployment-name``, ``enable-duplicate-filtering``, ``deploy-changed-only``,
``deployment-source`` and ``tenant-id``, and any number of file parts. Every BPMN file is
checked before any is deployed, so one bad file deploys nothing (400 ``ParseException``
with each file's problems, as Camunda's ``details``). caseflow never deploys a version
whose document is unchanged, whatever the flags say: with nothing new, the answer names
the deployment the unchanged definitions came from and ``deployedProcessDefinitions`` is
null, as Camunda's duplicate filtering answers.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile

from caseflow.api.camunda.auth import AdminPrincipal, Engine, OperatorPrincipal
from caseflow.api.camunda.common import blocking, check_tenant, link, tenant_out
from caseflow.api.camunda.errors import CamundaError, CamundaRoute, invalid
from caseflow.api.camunda.process_definition import definition_json
from caseflow.api.camunda.values import format_date
from caseflow.api.services import Services
from caseflow.errors import CaseflowError, Problem
from caseflow.runtime.ports import DefinitionRecord, DeploymentRecord

router = APIRouter(prefix="/deployment", tags=["camunda-7"], route_class=CamundaRoute)

BPMN_SUFFIXES = (".bpmn", ".bpmn20.xml", ".bpmn2", ".xml")
FIELDS = frozenset(
    {"deployment-name", "enable-duplicate-filtering", "deploy-changed-only",
     "deployment-source", "tenant-id"}
)
MAX_FILES = 50


def _problems_json(problems: list[Problem]) -> dict[str, list[dict[str, Any]]]:
    def one(p: Problem) -> dict[str, Any]:
        return {
            "message": p.message,
            "line": p.line,
            "column": None,
            "mainElementId": p.element_id,
            "elementIds": [p.element_id] if p.element_id else [],
        }

    return {
        "errors": [one(p) for p in problems if p.severity == "error"],
        "warnings": [one(p) for p in problems if p.severity != "error"],
    }


def _validate(services: Services, files: list[tuple[str, bytes]]) -> None:
    details: dict[str, Any] = {}
    for name, content in files:
        try:
            problems = services.engine.validate(content, resource_name=name)
        except CaseflowError as error:  # not even XML
            problems = [Problem("error", "xml", str(error).splitlines()[0])]
        if any(p.severity == "error" for p in problems):
            details[name] = _problems_json(problems)
    if details:
        count = sum(len(d["errors"]) for d in details.values())
        raise CamundaError(
            400,
            f"ENGINE-09005 Could not parse BPMN process. Errors: {count} problem(s) in "
            + ", ".join(sorted(details)),
            "ParseException",
            extra={"details": details},
        )


def _deploy(
    services: Services, name: str | None, files: list[tuple[str, bytes]], user: str
) -> tuple[str | None, list[DefinitionRecord], list[DefinitionRecord]]:
    _validate(services, files)
    created: list[DefinitionRecord] = []
    unchanged: list[DefinitionRecord] = []
    first_id: str | None = None
    for resource, content in files:
        result = services.engine.deploy(
            content,
            name=name,
            resource_name=resource,
            deployed_by=user,
            tenant_id=services.settings.tenant_id,
        )
        if result.deployment_id is not None and first_id is None:
            first_id = result.deployment_id
        created.extend(result.definitions)
        unchanged.extend(result.unchanged)
    return first_id, created, unchanged


@router.post("/create")
async def create_deployment(
    request: Request, services: Engine, principal: AdminPrincipal
) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise invalid("a deployment is a multipart/form-data request with the BPMN files")
    form = await request.form(max_files=MAX_FILES, max_fields=MAX_FILES)
    try:
        fields: dict[str, str] = {}
        files: list[tuple[str, bytes]] = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                resource = value.filename or key
                if not resource.lower().endswith(BPMN_SUFFIXES):
                    raise invalid(
                        f"resource '{resource}' is not deployable here: caseflow's Camunda "
                        f"layer deploys BPMN files ({', '.join(BPMN_SUFFIXES)})"
                    )
                files.append((resource, await value.read()))
            elif key in FIELDS:
                fields[key] = value
            # other plain fields (Camunda's deployment-activation-time, ...) below
            elif key == "deployment-activation-time":
                raise invalid("deployment-activation-time is not supported")
    finally:
        await form.close()
    if not files:
        raise invalid("the deployment has no resources: send the BPMN files as file parts")
    check_tenant(services, fields.get("tenant-id"))
    name = fields.get("deployment-name") or None
    deployment_id, created, unchanged = await blocking(
        _deploy, services, name, files, principal.user_id
    )
    shown = created or unchanged
    if deployment_id is None:  # nothing new: the deployment the definitions came from
        deployment_id = shown[0].deployment_id if shown else None
    when = min((d.deployed_at for d in shown), default=None)
    return {
        "links": [link(request, f"/deployment/{deployment_id}")],
        "id": deployment_id,
        "name": name or (files[0][0] if len(files) == 1 else None),
        "source": fields.get("deployment-source"),
        "deploymentTime": format_date(when),
        "tenantId": tenant_out(services, services.settings.tenant_id),
        "deployedProcessDefinitions": (
            {d.id: definition_json(services, d) for d in created} if created else None
        ),
        "deployedCaseDefinitions": None,
        "deployedDecisionDefinitions": None,
        "deployedDecisionRequirementsDefinitions": None,
    }


def _deployment(services: Services, deployment_id: str) -> DeploymentRecord:
    with services.store.transaction(read_only=True) as tx:
        found = tx.deployment_source(deployment_id)
    if found is None or found.tenant_id != services.settings.tenant_id:
        raise CamundaError(404, f"Deployment with id '{deployment_id}' does not exist")
    return found


@router.get("/{deployment_id}")
async def get_deployment(
    deployment_id: str, request: Request, services: Engine, _: OperatorPrincipal
) -> dict[str, Any]:
    """The deployment a create answer links to (operators, as for definitions)."""
    found = await blocking(_deployment, services, deployment_id)
    return {
        "links": [link(request, f"/deployment/{found.id}")],
        "id": found.id,
        "name": found.name,
        "source": None,
        "deploymentTime": format_date(found.deployed_at),
        "tenantId": tenant_out(services, found.tenant_id),
    }
