"""UEL (Camunda 7 / Flowable) and plain expressions: operators, coercions, methods."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from caseflow.errors import ExpressionEvaluationError, ExpressionSyntaxError
from caseflow.expr import ContextObject, compile_expression


def uel(text: str, **variables: Any) -> Any:
    return compile_expression("${" + text + "}", dialect="uel").evaluate(variables)


def plain(text: str, **variables: Any) -> Any:
    return compile_expression(text, dialect="plain").evaluate(variables)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),
        ("2 * 3 % 4", 2),
        ("-2 * 3", -6),
        ("- -2", 2),
        ("5 / 2", Decimal("2.5")),
        ("4 / 2", Decimal("2")),
        ("7 div 2", Decimal("3.5")),
        ("7 % 3", 1),
        ("-7 % 3", -1),  # Java: the sign of the dividend
        ("7 mod -3", 1),
        ("7.5 % 2", Decimal("1.5")),
        ("1.5 * 2", Decimal("3.0")),
        ("0.1 + 0.2", Decimal("0.3")),
        ("1e3", Decimal("1E+3")),
        ("1 < 2 && 2 < 3", True),
        ("1 < 2 and 3 < 2", False),
        ("1 > 2 || 2 > 1", True),
        ("false or false", False),
        ("true && !false", True),
        ("not true", False),
        ("!(1 == 1)", False),
        ("true || false && false", True),  # && binds tighter than ||
        ("(true || false) && false", False),
        ("1 == 1.0", True),
        ("1 != 2", True),
        ("2 eq 2", True),
        ("2 ne 2", False),
        ("1 lt 2", True),
        ("2 gt 1", True),
        ("2 le 2", True),
        ("2 ge 3", False),
        ("1 + 1 == 2", True),
        ("3 > 2 == true", True),  # relational binds tighter than equality
        ("true ? 1 : 2", 1),
        ("false ? 1 : 2", 2),
        ("false ? 1 : true ? 2 : 3", 2),
        ("1 < 2 ? 'yes' : 'no'", "yes"),
        ("'a' < 'b'", True),
        ("'abc' == \"abc\"", True),
        ("'it\\'s'", "it's"),
        ("\"say \\\"hi\\\"\"", 'say "hi"'),
        ("'back\\\\slash'", "back\\slash"),
        ("'no\\nescape'", "no\\nescape"),  # EL knows only \\ \' \"
        ("null", None),
        ("empty null", True),
        ("empty ''", True),
        ("empty 'x'", False),
        ("not empty []", False),
        ("[1, 2, 3]", [1, 2, 3]),
        ("'a' += 'b' += 1", "ab1"),
    ],
)
def test_operators_and_precedence(text: str, expected: Any) -> None:
    result = uel(text)
    assert result == expected
    assert type(result) is type(expected)


def test_the_typical_conditions() -> None:
    e = compile_expression("${amount > 1000 && approved}")
    assert e.evaluate({"amount": 1500, "approved": True}) is True
    assert e.evaluate({"amount": 500, "approved": True}) is False
    assert e.evaluate({"amount": Decimal("1000.01"), "approved": True}) is True
    assert e.evaluate({"amount": 1000.5, "approved": "true"}) is True
    assert compile_expression("#{status == 'open'}").evaluate({"status": "open"}) is True


def test_unknown_variables_raise_in_uel_and_plain() -> None:
    with pytest.raises(ExpressionEvaluationError, match="unknown variable 'missing'"):
        uel("missing == 1")
    with pytest.raises(ExpressionEvaluationError, match="unknown variable 'missing'"):
        plain("missing == 1")
    # A short-circuit never reads the right side.
    assert uel("false && missing") is False
    assert uel("true || missing") is True
    assert uel("true ? 1 : missing") == 1


def test_null_coercions_follow_el() -> None:
    assert uel("x < 5", x=None) is False
    assert uel("x > 5", x=None) is False
    assert uel("x == null", x=None) is True
    assert uel("x != null", x=1) is True
    assert uel("x + 1", x=None) == 1
    assert uel("x && true", x=None) is False
    assert uel("!x", x=None) is True


def test_string_and_number_coercions() -> None:
    assert uel("x > 5", x="10") is True
    assert uel("x == 10", x="10") is True
    assert uel("x + 1", x="41") == 42
    assert uel("x + 1", x="1.5") == Decimal("2.5")
    assert uel("x == 'true'", x=True) is True
    assert uel("x", x="TRUE") == "TRUE"
    assert uel("x && true", x="TRUE") is True
    with pytest.raises(ExpressionEvaluationError, match="cannot convert 'abc' to a number"):
        uel("x > 5", x="abc")
    with pytest.raises(ExpressionEvaluationError, match="as a boolean"):
        uel("x && true", x=5)
    with pytest.raises(ExpressionEvaluationError, match="cannot compare"):
        uel("x < y", x=[1], y=[2])


def test_division_by_zero_is_an_evaluation_error() -> None:
    with pytest.raises(ExpressionEvaluationError, match="division by zero"):
        uel("1 / 0")
    with pytest.raises(ExpressionEvaluationError, match="division by zero"):
        uel("1 % 0")


def test_composite_expressions_build_strings() -> None:
    e = compile_expression("Hello ${name}, you owe ${amount * 2} (${paid})!")
    assert e.evaluate({"name": "Ann", "amount": 21, "paid": False}) == (
        "Hello Ann, you owe 42 (false)!"
    )
    assert compile_expression("${a}${b}").evaluate({"a": 1, "b": None}) == "1"
    assert compile_expression("x=${a}").evaluate({"a": [1, None]}) == "x=[1, null]"
    assert compile_expression("${a}-#{b}").evaluate({"a": 1, "b": 2}) == "1-2"
    assert compile_expression("price: \\${a}").evaluate({}) == "price: ${a}"
    assert compile_expression("{${m}}").evaluate({"m": {"k": 1}}) == "{{k=1}}"
    # One block, even with surrounding whitespace, keeps the value's type.
    assert compile_expression("  ${a}\n").evaluate({"a": 5}) == 5
    # Braces inside strings do not end the block.
    assert compile_expression("${'}' += x}!").evaluate({"x": "{"}) == "}{!"


def test_properties_indexes_and_maps() -> None:
    data = {"customer": {"name": "Ann", "tags": ["a", "b"]}, "items": [10, 20]}
    assert uel("customer.name", **data) == "Ann"
    assert uel("customer['name']", **data) == "Ann"
    assert uel("customer.tags[1]", **data) == "b"
    assert uel("items[0] + items[1]", **data) == 30
    assert uel("items['1']", **data) == 20
    assert uel("items[5]", **data) is None  # as in EL
    assert uel("customer.missing", **data) is None
    assert uel("customer.missing.deeper", **data) is None
    with pytest.raises(ExpressionEvaluationError, match="cannot read property"):
        uel("x.real", x=1)
    with pytest.raises(ExpressionEvaluationError, match="cannot read property"):
        uel("x.upper", x="abc")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s.contains('ell')", True),
        ("s.startsWith('He')", True),
        ("s.endsWith('x')", False),
        ("s.length()", 5),
        ("s.toUpperCase()", "HELLO"),
        ("s.toLowerCase()", "hello"),
        ("'  x '.trim()", "x"),
        ("s.equals('Hello')", True),
        ("s.equalsIgnoreCase('hello')", True),
        ("s.isEmpty()", False),
        ("s.substring(1)", "ello"),
        ("s.substring(1, 3)", "el"),
        ("s.indexOf('l')", 2),
        ("s.replace('l', 'L')", "HeLLo"),
        ("xs.size()", 3),
        ("xs.contains(2)", True),
        ("xs.contains(9)", False),
        ("xs.isEmpty()", False),
        ("xs.get(0)", 1),
        ("xs.indexOf(3)", 2),
        ("m.get('a')", 1),
        ("m.get('z')", None),
        ("m.containsKey('a')", True),
        ("m.size()", 1),
        ("m.isEmpty()", False),
        ("m.keySet()", ["a"]),
    ],
)
def test_whitelisted_methods(text: str, expected: Any) -> None:
    assert uel(text, s="Hello", xs=[1, 2, 3], m={"a": 1}) == expected


def test_method_errors() -> None:
    with pytest.raises(ExpressionEvaluationError, match="unknown method 'format'"):
        uel("s.format()", s="x")
    with pytest.raises(ExpressionEvaluationError, match="unknown method 'split'"):
        uel("s.split(',')", s="a,b")
    with pytest.raises(ExpressionEvaluationError, match="takes 1 argument"):
        uel("s.contains()", s="x")
    with pytest.raises(ExpressionEvaluationError, match="out of range"):
        uel("s.substring(9)", s="x")
    with pytest.raises(ExpressionEvaluationError, match="on null"):
        uel("s.length()", s=None)
    with pytest.raises(ExpressionEvaluationError, match="unknown method"):
        uel("n.intValue()", n=1)


class Execution(ContextObject):
    expression_members: ClassVar[frozenset[str]] = frozenset(
        {"getVariable", "processBusinessKey", "_secret"}
    )

    def __init__(self) -> None:
        self.processBusinessKey = "order-7"
        self.hidden = "no"
        self._secret = "no"  # noqa: S105 - a stand-in value, not a credential

    def getVariable(self, name: str) -> Any:
        return {"x": 42}.get(name)

    def delete(self) -> None:  # pragma: no cover - must never be reachable
        raise AssertionError("called a method outside expression_members")


def test_context_objects_expose_only_their_members() -> None:
    ex = Execution()
    assert uel("execution.getVariable('x')", execution=ex) == 42
    assert uel("execution.processBusinessKey", execution=ex) == "order-7"
    assert uel("execution['processBusinessKey']", execution=ex) == "order-7"
    assert compile_expression("Key: ${execution.processBusinessKey}").evaluate(
        {"execution": ex}
    ) == "Key: order-7"
    with pytest.raises(ExpressionEvaluationError, match="not available"):
        uel("execution.hidden", execution=ex)
    with pytest.raises(ExpressionEvaluationError, match="not available"):
        uel("execution.delete()", execution=ex)
    with pytest.raises(ExpressionEvaluationError, match="not available"):
        uel("execution._secret", execution=ex)  # listed, but underscores never pass
    with pytest.raises(ExpressionEvaluationError, match="is a method"):
        uel("execution.getVariable", execution=ex)


def test_dates_compare_and_expose_parts() -> None:
    assert uel("a < b", a=date(2024, 1, 1), b=date(2024, 2, 1)) is True
    assert uel("a.year", a=date(2024, 1, 1)) == 2024


def test_plain_accepts_both_operator_styles() -> None:
    v = {"amount": 1500, "vip": False, "status": "open"}
    assert plain("amount > 1000 and not(vip)", **v) is True
    assert plain("amount > 1000 && !vip", **v) is True
    assert plain("status == 'open' or vip", **v) is True
    assert plain("not(amount > 1000) || vip", **v) is False
    assert plain("status == \"open\\n\".trim()", **v) is True  # plain knows \n escapes
    with pytest.raises(ExpressionSyntaxError, match="unexpected character"):
        plain("${amount}")


def test_syntax_errors() -> None:
    for bad in ["${a b}", "${a ? b}", "${(a}", "${a.}", "${a.1}", "${[1, 2}", "${and}",
                "${1 2}", "${a[1}", "${foo(1)}", "${'\\}"]:  # fmt: skip
        with pytest.raises(ExpressionSyntaxError):
            compile_expression(bad)
