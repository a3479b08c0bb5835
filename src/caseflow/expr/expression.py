"""Compiled expressions and scripts: the objects the model holds and the engine runs.

Compilation does all checking (syntax, names of built-ins, arity, limits), so a BPMN
file with a broken expression is refused at deployment. Evaluation only computes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, NoReturn

from caseflow.errors import (
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionLimitExceeded,
    ExpressionSyntaxError,
)
from caseflow.expr.compiler import Compiled, compile_tree
from caseflow.expr.limits import Budget
from caseflow.expr.parser import parse, parse_uel
from caseflow.expr.values import Scope

DialectName = Literal["auto", "uel", "feel", "plain"]
_DIALECTS = ("auto", "uel", "feel", "plain")


def attach_context(e: ExpressionError, source: str, element_id: str | None) -> ExpressionError:
    """Name the expression and element in an error raised deep inside (keeps its class)."""
    changed = False
    if e.expression is None:
        e.expression = source
        changed = True
    if e.element_id is None and element_id:
        e.element_id = element_id
        changed = True
    if changed:
        e.args = (e._render(),)
    return e


def reraise(exc: BaseException, source: str, element_id: str | None) -> NoReturn:
    """Turn anything an evaluation raised into the ExpressionError it should be."""
    if isinstance(exc, ExpressionError):
        raise attach_context(exc, source, element_id)
    if isinstance(exc, RecursionError):
        raise ExpressionLimitExceeded(
            "evaluation nested too deeply", expression=source, element_id=element_id
        ) from None
    if isinstance(exc, MemoryError):
        raise ExpressionLimitExceeded(
            "evaluation ran out of memory", expression=source, element_id=element_id
        ) from None
    raise ExpressionEvaluationError(
        describe(exc), expression=source, element_id=element_id
    ) from exc


def describe(exc: BaseException) -> str:
    """A short message for a Python exception raised while evaluating."""
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, ArithmeticError):
        return "arithmetic error (result out of range or undefined)"
    text = str(exc)
    return text if text and len(text) < 200 else type(exc).__name__


# What evaluation may raise besides ExpressionError; anything else is a bug to surface.
EVALUATION_ERRORS = (
    ArithmeticError,
    TypeError,
    ValueError,
    LookupError,
    RecursionError,
    MemoryError,
)


def _detect(text: str) -> Literal["uel", "feel", "plain"]:
    stripped = text.lstrip()
    if stripped.startswith("="):
        return "feel"
    if "${" in text or "#{" in text:
        return "uel"
    return "plain"


class Expression:
    """A compiled expression: immutable, compiled once, safe to share across threads."""

    __slots__ = ("_fn", "_scoped", "dialect", "element_id", "names", "source")

    source: str
    dialect: str
    element_id: str | None
    names: frozenset[str]
    _fn: Callable[[Any], Any]
    _scoped: bool

    def __init__(
        self, source: str, dialect: str, element_id: str | None, compiled: Compiled
    ) -> None:
        set_ = object.__setattr__
        set_(self, "source", source)
        set_(self, "dialect", dialect)
        set_(self, "element_id", element_id)
        set_(self, "names", compiled.names)
        set_(self, "_fn", compiled.fn)
        set_(self, "_scoped", compiled.needs_scope)

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """The value of the expression for these variables."""
        try:
            if self._scoped:
                return self._fn(Scope({}, variables, Budget()))
            return self._fn(variables)
        except (ExpressionError, *EVALUATION_ERRORS) as e:
            reraise(e, self.source, self.element_id)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Expression is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Expression is immutable")

    def __repr__(self) -> str:
        return f"Expression({self.source!r}, dialect={self.dialect!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return (self.source, self.dialect, self.element_id) == (
            other.source,
            other.dialect,
            other.element_id,
        )

    def __hash__(self) -> int:
        return hash((Expression, self.source, self.dialect, self.element_id))

    def __reduce__(self) -> tuple[Callable[..., Expression], tuple[str, str, str | None]]:
        return (_recompile, (self.source, self.dialect, self.element_id))

    def __copy__(self) -> Expression:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Expression:
        return self


def _recompile(source: str, dialect: DialectName, element_id: str | None) -> Expression:
    return compile_expression(source, dialect=dialect, element_id=element_id)


def compile_expression(
    text: str,
    *,
    dialect: DialectName = "auto",
    element_id: str | None = None,
) -> Expression:
    """Compile ``text``; raise ExpressionSyntaxError / ExpressionLimitExceeded now.

    "auto": a leading ``=`` means FEEL (Zeebe), ``${...}``/``#{...}`` anywhere means UEL
    (Camunda 7, Flowable; text around the blocks makes a string), otherwise plain.
    """
    if not isinstance(text, str):
        raise ExpressionSyntaxError(
            f"an expression must be text, not {type(text).__name__}", element_id=element_id
        )
    if dialect not in _DIALECTS:
        raise ExpressionSyntaxError(
            f"unknown expression dialect {dialect!r}", expression=text, element_id=element_id
        )
    resolved = _detect(text) if dialect == "auto" else dialect
    try:
        if resolved == "uel":
            node = parse_uel(text)
        elif resolved == "feel":
            stripped = text.lstrip()
            start = len(text) - len(stripped) + 1 if stripped.startswith("=") else 0
            node = parse(text, "feel", start=start)
        else:
            node = parse(text, "plain")
        compiled = compile_tree(node, resolved, text)
    except ExpressionError as e:
        raise attach_context(e, text, element_id) from None
    except RecursionError:
        raise ExpressionLimitExceeded(
            "expression nested too deeply", expression=text, element_id=element_id
        ) from None
    return Expression(text, resolved, element_id, compiled)


def parse_value(text: str | None, *, element_id: str | None = None) -> str | Expression | None:
    """A BPMN attribute that is a literal (``demo``) or an expression (``${x}``, ``=x``)."""
    if text is None:
        return None
    if "${" in text or "#{" in text or text.lstrip().startswith("="):
        return compile_expression(text, element_id=element_id)
    return text
