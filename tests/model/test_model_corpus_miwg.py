"""The OMG BPMN MIWG test suite: 826 files from ~33 modelling tools.

Every file either imports or is refused with a clear XmlError/DefinitionError, never
anything else; the validator never crashes on what the parser produced. For the
reference models, element ids, tags and sequence flows survive parsing: they are
compared with an independent lxml walk of the same file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from caseflow.errors import DefinitionError, XmlError
from caseflow.model import parse_bpmn, validate
from caseflow.model.elements import Process

from .snippets import CORPORA

MIWG = CORPORA / "bpmn-miwg-test-suite"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"

pytestmark = pytest.mark.skipif(
    not MIWG.is_dir(), reason=f"MIWG corpus not found at {MIWG} (clone 'shared' beside 'main')"
)

# what the model calls a flow node, written down independently of the parser
FLOW_NODE_TAGS = {
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
    "boundaryEvent", "task", "userTask", "manualTask", "scriptTask", "serviceTask",
    "sendTask", "receiveTask", "businessRuleTask", "callActivity", "subProcess",
    "transaction", "adHocSubProcess", "exclusiveGateway", "parallelGateway",
    "inclusiveGateway", "eventBasedGateway", "complexGateway",
}  # fmt: skip
CONTAINERS = {"subProcess", "transaction", "adHocSubProcess"}


def _files() -> list[Path]:
    return sorted(MIWG.rglob("*.bpmn"))


def test_every_file_imports_or_is_refused_clearly() -> None:
    files = _files()
    assert len(files) > 800
    imported = 0
    refused: dict[str, str] = {}
    failures: list[str] = []
    for path in files:
        name = str(path.relative_to(MIWG))
        try:
            result = parse_bpmn(path.read_bytes(), resource_name=name)
        except XmlError as exc:
            refused[name] = str(exc)
            if not re.search(r"line \d+, column \d+", str(exc)) or name not in str(exc):
                failures.append(f"{name}: unclear XmlError: {exc}")
            continue
        except DefinitionError as exc:
            refused[name] = str(exc)
            if "not a BPMN 2.0 document" not in str(exc):
                failures.append(f"{name}: unclear DefinitionError: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - the point is to report every crash
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        imported += 1
        try:
            validate(result.definitions, executable_only=False)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{name}: validate crashed: {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures)
    # a handful of exports are known to be malformed (bad encoding, invalid namespace URI)
    assert imported >= len(files) - 10, refused
    assert all("malformed XML" in message for message in refused.values()), refused


def _expected(process: etree._Element) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """(node id -> tag, flow id -> (source, target)) by walking the XML directly."""
    nodes: dict[str, str] = {}
    flows: dict[str, tuple[str, str]] = {}

    def walk(container: etree._Element) -> None:
        for child in container:
            tag = child.tag
            if not isinstance(tag, str) or not tag.startswith(BPMN):
                continue
            local = tag[len(BPMN) :]
            if local in FLOW_NODE_TAGS:
                nodes[child.get("id", "")] = local
                if local in CONTAINERS:
                    walk(child)
            elif local == "sequenceFlow":
                flows[child.get("id", "")] = (
                    child.get("sourceRef", ""),
                    child.get("targetRef", ""),
                )

    walk(process)
    return nodes, flows


def _reference_files() -> list[Path]:
    return sorted((MIWG / "Reference").glob("*.bpmn")) if MIWG.is_dir() else []


@pytest.mark.parametrize("path", _reference_files(), ids=lambda p: p.stem)
def test_reference_model_survives_parsing(path: Path) -> None:
    data = path.read_bytes()
    result = parse_bpmn(data, resource_name=path.name)
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    xml_processes = root.findall(f"{BPMN}process")
    model: dict[str, Process] = {p.id: p for p in result.definitions.processes}
    assert set(model) == {p.get("id") for p in xml_processes}
    for xml_process in xml_processes:
        process = model[xml_process.get("id", "")]
        nodes, flows = _expected(xml_process)
        assert {i: n.kind for i, n in process.all_nodes.items()} == nodes
        assert {i: (f.source_ref, f.target_ref) for i, f in process.all_flows.items()} == flows
        # where the exporter wrote <incoming>/<outgoing>, the derived ones agree
        for element in xml_process.iter():
            node_id = element.get("id")
            if node_id is None or node_id not in process.all_nodes:
                continue
            node = process.all_nodes[node_id]
            declared_in = {e.text for e in element.findall(f"{BPMN}incoming")}
            declared_out = {e.text for e in element.findall(f"{BPMN}outgoing")}
            if declared_in:
                assert set(node.incoming) == declared_in, node_id
            if declared_out:
                assert set(node.outgoing) == declared_out, node_id
            assert node.line == element.sourceline
    # every diagram shape and edge still names an element of the document
    document_ids = {e.get("id") for e in root.iter() if e.get("id")}
    diagrams = result.definitions.diagrams
    assert diagrams, "reference models carry BPMNDI"
    referenced = {s.element_id for d in diagrams for s in d.shapes}
    referenced |= {e.element_id for d in diagrams for e in d.edges}
    assert referenced <= document_ids, sorted(referenced - document_ids)
    drawn_flows = {e.element_id for d in diagrams for e in d.edges if len(e.waypoints) >= 2}
    assert drawn_flows, "edges keep their waypoints"
