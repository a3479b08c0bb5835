"""Property tests: arithmetic agrees with Python ints; no input crashes the parser."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseflow.errors import ExpressionError
from caseflow.expr import compile_expression, compile_script

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Op:
    op: str
    left: Any
    right: Any


ints = st.integers(min_value=-(10**12), max_value=10**12)
trees = st.recursive(
    ints,
    lambda children: st.builds(Op, st.sampled_from(["+", "-", "*"]), children, children),
    max_leaves=12,
)


def value_of(tree: Any) -> int:
    if isinstance(tree, int):
        return tree
    a, b = value_of(tree.left), value_of(tree.right)
    return {"+": a + b, "-": a - b, "*": a * b}[tree.op]


def render(tree: Any, names: dict[str, int]) -> str:
    if isinstance(tree, int):
        if len(names) % 2:  # every other leaf goes through a variable
            name = f"v{len(names)}"
            names[name] = tree
            return name
        names[f"_{len(names)}"] = tree
        return f"({tree})" if tree < 0 else str(tree)
    return f"({render(tree.left, names)} {tree.op} {render(tree.right, names)})"


@SETTINGS
@given(trees)
def test_integer_arithmetic_agrees_with_python(tree: Any) -> None:
    names: dict[str, int] = {}
    text = render(tree, names)
    variables = {k: v for k, v in names.items() if k.startswith("v")}
    expected = value_of(tree)
    for source in (text, "${" + text + "}", "=" + text):
        result = compile_expression(source).evaluate(variables)
        assert result == expected
        assert type(result) is int
    value, _ = compile_script(text, "python").run(variables)
    assert value == expected


@SETTINGS
@given(ints, ints)
def test_comparisons_agree_with_python(a: int, b: int) -> None:
    v = {"a": a, "b": b}
    assert compile_expression("a < b").evaluate(v) is (a < b)
    assert compile_expression("${a ge b}").evaluate(v) is (a >= b)
    assert compile_expression("=a = b").evaluate(v) is (a == b)
    assert compile_expression("=a between b and 0").evaluate(v) is (b <= a <= 0)


@SETTINGS
@given(st.text())
def test_feel_strings_round_trip(s: str) -> None:
    quoted = '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert compile_expression("=" + quoted).evaluate({}) == s
    assert compile_expression("=string length(" + quoted + ")").evaluate({}) == len(s)


WORDS = [
    "and", "or", "not", "if", "then", "else", "for", "in", "return", "some", "every",
    "satisfies", "between", "instance of", "null", "true", "false", "..", "**", "${",
    "#{", "empty", "div", "mod", "item", "string length(", "date and time(", "__class__",
    "1e99999", "9" * 40, "function",
]  # fmt: skip
ALPHABET = st.sampled_from([*"abcxyz019 .,:;()[]{}<>=!&|?+-*/%$#'\"\\_\n", *WORDS])
token_soup = st.lists(ALPHABET, max_size=40).map("".join)


def _never_crashes(source: str) -> None:
    for dialect in ("auto", "uel", "feel", "plain"):
        try:
            e = compile_expression(source, dialect=dialect)  # type: ignore[arg-type]
        except ExpressionError:
            continue
        for variables in ({}, {"a": 1, "b": "x", "c": [1, None], "item": {"a": None}}):
            with contextlib.suppress(ExpressionError):
                e.evaluate(variables)


@SETTINGS
@given(st.text(max_size=60))
def test_random_text_raises_only_expression_errors(source: str) -> None:
    _never_crashes(source)


@SETTINGS
@given(token_soup)
def test_token_soup_raises_only_expression_errors(source: str) -> None:
    _never_crashes(source)


PY_WORDS = [
    "\n    ", "if ", "for ", " in ", "while ", "else:", "len(", "range(", "x = ",
    "a.append(", "f'{", "}'", "not ", " and ", "**", "[i for i in ", "__", "import ",
    "lambda",
]  # fmt: skip
PY_ALPHABET = st.sampled_from([*"abxy01 .,:()[]{}<>=!+-*/%'\"\n", *PY_WORDS])


@SETTINGS
@given(st.lists(PY_ALPHABET, max_size=30).map("".join))
def test_python_scripts_raise_only_expression_errors(source: str) -> None:
    try:
        script = compile_script(source, "python")
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionError):
        script.run({"a": [1, 2], "b": "text", "x": 3})
