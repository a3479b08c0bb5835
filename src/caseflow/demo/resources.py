"""The demo's files: two BPMN processes and the form-js forms their user tasks name.

The forms are Camunda Forms (form-js JSON, ``.form``); a user task names its form as
Camunda 7 does for forms deployed with the process,
``camunda:formKey="camunda-forms:deployment:<file>.form"``, and each form's ``id`` is its
file name without ``.form``, so a resolver may look forms up by either.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from caseflow.runtime.process_engine import DefinitionMetadata

FORM_KEY_PREFIX = "camunda-forms:deployment:"

_METADATA: dict[str, DefinitionMetadata] = {
    # Thủ tục 1.001612 (đăng ký thành lập hộ kinh doanh): 3 working days by law
    "dang_ky_ho_kinh_doanh.bpmn": DefinitionMetadata(
        category="TTHC", procedure_code="1.001612", sla_target_hours=24
    ),
    "case_routing.bpmn": DefinitionMetadata(category="Case routing", sla_target_hours=40),
}


def _files(suffix: str) -> list[tuple[str, bytes]]:
    folder = resources.files("caseflow.demo")
    found = [
        (entry.name, entry.read_bytes())
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith(suffix)
    ]
    return sorted(found)


def bpmn_resources() -> list[tuple[str, bytes]]:
    """(file name, content) of each demo process."""
    return _files(".bpmn")


def form_resources() -> list[tuple[str, bytes]]:
    """(file name, content) of each demo form (form-js JSON)."""
    return _files(".form")


def demo_resources() -> list[tuple[str, bytes]]:
    """Every file a deployment of the demo holds: the processes, then their forms."""
    return bpmn_resources() + form_resources()


def demo_form(form_key: str) -> dict[str, Any] | None:
    """The form-js schema a demo task's form key names (by resource name or form id)."""
    name = form_key.removeprefix(FORM_KEY_PREFIX)
    if not name.endswith(".form"):
        name += ".form"
    for file_name, content in form_resources():
        if file_name == name:
            schema: dict[str, Any] = json.loads(content)
            return schema
    return None


def definition_metadata(resource_name: str) -> DefinitionMetadata | None:
    return _METADATA.get(resource_name)
