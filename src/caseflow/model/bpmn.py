"""BPMN 2.0 XML to the immutable process model (``caseflow.model.elements``).

The parser is forgiving where a modelling tool may be sloppy and honest about
everything it does not carry over: whatever the engine will not execute is reported as
a warning naming the element ("ignored: camunda:taskListener on 'Task_1'"), and every
expression that does not compile is reported as an error. Only a document that is not
XML at all, is hostile, or is not BPMN raises (:class:`~caseflow.errors.XmlError`,
:class:`~caseflow.errors.DefinitionError`); everything else ends up in
:attr:`ParseResult.problems` for the validator and the user.

Vendor extensions of Camunda 7, Flowable, Activiti and Zeebe (Camunda 8) are normalised
into the same model fields. Vendor attributes that are understood but have no field of
their own are kept in ``FlowNode.extensions`` under ``"prefix:name"`` keys (prefixes
``camunda``, ``flowable``, ``activiti``, ``zeebe``, ``caseflow``); a few structured
extras use plain keys:

``topic``, ``retries``          external implementation of a message throw event
``task_headers``                zeebe:taskHeaders as a read-only mapping
``retry_time_cycle``            camunda/flowable failedJobRetryTimeCycle text
``message_ref``                 the messageRef of a sendTask
``zeebe:userTask``              ``True`` when the task is a Camunda 8 user task
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

from caseflow.errors import DefinitionError, ExpressionError, Problem
from caseflow.expr import compile_expression, compile_script, parse_value
from caseflow.model.elements import (
    Activity,
    BoundaryEvent,
    Bounds,
    CallActivity,
    CallMapping,
    CancelEventDefinition,
    Collaboration,
    CompensateEventDefinition,
    ComplexGateway,
    ConditionalEventDefinition,
    Definitions,
    Diagram,
    Edge,
    EndEvent,
    Error,
    ErrorEventDefinition,
    Escalation,
    EscalationEventDefinition,
    Event,
    EventBasedGateway,
    EventDefinition,
    ExclusiveGateway,
    ExternalTask,
    FlowNode,
    InclusiveGateway,
    IntermediateCatchEvent,
    IntermediateThrowEvent,
    IoMapping,
    Lane,
    LinkEventDefinition,
    Message,
    MessageEventDefinition,
    MessageFlow,
    MultiInstance,
    ParallelGateway,
    Participant,
    Process,
    ReceiveTask,
    ScriptTask,
    SequenceFlow,
    Shape,
    Signal,
    SignalEventDefinition,
    StandardLoop,
    StartEvent,
    SubProcess,
    Task,
    TerminateEventDefinition,
    TimerEventDefinition,
    UserTask,
)
from caseflow.model.xml import load_xml

if TYPE_CHECKING:
    from lxml import etree

    from caseflow.expr import Expression, Script
    from caseflow.model.elements import Value

__all__ = [
    "ACTIVITI_NS",
    "BPMN_NS",
    "CAMUNDA_NS",
    "CASEFLOW_NS",
    "FLOWABLE_NS",
    "ZEEBE_NS",
    "ParseResult",
    "parse_bpmn",
]

BPMN_NS: Final = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS: Final = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS: Final = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS: Final = "http://www.omg.org/spec/DD/20100524/DI"
XSI_NS: Final = "http://www.w3.org/2001/XMLSchema-instance"
CAMUNDA_NS: Final = "http://camunda.org/schema/1.0/bpmn"
FLOWABLE_NS: Final = "http://flowable.org/bpmn"
ACTIVITI_NS: Final = "http://activiti.org/bpmn"
ZEEBE_NS: Final = "http://camunda.org/schema/zeebe/1.0"
CASEFLOW_NS: Final = "http://caseflow.dev/schema/bpmn"

# Namespaces of execution engines: everything in them is either mapped or reported by name.
_ENGINE_NS: Final = {
    CAMUNDA_NS: "camunda",
    FLOWABLE_NS: "flowable",
    ACTIVITI_NS: "activiti",
    ZEEBE_NS: "zeebe",
    CASEFLOW_NS: "caseflow",
}
# Namespaces whose attributes carry no meaning for execution at all (layout, colour,
# XML itself); not even counted.
_SILENT_NS: Final = frozenset(
    {
        XSI_NS,
        "http://www.w3.org/XML/1998/namespace",
        "http://www.w3.org/2000/xmlns/",
        "http://bpmn.io/schema/bpmn/biocolor/1.0",
        "http://www.omg.org/spec/BPMN/non-normative/color/1.0",
        "http://camunda.org/schema/modeler/1.0",
        BPMNDI_NS,
        DC_NS,
        DI_NS,
    }
)
_JAVA_PREFIXES: Final = ("camunda", "flowable", "activiti")
_B = "{" + BPMN_NS + "}"

# vendor attributes understood as metadata: kept in ``extensions``, no warning
_INFORMATIONAL: Final = frozenset(
    {
        "exclusive",
        "jobPriority",
        "historyTimeToLive",
        "isStartableInTasklist",
        "modelerTemplate",
        "modelerTemplateVersion",
        "modelerTemplateIcon",
        "formRefBinding",
        "formRefVersion",
        "calledElementVersionTag",
        "calledElementTenantId",
        "calledElementType",
        "decisionRefBinding",
        "decisionRefVersion",
        "decisionRefVersionTag",
        "decisionRefTenantId",
        "mapDecisionResult",
        "category",
        "inheritBusinessKey",
        "fallbackToDefaultTenant",
        "sameDeployment",
        "formFieldValidation",
        "elementIndexVariable",
        "autoStoreVariables",
        "versionTag",
        "asyncBefore",  # on events (activities map it to a field)
        "asyncAfter",
        "async",
    }
)

_EVENT_TAGS: Final[dict[str, type[Event]]] = {
    "startEvent": StartEvent,
    "endEvent": EndEvent,
    "intermediateCatchEvent": IntermediateCatchEvent,
    "intermediateThrowEvent": IntermediateThrowEvent,
    "boundaryEvent": BoundaryEvent,
}
_GATEWAY_TAGS: Final = {
    "exclusiveGateway": ExclusiveGateway,
    "parallelGateway": ParallelGateway,
    "inclusiveGateway": InclusiveGateway,
    "eventBasedGateway": EventBasedGateway,
    "complexGateway": ComplexGateway,
}
_TASK_TAGS: Final = frozenset(
    {
        "task",
        "manualTask",
        "userTask",
        "scriptTask",
        "serviceTask",
        "sendTask",
        "businessRuleTask",
        "receiveTask",
        "callActivity",
    }
)
_SUBPROCESS_TAGS: Final = frozenset({"subProcess", "transaction", "adHocSubProcess"})
_EVENT_DEFINITION_TAGS: Final = frozenset(
    {
        "messageEventDefinition",
        "timerEventDefinition",
        "errorEventDefinition",
        "signalEventDefinition",
        "escalationEventDefinition",
        "terminateEventDefinition",
        "conditionalEventDefinition",
        "linkEventDefinition",
        "compensateEventDefinition",
        "cancelEventDefinition",
    }
)
# visual-only BPMN elements, never executed by any engine: skipped without a word
_ARTIFACT_TAGS: Final = frozenset(
    {"textAnnotation", "association", "group", "category", "categoryValueRef"}
)
_DATA_TAGS: Final = frozenset(
    {
        "ioSpecification",
        "dataInputAssociation",
        "dataOutputAssociation",
        "property",
        "dataInput",
        "dataOutput",
        "inputSet",
        "outputSet",
        "dataObject",
        "dataObjectReference",
        "dataStoreReference",
    }
)
# children every flow node may have that need no further handling
_NODE_CHILDREN: Final = frozenset(
    {"incoming", "outgoing", "documentation", "extensionElements", "auditing", "monitoring"}
)
_FEEL_LANGUAGES: Final = frozenset(
    {
        "feel",
        "http://www.omg.org/spec/feel/20140401",
        "https://www.omg.org/spec/feel/20140401",
    }
)
_UEL_LANGUAGES: Final = frozenset({"juel", "uel", "el", "${}", "jakarta-el"})
_RETRY_CYCLE = re.compile(r"^\s*R(\d+)/")
_TRUE = frozenset({"true", "1"})
_INDEXED_TAGS: Final = (
    frozenset(
        {
            "process",
            "sequenceFlow",
            "message",
            "signal",
            "error",
            "escalation",
            "participant",
            "messageFlow",
            "collaboration",
            "lane",
        }
    )
    | frozenset(_EVENT_TAGS)
    | frozenset(_GATEWAY_TAGS)
    | _TASK_TAGS
    | _SUBPROCESS_TAGS
)
_FALSE = frozenset({"false", "0"})

Dialect = Literal["auto", "uel", "feel", "plain"]


@dataclass(frozen=True, slots=True)
class ParseResult:
    """A parsed document and what the parser had to say about it."""

    definitions: Definitions
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")


def parse_bpmn(source: bytes | str, *, resource_name: str | None = None) -> ParseResult:
    """Parse one BPMN 2.0 document.

    Raises :class:`~caseflow.errors.XmlError` for malformed or hostile XML and
    :class:`~caseflow.errors.DefinitionError` for XML that is not BPMN 2.0. Everything
    else is reported in :attr:`ParseResult.problems` (also kept in
    ``Definitions.parse_problems`` so that :func:`caseflow.model.validate` repeats it).
    """
    root = load_xml(source, resource_name=resource_name)
    return _Parser(resource_name).parse(root)


# --- small helpers ----------------------------------------------------------------------


def _line(el: etree._Element) -> int | None:
    line: object = el.sourceline  # untyped in lxml-stubs
    return line if isinstance(line, int) else None


def _tag(el: etree._Element) -> str | None:
    """The tag of an element; ``None`` for entities and other non-elements."""
    tag: object = el.tag
    return tag if isinstance(tag, str) else None


def _split_tag(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _text(el: etree._Element | None) -> str:
    if el is None:
        return ""
    return "".join(str(t) for t in el.itertext()).strip()


def _ref(el: etree._Element, value: str | None) -> str | None:
    """An IDREF or QName reference as a plain id (``tns:Msg_1`` -> ``Msg_1``)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    prefix, sep, local = value.partition(":")
    if sep and (prefix in el.nsmap or prefix in {"tns", "bpmn", "bpmn2", "model"}):
        return local
    return value


def split_list(text: str) -> list[str]:
    """Split a comma-separated list, keeping commas inside ``${...}`` and brackets.

    A Zeebe value starting with ``=`` is one FEEL expression and is not split.
    """
    text = text.strip()
    if not text:
        return []
    if text.startswith("="):
        return [text]
    items: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(text):
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def _feel_string(text: str) -> str:
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


class _Reader:
    """The vendor attributes and extension elements of one element.

    Whatever a caller takes is considered mapped; :meth:`leftovers` tells the rest, so
    nothing is ever dropped without a warning.
    """

    __slots__ = ("attrs", "ext")

    def __init__(self, parser: _Parser, el: etree._Element) -> None:
        self.attrs: dict[tuple[str, str], str] = {}
        for raw_name, raw_value in el.attrib.items():
            name, value = str(raw_name), str(raw_value)
            if name[0] != "{":
                continue
            ns, local = _split_tag(name)
            prefix = _ENGINE_NS.get(ns)
            if prefix is not None:
                self.attrs[(prefix, local)] = value
            elif ns not in _SILENT_NS:
                parser.foreign(ns)
        self.ext: dict[tuple[str, str], list[etree._Element]] = {}
        for ee in el.iterchildren(_B + "extensionElements"):
            for child in ee.iterchildren():
                tag = _tag(child)
                if tag is None:
                    continue
                ns, local = _split_tag(tag)
                prefix = _ENGINE_NS.get(ns)
                if prefix is not None:
                    self.ext.setdefault((prefix, local), []).append(child)
                elif ns not in _SILENT_NS:
                    parser.foreign(ns)

    def attr(self, local: str, *prefixes: str) -> str | None:
        """Take ``local`` from the first namespace that has it (default: Java engines)."""
        found: str | None = None
        for prefix in prefixes or _JAVA_PREFIXES:
            value = self.attrs.pop((prefix, local), None)
            if value is not None and found is None:
                found = value
        return found

    def elements(self, local: str, *prefixes: str) -> list[etree._Element]:
        found: list[etree._Element] = []
        for prefix in prefixes or _JAVA_PREFIXES:
            found.extend(self.ext.pop((prefix, local), ()))
        return found

    def element(self, local: str, *prefixes: str) -> etree._Element | None:
        found = self.elements(local, *prefixes)
        return found[0] if found else None

    def leftovers(self) -> tuple[dict[str, object], list[str]]:
        """(attributes kept as extensions, names to report as ignored)."""
        kept: dict[str, object] = {}
        ignored: list[str] = []
        for (prefix, local), value in self.attrs.items():
            kept[f"{prefix}:{local}"] = value
            if local not in _INFORMATIONAL:
                ignored.append(f"{prefix}:{local}")
        for prefix, local in self.ext:
            ignored.append(f"{prefix}:{local}")
        self.attrs.clear()
        self.ext.clear()
        return kept, ignored


@dataclass(slots=True)
class _PendingNode:
    cls: type[FlowNode]
    kwargs: dict[str, Any]
    scope: _PendingScope | None = None  # for subprocesses


@dataclass(slots=True)
class _PendingScope:
    nodes: list[_PendingNode] = field(default_factory=list)
    flows: list[SequenceFlow] = field(default_factory=list)


class _Parser:
    def __init__(self, resource_name: str | None) -> None:
        self.resource_name = resource_name
        self.problems: list[Problem] = []
        self.process_id: str | None = None
        self.event_definitions: dict[str, etree._Element] = {}
        self.foreign_counts: Counter[str] = Counter()
        self.synthetic_ids = 0

    # -- reporting ------------------------------------------------------------------------

    def problem(
        self,
        severity: str,
        code: str,
        message: str,
        element_id: str | None = None,
        line: int | None = None,
    ) -> None:
        self.problems.append(
            Problem(severity, code, message, element_id, line, process_id=self.process_id)
        )

    def error(self, code: str, message: str, element_id: str | None, line: int | None) -> None:
        self.problem("error", code, message, element_id, line)

    def warn(self, code: str, message: str, element_id: str | None, line: int | None) -> None:
        self.problem("warning", code, message, element_id, line)

    def ignored(
        self, names: Iterable[str], element_id: str | None, line: int | None, why: str = ""
    ) -> None:
        unique = list(dict.fromkeys(names))
        if not unique:
            return
        where = f" on '{element_id}'" if element_id else ""
        tail = f" ({why})" if why else ""
        self.warn("ignored", f"ignored: {', '.join(unique)}{where}{tail}", element_id, line)

    def foreign(self, ns: str) -> None:
        self.foreign_counts[ns] += 1

    # -- expressions ----------------------------------------------------------------------

    def expression(
        self,
        text: str | None,
        *,
        element_id: str,
        line: int | None,
        what: str,
        dialect: Dialect = "auto",
    ) -> Expression | None:
        if text is None or not text.strip():
            return None
        try:
            return compile_expression(text, dialect=dialect, element_id=element_id)
        except ExpressionError as exc:
            self.error(
                "expression",
                f"{what} of '{element_id}' does not compile: {exc.message} "
                f"(expression {text.strip()!r})",
                element_id,
                line,
            )
            return None

    def value(
        self, text: str | None, *, element_id: str, line: int | None, what: str
    ) -> Value | None:
        """A literal string or an expression (``${...}``, ``#{...}``, ``=...``)."""
        if text is None or not text.strip():
            return None
        try:
            return parse_value(text.strip(), element_id=element_id)
        except ExpressionError as exc:
            self.error(
                "expression",
                f"{what} of '{element_id}' does not compile: {exc.message} "
                f"(expression {text.strip()!r})",
                element_id,
                line,
            )
            return None

    def source_expression(
        self, text: str | None, *, element_id: str, line: int | None, what: str
    ) -> Expression | None:
        """An expression, or a constant expression for a literal string."""
        value = self.value(text, element_id=element_id, line=line, what=what)
        if value is None or not isinstance(value, str):
            return value
        return self.expression(
            _feel_string(value), element_id=element_id, line=line, what=what, dialect="feel"
        )

    def script(
        self, text: str, script_format: str, *, element_id: str, line: int | None
    ) -> Script | None:
        try:
            return compile_script(text, script_format, element_id=element_id)
        except ExpressionError as exc:
            self.error(
                "script",
                f"script of '{element_id}' ({script_format}) cannot be used: {exc.message}",
                element_id,
                line,
            )
            return None

    def boolean(
        self, raw: str | None, default: bool, *, what: str, element_id: str | None, line: int | None
    ) -> bool:
        if raw is None or not raw.strip():
            return default
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        self.warn(
            "invalid-value",
            f"{what} of '{element_id}' is {raw!r}, not true or false; using {default}",
            element_id,
            line,
        )
        return default

    def integer(
        self, raw: str | None, *, what: str, element_id: str | None, line: int | None
    ) -> int | None:
        if raw is None or not raw.strip():
            return None
        try:
            return int(raw.strip())
        except ValueError:
            self.warn(
                "invalid-value",
                f"{what} of '{element_id}' is not an integer: {raw!r}",
                element_id,
                line,
            )
            return None

    # -- document -------------------------------------------------------------------------

    def parse(self, root: etree._Element) -> ParseResult:
        if root.tag != _B + "definitions":
            ns, local = _split_tag(str(root.tag))
            found = f"{{{ns}}}{local}" if ns else local
            name = f" {self.resource_name}" if self.resource_name else ""
            raise DefinitionError(
                f"not a BPMN 2.0 document{name}: the root element is <{found}>, expected "
                f"<definitions> in namespace {BPMN_NS}"
            )
        self.check_ids(root)
        # eventDefinitionRef may point at a definition at root level or inside any event
        for definition in root.iter(*(_B + t for t in _EVENT_DEFINITION_TAGS)):
            def_id = definition.get("id")
            if def_id:
                self.event_definitions.setdefault(def_id, definition)
        messages: dict[str, Message] = {}
        signals: dict[str, Signal] = {}
        errors: dict[str, Error] = {}
        escalations: dict[str, Escalation] = {}
        process_elements: list[etree._Element] = []
        collaboration_elements: list[etree._Element] = []
        diagrams: list[Diagram] = []
        ignored_roots: list[str] = []
        for child in root.iterchildren():
            tag = _tag(child)
            if tag is None:
                continue
            ns, local = _split_tag(tag)
            if ns == BPMNDI_NS and local == "BPMNDiagram":
                diagrams.append(self.diagram(child))
                continue
            if ns != BPMN_NS:
                if ns not in _SILENT_NS:
                    self.foreign(ns)
                continue
            if local == "process":
                process_elements.append(child)
            elif local == "collaboration":
                collaboration_elements.append(child)
            elif local == "message":
                m = self.message(child)
                messages.setdefault(m.id, m)
            elif local == "signal":
                sid = self.id_of(child)
                signals.setdefault(sid, Signal(sid, (child.get("name") or "").strip()))
                self.check_root_attrs(child, sid)
            elif local == "error":
                eid = self.id_of(child)
                errors.setdefault(
                    eid, Error(eid, (child.get("name") or "").strip(), child.get("errorCode"))
                )
                self.check_root_attrs(child, eid)
            elif local == "escalation":
                esc_id = self.id_of(child)
                escalations.setdefault(
                    esc_id,
                    Escalation(
                        esc_id,
                        (child.get("name") or "").strip(),
                        child.get("escalationCode"),
                    ),
                )
                self.check_root_attrs(child, esc_id)
            elif local in _EVENT_DEFINITION_TAGS:
                continue  # only used through eventDefinitionRef
            elif local in {
                "itemDefinition",
                "interface",
                "dataStore",
                "resource",
                "category",
                "extension",
                "relationship",
                "endPoint",
                "partnerEntity",
                "partnerRole",
                "documentation",
                "extensionElements",
            }:
                continue  # declarations that only other elements refer to
            else:
                ignored_roots.append(f"{local} '{child.get('id')}'" if child.get("id") else local)
        if ignored_roots:
            self.ignored(ignored_roots, None, None, "not executed")

        processes = [self.process(el) for el in process_elements]
        self.process_id = None
        collaborations = [self.collaboration(el) for el in collaboration_elements]
        for ns, count in sorted(self.foreign_counts.items()):
            self.warn(
                "ignored",
                f"ignored: {count} extension element(s)/attribute(s) in namespace '{ns}' "
                "(modelling tool metadata, not executed)",
                None,
                None,
            )
        problems = tuple(self.problems)
        definitions = Definitions(
            id=root.get("id"),
            target_namespace=root.get("targetNamespace"),
            exporter=root.get("exporter"),
            exporter_version=root.get("exporterVersion"),
            processes=tuple(processes),
            collaborations=tuple(collaborations),
            messages=MappingProxyType(messages),
            signals=MappingProxyType(signals),
            errors=MappingProxyType(errors),
            escalations=MappingProxyType(escalations),
            diagrams=tuple(diagrams),
            parse_problems=problems,
        )
        return ParseResult(definitions, problems)

    def check_ids(self, root: etree._Element) -> None:
        seen: dict[str, int | None] = {}
        for el in root.iter(_B + "*"):
            ident = el.get("id")
            if ident is None:
                continue
            if ident in seen:
                first = seen[ident]
                at = f" (first at line {first})" if first else ""
                local = _split_tag(str(el.tag))[1]
                # the model indexes these by id: a duplicate hides one of them
                severity = "error" if local in _INDEXED_TAGS else "warning"
                self.problem(
                    severity,
                    "duplicate-id",
                    f"duplicate id '{ident}' on <{local}>{at}; ids must be unique in a document",
                    ident,
                    _line(el),
                )
            else:
                seen[ident] = _line(el)

    def id_of(self, el: etree._Element) -> str:
        ident = (el.get("id") or "").strip()
        if ident:
            return ident
        self.synthetic_ids += 1
        local = _split_tag(str(el.tag))[1]
        made = f"{local}@{_line(el) or self.synthetic_ids}"
        self.error(
            "missing-id",
            f"<{local}> at line {_line(el)} has no id; called it '{made}'",
            made,
            _line(el),
        )
        return made

    def check_root_attrs(self, el: etree._Element, element_id: str) -> None:
        reader = _Reader(self, el)
        _, ignored = reader.leftovers()
        self.ignored(ignored, element_id, _line(el))

    def message(self, el: etree._Element) -> Message:
        mid = self.id_of(el)
        reader = _Reader(self, el)
        key: Expression | None = None
        sub = reader.element("subscription", "zeebe")
        if sub is not None:
            key = self.expression(
                sub.get("correlationKey"),
                element_id=mid,
                line=_line(sub),
                what="zeebe:subscription correlationKey",
            )
        _, ignored = reader.leftovers()
        self.ignored(ignored, mid, _line(el))
        return Message(mid, (el.get("name") or "").strip(), correlation_key=key)

    # -- processes ------------------------------------------------------------------------

    def process(self, el: etree._Element) -> Process:
        pid = self.id_of(el)
        self.process_id = pid
        line = _line(el)
        is_executable: bool | None = None
        if el.get("isExecutable") is not None:
            is_executable = self.boolean(
                el.get("isExecutable"), True, what="isExecutable", element_id=pid, line=line
            )
        reader = _Reader(self, el)
        version_tag = reader.attr("versionTag", "camunda", "flowable")
        zeebe_version = reader.element("versionTag", "zeebe")
        if version_tag is None and zeebe_version is not None:
            version_tag = zeebe_version.get("value")
        starter_groups = split_list(reader.attr("candidateStarterGroups") or "")
        starter_users = split_list(reader.attr("candidateStarterUsers") or "")
        _, ignored = reader.leftovers()
        self.ignored(ignored, pid, line)

        lanes: list[Lane] = []
        for lane_set in el.iterchildren(_B + "laneSet"):
            lanes.extend(self.lanes(lane_set))
        pending = self.scope(el, pid, handled={"laneSet"})

        # incoming/outgoing come from the flows, never from <incoming>/<outgoing>
        flows_all: list[SequenceFlow] = []
        self.collect_flows(pending, flows_all)
        incoming: dict[str, list[str]] = defaultdict(list)
        outgoing: dict[str, list[str]] = defaultdict(list)
        for flow in flows_all:
            outgoing[flow.source_ref].append(flow.id)
            incoming[flow.target_ref].append(flow.id)
        boundaries: dict[str, list[str]] = defaultdict(list)
        self.collect_boundaries(pending, boundaries)

        all_nodes: dict[str, FlowNode] = {}
        all_flows: dict[str, SequenceFlow] = {}
        for flow in flows_all:
            all_flows.setdefault(flow.id, flow)
        nodes, flows = self.build(pending, incoming, outgoing, boundaries, all_nodes)
        return Process(
            id=pid,
            name=el.get("name"),
            is_executable=is_executable,
            lanes=tuple(lanes),
            documentation=self.documentation(el),
            line=line,
            version_tag=version_tag,
            candidate_starter_groups=tuple(starter_groups),
            candidate_starter_users=tuple(starter_users),
            nodes=nodes,
            flows=flows,
            all_nodes=MappingProxyType(all_nodes),
            all_flows=MappingProxyType(all_flows),
        )

    def collect_flows(self, scope: _PendingScope, into: list[SequenceFlow]) -> None:
        into.extend(scope.flows)
        for node in scope.nodes:
            if node.scope is not None:
                self.collect_flows(node.scope, into)

    def collect_boundaries(self, scope: _PendingScope, into: dict[str, list[str]]) -> None:
        for node in scope.nodes:
            if node.cls is BoundaryEvent and node.kwargs.get("attached_to"):
                into[node.kwargs["attached_to"]].append(node.kwargs["id"])
            if node.scope is not None:
                self.collect_boundaries(node.scope, into)

    def build(
        self,
        scope: _PendingScope,
        incoming: dict[str, list[str]],
        outgoing: dict[str, list[str]],
        boundaries: dict[str, list[str]],
        all_nodes: dict[str, FlowNode],
    ) -> tuple[MappingProxyType[str, FlowNode], MappingProxyType[str, SequenceFlow]]:
        nodes: dict[str, FlowNode] = {}
        for pending in scope.nodes:
            kwargs = pending.kwargs
            node_id = kwargs["id"]
            kwargs["incoming"] = tuple(incoming.get(node_id, ()))
            kwargs["outgoing"] = tuple(outgoing.get(node_id, ()))
            if issubclass(pending.cls, Activity):
                kwargs["boundary_events"] = tuple(boundaries.get(node_id, ()))
            if pending.scope is not None:
                kwargs["nodes"], kwargs["flows"] = self.build(
                    pending.scope, incoming, outgoing, boundaries, all_nodes
                )
            node = pending.cls(**kwargs)
            nodes.setdefault(node_id, node)
            all_nodes.setdefault(node_id, node)
        flows: dict[str, SequenceFlow] = {}
        for flow in scope.flows:
            flows.setdefault(flow.id, flow)
        return MappingProxyType(nodes), MappingProxyType(flows)

    def lanes(self, lane_set: etree._Element) -> list[Lane]:
        lanes: list[Lane] = []
        for lane in lane_set.iterchildren(_B + "lane"):
            refs = tuple(
                r
                for r in (_ref(lane, _text(ref)) for ref in lane.iterchildren(_B + "flowNodeRef"))
                if r
            )
            children: list[Lane] = []
            for child_set in lane.iterchildren(_B + "childLaneSet"):
                children.extend(self.lanes(child_set))
            lanes.append(
                Lane(
                    id=self.id_of(lane),
                    name=lane.get("name"),
                    flow_node_refs=refs,
                    child_lanes=tuple(children),
                )
            )
        return lanes

    def documentation(self, el: etree._Element) -> str | None:
        texts = [_text(doc) for doc in el.iterchildren(_B + "documentation")]
        joined = "\n".join(t for t in texts if t)
        return joined or None

    def scope(
        self, el: etree._Element, scope_id: str, *, handled: Iterable[str] = ()
    ) -> _PendingScope:
        pending = _PendingScope()
        handled_set = set(handled) | _NODE_CHILDREN | _ARTIFACT_TAGS
        ignored: list[str] = []
        for child in el.iterchildren():
            tag = _tag(child)
            if tag is None:
                continue
            ns, local = _split_tag(tag)
            if ns != BPMN_NS:
                if ns not in _SILENT_NS and ns not in _ENGINE_NS:
                    self.foreign(ns)
                elif ns in _ENGINE_NS:
                    ignored.append(f"{_ENGINE_NS[ns]}:{local}")
                continue
            if local == "sequenceFlow":
                pending.flows.append(self.sequence_flow(child))
            elif local in _EVENT_TAGS:
                pending.nodes.append(self.event(child, local, scope_id))
            elif local in _GATEWAY_TAGS:
                pending.nodes.append(self.gateway(child, local, scope_id))
            elif local in _TASK_TAGS:
                pending.nodes.append(self.activity(child, local, scope_id))
            elif local in _SUBPROCESS_TAGS:
                pending.nodes.append(self.subprocess(child, local, scope_id))
            elif local in handled_set:
                continue
            else:  # data objects and stores, properties, anything unknown
                ident = child.get("id")
                ignored.append(f"{local} '{ident}'" if ident else local)
        self.ignored(ignored, scope_id, _line(el), "not executed")
        return pending

    # -- flows ----------------------------------------------------------------------------

    def sequence_flow(self, el: etree._Element) -> SequenceFlow:
        fid = self.id_of(el)
        line = _line(el)
        condition: Expression | None = None
        cond_el = el.find(_B + "conditionExpression")
        if cond_el is not None:
            condition = self.condition(cond_el, fid, "condition")
            if not _text(cond_el):
                self.warn(
                    "empty-condition",
                    f"sequence flow '{fid}' has an empty conditionExpression; it is unconditional",
                    fid,
                    line,
                )
        reader = _Reader(self, el)
        _, ignored = reader.leftovers()
        self.ignored(ignored, fid, line)
        return SequenceFlow(
            id=fid,
            source_ref=_ref(el, el.get("sourceRef")) or "",
            target_ref=_ref(el, el.get("targetRef")) or "",
            name=el.get("name"),
            condition=condition,
            line=line,
        )

    def condition(self, el: etree._Element, element_id: str, what: str) -> Expression | None:
        """A ``tFormalExpression`` (condition, loop condition, cardinality, ...)."""
        line = _line(el)
        text = _text(el)
        if not text:
            return None
        language = (el.get("language") or "").strip()
        dialect: Dialect = "auto"
        if language:
            low = language.lower()
            if low in _FEEL_LANGUAGES or "feel" in low:
                dialect = "feel"
            elif low in _UEL_LANGUAGES:
                dialect = "uel"
            else:
                self.error(
                    "unsupported-language",
                    f"{what} of '{element_id}' is in language {language!r}, which caseflow "
                    "does not run (supported: FEEL, UEL/JUEL)",
                    element_id,
                    line,
                )
                return None
        xsi_type = el.get("{" + XSI_NS + "}type")
        if xsi_type is not None:
            kind = xsi_type.rpartition(":")[2]
            if kind == "tExpression":
                self.warn(
                    "informal-expression",
                    f"{what} of '{element_id}' is an informal tExpression; it is read as a "
                    "formal expression",
                    element_id,
                    line,
                )
            elif kind != "tFormalExpression":
                self.error(
                    "unsupported-language",
                    f"{what} of '{element_id}' has xsi:type {xsi_type!r}; expected "
                    "tFormalExpression",
                    element_id,
                    line,
                )
                return None
        return self.expression(text, element_id=element_id, line=line, what=what, dialect=dialect)

    # -- nodes ----------------------------------------------------------------------------

    def base_kwargs(self, el: etree._Element, kind: str, scope_id: str) -> dict[str, Any]:
        return {
            "id": self.id_of(el),
            "kind": kind,
            "name": el.get("name"),
            "scope_id": scope_id,
            "documentation": self.documentation(el),
            "line": _line(el),
        }

    def finish(
        self,
        el: etree._Element,
        kwargs: dict[str, Any],
        reader: _Reader,
        handled: Iterable[str] = (),
        extensions: dict[str, object] | None = None,
    ) -> None:
        """Report what was not mapped and store the kept vendor attributes."""
        node_id = kwargs["id"]
        kept, ignored = reader.leftovers()
        handled_set = _NODE_CHILDREN | set(handled)
        for child in el.iterchildren():
            tag = _tag(child)
            if tag is None:
                continue
            ns, local = _split_tag(tag)
            if ns == BPMN_NS:
                if local not in handled_set and local not in _ARTIFACT_TAGS:
                    ignored.append(local)
            elif ns not in _SILENT_NS:
                self.foreign(ns)
        self.ignored(ignored, node_id, kwargs.get("line"))
        merged = dict(extensions or {})
        merged.update(kept)
        if merged:
            kwargs["extensions"] = MappingProxyType(merged)

    def io_mappings(
        self, reader: _Reader, node_id: str
    ) -> tuple[tuple[IoMapping, ...], tuple[IoMapping, ...]]:
        inputs: list[IoMapping] = []
        outputs: list[IoMapping] = []
        for io in reader.elements("inputOutput", "camunda"):
            for param in io.iterchildren():
                tag = _tag(param)
                if tag is None:
                    continue
                _, local = _split_tag(tag)
                target_list = {"inputParameter": inputs, "outputParameter": outputs}.get(local)
                name = (param.get("name") or "").strip()
                if target_list is None or not name:
                    self.ignored([f"camunda:{local}"], node_id, _line(param))
                    continue
                nested = [c for c in param.iterchildren() if _tag(c) is not None]
                if nested:
                    kinds = ", ".join(f"camunda:{_split_tag(str(c.tag))[1]}" for c in nested)
                    self.ignored(
                        [f"camunda:{local} '{name}'"],
                        node_id,
                        _line(param),
                        f"{kinds} values are not supported",
                    )
                    continue
                source = self.source_expression(
                    param.text,
                    element_id=node_id,
                    line=_line(param),
                    what=f"camunda:{local} '{name}'",
                )
                target_list.append(IoMapping(target=name, source=source))
        for io in reader.elements("ioMapping", "zeebe"):
            for param in io.iterchildren():
                tag = _tag(param)
                if tag is None:
                    continue
                _, local = _split_tag(tag)
                target_list = {"input": inputs, "output": outputs}.get(local)
                target = (param.get("target") or "").strip()
                if target_list is None or not target:
                    self.ignored([f"zeebe:{local}"], node_id, _line(param))
                    continue
                source = self.source_expression(
                    param.get("source"),
                    element_id=node_id,
                    line=_line(param),
                    what=f"zeebe:{local} '{target}'",
                )
                target_list.append(IoMapping(target=target, source=source))
        return tuple(inputs), tuple(outputs)

    # events

    def event(self, el: etree._Element, tag: str, scope_id: str) -> _PendingNode:
        kwargs = self.base_kwargs(el, tag, scope_id)
        node_id: str = kwargs["id"]
        line = _line(el)
        reader = _Reader(self, el)
        extensions: dict[str, object] = {}
        definitions: list[EventDefinition] = []
        for child in el.iterchildren():
            tag_name = _tag(child)
            if tag_name is None or not tag_name.startswith(_B):
                continue
            local = tag_name[len(_B) :]
            if local in _EVENT_DEFINITION_TAGS:
                definitions.append(self.event_definition(child, local, node_id, extensions))
            elif local == "eventDefinitionRef":
                ref = _ref(child, _text(child))
                target = self.event_definitions.get(ref or "")
                if target is None:
                    self.error(
                        "undefined-ref",
                        f"eventDefinitionRef '{ref}' of '{node_id}' names no event definition",
                        node_id,
                        _line(child),
                    )
                else:
                    local_def = _split_tag(str(target.tag))[1]
                    definitions.append(
                        self.event_definition(target, local_def, node_id, extensions)
                    )
        kwargs["event_definitions"] = tuple(definitions)
        self.external_implementation(reader, node_id, extensions, for_event=True)
        kwargs["input_mappings"], kwargs["output_mappings"] = self.io_mappings(reader, node_id)
        if tag == "startEvent":
            kwargs["is_interrupting"] = self.boolean(
                el.get("isInterrupting"),
                True,
                what="isInterrupting",
                element_id=node_id,
                line=line,
            )
            kwargs["form_key"] = self.form_key(reader)
            kwargs["initiator"] = reader.attr("initiator")
            form_data = reader.element("formData", "camunda")
            if form_data is not None:
                self.ignored(
                    ["camunda:formData"],
                    node_id,
                    _line(form_data),
                    "generated forms are not supported; use a form key",
                )
        elif tag == "boundaryEvent":
            kwargs["attached_to"] = _ref(el, el.get("attachedToRef")) or ""
            kwargs["cancel_activity"] = self.boolean(
                el.get("cancelActivity"),
                True,
                what="cancelActivity",
                element_id=node_id,
                line=line,
            )
        handled = {"eventDefinitionRef", *_EVENT_DEFINITION_TAGS}
        self.finish(el, kwargs, reader, handled, extensions)
        return _PendingNode(_EVENT_TAGS[tag], kwargs)

    def event_definition(
        self,
        el: etree._Element,
        local: str,
        node_id: str,
        extensions: dict[str, object],
    ) -> EventDefinition:
        def_id = el.get("id")
        line = _line(el)
        reader = _Reader(self, el)
        result: EventDefinition
        if local == "messageEventDefinition":
            result = MessageEventDefinition(def_id, _ref(el, el.get("messageRef")))
            # Camunda 7 implements message throw events like service tasks
            self.external_implementation(reader, node_id, extensions, for_event=True)
        elif local == "timerEventDefinition":
            result = self.timer(el, def_id, node_id)
        elif local == "errorEventDefinition":
            result = ErrorEventDefinition(
                def_id,
                _ref(el, el.get("errorRef")),
                error_code_variable=reader.attr("errorCodeVariable"),
                error_message_variable=reader.attr("errorMessageVariable"),
            )
        elif local == "signalEventDefinition":
            result = SignalEventDefinition(def_id, _ref(el, el.get("signalRef")))
        elif local == "escalationEventDefinition":
            result = EscalationEventDefinition(def_id, _ref(el, el.get("escalationRef")))
        elif local == "terminateEventDefinition":
            result = TerminateEventDefinition(def_id)
        elif local == "conditionalEventDefinition":
            cond_el = el.find(_B + "condition")
            condition = (
                self.condition(cond_el, node_id, "condition") if cond_el is not None else None
            )
            result = ConditionalEventDefinition(def_id, condition)
        elif local == "linkEventDefinition":
            result = LinkEventDefinition(def_id, (el.get("name") or "").strip())
        elif local == "compensateEventDefinition":
            result = CompensateEventDefinition(def_id, _ref(el, el.get("activityRef")))
            self.warn(
                "not-executed",
                f"compensation event '{node_id}' is not executed by caseflow",
                node_id,
                line,
            )
        else:
            result = CancelEventDefinition(def_id)
            self.warn(
                "not-executed",
                f"cancel event '{node_id}' is not executed by caseflow",
                node_id,
                line,
            )
        kept, ignored = reader.leftovers()
        for key, val in kept.items():
            extensions.setdefault(key, val)
        self.ignored(ignored, node_id, line)
        return result

    def timer(self, el: etree._Element, def_id: str | None, node_id: str) -> TimerEventDefinition:
        found: list[tuple[Literal["date", "duration", "cycle"], etree._Element]] = []
        kinds: tuple[tuple[str, Literal["date", "duration", "cycle"]], ...] = (
            ("timeDate", "date"),
            ("timeDuration", "duration"),
            ("timeCycle", "cycle"),
        )
        for tag, kind in kinds:
            child = el.find(_B + tag)
            if child is not None and _text(child):
                found.append((kind, child))
        if not found:
            return TimerEventDefinition(def_id, "duration", "")
        if len(found) > 1:
            self.warn(
                "timer-ambiguous",
                f"timer of '{node_id}' has {', '.join(k for k, _ in found)}; "
                f"only the {found[0][0]} is used",
                node_id,
                _line(el),
            )
        kind, child = found[0]
        value = self.value(
            _text(child), element_id=node_id, line=_line(child), what=f"timer {kind}"
        )
        return TimerEventDefinition(def_id, kind, value if value is not None else "")

    def form_key(self, reader: _Reader) -> str | None:
        key = reader.attr("formKey")
        form_ref = reader.attr("formRef", "camunda")
        definition = reader.element("formDefinition", "zeebe")
        if key is None and form_ref is not None:
            key = form_ref
        if definition is not None and key is None:
            key = (
                definition.get("formKey")
                or definition.get("formId")
                or definition.get("externalReference")
            )
        return key

    def external_implementation(
        self,
        reader: _Reader,
        node_id: str,
        extensions: dict[str, object],
        *,
        for_event: bool = False,
    ) -> tuple[str | None, str | None, str | None]:
        """(topic, java implementation, retries text) from every vendor's dialect."""
        topic = reader.attr("topic", "caseflow")
        java: str | None = None
        retries: str | None = None
        camunda_type = reader.attr("type", "camunda")
        camunda_topic = reader.attr("topic", "camunda")
        if topic is None and camunda_type == "external":
            topic = camunda_topic
        elif camunda_type is not None:
            java = f"camunda:type='{camunda_type}'"
        flowable_type = reader.attr("type", "flowable", "activiti")
        flowable_topic = reader.attr("topic", "flowable", "activiti")
        if topic is None and flowable_type == "external-worker":
            topic = flowable_topic
        elif flowable_type is not None and java is None:
            java = f"flowable:type='{flowable_type}'"
        definition = reader.element("taskDefinition", "zeebe")
        if definition is not None:
            if topic is None:
                topic = definition.get("type")
            retries = definition.get("retries")
        for attr in ("class", "expression", "delegateExpression"):
            for prefix in _JAVA_PREFIXES:
                value = reader.attr(attr, prefix)
                if value is not None:
                    extensions[f"{prefix}:{attr}"] = value
                    java = java or f"{prefix}:{attr}='{value}'"
        connector = reader.element("connector", "camunda")
        if connector is not None:
            java = java or "camunda:connector"
        fields = reader.elements("field", "camunda", "flowable", "activiti")
        if fields and java is not None:
            extensions["fields"] = MappingProxyType(
                {f.get("name") or "": f.get("stringValue") or _text(f) for f in fields}
            )
        headers = reader.element("taskHeaders", "zeebe")
        if headers is not None:
            extensions["task_headers"] = MappingProxyType(
                {
                    h.get("key") or "": h.get("value") or ""
                    for h in headers.iterchildren(f"{{{ZEEBE_NS}}}header")
                }
            )
        for cycle in reader.elements("failedJobRetryTimeCycle"):
            extensions["retry_time_cycle"] = _text(cycle)
            match = _RETRY_CYCLE.match(_text(cycle))
            if match and retries is None:
                retries = match.group(1)
        if for_event:
            if topic:
                extensions["topic"] = topic
            elif java:
                extensions["implementation"] = java
            if retries is not None:
                extensions["retries"] = retries
        return (topic.strip() if topic and topic.strip() else None), java, retries

    # gateways

    def gateway(self, el: etree._Element, tag: str, scope_id: str) -> _PendingNode:
        kwargs = self.base_kwargs(el, tag, scope_id)
        node_id = kwargs["id"]
        kwargs["default_flow"] = _ref(el, el.get("default"))
        kwargs["gateway_direction"] = el.get("gatewayDirection")
        reader = _Reader(self, el)
        handled: set[str] = set()
        if tag == "eventBasedGateway":
            kwargs["instantiate"] = self.boolean(
                el.get("instantiate"),
                False,
                what="instantiate",
                element_id=node_id,
                line=_line(el),
            )
            if (el.get("eventGatewayType") or "Exclusive") != "Exclusive":
                self.warn(
                    "not-executed",
                    f"event-based gateway '{node_id}' of type {el.get('eventGatewayType')} "
                    "is not executed (only Exclusive)",
                    node_id,
                    _line(el),
                )
        elif tag == "complexGateway":
            handled.add("activationCondition")
            self.warn(
                "not-executed",
                f"complexGateway '{node_id}' is not executed by caseflow",
                node_id,
                _line(el),
            )
        self.finish(el, kwargs, reader, handled)
        return _PendingNode(_GATEWAY_TAGS[tag], kwargs)

    # activities

    def activity_common(
        self,
        el: etree._Element,
        kwargs: dict[str, Any],
        reader: _Reader,
        extensions: dict[str, object],
    ) -> set[str]:
        """Fields every activity shares; returns the BPMN child tags it handled."""
        node_id: str = kwargs["id"]
        line = _line(el)
        kwargs["default_flow"] = _ref(el, el.get("default"))
        kwargs["is_for_compensation"] = self.boolean(
            el.get("isForCompensation"),
            False,
            what="isForCompensation",
            element_id=node_id,
            line=line,
        )
        if kwargs["is_for_compensation"]:
            self.warn(
                "not-executed",
                f"compensation handler '{node_id}' is not executed by caseflow",
                node_id,
                line,
            )
        async_before = reader.attr("asyncBefore", "camunda")
        if async_before is None:
            async_before = reader.attr("async", "flowable", "activiti", "camunda")
        kwargs["async_before"] = self.boolean(
            async_before, False, what="asyncBefore", element_id=node_id, line=line
        )
        kwargs["async_after"] = self.boolean(
            reader.attr("asyncAfter", "camunda"),
            False,
            what="asyncAfter",
            element_id=node_id,
            line=line,
        )
        for quantity in ("startQuantity", "completionQuantity"):
            raw = el.get(quantity)
            if raw is not None and raw.strip() != "1":
                self.ignored([f"{quantity}={raw}"], node_id, line, "only 1 is supported")
        kwargs["input_mappings"], kwargs["output_mappings"] = self.io_mappings(reader, node_id)
        handled: set[str] = set()
        mi = el.find(_B + "multiInstanceLoopCharacteristics")
        if mi is not None:
            kwargs["multi_instance"] = self.multi_instance(mi, node_id)
            handled.add("multiInstanceLoopCharacteristics")
        loop = el.find(_B + "standardLoopCharacteristics")
        if loop is not None:
            handled.add("standardLoopCharacteristics")
            cond_el = loop.find(_B + "loopCondition")
            kwargs["standard_loop"] = StandardLoop(
                loop_condition=(
                    self.condition(cond_el, node_id, "loopCondition")
                    if cond_el is not None
                    else None
                ),
                test_before=self.boolean(
                    loop.get("testBefore"),
                    False,
                    what="testBefore",
                    element_id=node_id,
                    line=_line(loop),
                ),
                loop_maximum=self.integer(
                    loop.get("loopMaximum"),
                    what="loopMaximum",
                    element_id=node_id,
                    line=_line(loop),
                ),
            )
        return handled

    def multi_instance(self, el: etree._Element, node_id: str) -> MultiInstance:
        line = _line(el)
        reader = _Reader(self, el)
        cardinality_el = el.find(_B + "loopCardinality")
        completion_el = el.find(_B + "completionCondition")
        collection_text = reader.attr("collection")
        element_variable = reader.attr("elementVariable")
        output_collection: str | None = None
        output_element: Expression | None = None
        zeebe = reader.element("loopCharacteristics", "zeebe")
        if zeebe is not None:
            collection_text = collection_text or zeebe.get("inputCollection")
            element_variable = element_variable or zeebe.get("inputElement")
            output_collection = zeebe.get("outputCollection")
            output_element = self.expression(
                zeebe.get("outputElement"),
                element_id=node_id,
                line=_line(zeebe),
                what="zeebe:loopCharacteristics outputElement",
            )
        data_input = el.find(_B + "loopDataInputRef")
        if collection_text is None and data_input is not None and _text(data_input):
            collection_text = _text(data_input)
        item = el.find(_B + "inputDataItem")
        if element_variable is None and item is not None:
            element_variable = item.get("name") or item.get("id")
        collection = self.expression(
            collection_text, element_id=node_id, line=line, what="multi-instance collection"
        )
        result = MultiInstance(
            is_sequential=self.boolean(
                el.get("isSequential"),
                False,
                what="isSequential",
                element_id=node_id,
                line=line,
            ),
            loop_cardinality=(
                self.condition(cardinality_el, node_id, "loopCardinality")
                if cardinality_el is not None
                else None
            ),
            collection=collection,
            element_variable=element_variable.strip() if element_variable else None,
            completion_condition=(
                self.condition(completion_el, node_id, "completionCondition")
                if completion_el is not None
                else None
            ),
            output_collection=output_collection,
            output_element=output_element,
        )
        kept, ignored = reader.leftovers()
        ignored.extend(f"multi-instance {k}" for k in kept if k.endswith("elementIndexVariable"))
        handled = {
            "loopCardinality",
            "completionCondition",
            "loopDataInputRef",
            "inputDataItem",
            "documentation",
            "extensionElements",
        }
        for child in el.iterchildren():
            tag = _tag(child)
            if tag is not None and tag.startswith(_B) and tag[len(_B) :] not in handled:
                ignored.append(tag[len(_B) :])
        self.ignored(ignored, node_id, line)
        return result

    def activity(self, el: etree._Element, tag: str, scope_id: str) -> _PendingNode:
        kwargs = self.base_kwargs(el, tag, scope_id)
        reader = _Reader(self, el)
        extensions: dict[str, object] = {}
        handled = self.activity_common(el, kwargs, reader, extensions)
        cls: type[FlowNode]
        if tag in {"task", "manualTask"}:
            cls = Task
        elif tag == "userTask":
            cls = UserTask
            handled |= self.user_task(el, kwargs, reader, extensions)
        elif tag == "scriptTask":
            cls = ScriptTask
            handled.add("script")
            self.script_task(el, kwargs, reader)
        elif tag in {"serviceTask", "sendTask", "businessRuleTask"}:
            cls = ExternalTask
            self.external_task(el, tag, kwargs, reader, extensions)
        elif tag == "receiveTask":
            cls = ReceiveTask
            kwargs["message_ref"] = _ref(el, el.get("messageRef"))
        else:
            cls = CallActivity
            self.call_activity(el, kwargs, reader, extensions)
        for cycle in reader.elements("failedJobRetryTimeCycle"):  # async continuations
            extensions["retry_time_cycle"] = _text(cycle)
        self.finish(el, kwargs, reader, handled, extensions)
        return _PendingNode(cls, kwargs)

    def values(
        self, text: str | None, node_id: str, line: int | None, what: str
    ) -> tuple[Value, ...]:
        result: list[Value] = []
        for item in split_list(text or ""):
            value = self.value(item, element_id=node_id, line=line, what=what)
            if value is not None:
                result.append(value)
        return tuple(result)

    def user_task(
        self,
        el: etree._Element,
        kwargs: dict[str, Any],
        reader: _Reader,
        extensions: dict[str, object],
    ) -> set[str]:
        node_id: str = kwargs["id"]
        line = _line(el)
        assignee = reader.attr("assignee")
        users = reader.attr("candidateUsers")
        groups = reader.attr("candidateGroups")
        due = reader.attr("dueDate")
        follow_up = reader.attr("followUpDate", "camunda")
        priority = reader.attr("priority")
        assignment = reader.element("assignmentDefinition", "zeebe")
        if assignment is not None:
            assignee = assignee or assignment.get("assignee")
            users = users or assignment.get("candidateUsers")
            groups = groups or assignment.get("candidateGroups")
        schedule = reader.element("taskSchedule", "zeebe")
        if schedule is not None:
            due = due or schedule.get("dueDate")
            follow_up = follow_up or schedule.get("followUpDate")
        priority_def = reader.element("priorityDefinition", "zeebe")
        if priority_def is not None:
            priority = priority or priority_def.get("priority")
        if reader.element("userTask", "zeebe") is not None:
            extensions["zeebe:userTask"] = True
        handled: set[str] = set()
        # standard BPMN: humanPerformer / potentialOwner with a formal expression
        # (Activiti style "user(kermit), group(management)")
        for performer in el.iterchildren(_B + "humanPerformer", _B + "potentialOwner"):
            handled.add(_split_tag(str(performer.tag))[1])
            expr_el = performer.find(f"{_B}resourceAssignmentExpression/{_B}formalExpression")
            text = _text(expr_el)
            if not text:
                self.ignored(
                    [_split_tag(str(performer.tag))[1]],
                    node_id,
                    _line(performer),
                    "only resourceAssignmentExpression is read",
                )
                continue
            if performer.tag == _B + "humanPerformer":
                assignee = assignee or text
                continue
            more_users: list[str] = []
            more_groups: list[str] = []
            for item in split_list(text):
                m = re.fullmatch(r"(user|group)\((.*)\)", item)
                if m is None:
                    more_groups.append(item)
                elif m.group(1) == "user":
                    more_users.append(m.group(2).strip())
                else:
                    more_groups.append(m.group(2).strip())
            if users is None and more_users:
                users = ",".join(more_users)
            if groups is None and more_groups:
                groups = ",".join(more_groups)
        kwargs["assignee"] = self.value(assignee, element_id=node_id, line=line, what="assignee")
        kwargs["candidate_users"] = self.values(users, node_id, line, "candidateUsers")
        kwargs["candidate_groups"] = self.values(groups, node_id, line, "candidateGroups")
        kwargs["form_key"] = self.form_key(reader)
        kwargs["due_date"] = self.value(due, element_id=node_id, line=line, what="dueDate")
        kwargs["follow_up_date"] = self.value(
            follow_up, element_id=node_id, line=line, what="followUpDate"
        )
        kwargs["priority"] = self.value(priority, element_id=node_id, line=line, what="priority")
        queue = reader.attr("queue", "caseflow")
        kwargs["queue"] = queue.strip() if queue and queue.strip() else None
        sla = reader.attr("sla", "caseflow")
        kwargs["sla"] = sla.strip() if sla and sla.strip() else None
        return handled

    def script_task(self, el: etree._Element, kwargs: dict[str, Any], reader: _Reader) -> None:
        node_id: str = kwargs["id"]
        line = _line(el)
        script_format = el.get("scriptFormat")
        script_el = el.find(_B + "script")
        text = script_el.text if script_el is not None else None
        result_variable = reader.attr("resultVariable")
        zeebe = reader.element("script", "zeebe")
        resource = reader.attr("resource", "camunda")
        if resource is not None:
            self.error(
                "script",
                f"script of '{node_id}' is an external resource ({resource!r}); only inline "
                "scripts are supported",
                node_id,
                line,
            )
        if zeebe is not None and not (text and text.strip()):
            text = (zeebe.get("expression") or "").strip()
            script_format = "feel"
            result_variable = result_variable or zeebe.get("resultVariable")
        kwargs["result_variable"] = result_variable.strip() if result_variable else None
        kwargs["script_format"] = script_format
        if text is None or not text.strip():
            if resource is None:
                self.error("script", f"script task '{node_id}' has no script", node_id, line)
            return
        if not script_format:
            self.error("script", f"script task '{node_id}' has no scriptFormat", node_id, line)
            return
        kwargs["script"] = self.script(text, script_format, element_id=node_id, line=line)

    def external_task(
        self,
        el: etree._Element,
        tag: str,
        kwargs: dict[str, Any],
        reader: _Reader,
        extensions: dict[str, object],
    ) -> None:
        node_id: str = kwargs["id"]
        line = _line(el)
        decision_ref = reader.attr("decisionRef", "camunda")
        result_variable = reader.attr("resultVariable")
        called = reader.element("calledDecision", "zeebe")
        if called is not None:
            decision_ref = decision_ref or called.get("decisionId")
            result_variable = result_variable or called.get("resultVariable")
        topic, java, retries = self.external_implementation(reader, node_id, extensions)
        if tag == "sendTask" and el.get("messageRef"):
            extensions["message_ref"] = _ref(el, el.get("messageRef"))
        if topic is None:
            topic = node_id
            if decision_ref is None:
                label = {"serviceTask": "service task", "sendTask": "send task"}.get(
                    tag, "business rule task"
                )
                why = (
                    f"has a Java-only implementation ({java})"
                    if java
                    else "names no external task topic"
                )
                self.warn(
                    "external-task-topic",
                    f"{label} '{node_id}' {why}; it becomes an external task with topic "
                    f"'{node_id}'",
                    node_id,
                    line,
                )
        kwargs["topic"] = topic
        retry_count = self.integer(retries, what="retries", element_id=node_id, line=line)
        if retry_count is None and retries is not None:
            extensions["retries"] = retries
        kwargs["retries"] = retry_count
        kwargs["priority"] = self.value(
            reader.attr("taskPriority", "camunda"),
            element_id=node_id,
            line=line,
            what="camunda:taskPriority",
        )
        kwargs["decision_ref"] = decision_ref.strip() if decision_ref else None
        kwargs["result_variable"] = result_variable.strip() if result_variable else None

    def call_activity(
        self,
        el: etree._Element,
        kwargs: dict[str, Any],
        reader: _Reader,
        extensions: dict[str, object],
    ) -> None:
        node_id: str = kwargs["id"]
        line = _line(el)
        called_text = el.get("calledElement")
        binding = reader.attr("calledElementBinding", "camunda")
        version_text = reader.attr("calledElementVersion", "camunda")
        zeebe = reader.element("calledElement", "zeebe")
        propagate_parent = False
        propagate_child = False
        if zeebe is not None:
            called_text = called_text or zeebe.get("processId")
            binding = binding or zeebe.get("bindingType")
            propagate_parent = self.boolean(
                zeebe.get("propagateAllParentVariables"),
                True,
                what="propagateAllParentVariables",
                element_id=node_id,
                line=_line(zeebe),
            )
            propagate_child = self.boolean(
                zeebe.get("propagateAllChildVariables"),
                True,
                what="propagateAllChildVariables",
                element_id=node_id,
                line=_line(zeebe),
            )
        inherit = reader.attr("inheritVariables", "flowable", "activiti")
        if inherit is not None:
            propagate_parent = self.boolean(
                inherit, False, what="flowable:inheritVariables", element_id=node_id, line=line
            )
        kwargs["called_element"] = self.value(
            called_text, element_id=node_id, line=line, what="calledElement"
        )
        if binding is not None:
            binding = binding.strip()
            if binding in {"latest", "version", "deployment", "versionTag"}:
                kwargs["binding"] = binding
            else:
                self.warn(
                    "invalid-value",
                    f"calledElementBinding of '{node_id}' is {binding!r}; using 'latest'",
                    node_id,
                    line,
                )
        version = self.integer(
            version_text, what="calledElementVersion", element_id=node_id, line=line
        )
        if version is None and version_text:
            extensions["camunda:calledElementVersion"] = version_text
        kwargs["version"] = version
        business_key: Expression | None = None
        flowable_key = reader.attr("businessKey", "flowable", "activiti")
        if flowable_key:
            business_key = self.source_expression(
                flowable_key, element_id=node_id, line=line, what="businessKey"
            )
        in_mappings: list[CallMapping] = []
        out_mappings: list[CallMapping] = []
        for direction, target_list in (("in", in_mappings), ("out", out_mappings)):
            for mapping in reader.elements(direction):
                prefix = _ENGINE_NS.get(_split_tag(str(mapping.tag))[0], "camunda")
                mline = _line(mapping)
                key = mapping.get("businessKey")
                if direction == "in" and key is not None:
                    business_key = self.source_expression(
                        key, element_id=node_id, line=mline, what=f"{prefix}:in businessKey"
                    )
                    continue
                local = self.boolean(
                    mapping.get("local"),
                    False,
                    what=f"{prefix}:{direction} local",
                    element_id=node_id,
                    line=mline,
                )
                if (mapping.get("variables") or "").strip() == "all":
                    target_list.append(CallMapping(None, all_variables=True, local=local))
                    continue
                target = (mapping.get("target") or "").strip() or None
                source = (mapping.get("source") or "").strip() or None
                source_expression = self.expression(
                    mapping.get("sourceExpression"),
                    element_id=node_id,
                    line=mline,
                    what=f"{prefix}:{direction} sourceExpression",
                )
                if target is None or (
                    source is None
                    and source_expression is None
                    and not mapping.get("sourceExpression")
                ):
                    self.warn(
                        "invalid-value",
                        f"{prefix}:{direction} of '{node_id}' needs a source (or "
                        "sourceExpression) and a target; ignored",
                        node_id,
                        mline,
                    )
                    continue
                target_list.append(
                    CallMapping(
                        target, source=source, source_expression=source_expression, local=local
                    )
                )
        if reader.attr("caseRef", "camunda") is not None:
            self.error(
                "not-executed",
                f"call activity '{node_id}' calls a CMMN case (camunda:caseRef)",
                node_id,
                line,
            )
        kwargs["in_mappings"] = tuple(in_mappings)
        kwargs["out_mappings"] = tuple(out_mappings)
        kwargs["business_key"] = business_key
        kwargs["propagate_all_parent_variables"] = propagate_parent
        kwargs["propagate_all_child_variables"] = propagate_child

    def subprocess(self, el: etree._Element, tag: str, scope_id: str) -> _PendingNode:
        kwargs = self.base_kwargs(el, tag, scope_id)
        node_id: str = kwargs["id"]
        line = _line(el)
        reader = _Reader(self, el)
        extensions: dict[str, object] = {}
        handled = self.activity_common(el, kwargs, reader, extensions)
        kwargs["triggered_by_event"] = self.boolean(
            el.get("triggeredByEvent"),
            False,
            what="triggeredByEvent",
            element_id=node_id,
            line=line,
        )
        kwargs["is_transaction"] = tag == "transaction"
        kwargs["is_ad_hoc"] = tag == "adHocSubProcess"
        if tag == "transaction":
            self.warn(
                "not-executed",
                f"transaction '{node_id}' is not executed by caseflow",
                node_id,
                line,
            )
        elif tag == "adHocSubProcess":
            self.warn(
                "not-executed",
                f"ad-hoc subprocess '{node_id}' is not executed by caseflow",
                node_id,
                line,
            )
            handled.add("completionCondition")
        lane_sets = list(el.iterchildren(_B + "laneSet"))
        if lane_sets:
            self.ignored(["laneSet"], node_id, line, "lanes inside subprocesses are not kept")
        # children that are flow elements are handled by ``scope``, the rest below
        flow_tags = (
            {"sequenceFlow", "laneSet"}
            | set(_EVENT_TAGS)
            | set(_GATEWAY_TAGS)
            | _TASK_TAGS
            | _SUBPROCESS_TAGS
            | _DATA_TAGS
        )
        scope_handled = handled | {
            "multiInstanceLoopCharacteristics",
            "standardLoopCharacteristics",
            "completionCondition",
            "laneSet",
        }
        pending = self.scope(el, node_id, handled=scope_handled)
        for cycle in reader.elements("failedJobRetryTimeCycle"):
            extensions["retry_time_cycle"] = _text(cycle)
        self.finish(el, kwargs, reader, handled | flow_tags | _ARTIFACT_TAGS, extensions)
        return _PendingNode(SubProcess, kwargs, pending)

    # -- collaborations ------------------------------------------------------------------

    def collaboration(self, el: etree._Element) -> Collaboration:
        cid = self.id_of(el)
        participants: list[Participant] = []
        message_flows: list[MessageFlow] = []
        ignored: list[str] = []
        for child in el.iterchildren():
            tag = _tag(child)
            if tag is None:
                continue
            ns, local = _split_tag(tag)
            if ns != BPMN_NS:
                if ns not in _SILENT_NS:
                    self.foreign(ns)
                continue
            if local == "participant":
                participants.append(
                    Participant(
                        self.id_of(child),
                        child.get("name"),
                        _ref(child, child.get("processRef")),
                    )
                )
            elif local == "messageFlow":
                message_flows.append(
                    MessageFlow(
                        self.id_of(child),
                        _ref(child, child.get("sourceRef")) or "",
                        _ref(child, child.get("targetRef")) or "",
                        message_ref=_ref(child, child.get("messageRef")),
                        name=child.get("name"),
                    )
                )
            elif local in _ARTIFACT_TAGS or local in {"documentation", "extensionElements"}:
                continue
            else:
                ignored.append(local)
        self.ignored(ignored, cid, _line(el), "not executed")
        return Collaboration(cid, el.get("name"), tuple(participants), tuple(message_flows))

    # -- diagrams -------------------------------------------------------------------------

    def diagram(self, el: etree._Element) -> Diagram:
        shapes: list[Shape] = []
        edges: list[Edge] = []
        plane_element: str | None = None
        broken = 0
        for plane in el.iterchildren(f"{{{BPMNDI_NS}}}BPMNPlane"):
            plane_element = plane_element or _ref(plane, plane.get("bpmnElement"))
            for child in plane.iterchildren():
                tag = _tag(child)
                try:
                    if tag == f"{{{BPMNDI_NS}}}BPMNShape":
                        shape = self.shape(child)
                        if shape is None:
                            broken += 1
                        else:
                            shapes.append(shape)
                    elif tag == f"{{{BPMNDI_NS}}}BPMNEdge":
                        edge = self.edge(child)
                        if edge is None:
                            broken += 1
                        else:
                            edges.append(edge)
                except ValueError:
                    broken += 1
        if broken:
            self.warn(
                "diagram",
                f"diagram '{el.get('id')}': {broken} shape(s)/edge(s) without a usable "
                "element reference, bounds or waypoints were skipped",
                el.get("id"),
                _line(el),
            )
        return Diagram(el.get("id"), el.get("name"), plane_element, tuple(shapes), tuple(edges))

    @staticmethod
    def bounds(el: etree._Element | None) -> Bounds | None:
        if el is None:
            return None
        return Bounds(
            float(el.get("x") or 0),
            float(el.get("y") or 0),
            float(el.get("width") or 0),
            float(el.get("height") or 0),
        )

    @staticmethod
    def optional_bool(raw: str | None) -> bool | None:
        if raw is None:
            return None
        low = raw.strip().lower()
        return True if low in _TRUE else False if low in _FALSE else None

    def label(self, el: etree._Element) -> Bounds | None:
        label = el.find(f"{{{BPMNDI_NS}}}BPMNLabel")
        if label is None:
            return None
        return self.bounds(label.find(f"{{{DC_NS}}}Bounds"))

    def shape(self, el: etree._Element) -> Shape | None:
        element = _ref(el, el.get("bpmnElement"))
        bounds = self.bounds(el.find(f"{{{DC_NS}}}Bounds"))
        if element is None or bounds is None:
            return None
        return Shape(
            el.get("id"),
            element,
            bounds,
            is_expanded=self.optional_bool(el.get("isExpanded")),
            is_horizontal=self.optional_bool(el.get("isHorizontal")),
            label=self.label(el),
        )

    def edge(self, el: etree._Element) -> Edge | None:
        element = _ref(el, el.get("bpmnElement"))
        if element is None:
            return None
        points = tuple(
            (float(p.get("x") or 0), float(p.get("y") or 0))
            for p in el.iterchildren(f"{{{DI_NS}}}waypoint")
        )
        return Edge(el.get("id"), element, points, label=self.label(el))
