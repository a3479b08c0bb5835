"""What expressions must never reach, and the limits that keep hostile input harmless."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from caseflow.errors import (
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionLimitExceeded,
    ExpressionSyntaxError,
)
from caseflow.expr import ContextObject, compile_expression
from caseflow.expr.limits import MAX_SOURCE_LENGTH, MAX_STRING_LENGTH


class Plain:
    """An arbitrary Python object that found its way into the variables."""

    secret = "s3cret"  # noqa: S105 - a stand-in value, not a credential

    def method(self) -> str:  # pragma: no cover - must never be reachable
        raise AssertionError("called")


class Greedy(ContextObject):
    expression_members: ClassVar[frozenset[str]] = frozenset({"__class__", "__init__", "name"})
    name = "ok"


@pytest.mark.parametrize(
    "text",
    [
        "${''.__class__}",
        "${x.__class__}",
        "${x.__class__.__mro__}",
        "${().__class__}",
        "${__import__('os')}",
        "${x.__len__()}",
        "=x.__class__",
        "=__import__(\"os\")",
        "x.__dict__",
        "eval('1')",
        "${exec('1')}",
        "=getattr(x, \"y\")",
        "open('/etc/passwd')",
    ],
)
def test_escapes_are_refused_at_compile_time(text: str) -> None:
    with pytest.raises(ExpressionSyntaxError):
        compile_expression(text)


@pytest.mark.parametrize(
    "text",
    [
        "${o.secret}",
        "${o.method()}",
        "${o['secret']}",
        "=o.secret",
        "o.secret",
        "${n.real}",
        "${s.format(1)}",
        "${s.join(xs)}",
        "${m.pop('a')}",
        "${m.clear()}",
        "${xs.append(1)}",
        "${xs.clear()}",
        "${g.__class__}",
    ],
)
def test_attribute_access_on_values_is_refused_at_run_time(text: str) -> None:
    variables: dict[str, Any] = {
        "o": Plain(), "n": 1, "s": "{0.__class__}", "m": {"a": 1}, "xs": [1], "g": Greedy(),
    }  # fmt: skip
    try:
        e = compile_expression(text)
    except ExpressionSyntaxError:
        return  # refused even earlier: fine
    with pytest.raises(ExpressionEvaluationError):
        e.evaluate(variables)
    assert variables["m"] == {"a": 1}
    assert variables["xs"] == [1]


def test_listed_dunders_on_context_objects_stay_closed() -> None:
    g = Greedy()
    assert compile_expression("${g.name}").evaluate({"g": g}) == "ok"
    with pytest.raises(ExpressionError):
        compile_expression("${g['__init__']}").evaluate({"g": g})


def test_deep_nesting_gives_a_clean_error() -> None:
    for text in [
        "(" * 5000 + "1" + ")" * 5000,
        "${" + "(" * 5000 + "1" + ")" * 5000 + "}",
        "=" + "[" * 5000 + "]" * 5000,
        "!" * 5000 + "x",
        "-" * 5000 + "1",
        "=" + "-" * 5000 + "1",
        "1" + "+1" * 3000,
        "=" + "if true then " * 2000 + "1" + " else 2" * 2000,
        "${a" + ".b" * 3000 + "}",
        "=" + "not(" * 1000 + "true" + ")" * 1000,
    ]:
        with pytest.raises(ExpressionLimitExceeded):
            compile_expression(text)


def test_long_sources_are_refused() -> None:
    with pytest.raises(ExpressionLimitExceeded):
        compile_expression("1" * (MAX_SOURCE_LENGTH + 1))
    with pytest.raises(ExpressionLimitExceeded):
        compile_expression("a && " * 4000 + "a")


def test_long_flat_conditions_are_fine() -> None:
    text = " && ".join(f"v{i} > 0" for i in range(500))
    e = compile_expression(text)
    assert e.evaluate({f"v{i}": 1 for i in range(500)}) is True


def test_big_strings_are_refused() -> None:
    big = "x" * (MAX_STRING_LENGTH // 2 + 1)
    with pytest.raises(ExpressionLimitExceeded):
        compile_expression("=s + s").evaluate({"s": big})
    with pytest.raises(ExpressionLimitExceeded):
        compile_expression("${s += s}").evaluate({"s": big})
    with pytest.raises(ExpressionLimitExceeded):
        compile_expression("${s}${s}").evaluate({"s": big})
    with pytest.raises(ExpressionLimitExceeded):
        compile_expression("${s.replace('x', 'xxx')}").evaluate({"s": big})
    with pytest.raises(ExpressionLimitExceeded):
        compile_expression('=string join([s, s])').evaluate({"s": big})


def test_big_numbers_are_refused() -> None:
    with pytest.raises(ExpressionLimitExceeded):
        compile_expression("=2 ** 100000").evaluate({})
    with pytest.raises(ExpressionLimitExceeded):
        compile_expression("${x * x}").evaluate({"x": 2**6000})
    with pytest.raises(ExpressionSyntaxError):
        compile_expression("9" * 5000)
    # Decimals stay within Decimal128: overflow is null in FEEL, an error in UEL.
    assert compile_expression("=1e6000 * 1e6000").evaluate({}) is None
    with pytest.raises(ExpressionEvaluationError):
        compile_expression("${1e6000 * 1e6000}").evaluate({})


def test_loops_are_bounded() -> None:
    with pytest.raises(ExpressionLimitExceeded, match="range"):
        compile_expression("=for i in 1..1000000000000 return i").evaluate({})
    with pytest.raises(ExpressionLimitExceeded, match="step budget"):
        compile_expression("=for i in 1..1000, j in 1..1000 return 0").evaluate({})
    with pytest.raises(ExpressionLimitExceeded, match="step budget"):
        compile_expression("=some i in 1..1000, j in 1..1000 satisfies false").evaluate({})
    with pytest.raises(ExpressionLimitExceeded):
        compile_expression("=count(for i in 1..90000 return for j in 1..2 return j)").evaluate({})


def test_budget_is_per_evaluation() -> None:
    e = compile_expression("=count(for i in 1..60000 return i)")
    assert e.evaluate({}) == 60000
    assert e.evaluate({}) == 60000  # a second call starts with a fresh budget


def test_deeply_nested_data_is_not_a_crash() -> None:
    nested: Any = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(ExpressionError):
        compile_expression("=x = y").evaluate({"x": nested, "y": nested})
