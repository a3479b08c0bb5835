"""The public API: dialect detection, parse_value, Expression objects, error context."""

from __future__ import annotations

import copy
import pickle
import threading
from decimal import Decimal

import pytest

from caseflow.errors import (
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionLimitExceeded,
    ExpressionSyntaxError,
)
from caseflow.expr import Expression, compile_expression, parse_value


@pytest.mark.parametrize(
    ("text", "dialect"),
    [
        ("${a}", "uel"),
        ("#{a}", "uel"),
        ("Hello ${name}!", "uel"),
        ("=a", "feel"),
        ("  = a + 1", "feel"),
        ("a > 1", "plain"),
        ("a and not(b)", "plain"),
    ],
)
def test_auto_detects_the_dialect(text: str, dialect: str) -> None:
    assert compile_expression(text).dialect == dialect


def test_explicit_dialects() -> None:
    assert compile_expression("a = 1", dialect="feel").evaluate({"a": 1}) is True
    assert compile_expression("=a = 1", dialect="feel").evaluate({"a": 1}) is True
    assert compile_expression("a == 1", dialect="plain").evaluate({"a": 1}) is True
    # UEL text without ${ } is literal text, as in JUEL.
    assert compile_expression("demo", dialect="uel").evaluate({}) == "demo"
    with pytest.raises(ExpressionSyntaxError, match="unknown expression dialect"):
        compile_expression("a", dialect="python")  # type: ignore[arg-type]


def test_parse_value_keeps_literals_and_compiles_expressions() -> None:
    assert parse_value(None) is None
    assert parse_value("demo") == "demo"
    assert parse_value("a = b") == "a = b"  # '=' only counts at the start
    uel = parse_value("${initiator}", element_id="Task_1")
    assert isinstance(uel, Expression)
    assert uel.dialect == "uel"
    assert uel.element_id == "Task_1"
    assert uel.evaluate({"initiator": "ann"}) == "ann"
    feel = parse_value("=owner")
    assert isinstance(feel, Expression)
    assert feel.evaluate({"owner": "bob"}) == "bob"
    composite = parse_value("group-${region}")
    assert isinstance(composite, Expression)
    assert composite.evaluate({"region": "north"}) == "group-north"
    with pytest.raises(ExpressionSyntaxError):
        parse_value("${a +}", element_id="Task_1")


def test_names_are_the_free_variables() -> None:
    assert compile_expression("${amount > 1000 && approved}").names == {"amount", "approved"}
    assert compile_expression("Dear ${title} ${name}").names == {"title", "name"}
    assert compile_expression("${execution.getVariable('x')}").names == {"execution"}
    assert compile_expression("=for x in xs return x + y").names == {"xs", "y"}
    assert compile_expression("=some x in xs satisfies x > limit").names == {"xs", "limit"}
    assert compile_expression("={a: 1, b: a + c}").names == {"c"}
    assert compile_expression('=string length(name) > 3').names == {"name"}
    assert compile_expression("=orders[item.total > min]").names == {"orders", "min"}
    assert compile_expression("=is defined(x)").names == {"x"}
    assert compile_expression("1 + 2").names == frozenset()


def test_expression_is_immutable_comparable_and_picklable() -> None:
    e = compile_expression("${a + 1}", element_id="Flow_1")
    with pytest.raises(AttributeError):
        e.source = "x"  # type: ignore[misc]
    assert e == compile_expression("${a + 1}", element_id="Flow_1")
    assert e != compile_expression("${a + 2}", element_id="Flow_1")
    assert hash(e) == hash(compile_expression("${a + 1}", element_id="Flow_1"))
    clone = pickle.loads(pickle.dumps(e))  # noqa: S301 - our own object
    assert clone == e
    assert clone.evaluate({"a": 1}) == 2
    assert copy.deepcopy(e) is e
    assert "a + 1" in repr(e)


def test_expression_is_safe_to_share_between_threads() -> None:
    e = compile_expression("=sum(for i in 1..n return i)")
    results: list[object] = []

    def work(n: int) -> None:
        for _ in range(200):
            results.append((n, e.evaluate({"n": n})))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(value == n * (n + 1) // 2 for n, value in results)
    assert len(results) == 8 * 200


def test_syntax_errors_name_expression_offset_and_element() -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        compile_expression("${amount > }", element_id="Flow_7")
    err = info.value
    assert err.expression == "${amount > }"
    assert err.element_id == "Flow_7"
    assert err.position == 11
    assert "Flow_7" in str(err)
    assert "'${amount > }'" in str(err)
    assert "offset 11" in str(err)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("a +", 3),
        ("(a", 2),
        ("a ! b", 2),
        ("'open", 0),
        ("a = 1", 2),
        ("=if a then b", 12),
        ("=[1, 2", 6),
        ('="abc', 1),
        ("${a} and ${b", 9),
        ("a @ b", 2),
        ("foo(1)", 0),
        ("=unknown fn(1)", 9),
    ],
)
def test_syntax_error_offsets(text: str, position: int) -> None:
    with pytest.raises(ExpressionSyntaxError) as info:
        compile_expression(text)
    assert info.value.position == position, str(info.value)


def test_plain_refuses_single_equals_with_a_hint() -> None:
    with pytest.raises(ExpressionSyntaxError, match="use '==' for equality"):
        compile_expression("status = 'open'")


def test_empty_expressions() -> None:
    with pytest.raises(ExpressionSyntaxError, match="empty"):
        compile_expression("   ")
    with pytest.raises(ExpressionSyntaxError, match="empty"):
        compile_expression("=")
    with pytest.raises(ExpressionSyntaxError, match="empty"):
        compile_expression("${}")
    assert compile_expression("", dialect="uel").evaluate({}) == ""


def test_evaluation_errors_name_expression_and_element() -> None:
    e = compile_expression("${amount > 1000}", element_id="Flow_3")
    with pytest.raises(ExpressionEvaluationError) as info:
        e.evaluate({})
    err = info.value
    assert err.message == "unknown variable 'amount'"
    assert err.expression == "${amount > 1000}"
    assert err.element_id == "Flow_3"
    assert err.position == 2
    assert "Flow_3" in str(err)


def test_all_errors_are_expression_errors() -> None:
    for exc in (ExpressionSyntaxError, ExpressionEvaluationError, ExpressionLimitExceeded):
        assert issubclass(exc, ExpressionError)


def test_non_text_is_refused() -> None:
    with pytest.raises(ExpressionSyntaxError):
        compile_expression(42)  # type: ignore[arg-type]


def test_numbers_keep_their_kind() -> None:
    assert compile_expression("1 + 2").evaluate({}) == 3
    assert type(compile_expression("1 + 2").evaluate({})) is int
    assert compile_expression("1.5 + 1").evaluate({}) == Decimal("2.5")
    assert type(compile_expression("1.5 + 1").evaluate({})) is Decimal
    assert compile_expression("x + 1.5").evaluate({"x": 1.0}) == Decimal("2.5")
    assert compile_expression("=0.1 + 0.2 = 0.3").evaluate({}) is True
