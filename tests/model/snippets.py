"""Small BPMN documents for the model tests, as a modeler would export them."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from caseflow.errors import Problem

NAMESPACES = (
    'xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
    'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
    'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    'xmlns:flowable="http://flowable.org/bpmn" '
    'xmlns:activiti="http://activiti.org/bpmn" '
    'xmlns:caseflow="http://caseflow.dev/schema/bpmn"'
)

# the repository and ``shared/`` are siblings (CI clones ``main`` beside ``shared``)
CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"


def definitions(body: str, *, roots: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<definitions {NAMESPACES} id="defs" targetNamespace="http://caseflow.dev/test">\n'
        f"{roots}\n{body}\n</definitions>\n"
    )


def process(
    body: str, *, id: str = "p", roots: str = "", attrs: str = 'isExecutable="true"'
) -> str:
    return definitions(f'<process id="{id}" {attrs}>\n{body}\n</process>', roots=roots)


def flow(source: str, target: str, condition: str | None = None, *, id: str | None = None) -> str:
    fid = id or f"f_{source}_{target}"
    if condition is None:
        return f'<sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}"/>'
    escaped = condition.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        f'<sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">'
        f'<conditionExpression xsi:type="tFormalExpression">{escaped}</conditionExpression>'
        "</sequenceFlow>"
    )


def chain(*ids: str) -> str:
    return "\n".join(flow(a, b) for a, b in pairwise(ids))


def line_of(document: str, needle: str) -> int:
    """The 1-based line of the first occurrence of ``needle``."""
    index = document.index(needle)
    return document.count("\n", 0, index) + 1


def with_code(problems: list[Problem] | tuple[Problem, ...], code: str) -> list[Problem]:
    return [p for p in problems if p.code == code]


def codes(problems: list[Problem] | tuple[Problem, ...]) -> set[str]:
    return {p.code for p in problems}
