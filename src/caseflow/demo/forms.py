"""The demo's forms, stored where ``GET /forms/{key}`` finds them.

The deployment endpoint keeps each uploaded form-js schema as a ``form_resource`` row:
its ``id`` is the form key, a changed text makes a new version, an unchanged one nothing.
The demo stores its forms the same way, with the deployment of the process that names
them, so a task's ``camunda-forms:deployment:<file>.form`` key resolves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from sqlalchemy import select

from caseflow.demo.resources import FORM_KEY_PREFIX, bpmn_resources, form_resources
from caseflow.model import parse_bpmn
from caseflow.model.elements import UserTask
from caseflow.runtime.process_engine import new_id
from caseflow.store import schema
from caseflow.store.sql import SqlStore

F = schema.form_resource


def forms_of(bpmn: bytes) -> set[str]:
    """The ``.form`` files the user tasks of a BPMN document name."""
    named: set[str] = set()
    for process in parse_bpmn(bpmn).definitions.executable_processes:
        for node in process.all_nodes.values():
            if isinstance(node, UserTask) and node.form_key:
                named.add(node.form_key.removeprefix(FORM_KEY_PREFIX))
    return named


def store_forms(
    store: SqlStore,
    tenant_id: str,
    deployments: dict[str, str],
    *,
    now: dt.datetime,
    by: str,
) -> list[str]:
    """Store each demo form whose text is not the latest version of its key yet; the
    ``form_key:version`` of those stored. ``deployments``: BPMN file -> the deployment id
    to file the forms it names under (a new id when its process was not redeployed)."""
    owner: dict[str, str] = {}
    for name, source in bpmn_resources():
        for form_file in forms_of(source):
            owner.setdefault(form_file, deployments.get(name) or new_id())
    stored: list[str] = []
    with store.transaction() as tx:
        for file_name, content in form_resources():
            text = content.decode("utf-8")
            key = str(json.loads(text)["id"])
            digest = hashlib.sha256(text.encode()).hexdigest()
            latest = tx.conn.execute(
                select(F.c.version, F.c.content_hash)
                .where(F.c.tenant_id == tenant_id, F.c.form_key == key)
                .order_by(F.c.version.desc())
                .limit(1)
            ).first()
            if latest is not None and latest.content_hash == digest:
                continue
            version = latest.version + 1 if latest is not None else 1
            tx.conn.execute(F.insert().values(
                id=new_id(), tenant_id=tenant_id, form_key=key, version=version,
                deployment_id=owner.get(file_name) or new_id(), resource_name=file_name,
                content=text, content_hash=digest, deployed_at=now, deployed_by=by,
            ))
            stored.append(f"{key}:{version}")
    return stored
