"""Small BPMN documents for tests, written as the XML a modeler would export."""

from __future__ import annotations

import itertools

NAMESPACES = (
    'xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
    'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    'xmlns:flowable="http://flowable.org/bpmn" '
    'xmlns:caseflow="http://caseflow.dev/schema/bpmn"'
)


def definitions(body: str, *, roots: str = "") -> str:
    """Wrap processes (and root elements such as messages and errors) in a document."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<definitions {NAMESPACES} id="defs" targetNamespace="http://caseflow.dev/test">\n'
        f"{roots}\n{body}\n</definitions>\n"
    )


def process(body: str, *, id: str = "p", roots: str = "", name: str | None = None) -> str:
    """One executable process with ``body`` as its flow elements."""
    name_attr = f' name="{name}"' if name else ""
    return definitions(
        f'<process id="{id}"{name_attr} isExecutable="true">\n{body}\n</process>', roots=roots
    )


def flow(source: str, target: str, condition: str | None = None, *, id: str | None = None) -> str:
    """A sequence flow; ``condition`` is put in a conditionExpression as written."""
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
    """Sequence flows joining ``ids`` one after another."""
    return "\n".join(flow(a, b) for a, b in itertools.pairwise(ids))
