"""Each validation rule: the code, the element id and the source line of the finding."""

from __future__ import annotations

import pytest

from caseflow.errors import Problem, ValidationFailed
from caseflow.model import RULES, ValidationReport, load_definitions, parse_bpmn, validate
from caseflow.model.validate import is_valid_timer

from .snippets import chain, definitions, flow, line_of, process, with_code

BASIC = '<startEvent id="s"/><endEvent id="e"/>'


def check(document: str, *, executable_only: bool = True) -> list[Problem]:
    return validate(parse_bpmn(document).definitions, executable_only=executable_only)


def only(problems: list[Problem], code: str) -> Problem:
    found = with_code(problems, code)
    assert len(found) == 1, f"expected one {code}, got {found}"
    return found[0]


def assert_at(problem: Problem, document: str, element_id: str, needle: str) -> None:
    assert problem.element_id == element_id
    assert problem.line == line_of(document, needle), problem


def test_a_clean_process_has_no_problem() -> None:
    doc = process(
        '<startEvent id="s"/><userTask id="u" camunda:assignee="demo"/>'
        '<exclusiveGateway id="g" default="f_no"/><endEvent id="e1"/><endEvent id="e2"/>'
        + chain("s", "u", "g")
        + flow("g", "e1", "${ok}")
        + flow("g", "e2", id="f_no")
    )
    assert check(doc) == []
    definitions_, problems = load_definitions(doc, "clean.bpmn")
    assert problems == []
    assert definitions_.process("p").node("u").kind == "userTask"


def test_every_code_is_documented() -> None:
    for code in ("unreachable", "timer", "conditional-flows", "duplicate-id", "expression"):
        assert code in RULES


def test_no_process() -> None:
    problems = check(definitions('<message id="m" name="M"/>'))
    assert only(problems, "no-process").severity == "error"
    doc = definitions('<process id="x" isExecutable="false">' + BASIC + "</process>")
    assert "none of the 1 process(es) is executable" in only(check(doc), "no-process").message
    assert with_code(check(doc, executable_only=False), "no-process") == []


def test_start_and_end_event_required() -> None:
    doc = process('<task id="t"/>')
    problems = check(doc)
    start = only(problems, "start-event-required")
    assert start.element_id == "p" and start.process_id == "p"
    assert start.line == line_of(doc, '<process id="p"')
    assert only(problems, "end-event-required").severity == "error"
    sub = process(BASIC + '<subProcess id="sp"><task id="x"/></subProcess>' + chain("s", "sp", "e"))
    problems = check(sub)
    assert_at(only(problems, "start-event-required"), sub, "sp", '<subProcess id="sp"')
    assert_at(only(problems, "end-event-required"), sub, "sp", '<subProcess id="sp"')


def test_start_event_kinds_in_scopes() -> None:
    doc = process(
        '<startEvent id="s1"/><startEvent id="s2"/><endEvent id="e"/>'
        + flow("s1", "e")
        + flow("s2", "e")
        + '<subProcess id="sp"><startEvent id="sp_s"><messageEventDefinition messageRef="m"/>'
        '</startEvent><endEvent id="sp_e"/>' + flow("sp_s", "sp_e") + "</subProcess>"
        '<subProcess id="ev" triggeredByEvent="true"><startEvent id="ev_s"/><endEvent id="ev_e"/>'
        + flow("ev_s", "ev_e")
        + "</subProcess>"
        + flow("s1", "sp", id="f_sp")
        + flow("sp", "e", id="f_sp_e"),
        roots='<message id="m" name="M"/>',
    )
    problems = check(doc)
    assert_at(only(problems, "single-blank-start-event"), doc, "s2", '<startEvent id="s2"')
    assert_at(only(problems, "sub-process-blank-start-event"), doc, "sp_s", 'id="sp_s"')
    assert_at(
        only(problems, "event-sub-process-typed-start-event"), doc, "ev_s", '<startEvent id="ev_s"'
    )


def test_sequence_flow_refs_and_scope() -> None:
    doc = process(
        BASIC
        + '<subProcess id="sp"><startEvent id="in"/><endEvent id="in_e"/>'
        + chain("in", "in_e")
        + "</subProcess>"
        + flow("s", "nowhere", id="f_bad")
        + '<sequenceFlow id="f_none" targetRef="e"/>'
        + flow("s", "in", id="f_cross")
        + flow("s", "sp", id="f_ok")
        + flow("sp", "e", id="f_ok2")
    )
    problems = check(doc)
    refs = {p.element_id: p for p in with_code(problems, "sequence-flow-ref")}
    assert set(refs) == {"f_bad", "f_none"}
    assert refs["f_bad"].line == line_of(doc, 'id="f_bad"')
    assert "targetRef 'nowhere'" in refs["f_bad"].message
    assert "has no sourceRef" in refs["f_none"].message
    cross = only(problems, "sequence-flow-scope")
    assert_at(cross, doc, "f_cross", 'id="f_cross"')
    assert "cannot cross subprocess boundaries" in cross.message


def test_flow_direction() -> None:
    doc = process(BASIC + '<task id="t"/>' + chain("s", "t", "e") + flow("e", "t", id="f_back"))
    assert_at(only(check(doc), "flow-direction"), doc, "e", '<endEvent id="e"')


def test_unreachable_and_entry_points() -> None:
    doc = process(
        BASIC
        + '<task id="t"/><task id="lost"/><task id="lost2"/>'
        + '<boundaryEvent id="b" attachedToRef="t"><timerEventDefinition><timeDuration>PT1M'
        '</timeDuration></timerEventDefinition></boundaryEvent><endEvent id="be"/>'
        + '<subProcess id="ev" triggeredByEvent="true"><startEvent id="ev_s">'
        "<timerEventDefinition><timeDuration>PT1M</timeDuration></timerEventDefinition>"
        '</startEvent><endEvent id="ev_e"/></subProcess>'
        + chain("s", "t", "e")
        + chain("b", "be")
        + chain("ev_s", "ev_e")
        + chain("lost", "lost2")
    )
    problems = check(doc)
    unreachable = {p.element_id: p for p in with_code(problems, "unreachable")}
    assert set(unreachable) == {"lost", "lost2"}
    assert unreachable["lost"].line == line_of(doc, '<task id="lost"')
    assert "cannot be reached from any start event" in unreachable["lost"].message


def test_disconnected_without_start_event() -> None:
    doc = process('<task id="alone"/><task id="a"/><task id="b"/>' + chain("a", "b"))
    problems = check(doc)
    assert_at(only(problems, "disconnected"), doc, "alone", '<task id="alone"')
    assert with_code(problems, "unreachable") == []


def test_implicit_end_is_a_warning() -> None:
    doc = process(BASIC + '<task id="t"/>' + chain("s", "t"))
    problem = only(check(doc), "implicit-end")
    assert problem.severity == "warning"
    assert_at(problem, doc, "t", '<task id="t"')


def test_conditional_flows_after_exclusive_and_inclusive_gateways() -> None:
    for tag in ("exclusiveGateway", "inclusiveGateway"):
        doc = process(
            '<startEvent id="s"/><endEvent id="e1"/><endEvent id="e2"/><endEvent id="e3"/>'
            f'<{tag} id="g" default="f3"/>'
            + flow("s", "g")
            + flow("g", "e1", "${a}", id="f1")
            + flow("g", "e2", id="f2")
            + flow("g", "e3", id="f3")
        )
        problem = only(check(doc), "conditional-flows")
        assert problem.severity == "error"
        assert_at(problem, doc, "f2", 'id="f2"')


def test_conditional_flows_after_a_task_are_a_warning() -> None:
    doc = process(
        '<startEvent id="s"/><task id="t"/><endEvent id="e1"/><endEvent id="e2"/>'
        + flow("s", "t")
        + flow("t", "e1", "${a}", id="f1")
        + flow("t", "e2", id="f2")
    )
    problem = only(check(doc), "conditional-flows")
    assert problem.severity == "warning" and problem.element_id == "f2"


def test_default_flow_rules() -> None:
    doc = process(
        '<startEvent id="s"/><exclusiveGateway id="g1" default="f_other"/>'
        '<exclusiveGateway id="g2" default="f_c"/><parallelGateway id="g3" default="f_p"/>'
        '<endEvent id="e1"/><endEvent id="e2"/><endEvent id="e3"/><endEvent id="e4"/>'
        + flow("s", "g1")
        + flow("g1", "g2", "${a}", id="f_a")
        + flow("g1", "e1", "${b}", id="f_b")
        + flow("g2", "e2", "${c}", id="f_c")
        + flow("g2", "g3", "${d}", id="f_d")
        + flow("g3", "e3", id="f_p")
        + flow("g3", "e4", id="f_q")
        + flow("s", "e4", id="f_other")
    )
    problems = with_code(check(doc), "default-flow")
    by_element = {p.element_id: p.message for p in problems}
    assert "is not one of its outgoing flows" in by_element["g1"]
    assert "has a condition" in by_element["f_c"]
    assert "cannot have a default flow" in by_element["g3"]


def test_boundary_event_attachment() -> None:
    doc = process(
        BASIC
        + '<task id="t"/><exclusiveGateway id="g"/>'
        + chain("s", "t", "g", "e")
        + '<boundaryEvent id="b_none"><timerEventDefinition><timeDuration>PT1M</timeDuration>'
        "</timerEventDefinition></boundaryEvent>"
        '<boundaryEvent id="b_missing" attachedToRef="ghost"><timerEventDefinition>'
        "<timeDuration>PT1M</timeDuration></timerEventDefinition></boundaryEvent>"
        '<boundaryEvent id="b_gw" attachedToRef="g"><timerEventDefinition>'
        "<timeDuration>PT1M</timeDuration></timerEventDefinition></boundaryEvent>"
        '<boundaryEvent id="b_blank" attachedToRef="t"/>'
        '<boundaryEvent id="b_err" attachedToRef="t" cancelActivity="false">'
        "<errorEventDefinition/></boundaryEvent>"
    )
    problems = {p.element_id: p for p in with_code(check(doc), "boundary-event")}
    assert "not attached to anything" in problems["b_none"].message
    assert "'ghost', which is not a flow node" in problems["b_missing"].message
    assert "only activities can carry boundary events" in problems["b_gw"].message
    assert "no event definition" in problems["b_blank"].message
    assert "always interrupt" in problems["b_err"].message
    assert problems["b_gw"].line == line_of(doc, '<boundaryEvent id="b_gw"')


def test_undefined_and_unused_root_elements() -> None:
    doc = process(
        '<startEvent id="s"><messageEventDefinition messageRef="nope"/></startEvent>'
        '<intermediateThrowEvent id="sig"><signalEventDefinition signalRef="S"/>'
        '</intermediateThrowEvent><endEvent id="e"><errorEventDefinition errorRef="E"/>'
        '</endEvent><receiveTask id="r" messageRef="gone"/>' + chain("s", "sig", "r", "e"),
        roots='<signal id="S" name=""/><error id="E" name="Err" errorCode="1"/>'
        '<escalation id="X" name="Esc"/><message id="m1" name="dup"/><message id="m2" name="dup"/>',
    )
    problems = check(doc)
    undefined = {p.element_id: p for p in with_code(problems, "undefined-ref")}
    assert set(undefined) == {"s", "r"}
    assert undefined["s"].line == line_of(doc, '<startEvent id="s"')
    assert "message 'nope'" in undefined["s"].message
    missing = only(problems, "missing-name")
    assert (missing.element_id, missing.severity) == ("S", "error")
    assert only(problems, "duplicate-name").severity == "warning"
    unused = {p.element_id for p in with_code(problems, "unused-definition")}
    assert unused == {"X", "m1", "m2"}


def test_unsupported_elements_are_refused_by_name() -> None:
    doc = process(
        BASIC
        + '<complexGateway id="cx"/>'
        + '<transaction id="tx"><startEvent id="tx_s"/><endEvent id="tx_e"/>'
        + chain("tx_s", "tx_e")
        + "</transaction>"
        + '<adHocSubProcess id="ah"><task id="ah_t"/></adHocSubProcess>'
        + '<intermediateThrowEvent id="comp"><compensateEventDefinition/></intermediateThrowEvent>'
        + '<endEvent id="cancel"><cancelEventDefinition/></endEvent>'
        + '<intermediateCatchEvent id="cond"><conditionalEventDefinition><condition>${x}'
        "</condition></conditionalEventDefinition></intermediateCatchEvent>"
        + '<task id="handler" isForCompensation="true"/>'
        + chain("s", "cx", "tx", "ah", "comp", "cond", "cancel")
        + flow("cx", "e", "${y}")
    )
    result = parse_bpmn(doc)
    problems = validate(result.definitions)
    refused = {p.element_id: p for p in with_code(problems, "unsupported-element")}
    assert set(refused) == {"cx", "tx", "ah", "comp", "cancel", "cond", "handler"}
    assert (
        refused["cx"].message
        == "complex gateway 'cx' is refused: complex gateways are not executed"
    )
    assert refused["tx"].line == line_of(doc, '<transaction id="tx"')
    # the parser's "not-executed" warnings are folded into the errors
    assert with_code(problems, "not-executed") == []
    assert with_code(list(result.problems), "not-executed")


def test_single_event_definition_and_catch_without_definition() -> None:
    doc = process(
        '<startEvent id="s"><messageEventDefinition messageRef="m"/><timerEventDefinition>'
        "<timeDuration>PT1M</timeDuration></timerEventDefinition></startEvent>"
        '<intermediateCatchEvent id="c"/><endEvent id="e"/>' + chain("s", "c", "e"),
        roots='<message id="m" name="M"/>',
    )
    problems = check(doc)
    assert_at(only(problems, "single-event-definition"), doc, "s", '<startEvent id="s"')
    assert_at(only(problems, "event-definition"), doc, "c", '<intermediateCatchEvent id="c"')


def test_event_based_gateway() -> None:
    doc = process(
        '<startEvent id="s"/><eventBasedGateway id="g"/><task id="t"/>'
        '<intermediateCatchEvent id="c"><timerEventDefinition><timeDuration>PT1M</timeDuration>'
        '</timerEventDefinition></intermediateCatchEvent><endEvent id="e"/>'
        + flow("s", "g")
        + flow("g", "t", id="f_t")
        + flow("g", "c", "${x}", id="f_c")
        + chain("t", "e")
        + flow("c", "e", id="f_ce")
    )
    messages = {p.element_id: p.message for p in with_code(check(doc), "event-based-gateway")}
    assert "only intermediate catch events and receive tasks" in messages["f_t"]
    assert "has a condition" in messages["f_c"]
    lonely = process(
        '<startEvent id="s"/><eventBasedGateway id="g"/><endEvent id="e"/>' + chain("s", "g", "e")
    )
    assert any(
        "has 1 outgoing flow(s); it needs at least 2" in p.message
        for p in with_code(check(lonely), "event-based-gateway")
    )


def test_link_events() -> None:
    doc = process(
        BASIC + '<intermediateThrowEvent id="to_a"><linkEventDefinition name="A"/>'
        "</intermediateThrowEvent>"
        '<intermediateCatchEvent id="from_a"><linkEventDefinition name="A"/>'
        "</intermediateCatchEvent>"
        '<intermediateThrowEvent id="to_b"><linkEventDefinition name="B"/>'
        "</intermediateThrowEvent>"
        '<intermediateCatchEvent id="from_c"><linkEventDefinition name="C"/>'
        "</intermediateCatchEvent>"
        + chain("s", "to_a")
        + chain("from_a", "to_b")
        + chain("from_c", "e")
    )
    problems = {p.element_id: p.message for p in with_code(check(doc), "link-event")}
    assert set(problems) == {"to_b", "from_c"}
    assert "no link catch event" in problems["to_b"]


def test_call_activity_and_multi_instance() -> None:
    doc = process(
        BASIC
        + '<callActivity id="c"/><task id="mi"><multiInstanceLoopCharacteristics/></task>'
        + chain("s", "c", "mi", "e")
    )
    problems = check(doc)
    assert_at(only(problems, "called-element"), doc, "c", '<callActivity id="c"')
    assert_at(only(problems, "multi-instance"), doc, "mi", '<task id="mi"')


@pytest.mark.parametrize(
    ("kind", "text", "valid"),
    [
        ("date", "2024-01-01T10:00:00Z", True),
        ("date", "2024-01-01T10:00:00+02:00", True),
        ("date", "2024-01-01", True),
        ("date", "2024-01-01T10:00:00@Europe/Berlin", True),
        ("date", "2024-01-01T10:00:00@Mars/Base", False),
        ("date", "tomorrow", False),
        ("duration", "PT5M", True),
        ("duration", "P1DT2H", True),
        ("duration", "P2W", True),
        ("duration", "5 minutes", False),
        ("duration", "PT", False),
        ("cycle", "R5/PT10M", True),
        ("cycle", "R/PT10M", True),
        ("cycle", "R/2024-01-01T00:00:00Z/P1D", True),
        ("cycle", "R3/P1D/2024-12-31T00:00:00Z", True),
        ("cycle", "0 0 9-17 * * MON-FRI", True),
        ("cycle", "*/5 * * * *", True),
        ("cycle", "0 0/5 * * * ?", True),
        ("cycle", "@daily", True),
        ("cycle", "R5", False),
        ("cycle", "Rx/PT1M", False),
        ("cycle", "every day", False),
        ("cycle", "* *", False),
    ],
)
def test_timer_values(kind: str, text: str, valid: bool) -> None:
    assert (is_valid_timer(kind, text) is None) is valid


def test_timer_problems_name_the_event() -> None:
    doc = process(
        '<startEvent id="s"><timerEventDefinition><timeCycle>R5/10 minutes</timeCycle>'
        '</timerEventDefinition></startEvent><intermediateCatchEvent id="empty">'
        "<timerEventDefinition/></intermediateCatchEvent>"
        '<intermediateCatchEvent id="expr"><timerEventDefinition><timeDate>${when}</timeDate>'
        '</timerEventDefinition></intermediateCatchEvent><endEvent id="e"/>'
        + chain("s", "empty", "expr", "e")
    )
    problems = {p.element_id: p for p in with_code(check(doc), "timer")}
    assert set(problems) == {"s", "empty"}
    assert "timer cycle of start event 's' is not valid: 'R5/10 minutes'" in problems["s"].message
    assert problems["s"].line == line_of(doc, '<startEvent id="s"')
    assert "has no date, duration or cycle" in problems["empty"].message


def test_warnings_for_implicit_behaviour() -> None:
    doc = process(
        '<startEvent id="s"/><task id="a"/><task id="b"/><task id="join"/>'
        '<exclusiveGateway id="g"/><endEvent id="e1"/><endEvent id="e2"/>'
        + flow("s", "a")
        + flow("s", "b")
        + flow("a", "join")
        + flow("b", "join")
        + flow("join", "g")
        + flow("join", "g", id="dup")
        + flow("g", "e1", "${x}")
        + flow("g", "e2", "${y}")
    )
    problems = check(doc)
    splits = {p.element_id for p in with_code(problems, "implicit-split")}
    assert splits == {"s", "join"}  # join: the duplicate flows to g
    fake = [p for p in with_code(problems, "fake-join") if p.element_id == "join"]
    assert fake and fake[0].severity == "warning"
    assert_at(only(problems, "gateway-join-fork"), doc, "g", '<exclusiveGateway id="g"')
    assert only(problems, "duplicate-sequence-flow").element_id == "dup"


def test_parse_problems_are_repeated_and_filtered_by_executable() -> None:
    doc = definitions(
        '<process id="run" isExecutable="true"><startEvent id="s"/><endEvent id="e"/>'
        + flow("s", "e", "${ (", id="bad_run")
        + "</process>"
        '<process id="doc" isExecutable="false"><startEvent id="s2"/><endEvent id="e2"/>'
        + flow("s2", "e2", "${ (", id="bad_doc")
        + "</process>"
    )
    result = parse_bpmn(doc)
    assert {p.element_id for p in with_code(list(result.problems), "expression")} == {
        "bad_run",
        "bad_doc",
    }
    problems = validate(result.definitions)
    assert {p.element_id for p in with_code(problems, "expression")} == {"bad_run"}
    everything = validate(result.definitions, executable_only=False)
    assert {p.element_id for p in with_code(everything, "expression")} == {"bad_run", "bad_doc"}
    expression = only(problems, "expression")
    assert expression.line == line_of(doc, 'id="bad_run"')
    assert expression.process_id == "run"


def test_validation_report_renders_grouped_and_sorted() -> None:
    doc = definitions(
        '<process id="b" isExecutable="true"><task id="t"/></process>'
        '<process id="a" isExecutable="true"><startEvent id="s"/><task id="x"/>'
        '<endEvent id="e"/>' + chain("s", "e") + "</process>"
        '<signal id="sig" name=""/>'
    )
    _, problems = load_definitions(doc, "two.bpmn")
    report = ValidationReport(problems, resource_name="two.bpmn")
    assert not report.ok
    groups = report.grouped()
    assert [g for g, _ in groups] == [None, "a", "b"]
    for _, items in groups:
        lines = [p.line or 0 for p in items]
        assert lines == sorted(lines)
    text = report.render()
    assert text.splitlines()[0] == "document:"
    assert "process 'a':" in text and "process 'b':" in text
    x_line = line_of(doc, '<task id="x"')
    assert f"two.bpmn:{x_line}: error [unreachable] (x)" in text
    assert text.splitlines()[-1].startswith("two.bpmn: ")
    assert "warning" not in report.render(warnings=False).split("\n", 1)[0]
    with pytest.raises(ValidationFailed) as info:
        report.raise_for_errors()
    assert info.value.problems == report.errors
    assert ValidationReport([]).render() == "<document>: 0 error(s), 0 warning(s) - ok"
