"""bpmnlint's own valid/invalid examples, for the rules caseflow enforces too.

bpmnlint (bpmn-io/bpmnlint) keeps ``test/rules/<rule>/{valid,invalid}*.bpmn``. For
each rule that has a caseflow counterpart, every ``invalid*`` file must be reported
with one of the mapped codes and no ``valid*`` file may be. The mapping:

=====================================  ===============================================
bpmnlint rule                          caseflow code(s)
=====================================  ===============================================
start-event-required                   start-event-required
end-event-required                     end-event-required
single-blank-start-event               single-blank-start-event
sub-process-blank-start-event          sub-process-blank-start-event
event-sub-process-typed-start-event    event-sub-process-typed-start-event
conditional-flows                      conditional-flows
event-based-gateway                    event-based-gateway
link-event                             link-event
single-event-definition                single-event-definition
no-complex-gateway                     unsupported-element
no-disconnected                        unreachable, disconnected (no start event)
no-implicit-start                      unreachable
no-implicit-end                        implicit-end (warning)
no-implicit-split                      implicit-split (warning)
fake-join                              fake-join (warning)
no-gateway-join-fork                   gateway-join-fork (warning)
no-duplicate-sequence-flows            duplicate-sequence-flow (warning)
global (missing name)                  missing-name
global (duplicate name)                duplicate-name (warning)
global (missing reference = unused)    unused-definition (warning)
=====================================  ===============================================

Not mapped, on purpose: label-required, no-bpmndi, no-overlapping-elements,
standard-size (diagram style); superfluous-gateway, superfluous-termination (style);
no-inclusive-gateway (caseflow runs inclusive gateways); ad-hoc-sub-process and
conditional-event (caseflow refuses both element kinds outright).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from caseflow.errors import XmlError
from caseflow.model import parse_bpmn, validate

from .snippets import CORPORA

RULES_DIR = CORPORA / "bpmnlint" / "test" / "rules"

pytestmark = pytest.mark.skipif(
    not RULES_DIR.is_dir(),
    reason=f"bpmnlint corpus not found at {RULES_DIR} (clone 'shared' beside 'main')",
)

MAPPING: dict[str, set[str]] = {
    "start-event-required": {"start-event-required"},
    "end-event-required": {"end-event-required"},
    "single-blank-start-event": {"single-blank-start-event"},
    "sub-process-blank-start-event": {"sub-process-blank-start-event"},
    "event-sub-process-typed-start-event": {"event-sub-process-typed-start-event"},
    "conditional-flows": {"conditional-flows"},
    "event-based-gateway": {"event-based-gateway"},
    "link-event": {"link-event"},
    "single-event-definition": {"single-event-definition"},
    "no-complex-gateway": {"unsupported-element"},
    "no-disconnected": {"unreachable", "disconnected"},
    "no-implicit-start": {"unreachable"},
    "no-implicit-end": {"implicit-end"},
    "no-implicit-split": {"implicit-split"},
    "fake-join": {"fake-join"},
    "no-gateway-join-fork": {"gateway-join-fork"},
    "no-duplicate-sequence-flows": {"duplicate-sequence-flow"},
    "global": {"missing-name", "duplicate-name", "unused-definition"},
}
GLOBAL_BY_NAME = {
    "missing-name": "missing-name",
    "duplicate-name": "duplicate-name",
    "missing-reference": "unused-definition",
}


def _cases() -> list[tuple[str, Path]]:
    if not RULES_DIR.is_dir():
        return []
    return [(rule, path) for rule in MAPPING for path in sorted((RULES_DIR / rule).glob("*.bpmn"))]


def _codes_for(rule: str, path: Path) -> set[str]:
    if rule == "global" and path.stem.startswith("invalid"):
        (code,) = (c for key, c in GLOBAL_BY_NAME.items() if path.stem.endswith(key))
        return {code}
    return MAPPING[rule]


def test_every_mapped_rule_has_examples() -> None:
    for rule in MAPPING:
        files = {p.stem.split("-")[0] for p in (RULES_DIR / rule).glob("*.bpmn")}
        assert {"valid", "invalid"} <= files or rule == "conditional-event", rule


@pytest.mark.parametrize(("rule", "path"), _cases(), ids=[f"{r}/{p.stem}" for r, p in _cases()])
def test_bpmnlint_example(rule: str, path: Path) -> None:
    result = parse_bpmn(path.read_bytes(), resource_name=path.name)
    problems = validate(result.definitions, executable_only=False)
    codes = _codes_for(rule, path)
    found = [p for p in problems if p.code in codes]
    if path.stem.startswith("invalid"):
        assert found, f"{rule}/{path.name} should be reported as {codes}"
        assert all(p.element_id for p in found)
    else:
        assert not found, "\n".join(str(p) for p in found)


def test_whole_bpmnlint_corpus_parses() -> None:
    refused = []
    for path in sorted(RULES_DIR.rglob("*.bpmn")):
        try:
            result = parse_bpmn(path.read_bytes(), resource_name=path.name)
        except XmlError as exc:
            assert re.search(r"line \d+, column \d+", str(exc)), exc
            refused.append(path.name)
            continue
        validate(result.definitions, executable_only=False)
    # no-bpmndi/valid-no-lanes.bpmn uses an undeclared "bpmn:" prefix
    assert refused == ["valid-no-lanes.bpmn"]
